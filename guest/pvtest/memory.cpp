// The reservation calls on domain 0 itself: giving a page back (decrease_reservation), taking one
// (increase_reservation, populate_physmap on DOMID_SELF), the counts they return and the M2P, and
// the refusals, which for these calls are counts (the extents done so far, 0 here), never
// errnos: an unknown domain, a list in the hypervisor's range, an order above the caller's
// limit, a frame that is not ours.  The page used is the last of our memory, which the
// bootstrap tables do not map, so giving it back frees it at once.
#include "guest/pvtest/pvtest.hpp"

using namespace pvt;

namespace {

// The command's upper bits: the extent a continuation resumes from (Xen's MEMOP_EXTENT_SHIFT,
// not in the public headers).
constexpr unsigned MEMOP_EXTENT_SHIFT = 6;
constexpr domid_t UNKNOWN_DOMAIN = 12345;

constinit xen_pfn_t g_list[4];

long reservation(unsigned cmd, xen_pfn_t* list, unsigned nr, unsigned order, domid_t dom) {
    xen_memory_reservation_t r{};
    set_xen_guest_handle(r.extent_start, list);
    r.nr_extents = nr;
    r.extent_order = order;
    r.domid = dom;
    return hc::memory_op(cmd, &r);
}

long current_reservation(domid_t dom) { return hc::memory_op(XENMEM_current_reservation, &dom); }

}  // namespace

namespace pvt {

void check_reservations() {
    const u64 pfn = g_nr_pages - 1;
    const u64 mfn = g_p2m[pfn];
    const long pages = current_reservation(DOMID_SELF);
    info("reservation: %ld pages, giving back pfn %#lx (mfn %#lx)", pages, pfn, mfn);
    CHECK("memory_op.reservation_page_unmapped", l1e_of(VIRT_BASE + (pfn << PAGE_SHIFT)) == 0);
    CHECK_EQ("memory_op.current_reservation_own_id", current_reservation(0), pages);
    CHECK_EQ("memory_op.current_reservation_unknown_domain", current_reservation(UNKNOWN_DOMAIN), -XEN_ESRCH);
    domid_t self = DOMID_SELF;
    CHECK_EQ("memory_op.maximum_reservation_unknown_domain",
             hc::memory_op(XENMEM_maximum_reservation, &(self = UNKNOWN_DOMAIN)), -XEN_ESRCH);
    self = DOMID_SELF;
    long max = hc::memory_op(XENMEM_maximum_reservation, &self);
    info("reservation: maximum %ld", max);
    CHECK("memory_op.maximum_reservation_at_least_current", max >= pages);
    // Domain 0 may balloon up to everything: Xen gives it no limit (max_pages ~0U).
    CHECK_EQ("memory_op.maximum_reservation_dom0_unlimited", max, 0xffffffffl);
    CHECK_EQ("memory_op.current_reservation_start_extent",
             hc::memory_op(XENMEM_current_reservation | (1u << MEMOP_EXTENT_SHIFT), &self), -XEN_EINVAL);

    // Give the page back, then ask for it again.
    g_list[0] = mfn;
    CHECK_EQ("memory_op.decrease_reservation_self", reservation(XENMEM_decrease_reservation, g_list, 1, 0, DOMID_SELF), 1);
    CHECK_EQ("memory_op.decrease_reservation_charged", current_reservation(DOMID_SELF), pages - 1);
    CHECK_EQ("memory_op.decrease_reservation_not_ours_any_more",
             reservation(XENMEM_decrease_reservation, g_list, 1, 0, DOMID_SELF), 0);
    g_list[0] = ~0ull >> 20;  // no such frame
    CHECK_EQ("memory_op.decrease_reservation_no_such_frame",
             reservation(XENMEM_decrease_reservation, g_list, 1, 0, DOMID_SELF), 0);

    g_list[0] = 0;
    CHECK_EQ("memory_op.increase_reservation_self", reservation(XENMEM_increase_reservation, g_list, 1, 0, DOMID_SELF), 1);
    const u64 got = g_list[0];
    info("reservation: increase_reservation gave mfn %#lx", got);
    CHECK("memory_op.increase_reservation_writes_mfn", got != 0 && got != (~0ull >> 20));
    CHECK_EQ("memory_op.increase_reservation_charged", current_reservation(DOMID_SELF), pages);
    CHECK_EQ("memory_op.decrease_reservation_new_page", reservation(XENMEM_decrease_reservation, g_list, 1, 0, DOMID_SELF), 1);

    // populate_physmap: the list holds the pfns and comes back with the frames, the M2P updated.
    g_list[0] = pfn;
    CHECK_EQ("memory_op.populate_physmap_self", reservation(XENMEM_populate_physmap, g_list, 1, 0, DOMID_SELF), 1);
    const u64 populated = g_list[0];
    CHECK("memory_op.populate_physmap_writes_mfn", populated != 0);
    CHECK_EQ_HEX("memory_op.populate_physmap_m2p", m2p[populated], pfn);
    CHECK_EQ("memory_op.populate_physmap_charged", current_reservation(DOMID_SELF), pages);

    // Refusals: counts, not errnos.
    g_list[0] = pfn;
    CHECK_EQ("memory_op.populate_physmap_unknown_domain",
             reservation(XENMEM_populate_physmap, g_list, 1, 0, UNKNOWN_DOMAIN), 0);
    CHECK_EQ("memory_op.populate_physmap_no_extents", reservation(XENMEM_populate_physmap, g_list, 0, 0, DOMID_SELF), 0);
    CHECK_EQ("memory_op.populate_physmap_list_in_xen_range",
             reservation(XENMEM_populate_physmap, reinterpret_cast<xen_pfn_t*>(HYPERVISOR_ADDRESS), 1, 0, DOMID_SELF), 0);
    CHECK_EQ("memory_op.increase_reservation_order_too_big",
             reservation(XENMEM_increase_reservation, g_list, 1, 19, DOMID_SELF), 0);
    CHECK_EQ("memory_op.increase_reservation_too_many_extents",
             reservation(XENMEM_increase_reservation, g_list, 1u << 26, 0, DOMID_SELF), 0);
    CHECK_EQ("memory_op.decrease_reservation_unknown_domain",
             reservation(XENMEM_decrease_reservation, g_list, 1, 0, UNKNOWN_DOMAIN), 0);
    // A continuation's start extent at or past the end: nothing more to do, the count returned.
    CHECK_EQ("memory_op.reservation_start_extent_past_end",
             reservation(XENMEM_increase_reservation | (1u << MEMOP_EXTENT_SHIFT), g_list, 1, 0, DOMID_SELF), 1);
    CHECK_EQ("memory_op.reservation_unchanged", current_reservation(DOMID_SELF), pages);

    // Naming ourselves by id as the foreign domain is refused: only DOMID_SELF means us.
    mmu_update_t u{};
    u.ptr = (mfn_of(g_list) << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE;
    u.val = pfn_of(g_list);
    CHECK_EQ("mmu_update.foreigndom_own_id", hc::mmu_update(&u, 1, nullptr, 0), -XEN_ESRCH);
    mmuext_op_t op{};
    op.cmd = MMUEXT_TLB_FLUSH_LOCAL;
    CHECK_EQ("mmuext_op.foreigndom_own_id", hc::mmuext_op(&op, 1, nullptr, 0), -XEN_ESRCH);
    CHECK_EQ("mmuext_op.foreigndom_self", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), 0);
}

}  // namespace pvt
