// Descriptor tables: HYPERVISOR_update_descriptor's checks and fix-ups, set_gdt (frames must
// become seg_desc pages, so no writable mapping may exist), and selectors from the guest's GDT
// loaded and inspected by the hardware (LAR/LSL read the GDT the CPU really uses).
#include "guest/pvtest/pvtest.hpp"
#include "guest/pvtest/traps.hpp"

using namespace pvt;

namespace {

alignas(4096) constinit u64 desc_page[512];
alignas(4096) constinit u64 gdt_frame[512];
alignas(4096) constinit u64 ldt_page[512];      // good descriptors, mapped read-only
alignas(4096) constinit u64 ldt_bad_page[512];  // holds a TSS descriptor, mapped read-only
alignas(4096) constinit u64 ldt_rw_page[512];   // good descriptors, but mapped writable

// Flat 4 GiB segments.  DPL 3 is what a 64-bit PV guest's descriptors end up with: Xen raises
// a lower DPL to 3 (the guest kernel runs in ring 3).
constexpr u64 DATA_DPL3 = 0x00cff2000000ffffull;
constexpr u64 DATA_DPL0 = 0x00cf92000000ffffull;
constexpr u64 CODE64_DPL3 = 0x00affa000000ffffull;
constexpr u64 DATA_SMALL_DPL3 = 0x0040f20000000fffull;  // byte granular, limit 0xfff
constexpr u64 TSS64 = 0x0000890000000067ull;            // a system descriptor (available TSS)
constexpr u64 NOT_PRESENT_JUNK = 0xffff7fffffffffffull;  // P clear: anything goes

// A 64-bit call gate's low half: target offset (low 32 bits), selector, type 0xc, DPL, P.
constexpr u64 call_gate(u64 offset, u16 sel, unsigned dpl) {
    return (offset & 0xffff) | (static_cast<u64>(sel) << 16) | (0xcull << 40) |
           (static_cast<u64>(dpl) << 45) | (1ull << 47) | ((offset >> 16 & 0xffff) << 48);
}

long update_desc(const volatile u64* slot, u64 desc) { return hc::update_descriptor(maddr_of(slot), desc); }

struct Lar {
    bool ok;
    u32 value;
};

Lar lar(u16 sel) {
    u32 v = 0;
    u8 ok = 0;
    asm volatile("larl %2, %0\n\tsetz %1" : "=r"(v), "=q"(ok) : "r"(static_cast<u32>(sel)) : "cc");
    return {ok != 0, v};
}

Lar lsl(u16 sel) {
    u32 v = 0;
    u8 ok = 0;
    asm volatile("lsll %2, %0\n\tsetz %1" : "=r"(v), "=q"(ok) : "r"(static_cast<u32>(sel)) : "cc");
    return {ok != 0, v};
}

void check_update_descriptor() {
    CHECK_EQ("update_descriptor.data", update_desc(&desc_page[1], DATA_DPL3), 0);
    CHECK_EQ_HEX("update_descriptor.data_written", read_once(&desc_page[1]), DATA_DPL3);
    long rc = update_desc(&desc_page[2], DATA_DPL0);
    check("update_descriptor.dpl_raised_to_3", rc == 0 && read_once(&desc_page[2]) == DATA_DPL3,
          "rc %ld, stored %#llx", rc, static_cast<unsigned long long>(read_once(&desc_page[2])));
    rc = update_desc(&desc_page[3], NOT_PRESENT_JUNK);
    check("update_descriptor.not_present_verbatim",
          rc == 0 && read_once(&desc_page[3]) == NOT_PRESENT_JUNK, "rc %ld, stored %#llx", rc,
          static_cast<unsigned long long>(read_once(&desc_page[3])));
    CHECK_EQ("update_descriptor.system_refused", update_desc(&desc_page[4], TSS64), -XEN_EINVAL);
    CHECK_EQ_HEX("update_descriptor.refused_not_written", read_once(&desc_page[4]), 0);

    // A call gate is kept, but with DPL 0 (so using it faults into Xen, which emulates it) and
    // the requested DPL, raised to 3, moved into the target selector's RPL.  Its target must be
    // a guest selector or FLAT_KERNEL_CS itself, not another of Xen's.
    u64 target = va(reinterpret_cast<const void*>(&check_update_descriptor));
    rc = update_desc(&desc_page[6], call_gate(target, 0x10, 1));
    u64 stored = read_once(&desc_page[6]);
    check("update_descriptor.call_gate_rewritten",
          rc == 0 && stored == call_gate(target, 0x13, 0), "rc %ld, stored %#llx", rc,
          static_cast<unsigned long long>(stored));
    rc = update_desc(&desc_page[8], call_gate(target, FLAT_KERNEL_CS, 3));
    stored = read_once(&desc_page[8]);
    check("update_descriptor.call_gate_flat_kernel_cs",
          rc == 0 && stored == call_gate(target, FLAT_KERNEL_CS, 0), "rc %ld, stored %#llx", rc,
          static_cast<unsigned long long>(stored));
    CHECK_EQ("update_descriptor.call_gate_xen_selector",
             update_desc(&desc_page[10], call_gate(target, FLAT_KERNEL_CS & ~3u, 3)), -XEN_EINVAL);

    CHECK_EQ("update_descriptor.misaligned",
             hc::update_descriptor(maddr_of(&desc_page[12]) + 4, DATA_DPL3), -XEN_EINVAL);
    // A page-table frame cannot take descriptors.
    CHECK_EQ("update_descriptor.page_table_frame",
             hc::update_descriptor((kernel_l4_mfn() << PAGE_SHIFT) + 8, DATA_DPL3), -XEN_EINVAL);
    CHECK_EQ("update_descriptor.far_frame", hc::update_descriptor(0xffffffff0ull << PAGE_SHIFT, 0),
             -XEN_EINVAL);
}

void check_set_gdt() {
    gdt_frame[1] = DATA_DPL3;
    gdt_frame[2] = CODE64_DPL3;
    xen_ulong_t frames[1] = {mfn_of(gdt_frame)};

    // The frame is still mapped writable: it cannot become a seg_desc page.
    CHECK_EQ("set_gdt.writable_frame_refused", hc::set_gdt(frames, 3), -XEN_EINVAL);
    CHECK_EQ("set_gdt.too_many_entries", hc::set_gdt(frames, 7169), -XEN_EINVAL);
    CHECK_EQ("set_gdt.remap_readonly", remap_page(gdt_frame, false), 0);
    if (!CHECK_EQ("set_gdt.install", hc::set_gdt(frames, 3), 0)) return;

    // The hardware sees our descriptors: LAR gives their access rights.
    Lar d = lar(0x0b);
    check("gdt.lar_data", d.ok && (d.value & 0x00f0ff00) == 0x00c0f200, "ok %d, %#x", d.ok, d.value);
    Lar c = lar(0x13);
    check("gdt.lar_code", c.ok && (c.value & 0x00f0ff00) == 0x00a0fa00, "ok %d, %#x", c.ok, c.value);
    Lar beyond = lar(0x1b);
    CHECK("gdt.lar_beyond_limit_fails", !beyond.ok);

    // Loading a data selector from it, then back to the null selector.
    unsigned before = g_ntraps;
    u16 ds = 0;
    asm volatile(PVT_GUARDED("movw %1, %%ds") "movw %%ds, %0\n\t"
                 : "=r"(ds)
                 : "r"(static_cast<u16>(0x0b))
                 : "r11", "memory");
    asm volatile("movw %0, %%ds" : : "r"(static_cast<u16>(0)));
    const TrapRecord* t0 = g_ntraps != before ? last_trap() : nullptr;
    check("gdt.load_ds", !t0 && ds == 0x0b, "%u traps (vector %llu error %#llx cr2 %#llx), ds %#x",
          g_ntraps - before, t0 ? static_cast<unsigned long long>(t0->vector) : 0ull,
          t0 ? static_cast<unsigned long long>(t0->error) : 0ull,
          t0 ? static_cast<unsigned long long>(t0->cr2) : 0ull, ds);
    // A selector past the limit: #GP with the selector as error code.
    before = g_ntraps;
    asm volatile(PVT_GUARDED("movw %0, %%es") : : "r"(static_cast<u16>(0x1b)) : "r11", "memory");
    const TrapRecord* t = g_ntraps != before ? last_trap() : nullptr;
    asm volatile("movw %0, %%es" : : "r"(static_cast<u16>(0)));
    check("gdt.load_beyond_limit_gp", t && t->vector == 13 && t->error == 0x18,
          "vector %llu error %#llx", t ? static_cast<unsigned long long>(t->vector) : 0ull,
          t ? static_cast<unsigned long long>(t->error) : 0ull);

    // A live GDT frame is updated through update_descriptor (it stays a seg_desc page).
    long rc = update_desc(&gdt_frame[1], DATA_SMALL_DPL3);
    Lar limit = lsl(0x0b);
    check("update_descriptor.live_gdt", rc == 0 && limit.ok && limit.value == 0xfff,
          "rc %ld, lsl ok %d value %#x", rc, limit.ok, limit.value);
    CHECK_EQ("update_descriptor.live_gdt_system_refused", update_desc(&gdt_frame[2], TSS64),
             -XEN_EINVAL);
    // Nor can it be mapped writable while in use (the type is busy: -EBUSY, not -EINVAL).
    rc = remap_page(gdt_frame, true);
    if (rc == 0) remap_page(gdt_frame, false);
    CHECK_EQ("set_gdt.frame_cannot_become_writable", rc, -XEN_EBUSY);

    // No GDT: our selectors are gone, the frame is an ordinary page again.
    CHECK_EQ("set_gdt.clear", hc::set_gdt(frames, 0), 0);
    CHECK("gdt.lar_after_clear_fails", !lar(0x0b).ok);
    CHECK_EQ("set_gdt.frame_writable_after_clear", remap_page(gdt_frame, true), 0);
}

long set_ldt(u64 base, unsigned ents) {
    mmuext_op_t op{};
    op.cmd = MMUEXT_SET_LDT;
    op.arg1.linear_addr = base;
    op.arg2.nr_ents = ents;
    return hc::mmuext_op(&op, 1, nullptr, DOMID_SELF);
}

// Loads sel into DS (then the null selector back): what DS read, and the trap if one came.
struct SegLoad {
    u16 ds;
    const TrapRecord* trap;
};
SegLoad load_ds(u16 sel) {
    unsigned before = g_ntraps;
    u16 ds = 0;
    asm volatile(PVT_GUARDED("movw %1, %%ds") "movw %%ds, %0\n\t"
                 : "=r"(ds)
                 : "r"(sel)
                 : "r11", "memory");
    asm volatile("movw %0, %%ds" : : "r"(static_cast<u16>(0)));
    return {ds, g_ntraps != before ? last_trap() : nullptr};
}

// A fault of the given vector, error code and (for #PF) guest CR2 on loading sel.
void check_load_fault(const char* name, u16 sel, u64 vector, u64 error, u64 cr2 = 0) {
    SegLoad l = load_ds(sel);
    const TrapRecord* t = l.trap;
    check(name, t && t->vector == vector && t->error == error && (vector != 14 || t->cr2 == cr2),
          "trap %d vector %llu error %#llx cr2 %#llx", t != nullptr, t ? static_cast<unsigned long long>(t->vector) : 0ull,
          t ? static_cast<unsigned long long>(t->error) : 0ull, t ? static_cast<unsigned long long>(t->cr2) : 0ull);
}

// The LDT: MMUEXT_SET_LDT records a linear base and an entry count; Xen maps the pages lazily, on
// the first descriptor load through an LDT selector (index << 3 | 4 | RPL), typing each frame
// seg_desc then (so its descriptors are checked and fixed up as a GDT frame's, and it cannot
// stay writable).  A page that cannot be typed is the guest's #PF at the LDT's linear address.
void check_ldt() {
    ldt_page[0] = DATA_DPL3;
    ldt_page[1] = DATA_DPL0;
    ldt_page[2] = CODE64_DPL3;
    CHECK_EQ("ldt.remap_readonly", remap_page(ldt_page, false), 0);
    if (!CHECK_EQ("mmuext_op.set_ldt", set_ldt(va(ldt_page), 3), 0)) return;
    // Nothing is mapped yet: the frame can still become writable (and back).
    long rc = remap_page(ldt_page, true);
    long rc_back = remap_page(ldt_page, false);
    check("ldt.frame_untyped_until_used", rc == 0 && rc_back == 0, "rc %ld, %ld", rc, rc_back);

    SegLoad l = load_ds(0x07);
    check("ldt.load_ds", !l.trap && l.ds == 0x07, "trap %d (vector %llu error %#llx cr2 %#llx), ds %#x",
          l.trap != nullptr, l.trap ? static_cast<unsigned long long>(l.trap->vector) : 0ull,
          l.trap ? static_cast<unsigned long long>(l.trap->error) : 0ull,
          l.trap ? static_cast<unsigned long long>(l.trap->cr2) : 0ull, l.ds);
    Lar d = lar(0x0f);
    check("ldt.lar_dpl_raised", d.ok && (d.value & 0x00f0ff00) == 0x00c0f200, "ok %d, %#x", d.ok, d.value);
    Lar c = lar(0x17);
    check("ldt.lar_code", c.ok && (c.value & 0x00f0ff00) == 0x00a0fa00, "ok %d, %#x", c.ok, c.value);
    CHECK_EQ_HEX("ldt.descriptor_fixed_in_frame", read_once(&ldt_page[1]), DATA_DPL3);
    CHECK("ldt.lar_beyond_limit_fails", !lar(0x1f).ok);
    check_load_fault("ldt.load_beyond_limit_gp", 0x1f, 13, 0x1c);
    // In use: typed seg_desc, so no writable mapping; update_descriptor still works.
    rc = remap_page(ldt_page, true);
    if (rc == 0) remap_page(ldt_page, false);
    CHECK_EQ("ldt.frame_cannot_become_writable", rc, -XEN_EBUSY);
    rc = update_desc(&ldt_page[0], DATA_SMALL_DPL3);
    Lar limit = lsl(0x07);
    check("update_descriptor.live_ldt", rc == 0 && limit.ok && limit.value == 0xfff,
          "rc %ld, lsl ok %d value %#x", rc, limit.ok, limit.value);
    CHECK_EQ("update_descriptor.live_ldt_system_refused", update_desc(&ldt_page[2], TSS64), -XEN_EINVAL);

    // Another LDT: the old one's frame is let go.  This one's page is mapped writable, so it
    // cannot be typed: the load faults as the guest's #PF (kernel mode, not present, read).
    ldt_rw_page[0] = DATA_DPL3;
    CHECK_EQ("mmuext_op.set_ldt_replace", set_ldt(va(ldt_rw_page), 4), 0);
    rc = remap_page(ldt_page, true);
    CHECK_EQ("ldt.old_frame_released", rc, 0);
    check_load_fault("ldt.writable_frame_pf", 0x07, 14, 0, va(ldt_rw_page));
    CHECK_EQ("ldt.writable_frame_still_writable", remap_page(ldt_rw_page, false), 0);
    remap_page(ldt_rw_page, true);

    // A refused descriptor anywhere in the page: the same #PF.
    ldt_bad_page[0] = DATA_DPL3;
    ldt_bad_page[1] = TSS64;
    remap_page(ldt_bad_page, false);
    CHECK_EQ("mmuext_op.set_ldt_bad_page", set_ldt(va(ldt_bad_page), 2), 0);
    check_load_fault("ldt.bad_descriptor_pf", 0x07, 14, 0, va(ldt_bad_page));

    // Only the base is checked: an LDT may run from the top page of the lower half into the
    // non-canonical hole.  Its unmapped first page is a #PF there; a descriptor in the hole is
    // #GP with the selector (TI set).
    constexpr u64 TOP_PAGE = 0x00007ffffffff000ull;
    CHECK_EQ("mmuext_op.set_ldt_into_hole", set_ldt(TOP_PAGE, 8192), 0);
    check_load_fault("ldt.unmapped_page_pf", 0x07, 14, 0, TOP_PAGE);
    check_load_fault("ldt.noncanonical_gp", 0x1007, 13, 0x1004);

    CHECK_EQ("mmuext_op.set_ldt_clear", set_ldt(0, 0), 0);
    check_load_fault("ldt.load_after_clear_gp", 0x07, 13, 0x04);
    CHECK_EQ("ldt.bad_page_writable_after_clear", remap_page(ldt_bad_page, true), 0);
}

}  // namespace

void pvt::check_descriptor_tables() {
    check_update_descriptor();
    check_set_gdt();
    check_ldt();
}
