#include <arch/cpu.hpp>
#include <arch/paging.hpp>

#include "lib/string.hpp"

namespace pv::arch::paging {
namespace {

u64 g_window = 0;
PageTables g_hv_tables;

constexpr unsigned index_at(u64 va, unsigned level) { return static_cast<unsigned>((va >> (12 + 9 * (level - 1))) & 511); }
constexpr u64 sign_extend(u64 va) { return (va & (1ull << 47)) ? (va | 0xffff000000000000ull) : va; }

}  // namespace

void set_table_window(u64 virt_offset) { g_window = virt_offset; }
u64* table_virt(u64 pa) { return reinterpret_cast<u64*>(g_window + pa); }
PageTables& hv_tables() { return g_hv_tables; }

u64* PageTables::walk(u64 va, unsigned leaf_level, bool create) {
    u64* table = table_virt(root_);
    for (unsigned level = 4; level > leaf_level; --level) {
        u64& e = table[index_at(va, level)];
        if (!(e & PTE_P)) {
            if (!create) return nullptr;
            u64 pa = alloc_ ? alloc_() : 0;
            if (!pa) return nullptr;
            mem_set(table_virt(pa), 0, PAGE_SIZE);
            e = pa | PTE_P | PTE_W;
        } else if (e & PTE_PS) {
            return nullptr;  // a large page sits where a table would be
        }
        table = table_virt(e & PTE_ADDR);
    }
    return &table[index_at(va, leaf_level)];
}

Result<void> PageTables::map(u64 va, u64 pa, u64 size, u64 flags, bool large) {
    constexpr u64 LARGE = 2 * MiB;
    while (size) {
        bool use_large = large && is_aligned(va, LARGE) && is_aligned(pa, LARGE) && size >= LARGE;
        u64 step = use_large ? LARGE : PAGE_SIZE;
        u64* e = walk(va, use_large ? 2 : 1, true);
        if (!e) return error(XEN_ENOMEM);
        u64 want = pa | flags | (use_large ? PTE_PS : 0);
        if ((*e & PTE_P) && *e != want) return error(XEN_EEXIST);
        *e = want;
        va += step;
        pa += step;
        size -= step;
    }
    return ok();
}

void PageTables::unmap_page(u64 va) {
    if (u64* e = walk(va, 1, false)) {
        *e = 0;
        invlpg(reinterpret_cast<void*>(va));
    }
}

u64 PageTables::lookup(u64 va, unsigned* level) const {
    const u64* table = table_virt(root_);
    for (unsigned l = 4; l >= 1; --l) {
        u64 e = table[index_at(va, l)];
        if (!(e & PTE_P)) return 0;
        if (l == 1 || (e & PTE_PS)) {
            if (level) *level = l;
            return e;
        }
        table = table_virt(e & PTE_ADDR);
    }
    return 0;
}

PageTables::WxReport PageTables::check_wx() const {
    WxReport r{0, 0, 0};
    // Effective rights: writable only if every level allows it; executable unless any level has NX.
    struct Walker {
        WxReport& r;
        void visit(u64 table_pa, unsigned level, u64 va_base, bool w, bool nx) {
            const u64* t = table_virt(table_pa);
            for (unsigned i = 0; i < 512; ++i) {
                u64 e = t[i];
                if (!(e & PTE_P)) continue;
                u64 va = sign_extend(va_base | (u64{i} << (12 + 9 * (level - 1))));
                bool ew = w && (e & PTE_W);
                bool enx = nx || (e & PTE_NX);
                if (level == 1 || (level <= 3 && (e & PTE_PS))) {
                    ++r.mappings;
                    if (ew && !enx) {
                        if (!r.violations) r.first_bad_va = va;
                        ++r.violations;
                    }
                } else {
                    visit(e & PTE_ADDR, level - 1, va, ew, enx);
                }
            }
        }
    } walker{r};
    walker.visit(root_, 4, 0, true, false);
    return r;
}

}  // namespace pv::arch::paging
