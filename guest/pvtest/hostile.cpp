// Hypercalls with arguments a hypervisor must refuse (or, where Xen accepts them, must accept
// the same way), and the multicall that carries an iret.  Nothing here may crash the domain on
// Xen: values that would only hurt later (a trap handler or kernel stack in Xen's range) are
// set and at once put back.
#include "guest/pvtest/pvtest.hpp"
#include "guest/pvtest/traps.hpp"
#include "lib/string.hpp"

using namespace pvt;

extern "C" long multicall_iret(multicall_entry_t* calls, unsigned n, u64* resumed);  // traps.S

namespace {

alignas(4096) constinit char hostile_page[4096];
// Two adjacent pages: the second is unmapped while a console write runs into it.
alignas(4096) constinit char edge_pages[2][4096];

using hc::mmu_update1;
using hc::mmuext1;

void check_trap_and_stack_addresses() {
    // Xen checks only that a trap handler's address is canonical: one in its own range is
    // taken (delivering to it would crash the domain, so the table is cleared at once).
    trap_info_t table[2]{};
    table[0].vector = 3;
    table[0].flags = 3;
    table[0].cs = FLAT_KERNEL_CS;
    table[0].address = HYPERVISOR_ADDRESS;
    long rc = hc::set_trap_table(table);
    hc::set_trap_table(nullptr);
    CHECK_EQ("set_trap_table.hypervisor_address_accepted", rc, 0);
    table[0].address = NONCANONICAL_ADDRESS;
    rc = hc::set_trap_table(table);
    hc::set_trap_table(nullptr);
    CHECK_EQ("set_trap_table.noncanonical", rc, -XEN_EINVAL);

    // stack_switch stores what it is given; only a later bounce onto such a stack would fail.
    rc = hc::stack_switch(FLAT_KERNEL_SS, HYPERVISOR_ADDRESS);
    hc::stack_switch(FLAT_KERNEL_SS, va(guest_stack_top));
    CHECK_EQ("stack_switch.hypervisor_address_accepted", rc, 0);
}

void check_mmu_refusals() {
    u64 l4_mfn = kernel_l4_mfn();
    const u64* l4 = reinterpret_cast<const u64*>(g_si->pt_base);
    u64 l4_maddr = l4_mfn << PAGE_SHIFT;

    // Slots 256-271 belong to the hypervisor.
    CHECK_EQ("mmu_update.l4_xen_slot", mmu_update1(l4_maddr + 256 * 8, 0), -XEN_EINVAL);
    CHECK_EQ("mmu_update.l4_xen_slot_271", mmu_update1(l4_maddr + 271 * 8, 0), -XEN_EINVAL);
    // Bits 0-2 of ptr are the command: 0-3 are defined.
    CHECK_EQ("mmu_update.bad_cmd", mmu_update1(maddr_of(hostile_page) | 7, 0), -XEN_ENOSYS);
    // The command is the low three bits: bit 2 makes any command unknown, even on a table entry.
    CHECK_EQ("mmu_update.bad_cmd_bit2", mmu_update1(maddr_of(hostile_page) | 4, 0), -XEN_ENOSYS);
    CHECK_EQ("mmu_update.bad_cmd_l4_bit2", mmu_update1(l4_maddr | 5, 0), -XEN_ENOSYS);

    // On a frame that is not a page table, a "page-table update" is a plain store.
    hostile_page[8] = 0;
    u64 store = 0x5a5a5a5a12345678ull;
    long rc = mmu_update1(maddr_of(&hostile_page[8]), store);
    check("mmu_update.plain_page_store",
          rc == 0 && read_once(reinterpret_cast<const u64*>(&hostile_page[8])) == store, "rc %ld",
          rc);

    // A frame of the hypervisor's own (the M2P's L3, in L4 slot 256) cannot be mapped.
    u64 xen_mfn = (l4[256] & PTE_ADDR) >> PAGE_SHIFT;
    u64 l1e_maddr = 0;
    u64 l1e = l1e_of(va(hostile_page), &l1e_maddr);
    rc = mmu_update1(l1e_maddr, (l1e & ~PTE_ADDR & ~PTE_RW) | (xen_mfn << PAGE_SHIFT));
    if (rc == 0) mmu_update1(l1e_maddr, l1e);
    CHECK_EQ("mmu_update.map_xen_frame", rc, -XEN_EBUSY);
    // Nor can its M2P entry be changed.
    CHECK_EQ("mmu_update.machphys_xen_frame",
             mmu_update1((xen_mfn << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE, 0), -XEN_EINVAL);

    // A frame number beyond any physical address.
    constexpr u64 FAR_MFN = 0xffffffff0ull;
    rc = hc::update_va_mapping(va(hostile_page), (l1e & ~PTE_ADDR) | (FAR_MFN << PAGE_SHIFT),
                               UVMF_INVLPG | UVMF_LOCAL);
    if (rc == 0) hc::update_va_mapping(va(hostile_page), l1e, UVMF_INVLPG | UVMF_LOCAL);
    CHECK_EQ("update_va_mapping.far_mfn", rc, -XEN_EPERM);
    // A VA with no L1 table behind it.
    CHECK_EQ("update_va_mapping.no_l1", hc::update_va_mapping(UNMAPPED_ADDRESS, 0, UVMF_INVLPG),
             -XEN_EINVAL);

    // The L4 is typed (and pinned) as an L4: it cannot be pinned as an L3.
    CHECK_EQ("mmuext_op.pin_l3_of_l4", mmuext1(MMUEXT_PIN_L3_TABLE, l4_mfn), -XEN_EINVAL);
    // Unpinning needs a pin.
    CHECK_EQ("mmuext_op.unpin_not_pinned", mmuext1(MMUEXT_UNPIN_TABLE, mfn_of(hostile_page)),
             -XEN_EINVAL);
    // A frame mapped writable cannot become a page table, so cannot be the new base.
    CHECK_EQ("mmuext_op.new_baseptr_writable_frame",
             mmuext1(MMUEXT_NEW_BASEPTR, mfn_of(hostile_page)), -XEN_EINVAL);
    CHECK_EQ("mmuext_op.pin_l1_far_mfn", mmuext1(MMUEXT_PIN_L1_TABLE, FAR_MFN), -XEN_EINVAL);

    // SET_LDT: page-aligned base, at most 8192 entries; (0, 0) is no LDT.
    mmuext_op_t op{};
    op.cmd = MMUEXT_SET_LDT;
    op.arg1.linear_addr = va(hostile_page) + 8;
    op.arg2.nr_ents = 1;
    CHECK_EQ("mmuext_op.set_ldt_misaligned", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF),
             -XEN_EINVAL);
    op.arg1.linear_addr = va(hostile_page);
    op.arg2.nr_ents = 8193;
    CHECK_EQ("mmuext_op.set_ldt_too_many", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF),
             -XEN_EINVAL);
    op.arg1.linear_addr = 0;
    op.arg2.nr_ents = 0;
    CHECK_EQ("mmuext_op.set_ldt_none", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), 0);
    // The base must be a guest address; with no entries it is ignored.
    op.arg1.linear_addr = NONCANONICAL_ADDRESS;
    op.arg2.nr_ents = 1;
    CHECK_EQ("mmuext_op.set_ldt_noncanonical", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF),
             -XEN_EINVAL);
    op.arg1.linear_addr = HYPERVISOR_ADDRESS;
    CHECK_EQ("mmuext_op.set_ldt_xen_range", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF),
             -XEN_EINVAL);
    op.arg1.linear_addr = HYPERVISOR_ADDRESS + 8;
    op.arg2.nr_ents = 0;
    CHECK_EQ("mmuext_op.set_ldt_no_entries_base_ignored",
             hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), 0);
}

