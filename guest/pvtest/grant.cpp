// Grant tables, version 1, within domain 0: it grants pages to itself (by its own id; a map names
// the granter by id, never DOMID_SELF), maps them by linear address and by PTE machine address,
// reads and writes through the mapping, copies with GNTTABOP_copy, and tries every refusal one
// domain can produce: bad flags, refs, domains, handles, revoked and read-only grants, copies past
// a page, unmapped or misaligned host addresses, and the version calls.  Status values are
// Xen's GNTST_*; nothing here depends on a handle's or a frame's value.
#include "guest/pvtest/pvtest.hpp"

using namespace pvt;

namespace {

alignas(4096) constinit volatile u8 g_table_window[4096];  // where we map grant-table frame 0
alignas(4096) constinit volatile u8 g_data[4096];          // the granted page
alignas(4096) constinit volatile u8 g_map_page[4096];      // whose L1 entry host maps replace
alignas(4096) constinit volatile u8 g_copy_dest[4096];

constexpr u32 REF = 10, REF_RO = 11, REF_OTHER = 12, REF_EMPTY = 13;
constexpr domid_t SELF_ID = 0;

volatile grant_entry_v1_t* g_entries = nullptr;

long gnttab(unsigned cmd, void* uop, unsigned count) { return hc::grant_table_op(cmd, uop, count); }

void grant(u32 ref, u16 flags, domid_t dom, u64 frame) {
    g_entries[ref].domid = dom;
    g_entries[ref].frame = static_cast<u32>(frame);
    asm volatile("" ::: "memory");
    g_entries[ref].flags = flags;
}

gnttab_map_grant_ref_t map_op(u32 ref, u32 flags, u64 host_addr, domid_t dom = SELF_ID) {
    gnttab_map_grant_ref_t op{};
    op.host_addr = host_addr;
    op.flags = flags;
    op.ref = ref;
    op.dom = dom;
    return op;
}

i16 map(gnttab_map_grant_ref_t& op) {
    long rc = gnttab(GNTTABOP_map_grant_ref, &op, 1);
    return rc ? static_cast<i16>(-1000) : op.status;
}

i16 unmap(u64 host_addr, u32 handle, u64 dev_bus_addr = 0) {
    gnttab_unmap_grant_ref_t op{};
    op.host_addr = host_addr;
    op.dev_bus_addr = dev_bus_addr;
    op.handle = handle;
    long rc = gnttab(GNTTABOP_unmap_grant_ref, &op, 1);
    return rc ? static_cast<i16>(-1000) : op.status;
}

using hc::grant_copy1;

u16 entry_flags(u32 ref) { return g_entries[ref].flags; }

// A grant map replaces an entry without flushing it (as any PTE write the guest asks for).
void invlpg(const volatile void* p) { hc::mmuext1(MMUEXT_INVLPG_LOCAL, va(p)); }

void check_table_calls() {
    gnttab_query_size_t q{};
    q.dom = DOMID_SELF;
    CHECK_EQ("gnttab.query_size", gnttab(GNTTABOP_query_size, &q, 1), 0);
    CHECK_EQ("gnttab.query_size_status", q.status, GNTST_okay);
    CHECK("gnttab.query_size_frames", q.nr_frames >= 1 && q.nr_frames <= q.max_nr_frames);
    CHECK_EQ("gnttab.query_size_max", q.max_nr_frames, 64);
    CHECK_EQ("gnttab.query_size_count", gnttab(GNTTABOP_query_size, &q, 2), -XEN_EINVAL);
    q.dom = 12345;
    gnttab(GNTTABOP_query_size, &q, 1);
    CHECK_EQ("gnttab.query_size_bad_domain", q.status, GNTST_bad_domain);

    gnttab_set_version_t sv{};
    sv.version = 1;
    CHECK_EQ("gnttab.set_version_1", gnttab(GNTTABOP_set_version, &sv, 1), 0);
    CHECK_EQ("gnttab.set_version_1_reported", sv.version, 1);
    sv.version = 3;
    CHECK_EQ("gnttab.set_version_3", gnttab(GNTTABOP_set_version, &sv, 1), -XEN_EINVAL);
    CHECK_EQ("gnttab.set_version_3_reports_1", sv.version, 1);
    gnttab_get_version_t gv{};
    gv.dom = DOMID_SELF;
    CHECK_EQ("gnttab.get_version", gnttab(GNTTABOP_get_version, &gv, 1), 0);
    CHECK_EQ("gnttab.get_version_1", gv.version, 1);

    gnttab_get_status_frames_t gs{};
    uint64_t status_frame = 0;
    set_xen_guest_handle(gs.frame_list, &status_frame);
    gs.dom = DOMID_SELF;
    gs.nr_frames = 0;
    CHECK_EQ("gnttab.status_frames_none", gnttab(GNTTABOP_get_status_frames, &gs, 1), 0);
    CHECK_EQ("gnttab.status_frames_none_ok", gs.status, GNTST_okay);
    gs.nr_frames = 1;
    gnttab(GNTTABOP_get_status_frames, &gs, 1);
    CHECK_EQ("gnttab.status_frames_v1", gs.status, GNTST_general_error);

    CHECK_EQ("gnttab.unknown_op", gnttab(99, &q, 1), -XEN_ENOSYS);
    CHECK_EQ("gnttab.op_upper_bits", gnttab((1u << 12) | GNTTABOP_query_size, &q, 1), -XEN_EINVAL);
    CHECK_EQ("gnttab.negative_count", gnttab(GNTTABOP_map_grant_ref, &q, 0x80000000u), -XEN_EINVAL);
    CHECK_EQ("gnttab.map_list_in_hypervisor",
             gnttab(GNTTABOP_map_grant_ref, reinterpret_cast<void*>(HYPERVISOR_ADDRESS), 1), -XEN_EFAULT);

    gnttab_setup_table_t st{};
    xen_pfn_t frames[2] = {};
    set_xen_guest_handle(st.frame_list, frames);
    st.dom = DOMID_SELF;
    st.nr_frames = 65;
    gnttab(GNTTABOP_setup_table, &st, 1);
    CHECK_EQ("gnttab.setup_table_too_many", st.status, GNTST_general_error);
    CHECK_EQ("gnttab.setup_table_count", gnttab(GNTTABOP_setup_table, &st, 0), -XEN_EINVAL);
    st.nr_frames = 1;
    CHECK_EQ("gnttab.setup_table", gnttab(GNTTABOP_setup_table, &st, 1), 0);
    CHECK_EQ("gnttab.setup_table_status", st.status, GNTST_okay);
    CHECK("gnttab.setup_table_frame", frames[0] != 0);

    // Map table frame 0 (ours: Xen lends it) over our window.
    u64 pte = (frames[0] << PAGE_SHIFT) | PTE_P | PTE_RW | PTE_A | PTE_D;
    CHECK_EQ("gnttab.table_frame_mappable",
             hc::update_va_mapping(va(g_table_window), pte, UVMF_INVLPG | UVMF_LOCAL), 0);
    g_entries = reinterpret_cast<volatile grant_entry_v1_t*>(g_table_window);
}

void check_host_maps() {
    const u64 data_mfn = mfn_of(g_data);
    u64 map_l1e_maddr = 0;
    const u64 map_orig = l1e_of(va(g_map_page), &map_l1e_maddr);
    g_data[0] = 0x5a;
    g_data[4095] = 0xa5;
    grant(REF, GTF_permit_access, SELF_ID, data_mfn);
    grant(REF_RO, GTF_permit_access | GTF_readonly, SELF_ID, data_mfn);
    grant(REF_OTHER, GTF_permit_access, 7, data_mfn);
    grant(REF_EMPTY, GTF_invalid, SELF_ID, data_mfn);

    // Refusals before anything is pinned.
    auto op = map_op(REF, 0, va(g_map_page));
    CHECK_EQ("gnttab.map_no_flags", map(op), GNTST_bad_gntref);
    op = map_op(REF, GNTMAP_host_map, va(g_map_page), DOMID_SELF);
    CHECK_EQ("gnttab.map_domid_self", map(op), GNTST_bad_domain);
    op = map_op(REF, GNTMAP_host_map, va(g_map_page), 12345);
    CHECK_EQ("gnttab.map_unknown_domain", map(op), GNTST_bad_domain);
    op = map_op(1u << 20, GNTMAP_host_map, va(g_map_page));
    CHECK_EQ("gnttab.map_bad_ref", map(op), GNTST_bad_gntref);
    op = map_op(REF_EMPTY, GNTMAP_host_map, va(g_map_page));
    CHECK_EQ("gnttab.map_revoked", map(op), GNTST_general_error);
    op = map_op(REF_OTHER, GNTMAP_host_map, va(g_map_page));
    CHECK_EQ("gnttab.map_granted_to_other", map(op), GNTST_general_error);
    op = map_op(REF_RO, GNTMAP_host_map, va(g_map_page));
    CHECK_EQ("gnttab.map_rw_of_readonly", map(op), GNTST_general_error);
    CHECK_EQ_HEX("gnttab.refused_leave_flags", entry_flags(REF) | entry_flags(REF_RO),
                 GTF_permit_access | GTF_readonly);
    grant(REF_EMPTY, GTF_permit_access, SELF_ID, 0xfffff000u);
    op = map_op(REF_EMPTY, GNTMAP_host_map, va(g_map_page));
    CHECK_EQ("gnttab.map_bad_frame", map(op), GNTST_bad_page);
    CHECK_EQ_HEX("gnttab.bad_frame_flags_cleared", entry_flags(REF_EMPTY), GTF_permit_access);
    op = map_op(REF, GNTMAP_host_map, UNMAPPED_ADDRESS);
    CHECK_EQ("gnttab.map_unmapped_host_addr", map(op), GNTST_general_error);
    op = map_op(REF, GNTMAP_host_map | GNTMAP_contains_pte, map_l1e_maddr + 4);
    CHECK_EQ("gnttab.map_misaligned_pte", map(op), GNTST_general_error);
    CHECK_EQ_HEX("gnttab.failed_map_unpinned", entry_flags(REF), GTF_permit_access);

    // A writable host mapping by linear address.
    op = map_op(REF, GNTMAP_host_map, va(g_map_page));
    CHECK_EQ("gnttab.map_host", map(op), GNTST_okay);
    const u32 handle = op.handle;
    CHECK_EQ_HEX("gnttab.map_sets_reading_writing", entry_flags(REF),
                 GTF_permit_access | GTF_reading | GTF_writing);
    CHECK_EQ_HEX("gnttab.map_pte_frame", (l1e_of(va(g_map_page)) & PTE_ADDR) >> PAGE_SHIFT, data_mfn);
    CHECK_EQ_HEX("gnttab.map_dev_bus_addr", op.dev_bus_addr, data_mfn << PAGE_SHIFT);
    invlpg(g_map_page);
    CHECK("gnttab.read_through_map", g_map_page[0] == 0x5a && g_map_page[4095] == 0xa5);
    g_map_page[1] = 0x77;
    CHECK_EQ_HEX("gnttab.write_through_map", g_data[1], 0x77);
    // A second, read-only mapping of the same grant, by the machine address of the copy page's
    // L1 entry.
    u64 copy_l1e_maddr = 0;
    const u64 copy_orig = l1e_of(va(g_copy_dest), &copy_l1e_maddr);
    op = map_op(REF, GNTMAP_host_map | GNTMAP_readonly | GNTMAP_contains_pte, copy_l1e_maddr);
    CHECK_EQ("gnttab.map_ro_by_pte", map(op), GNTST_okay);
    const u32 handle_ro = op.handle;
    invlpg(g_copy_dest);
    CHECK_EQ_HEX("gnttab.read_through_pte_map", g_copy_dest[1], 0x77);
    CHECK_EQ_HEX("gnttab.ro_map_pte_readonly", l1e_of(va(g_copy_dest)) & PTE_RW, 0);

    // Unmap refusals.
    CHECK_EQ("gnttab.unmap_bad_handle", unmap(va(g_map_page), 0xffffffu), GNTST_bad_handle);
    CHECK_EQ("gnttab.unmap_wrong_addr", unmap(va(g_table_window), handle), GNTST_general_error);
    CHECK_EQ("gnttab.unmap_no_addr", unmap(0, handle), GNTST_okay);
    CHECK_EQ_HEX("gnttab.unmap_no_addr_keeps_map", (l1e_of(va(g_map_page)) & PTE_ADDR) >> PAGE_SHIFT, data_mfn);

    CHECK_EQ("gnttab.unmap_ro_by_pte", unmap(copy_l1e_maddr, handle_ro), GNTST_okay);
    CHECK_EQ_HEX("gnttab.unmap_ro_keeps_writing", entry_flags(REF), GTF_permit_access | GTF_reading | GTF_writing);
    CHECK_EQ("gnttab.unmap_host", unmap(va(g_map_page), handle), GNTST_okay);
    CHECK_EQ_HEX("gnttab.unmap_clears_flags", entry_flags(REF), GTF_permit_access);
    CHECK_EQ_HEX("gnttab.unmap_clears_pte", l1e_of(va(g_map_page)), 0);
    CHECK_EQ("gnttab.unmap_stale_handle", unmap(va(g_map_page), handle), GNTST_bad_handle);

    // Put the pages back.
    CHECK_EQ("gnttab.restore_map_page", hc::update_va_mapping(va(g_map_page), map_orig, UVMF_INVLPG | UVMF_LOCAL), 0);
    CHECK_EQ("gnttab.restore_copy_page",
             hc::update_va_mapping(va(g_copy_dest), copy_orig, UVMF_INVLPG | UVMF_LOCAL), 0);

    // A device mapping: its bus address is the frame's machine address, checked at unmap.
    op = map_op(REF, GNTMAP_device_map, 0);
    CHECK_EQ("gnttab.map_device", map(op), GNTST_okay);
    CHECK_EQ_HEX("gnttab.map_device_bus_addr", op.dev_bus_addr, data_mfn << PAGE_SHIFT);
    CHECK_EQ("gnttab.unmap_wrong_bus_addr", unmap(0, op.handle, 0x1000), GNTST_bad_dev_addr);
    CHECK_EQ("gnttab.unmap_device", unmap(0, op.handle, data_mfn << PAGE_SHIFT), GNTST_okay);
    CHECK_EQ_HEX("gnttab.unmap_device_clears", entry_flags(REF), GTF_permit_access);

    // A read-only mapping of a read-only grant.
    op = map_op(REF_RO, GNTMAP_host_map | GNTMAP_readonly, va(g_map_page));
    CHECK_EQ("gnttab.map_ro_grant", map(op), GNTST_okay);
    CHECK_EQ_HEX("gnttab.map_ro_sets_reading", entry_flags(REF_RO), GTF_permit_access | GTF_readonly | GTF_reading);
    CHECK_EQ("gnttab.unmap_ro_grant", unmap(va(g_map_page), op.handle), GNTST_okay);
    CHECK_EQ_HEX("gnttab.unmap_ro_clears", entry_flags(REF_RO), GTF_permit_access | GTF_readonly);
    hc::update_va_mapping(va(g_map_page), map_orig, UVMF_INVLPG | UVMF_LOCAL);
}

void check_copies() {
    const u64 data_mfn = mfn_of(g_data), dest_mfn = mfn_of(g_copy_dest);
    for (unsigned i = 0; i < 64; ++i) g_data[i] = static_cast<u8>(i + 1);
    g_copy_dest[0] = 0;
    CHECK_EQ("gnttab.copy_gref_to_frame",
             grant_copy1(GNTCOPY_source_gref, SELF_ID, REF, 0, DOMID_SELF, dest_mfn, 100, 64), GNTST_okay);
    CHECK("gnttab.copy_copied", g_copy_dest[100] == 1 && g_copy_dest[163] == 64);
    CHECK_EQ_HEX("gnttab.copy_unpins", entry_flags(REF), GTF_permit_access);
    CHECK_EQ("gnttab.copy_frame_to_gref",
             grant_copy1(GNTCOPY_dest_gref, DOMID_SELF, dest_mfn, 100, SELF_ID, REF, 200, 8), GNTST_okay);
    CHECK_EQ_HEX("gnttab.copy_into_grant", g_data[200], 1);
    CHECK_EQ("gnttab.copy_past_page",
             grant_copy1(GNTCOPY_source_gref, SELF_ID, REF, 4000, DOMID_SELF, dest_mfn, 0, 200), GNTST_bad_copy_arg);
    CHECK_EQ("gnttab.copy_dest_past_page",
             grant_copy1(GNTCOPY_source_gref, SELF_ID, REF, 0, DOMID_SELF, dest_mfn, 4095, 2), GNTST_bad_copy_arg);
    CHECK_EQ("gnttab.copy_frame_by_id",
             grant_copy1(0, SELF_ID, data_mfn, 0, DOMID_SELF, dest_mfn, 0, 8), GNTST_permission_denied);
    CHECK_EQ("gnttab.copy_bad_gref",
             grant_copy1(GNTCOPY_source_gref, SELF_ID, 1u << 20, 0, DOMID_SELF, dest_mfn, 0, 8), GNTST_bad_gntref);
    CHECK_EQ("gnttab.copy_bad_domain",
             grant_copy1(GNTCOPY_source_gref, 12345, REF, 0, DOMID_SELF, dest_mfn, 0, 8), GNTST_bad_domain);
    CHECK_EQ("gnttab.copy_into_readonly_grant",
             grant_copy1(GNTCOPY_dest_gref, DOMID_SELF, dest_mfn, 0, SELF_ID, REF_RO, 0, 8), GNTST_general_error);
    CHECK_EQ("gnttab.copy_revoked",
             grant_copy1(GNTCOPY_source_gref, SELF_ID, REF_OTHER, 0, DOMID_SELF, dest_mfn, 0, 8), GNTST_general_error);
    CHECK_EQ("gnttab.copy_bad_frame",
             grant_copy1(0, DOMID_SELF, 0xfffff000u, 0, DOMID_SELF, dest_mfn, 0, 8), GNTST_bad_page);
    CHECK_EQ_HEX("gnttab.copies_leave_no_pin", entry_flags(REF) | entry_flags(REF_RO) | entry_flags(REF_OTHER),
                 GTF_permit_access | GTF_readonly);
    const u32 refs[] = {REF, REF_RO, REF_OTHER, REF_EMPTY};
    for (u32 r : refs) g_entries[r].flags = 0;
}

}  // namespace

namespace pvt {

void check_grant_tables() {
    check_table_calls();
    if (!g_entries) return;
    check_host_maps();
    check_copies();
}

}  // namespace pvt
