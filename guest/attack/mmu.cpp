// Attacks on the memory-management rules: a writable mapping of the attacker's own page tables
// (directly, through a linear page table, through a grant of its own), mappings of frames that
// are not its own (the victim's, domain 0's, the hypervisor's), a descriptor table with a
// writable alias, and descriptors a guest may not install.  pvtest's hostile.cpp and desc.cpp
// try several of these as domain 0 on its own frames; here an unprivileged domain aims at its
// neighbours too.
#include "guest/attack/attack.hpp"
#include "guest/lib/xenbus/grant.hpp"
#include "lib/format.hpp"

namespace atk {

namespace {

alignas(4096) constinit volatile u8 g_scratch[4096];     // its L1 entry is what the attempts rewrite
alignas(4096) constinit u64 g_gdt[512];

using hc::mmu_update1;
using hc::mmuext1;

constexpr u64 PROT_RW = PTE_P | PTE_RW | PTE_A | PTE_D;
constexpr u64 PROT_RO = PTE_P | PTE_A;

long map_scratch(u64 mfn, u64 prot) {
    return hc::update_va_mapping(va(g_scratch), (mfn << PAGE_SHIFT) | prot, UVMF_INVLPG | UVMF_LOCAL);
}
long restore_scratch() { return map_scratch(mfn_of(g_scratch), PROT_RW); }

// The same through mmu_update on the scratch page's L1 entry.
long map_scratch_mmu(u64 mfn, u64 prot, domid_t foreign = DOMID_SELF) {
    u64 maddr = 0;
    l1e_of(va(g_scratch), &maddr);
    mmu_update_t u{};
    u.ptr = maddr | MMU_NORMAL_PT_UPDATE;
    u.val = (mfn << PAGE_SHIFT) | prot;
    long rc = hc::mmu_update(&u, 1, nullptr, foreign);
    hc::mmuext1(MMUEXT_INVLPG_LOCAL, va(g_scratch));
    return rc;
}

// Tries to map `mfn` writable at the scratch page both ways; puts the page back.  (Xen answers
// EBUSY for a frame whose type or owner forbids the mapping.)
void refuse_writable(const char* what, u64 mfn, long expected) {
    char name[96];
    pv::format(name, sizeof name, "%s.update_va_mapping_rw", what);
    expect_rc(name, map_scratch(mfn, PROT_RW), expected);
    restore_scratch();
    pv::format(name, sizeof name, "%s.mmu_update_rw", what);
    expect_rc(name, map_scratch_mmu(mfn, PROT_RW), expected);
    restore_scratch();
}

// A plain store through the read-only mapping of the L1 that maps the scratch page, of an entry
// that would map `mfn` writable: the hypervisor emulates writes to L1 pages, validating the new
// entry, and gives the guest a #PF when it is refused.
void poke_l1(u64 value) {
    const u64 l1 = table_mfn(va(g_scratch), 1);
    auto* table = reinterpret_cast<volatile u64*>(VIRT_BASE + (m2p[l1] << PAGE_SHIFT));
    table[(va(g_scratch) >> PAGE_SHIFT) & 511] = value;
}

}  // namespace

void pt_writable_direct() {
    static constexpr const char* names[] = {"", "pt_writable_direct.l1", "pt_writable_direct.l2",
                                            "pt_writable_direct.l3", "pt_writable_direct.l4"};
    for (unsigned level = 1; level <= 4; ++level)
        refuse_writable(names[level], table_mfn(va(g_scratch), level), -XEN_EBUSY);
    // Read-only is fine.
    expect_rc("pt_writable_direct.l1_readonly", map_scratch(table_mfn(va(g_scratch), 1), PROT_RO), 0);
    restore_scratch();
    // A store into our own L1 that would map the L4 writable.
    g_trap.count = 0;
    u64 trapped = guarded_call(poke_l1, (l4_mfn() << PAGE_SHIFT) | PROT_RW);
    check("pt_writable_direct.ptwr_store_pf", trapped && g_trap.vector == 14, "trapped %lu, vector %lu", trapped,
          g_trap.vector);
    CHECK_EQ_HEX("pt_writable_direct.scratch_unchanged", l1e_of(va(g_scratch)) & PTE_ADDR,
                 mfn_of(g_scratch) << PAGE_SHIFT);
    // A page mapped writable cannot become a page table.
    expect_rc("pt_writable_direct.pin_writable_l1", mmuext1(MMUEXT_PIN_L1_TABLE, mfn_of(g_scratch)), -XEN_EINVAL);
}

// Linear page tables: an entry of a table that points at a table of the same level.  Xen allows
// them read-only unless booted with pv-linear-pt=false, as the suite boots it: pvisor refuses
// them altogether (core/page_types.hpp says why), so only the refusals are compared.  Writable
// ones Xen refuses in any case ("Attempt to create linear p.t. with write perms").
void pt_writable_linear() {
    const u64 l4 = l4_mfn(), l4_maddr = l4 << PAGE_SHIFT;
    const auto* l4v = reinterpret_cast<const volatile u64*>(g_si->pt_base);
    unsigned slot = 300;  // a guest slot (Xen's are 256-271)
    while (slot < 511 && (l4v[slot] & PTE_P)) ++slot;
    expect_rc("pt_writable_linear.l4_self_rw", mmu_update1(l4_maddr + 8 * slot, (l4 << PAGE_SHIFT) | PROT_RW),
              -XEN_EINVAL);
    expect_rc("pt_writable_linear.l4_self_readonly", mmu_update1(l4_maddr + 8 * slot, (l4 << PAGE_SHIFT) | PROT_RO),
              -XEN_EINVAL);
    // One level down: an L3 entry to an L3 (our own), an L2 entry to our L2.
    const u64 l3 = table_mfn(va(g_scratch), 3), l2 = table_mfn(va(g_scratch), 2);
    expect_rc("pt_writable_linear.l3_self_rw", mmu_update1((l3 << PAGE_SHIFT) + 8 * 5, (l3 << PAGE_SHIFT) | PROT_RW),
              -XEN_EINVAL);
    expect_rc("pt_writable_linear.l2_self_rw",
              mmu_update1((l2 << PAGE_SHIFT) + 8 * 500, (l2 << PAGE_SHIFT) | PROT_RW), -XEN_EINVAL);
    // An L4 entry to an L1 (a type mismatch).
    expect_rc("pt_writable_linear.l4_to_l1",
              mmu_update1(l4_maddr + 8 * slot, (table_mfn(va(g_scratch), 1) << PAGE_SHIFT) | PROT_RO), -XEN_EINVAL);
    CHECK_EQ_HEX("pt_writable_linear.slot_still_empty", l4v[slot], 0);
}

namespace {

xb::GrantTable g_grants;
bool g_grants_ready = false;

// Sets up and maps our grant table's first frame; checks `name`.
bool map_own_grant_table(const char* name) {
    if (g_grants_ready) return true;
    i16 status = GNTST_okay;
    long rc = g_grants.init(&status);
    g_grants_ready = rc == 0;
    return check(name, rc == 0, "setup_table %ld, status %d", rc, status);
}

void grant_self(grant_ref_t ref, u64 mfn) { (void)g_grants.grant(ref, g_params.self, mfn, false); }

// Maps a grant of our own at the scratch page (host_map); unmaps it again when it worked.
i16 map_own_grant(grant_ref_t ref, u32 flags) {
    gnttab_map_grant_ref_t op{};
    op.host_addr = va(g_scratch);
    op.flags = GNTMAP_host_map | flags;
    op.ref = ref;
    op.dom = g_params.self;
    long rc = hc::grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    if (rc) return -1000;
    if (op.status == GNTST_okay) {
        gnttab_unmap_grant_ref_t un{};
        un.host_addr = va(g_scratch);
        un.handle = op.handle;
        hc::grant_table_op(GNTTABOP_unmap_grant_ref, &un, 1);
        restore_scratch();
    }
    return op.status;
}

}  // namespace

// Our own L1 and L4 granted to ourselves, then mapped through the grant: writable is refused
// (the frame cannot take the writable type), read-only is allowed.  A grant copy into our L1
// is refused too.
void pt_writable_grant() {
    if (!map_own_grant_table("pt_writable_grant.grant_table_setup")) return;
    const u64 l1 = table_mfn(va(g_scratch), 1);
    grant_self(20, l1);
    grant_self(21, l4_mfn());
    expect_gnt("pt_writable_grant.map_l1_rw", map_own_grant(20, 0), GNTST_general_error);
    expect_gnt("pt_writable_grant.map_l4_rw", map_own_grant(21, 0), GNTST_general_error);
    expect_gnt("pt_writable_grant.map_l1_readonly", map_own_grant(20, GNTMAP_readonly), GNTST_okay);
    gnttab_copy_t cp{};
    static u8 src[64];
    cp.source.u.gmfn = mfn_of(src);
    cp.source.domid = DOMID_SELF;
    cp.source.offset = static_cast<u16>(va(src) & 4095);
    cp.dest.u.ref = 20;
    cp.dest.domid = g_params.self;
    cp.len = 8;
    cp.flags = GNTCOPY_dest_gref;
    long rc = hc::grant_table_op(GNTTABOP_copy, &cp, 1);
    expect_gnt("pt_writable_grant.copy_into_l1", rc ? -1000 : cp.status, GNTST_general_error);
    // GNTMAP_contains_pte: host_addr is the machine address of the L1 entry to write, which
    // must be in one of our L1 tables: not the victim's frame, not our L2, not a data page.
    grant_self(23, mfn_of(src));
    const struct {
        const char* name;
        u64 maddr;
    } ptes[] = {{"pt_writable_grant.contains_pte_victim_frame", g_params.victim_mfn << PAGE_SHIFT},
                {"pt_writable_grant.contains_pte_own_l2", (table_mfn(va(g_scratch), 2) << PAGE_SHIFT) + 8 * 500},
                {"pt_writable_grant.contains_pte_data_page", (mfn_of(g_scratch) << PAGE_SHIFT) + 8}};
    for (const auto& p : ptes) {
        gnttab_map_grant_ref_t op{};
        op.host_addr = p.maddr;
        op.flags = GNTMAP_host_map | GNTMAP_contains_pte | GNTMAP_readonly;
        op.ref = 23;
        op.dom = g_params.self;
        long r = hc::grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
        expect_gnt(p.name, r ? -1000 : op.status, GNTST_general_error);
    }
    (void)g_grants.revoke(23);
    (void)g_grants.revoke(20);
    (void)g_grants.revoke(21);
}

// Frames that are not ours: the victim's, domain 0's, one of the hypervisor's, by every way of
// naming a frame a PV guest has.
void foreign_frames() {
    const u64 vmfn = g_params.victim_mfn;
    const domid_t victim = g_params.victim;
    expect_rc("foreign_frames.map_victim_rw", map_scratch(vmfn, PROT_RW), -XEN_EBUSY);
    expect_rc("foreign_frames.map_victim_readonly", map_scratch(vmfn, PROT_RO), -XEN_EBUSY);
    expect_rc("foreign_frames.mmu_update_victim", map_scratch_mmu(vmfn, PROT_RO), -XEN_EBUSY);
    expect_rc("foreign_frames.map_dom0_frame", map_scratch(g_params.dom0_mfn, PROT_RO), -XEN_EBUSY);
    expect_rc("foreign_frames.mmu_update_foreigndom_victim", map_scratch_mmu(vmfn, PROT_RO, victim), -XEN_EPERM);
    expect_rc("foreign_frames.update_va_mapping_otherdomain",
              hypercall(__HYPERVISOR_update_va_mapping_otherdomain, va(g_scratch), (vmfn << PAGE_SHIFT) | PROT_RO,
                        UVMF_INVLPG | UVMF_LOCAL, victim),
              -XEN_EPERM);
    const u64 hv_mfn = (reinterpret_cast<const volatile u64*>(g_si->pt_base)[256] & PTE_ADDR) >> PAGE_SHIFT;
    expect_rc("foreign_frames.map_hypervisor_frame", map_scratch(hv_mfn, PROT_RO), -XEN_EBUSY);
    restore_scratch();
    expect_rc("foreign_frames.machphys_victim", mmu_update1((vmfn << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE, 0), -XEN_EINVAL);
    expect_rc("foreign_frames.pin_victim_l1", mmuext1(MMUEXT_PIN_L1_TABLE, vmfn), -XEN_EINVAL);
    expect_rc("foreign_frames.clear_victim_page", mmuext1(MMUEXT_CLEAR_PAGE, vmfn), -XEN_EINVAL);
    mmuext_op_t cp{};
    cp.cmd = MMUEXT_COPY_PAGE;
    cp.arg1.mfn = mfn_of(g_scratch);
    cp.arg2.src_mfn = vmfn;
    expect_rc("foreign_frames.copy_from_victim", hc::mmuext_op(&cp, 1, nullptr, DOMID_SELF), -XEN_EINVAL);
    mmuext_op_t pin{};
    pin.cmd = MMUEXT_PIN_L1_TABLE;
    pin.arg1.mfn = vmfn;
    expect_rc("foreign_frames.pin_foreigndom_victim", hc::mmuext_op(&pin, 1, nullptr, victim), -XEN_EPERM);
    xen_ulong_t frames[1] = {vmfn};
    expect_rc("foreign_frames.set_gdt_victim", hc::set_gdt(frames, 3), -XEN_EINVAL);
}

// A GDT frame must have no writable mapping while it is one, and no writable mapping can be made
// of it while it is: not directly, not through the L1, not through a grant.
void gdt_writable_alias() {
    g_gdt[1] = 0x00cff2000000ffffull;  // flat data, DPL 3
    const u64 gdt = mfn_of(g_gdt);
    xen_ulong_t frames[1] = {gdt};
    expect_rc("gdt_writable_alias.set_gdt_while_writable", hc::set_gdt(frames, 3), -XEN_EINVAL);
    long rc = hc::update_va_mapping(va(g_gdt), (gdt << PAGE_SHIFT) | PROT_RO, UVMF_INVLPG | UVMF_LOCAL);
    if (!expect_rc("gdt_writable_alias.remap_readonly", rc, 0)) return;
    if (!expect_rc("gdt_writable_alias.set_gdt", hc::set_gdt(frames, 3), 0)) return;
    refuse_writable("gdt_writable_alias.alias", gdt, -XEN_EBUSY);
    g_trap.count = 0;
    u64 trapped = guarded_call(poke_l1, (gdt << PAGE_SHIFT) | PROT_RW);
    check("gdt_writable_alias.ptwr_store_pf", trapped && g_trap.vector == 14, "trapped %lu, vector %lu", trapped,
          g_trap.vector);
    if (map_own_grant_table("gdt_writable_alias.grant_table_setup")) {
        grant_self(22, gdt);
        expect_gnt("gdt_writable_alias.grant_map_rw", map_own_grant(22, 0), GNTST_general_error);
        (void)g_grants.revoke(22);
    }
    // Back to no GDT of our own; then the frame may be written again.
    expect_rc("gdt_writable_alias.set_gdt_none", hc::set_gdt(nullptr, 0), 0);
    expect_rc("gdt_writable_alias.remap_writable_after",
              hc::update_va_mapping(va(g_gdt), (gdt << PAGE_SHIFT) | PROT_RW, UVMF_INVLPG | UVMF_LOCAL), 0);
}

namespace {
alignas(4096) constinit u64 g_desc[512];

// A 64-bit gate's low half: target offset (low 32 bits), selector, type, DPL, P.
constexpr u64 gate(u64 offset, u16 sel, unsigned type, unsigned dpl) {
    return (offset & 0xffff) | (static_cast<u64>(sel) << 16) | (u64{type} << 40) | (u64{dpl} << 45) | (1ull << 47) |
           ((offset >> 16 & 0xffff) << 48);
}
}  // namespace

// Descriptors no PV guest may install: system segments, interrupt and trap gates, a call gate
// into one of the hypervisor's code selectors; and descriptors written into frames that are not
// ours or are page tables.
void bad_descriptors() {
    const u64 slot = mfn_of(g_desc) << PAGE_SHIFT;
    const u64 target = va(reinterpret_cast<const void*>(&bad_descriptors));
    struct Case {
        const char* name;
        u64 desc;
    };
    const Case cases[] = {
        {"bad_descriptors.tss", 0x0000890000000067ull},
        {"bad_descriptors.ldt", 0x0000820000000fffull},
        {"bad_descriptors.interrupt_gate", gate(target, FLAT_KERNEL_CS, 0xe, 3)},
        {"bad_descriptors.trap_gate", gate(target, FLAT_KERNEL_CS, 0xf, 3)},
        {"bad_descriptors.call_gate_xen_cs", gate(target, FLAT_KERNEL_CS & ~3u, 0xc, 3)},
        {"bad_descriptors.call_gate_hypervisor_cs", gate(target, 0xe008, 0xc, 3)},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        expect_rc(cases[i].name, hc::update_descriptor(slot + 8 * (i + 1), cases[i].desc), -XEN_EINVAL);
    const u64 flat = 0x00cff2000000ffffull;
    expect_rc("bad_descriptors.into_victim_frame", hc::update_descriptor(g_params.victim_mfn << PAGE_SHIFT, flat),
              -XEN_EINVAL);
    expect_rc("bad_descriptors.into_l4", hc::update_descriptor((l4_mfn() << PAGE_SHIFT) + 8 * 300, flat), -XEN_EINVAL);
    bool untouched = true;
    for (u64 d : g_desc) untouched &= d == 0;
    CHECK("bad_descriptors.nothing_written", untouched);
}

}  // namespace atk