void check_console_edge() {
    // A huge count whose copy runs into an unmapped page: Xen copies in small chunks and fails
    // the chunk that faults (nothing of it is printed).
    static constexpr char text[] = "pvtest: info: console_io write with a huge count\n";
    constexpr usize len = sizeof(text) - 1;
    char* buf = &edge_pages[0][4096 - len];
    pv::mem_copy(buf, text, len);
    u64 second = l1e_of(va(edge_pages[1]));
    long rc_unmap = hc::update_va_mapping(va(edge_pages[1]), 0, UVMF_INVLPG | UVMF_LOCAL);
    console_flush();
    long rc = hc::console_io(CONSOLEIO_write, 0xffffffffu, buf);
    long rc_map = hc::update_va_mapping(va(edge_pages[1]), second, UVMF_INVLPG | UVMF_LOCAL);
    check("console_io.write_huge_count_efault", rc_unmap == 0 && rc == -XEN_EFAULT && rc_map == 0,
          "unmap %ld, write %ld, remap %ld", rc_unmap, rc, rc_map);
}

void check_multicall_refusals() {
    // A multicall inside a multicall is refused entry by entry.
    multicall_entry_t inner[1]{};
    inner[0].op = __HYPERVISOR_xen_version;
    inner[0].args[0] = XENVER_version;
    inner[0].result = 0x5a5a;
    multicall_entry_t outer[1]{};
    outer[0].op = __HYPERVISOR_multicall;
    outer[0].args[0] = va(inner);
    outer[0].args[1] = 1;
    long rc = hc::multicall(outer, 1);
    check("multicall.nested_refused",
          rc == 0 && static_cast<long>(outer[0].result) == -XEN_EINVAL && inner[0].result == 0x5a5a,
          "rc %ld, result %ld, inner result %#lx", rc, static_cast<long>(outer[0].result),
          inner[0].result);
}

}  // namespace

void pvt::check_hostile() {
    check_trap_and_stack_addresses();
    check_mmu_refusals();
    check_console_edge();
    check_multicall_refusals();
}

void pvt::check_multicall_iret() {
    // An iret in a batch is carried out (from the iret_context at the caller's RSP) and ends
    // the batch: later entries do not run (XSA-213).
    multicall_entry_t calls[3]{};
    calls[0].op = __HYPERVISOR_xen_version;
    calls[0].args[0] = XENVER_version;
    calls[1].op = __HYPERVISOR_iret;
    calls[2].op = __HYPERVISOR_xen_version;
    calls[2].args[0] = XENVER_version;
    for (auto& c : calls) c.result = 0x5a5a;
    u64 resumed = 2;
    long rc = multicall_iret(calls, 3, &resumed);
    info("multicall with iret: rc %#lx, resumed %llu, results %#lx %#lx %#lx", rc,
         static_cast<unsigned long long>(resumed), calls[0].result, calls[1].result,
         calls[2].result);
    CHECK_EQ("multicall.iret_resumes_context", resumed, 1);
    CHECK_EQ_HEX("multicall.iret_rax", static_cast<u64>(rc), 0x1ce7);
    CHECK_EQ("multicall.iret_before_ran", static_cast<i64>(calls[0].result),
             hc::xen_version(XENVER_version, nullptr));
    CHECK_EQ_HEX("multicall.iret_stops_batch", calls[2].result, 0x5a5a);
}
