#include "core/page_types.hpp"

namespace pv {

const char* page_type_name(PageType t) {
    switch (t) {
    case PageType::none: return "none";
    case PageType::l1: return "l1";
    case PageType::l2: return "l2";
    case PageType::l3: return "l3";
    case PageType::l4: return "l4";
    case PageType::seg_desc: return "seg_desc";
    case PageType::writable: return "writable";
    }
    return "?";
}

void format_frame(Sink& out, u64 mfn, const PageInfo& p) {
    u64 caf = p.count_info.load(std::memory_order_relaxed);
    if ((caf & pgc::COUNT_MASK) == 0) {
        format(out, "mfn %#lx: not in use\n", static_cast<unsigned long>(mfn));
        return;
    }
    // Racy snapshot unless the caller holds a reference: good enough for a log line.
    u64 taf = p.use.type_info.load(std::memory_order_relaxed);
    format(out, "mfn %#lx: owner %u caf=%016lx (count %lu%s) taf=%016lx (%s, count %lu%s%s%s)\n",
           static_cast<unsigned long>(mfn), static_cast<unsigned>(p.use.owner),
           static_cast<unsigned long>(caf), static_cast<unsigned long>(caf & pgc::COUNT_MASK),
           (caf & pgc::ALLOCATED) ? ", allocated" : "", static_cast<unsigned long>(taf),
           page_type_name(pgt::type(taf)), static_cast<unsigned long>(pgt::count(taf)),
           (taf & pgt::VALIDATED) ? ", validated" : "", (taf & pgt::PINNED) ? ", pinned" : "",
           (taf & pgt::LOCKED) ? ", locked" : "");
}

}  // namespace pv
