// attack.elf: the attack suite's domU (attack.hpp explains the contract).  Reports go into its
// console ring (guest/lib/console_ring.hpp) with the prefix "domu", which domain 0 relays.
#include "guest/attack/attack.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console_ring.hpp"
#include "lib/format.hpp"

namespace atk {

AttackParams g_params;
const start_info_t* g_si;
volatile shared_info_t* g_shared;

namespace {

alignas(4096) constinit u8 g_shared_page[4096];

// Xen's GNTST_* names (public/grant_table.h gives only the codes and a message table).
const char* gnt_name(i16 st) {
    static constexpr const char* NAMES[] = {"okay", "general_error", "bad_domain", "bad_gntref", "bad_handle",
                                            "bad_virt_addr", "bad_dev_addr", "no_device_space", "permission_denied",
                                            "bad_page", "bad_copy_arg", "address_too_big", "eagain", "no_space"};
    static_assert(GNTST_okay == 0 && GNTST_no_space == -13);
    return st <= 0 && -st < static_cast<i16>(sizeof NAMES / sizeof NAMES[0]) ? NAMES[-st] : "unknown";
}

struct Attack {
    const char* name;
    void (*run)();
};
constexpr Attack ATTACKS[] = {
    {"pt_writable_direct", pt_writable_direct},
    {"pt_writable_linear", pt_writable_linear},
    {"pt_writable_grant", pt_writable_grant},
    {"foreign_frames", foreign_frames},
    {"gdt_writable_alias", gdt_writable_alias},
    {"bad_descriptors", bad_descriptors},
    {"sysret_noncanonical", sysret_noncanonical},
    {"movss_debug", movss_debug},
    {"trap_handler_hv_range", trap_handler_hv_range},
    {"vcpu_areas", vcpu_areas},
    {"bounce_stack_unmapped", bounce_stack_unmapped},
    {"bounce_stack_hv_range", bounce_stack_hv_range},
    {"grant_foreign", grant_foreign},
    {"grant_copy", grant_copy},
    {"grant_unmap_stale", grant_unmap_stale},
    {"grant_held_at_death", grant_held_at_death},
    {"memory_exchange", memory_exchange},
    {"evtchn_foreign", evtchn_foreign},
    {"control_ops", control_ops},
    {"timer_flood", timer_flood},
    {"event_flood", event_flood},
};

}  // namespace

u64 table_mfn(u64 addr, unsigned level) {
    u64 mfn = l4_mfn();
    const u64* t = reinterpret_cast<const u64*>(g_si->pt_base);
    for (unsigned l = 4; l > level; --l) {
        const u64 e = t[(addr >> (PAGE_SHIFT + 9 * (l - 1))) & 511];
        if (!(e & PTE_P)) return 0;
        mfn = (e & PTE_ADDR) >> PAGE_SHIFT;
        t = reinterpret_cast<const u64*>(VIRT_BASE + (m2p[mfn] << PAGE_SHIFT));
    }
    return mfn;
}

u64 l1e_of(u64 addr, u64* maddr) {
    const u64 l1 = table_mfn(addr, 1);
    if (!l1) return 0;
    const unsigned idx = (addr >> PAGE_SHIFT) & 511;
    if (maddr) *maddr = (l1 << PAGE_SHIFT) + 8 * idx;
    return reinterpret_cast<const volatile u64*>(VIRT_BASE + (m2p[l1] << PAGE_SHIFT))[idx];
}

bool expect_rc(const char* name, long rc, long expected) {
    char full[128];
    const char* e = expected ? errno_name(expected) : "ok";
    pv::format(full, sizeof full, "%s_%s", name, e ? e : "unknown");
    return check(full, rc == expected, "rc %ld (%s)", rc, rc ? (errno_name(rc) ? errno_name(rc) : "?") : "ok");
}

bool expect_gnt(const char* name, i16 status, i16 expected) {
    char full[128];
    pv::format(full, sizeof full, "%s_%s", name, gnt_name(expected));
    return check(full, status == expected, "status %d (%s)", status, status == -1000 ? "hypercall failed" : gnt_name(status));
}

}  // namespace atk

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    using namespace atk;
    g_si = si;
    use_console_ring(si, true);
    set_report_prefix("domu");
    pv::StrView cmd = guest_cmdline(si);
    print("domu: start\n");
    const auto* params = reinterpret_cast<const volatile AttackParams*>(reinterpret_cast<uptr>(console_ring(si)) +
                                                                         ATTACK_PARAMS_OFFSET);
    g_params = *const_cast<const AttackParams*>(params);
    // Setup checks carry the class's name: domain 0 relays every class's checks side by side.
    pv::StrView which = cmdline_value(cmd, "attack");
    char name[64];
    pv::format(name, sizeof name, "%.*s.setup_params", static_cast<int>(which.len), which.ptr);
    check(name, g_params.magic == ATTACK_PARAMS_MAGIC, "no parameters from domain 0");

    const u64 pte = (si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    if (hc::update_va_mapping(va(g_shared_page), pte, UVMF_INVLPG | UVMF_LOCAL) == 0)
        g_shared = reinterpret_cast<volatile shared_info_t*>(g_shared_page);
    pv::format(name, sizeof name, "%.*s.setup_traps", static_cast<int>(which.len), which.ptr);
    long rc = install_traps();
    check(name, rc == 0, "rc %ld", rc);

    for (const Attack& a : ATTACKS)
        if (which.equals(a.name)) {
            a.run();
            finish();
        }
    check_fail("setup.attack", "unknown attack=%.*s", static_cast<int>(which.len), which.ptr);
    finish();
}
