#include "core/dom0_layout.hpp"

namespace pv {
namespace {

constexpr u64 PAGE = 4096;
constexpr u64 MIB4 = u64{4} << 20;
constexpr u64 KIB512 = u64{512} << 10;

Err invalid() { return error(XEN_EINVAL); }

bool canonical(u64 va) { return static_cast<u64>(static_cast<i64>(va << 16) >> 16) == va; }

// How many level-`shift` regions [lo, hi) touches (Xen's NR()).
u64 nr_regions(u64 lo, u64 hi, unsigned shift) {
    u64 size = u64{1} << shift;
    return (align_up(hi, size) - align_down(lo, size)) >> shift;
}

// Whether the bootstrap tables already hold a table for the level-`shift` region containing va:
// they cover every region [v_start, v_end) touches.
// (By region number: rounding v_end up could wrap at the top of the address space.)
bool bootstrap_has(const Dom0Layout& l, u64 va, unsigned shift) {
    u64 r = va >> shift;
    return r >= (l.v_start >> shift) && r <= ((l.v_end - 1) >> shift);
}

// setup_pv_physmap's walk over the p2m's pages, counting the frames it takes, with its check
// (before each page) that the allocation still has room for the rest plus three tables.
Result<void> plan_separate_p2m(Dom0Layout& l, u64 nr_pages, Diagnostics& diags) {
    // Shifts of the regions an L3, L2 and L1 table covers, in the order the walk takes them.
    constexpr unsigned SHIFTS[3] = {39, 30, 21};
    u64 last_new[3] = {~u64{0}, ~u64{0}, ~u64{0}};  // the walk is monotonic: only the last counts
    u64 tot = l.first_p2m_pfn;
    const u64 end_page = align_up(l.p2m_end, PAGE);
    for (u64 va = l.p2m_start; va < l.p2m_end; va = align_down(va, PAGE) + PAGE) {
        if (tot + ((end_page - va) >> 12) + 3 > nr_pages) {
            diags.error("dom0_mem (%lu pages) is too small for the INIT_P2M list 0x%lx-0x%lx and its page tables",
                        nr_pages, l.p2m_start, l.p2m_end);
            return invalid();
        }
        for (unsigned i = 0; i < 3; ++i) {
            u64 region = va >> SHIFTS[i];
            if (bootstrap_has(l, va, SHIFTS[i]) || last_new[i] == region) continue;
            last_new[i] = region;
            ++tot;
        }
        ++tot;  // the p2m page
    }
    l.nr_p2m_frames = tot - l.first_p2m_pfn;
    return ok();
}

}  // namespace

unsigned dom0_order_from_bytes(u64 bytes) {
    unsigned order = 0;
    while (order < 52 && (PAGE << order) < bytes) ++order;
    return order;
}

Result<void> dom0_compute_layout(const XenGuestParams& p, u64 initrd_len, u64 nr_pages, Dom0Layout& l,
                                 Diagnostics& diags) {
    l = Dom0Layout{};
    const bool separate = p.p2m_base != XenGuestParams::UNSET;
    l.v_start = p.virt_base;
    l.kern_start = p.virt_kstart;
    l.kern_end = p.virt_kend;
    l.initrd_start = align_up(l.kern_end, PAGE);
    l.initrd_end = l.initrd_start + initrd_len;
    l.p2m_start = align_up(l.initrd_end, PAGE);
    // With INIT_P2M the p2m's place in the region is empty.
    l.p2m_end = separate ? l.p2m_start : l.p2m_start + nr_pages * sizeof(u64);
    l.si_start = align_up(l.p2m_end, PAGE);
    l.si_end = l.si_start + sizeof(start_info_t) + sizeof(dom0_vga_console_info_t);
    l.pt_start = align_up(l.si_end, PAGE);
    // The tables map the region, which grows with them: Xen's exhaustive search.
    for (l.nr_pt_pages = 2;; ++l.nr_pt_pages) {
        l.pt_end = l.pt_start + l.nr_pt_pages * PAGE;
        l.stack_start = l.pt_end;
        l.stack_end = l.stack_start + PAGE;
        l.v_end = align_up(l.stack_end, MIB4);
        if (l.v_end - l.stack_end < KIB512) l.v_end += MIB4;
        u64 need = 1 + nr_regions(l.v_start, l.v_end, 39) + nr_regions(l.v_start, l.v_end, 30) +
                   nr_regions(l.v_start, l.v_end, 21);
        if (need <= l.nr_pt_pages) break;
    }

    // One chunk of 2^order pages holds the region but the (mapped) initrd, whose own frames come
    // on top; the p2m's frames follow both.
    const u64 initrd_pages = align_up(initrd_len, PAGE) >> 12;
    l.alloc_pages = u64{1} << dom0_order_from_bytes(l.v_end - l.v_start - initrd_pages * PAGE);
    l.first_p2m_pfn = l.alloc_pages + initrd_pages;
    if (l.first_p2m_pfn > nr_pages) {
        diags.error("the bootstrap region 0x%lx-0x%lx needs %lu pages of dom0_mem, %lu given", l.v_start, l.v_end,
                    l.first_p2m_pfn, nr_pages);
        return invalid();
    }
    if (l.v_end > HYPERVISOR_VIRT_START && l.v_start < HYPERVISOR_VIRT_END) {
        diags.error("the bootstrap region 0x%lx-0x%lx overlaps the hypervisor", l.v_start, l.v_end);
        return invalid();
    }
    if (!separate) return ok();

    l.p2m_separate = true;
    l.p2m_start = p.p2m_base;
    const u64 size = nr_pages * sizeof(u64);
    // Both ends canonical and clear of the hypervisor's slots (xen_parse_guest has checked the
    // start only: the size comes from dom0_mem).
    if (size == 0 || p.p2m_base > ~u64{0} - size || !canonical(p.p2m_base) || !canonical(p.p2m_base + size - 1) ||
        (p.p2m_base < HYPERVISOR_VIRT_END && p.p2m_base + size > HYPERVISOR_VIRT_START)) {
        diags.error("INIT_P2M list at 0x%lx, %lu bytes, leaves the guest's address space", p.p2m_base,
                    size);
        return invalid();
    }
    l.p2m_end = p.p2m_base + size;
    // Xen's test counts touching as overlapping (both ends inclusive).
    if (l.v_start <= l.p2m_end && l.p2m_start <= l.v_end) {
        diags.error("INIT_P2M list 0x%lx-0x%lx overlaps the bootstrap region 0x%lx-0x%lx", l.p2m_start,
                    l.p2m_end, l.v_start, l.v_end);
        return invalid();
    }
    return plan_separate_p2m(l, nr_pages, diags);
}

}  // namespace pv
