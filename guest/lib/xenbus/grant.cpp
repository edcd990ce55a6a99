#include "guest/lib/xenbus/grant.hpp"

#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"

namespace xb {

namespace {

alignas(4096) constinit u8 g_table_page[4096];

const unsigned long* const m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);

// The L1 entry that maps `va`, walked from pt_base (our tables are in the bootstrap region, so
// a table's address follows from its pfn through the M2P).  0 when not mapped by an L1 entry.
u64 l1e_of(const start_info_t* si, u64 va) {
    const u64 base = reinterpret_cast<uptr>(__image_start);
    const u64* t = reinterpret_cast<const u64*>(si->pt_base);
    for (int level = 3; level > 0; --level) {
        u64 e = t[(va >> (PAGE_SHIFT + 9 * static_cast<unsigned>(level))) & 511];
        if (!(e & PTE_P) || (e & (1u << 7))) return 0;  // not present, or a superpage
        t = reinterpret_cast<const u64*>(base + (u64{m2p[(e & PTE_ADDR) >> PAGE_SHIFT]} << PAGE_SHIFT));
    }
    return t[(va >> PAGE_SHIFT) & 511];
}

}  // namespace

long GrantTable::init(i16* status) {
    xen_pfn_t frame = 0;
    gnttab_setup_table_t op{};
    op.dom = DOMID_SELF;
    op.nr_frames = 1;
    set_xen_guest_handle(op.frame_list, &frame);
    long rc = hc::grant_table_op(GNTTABOP_setup_table, &op, 1);
    if (status) *status = op.status;
    if (rc) return rc;
    if (op.status != GNTST_okay) return -XEN_EINVAL;
    const u64 pte = (frame << PAGE_SHIFT) | PTE_P | PTE_RW | PTE_A | PTE_D;
    rc = hc::update_va_mapping(reinterpret_cast<uptr>(g_table_page), pte, UVMF_INVLPG | UVMF_LOCAL);
    if (rc) return rc;
    entries_ = reinterpret_cast<volatile grant_entry_v1_t*>(g_table_page);
    return 0;
}

long GrantTable::grant(grant_ref_t ref, domid_t to, u64 mfn, bool readonly) {
    if (!entries_ || ref >= ENTRIES) return -XEN_EINVAL;
    volatile grant_entry_v1_t& e = entries_[ref];
    e.frame = static_cast<u32>(mfn);
    e.domid = to;
    __atomic_thread_fence(__ATOMIC_RELEASE);  // frame and domid before the flags that publish them
    e.flags = static_cast<u16>(GTF_permit_access | (readonly ? GTF_readonly : 0));
    return 0;
}

long GrantTable::revoke(grant_ref_t ref) {
    if (!entries_ || ref >= ENTRIES) return -XEN_EINVAL;
    auto* flags = const_cast<u16*>(&entries_[ref].flags);
    u16 seen = __atomic_load_n(flags, __ATOMIC_ACQUIRE);
    do {
        if (seen & (GTF_reading | GTF_writing)) return -XEN_EBUSY;
    } while (!__atomic_compare_exchange_n(flags, &seen, u16{0}, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return 0;
}

u64 virt_to_mfn(const start_info_t* si, const void* p) {
    const u64 pfn = (reinterpret_cast<uptr>(p) - reinterpret_cast<uptr>(__image_start)) >> PAGE_SHIFT;
    return reinterpret_cast<const unsigned long*>(si->mfn_list)[pfn];
}

long GrantMapper::map(domid_t dom, grant_ref_t ref, bool readonly, Mapping* out) {
    unsigned slot = 0;
    while (slot < count_ && slots_[slot].used) ++slot;
    if (slot == count_) return -XEN_ENOSPC;
    const u64 va = reinterpret_cast<uptr>(pages_[slot]);
    if (!slots_[slot].original) slots_[slot].original = l1e_of(si_, va);
    if (!slots_[slot].original) return -XEN_EFAULT;
    gnttab_map_grant_ref_t op{};
    op.host_addr = va;
    op.flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0);
    op.ref = ref;
    op.dom = dom;
    long rc = hc::grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    if (rc) return rc;
    if (op.status != GNTST_okay) return op.status;
    slots_[slot].used = true;
    out->va = pages_[slot];
    out->handle = op.handle;
    out->slot = slot;
    return 0;
}

long GrantMapper::unmap(const Mapping& m) {
    if (m.slot >= count_ || !slots_[m.slot].used) return -XEN_EINVAL;
    gnttab_unmap_grant_ref_t op{};
    op.host_addr = reinterpret_cast<uptr>(m.va);
    op.handle = m.handle;
    long rc = hc::grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1);
    if (rc) return rc;
    if (op.status != GNTST_okay) return op.status;
    rc = hc::update_va_mapping(reinterpret_cast<uptr>(m.va), slots_[m.slot].original, UVMF_INVLPG | UVMF_LOCAL);
    if (rc == 0) slots_[m.slot].used = false;
    return rc;
}

}  // namespace xb
