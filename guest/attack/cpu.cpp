// Attacks through the CPU's own paths: returns to non-canonical addresses (the SYSRET class),
// a trap handler in the hypervisor's range, a bounce frame onto a stack that faults, and a data
// breakpoint whose #DB lands in the shadow of MOV SS (CVE-2018-8897).  Xen 4.17's answers, seen
// on the oracle, are in each comment.
#include "guest/attack/attack.hpp"
#include "lib/format.hpp"

using pvg::u16;
using pvg::u64;

extern "C" {
void attack_trap_0();
void attack_trap_1();
void attack_trap_3();
void attack_trap_4();
void attack_trap_5();
void attack_trap_6();
void attack_trap_7();
void attack_trap_10();
void attack_trap_11();
void attack_trap_12();
void attack_trap_13();
void attack_trap_14();
void attack_trap_16();
void attack_trap_17();
void attack_trap_19();
void attack_event_entry();
void guarded_resume();
void attack_iret_to(u64 rip, u64 flags);
long attack_movss_syscall(const u16* selector);
void attack_movss_int3(const u16* selector);
void attack_trap_on_stack(u64 rsp);
extern u64 guard_rsp;
}

namespace atk {

volatile TrapRecord g_trap;
volatile u64 g_upcalls;
volatile u64 g_vectors_seen;  // bit n: vector n was delivered

}  // namespace atk

extern "C" {
u64 guard_rsp;

// frame: r10 r9 r8 rdx rsi rdi rax, vector, rcx, r11, error, rip, cs, rflags, rsp, ss.
void attack_trap(u64* frame) {
    using namespace atk;
    const u64 vector = frame[7];
    g_trap.count = g_trap.count + 1;
    g_trap.vector = vector;
    g_trap.error = frame[10];
    g_trap.rip = frame[11];
    g_trap.cr2 = g_shared ? g_shared->vcpu_info[0].arch.cr2 : 0;
    if (vector < 64) g_vectors_seen = g_vectors_seen | (u64{1} << vector);
    if (vector == 1 || vector == 3) return;  // traps: execution goes on after them
    if (guard_rsp) {
        // Back in kernel mode: the frame's CS (with RPL 0, as Xen presents the guest kernel's)
        // stays, or HYPERVISOR_iret would take it for a return to user mode.
        frame[11] = va(reinterpret_cast<const void*>(&guarded_resume));
        return;
    }
    check_fail("unexpected_trap", "vector %lu error %#lx rip %#lx cr2 %#lx", vector, frame[10], frame[11], g_trap.cr2);
    finish();
}

void attack_upcall() {
    using namespace atk;
    g_upcalls = g_upcalls + 1;
    volatile vcpu_info_t& v = g_shared->vcpu_info[0];
    v.evtchn_upcall_pending = 0;
    const u64 sel = __atomic_exchange_n(&v.evtchn_pending_sel, 0ul, __ATOMIC_SEQ_CST);
    for (unsigned w = 0; w < 64; ++w)
        if (sel & (u64{1} << w)) __atomic_store_n(&g_shared->evtchn_pending[w], 0ul, __ATOMIC_SEQ_CST);
}
}

namespace atk {

long install_traps() {
    static trap_info_t traps[16]{};
    struct Stub {
        u8 vector;
        void (*entry)();
    };
    static constexpr Stub stubs[] = {{0, attack_trap_0},   {1, attack_trap_1},   {3, attack_trap_3},
                                     {4, attack_trap_4},   {5, attack_trap_5},   {6, attack_trap_6},
                                     {7, attack_trap_7},   {10, attack_trap_10}, {11, attack_trap_11},
                                     {12, attack_trap_12}, {13, attack_trap_13}, {14, attack_trap_14},
                                     {16, attack_trap_16}, {17, attack_trap_17}, {19, attack_trap_19}};
    static_assert(sizeof stubs / sizeof stubs[0] < sizeof traps / sizeof traps[0]);
    unsigned n = 0;
    for (const Stub& s : stubs) {
        traps[n].vector = s.vector;
        traps[n].flags = s.vector == 3 ? 3 : 0;  // int3 from any ring
        traps[n].cs = FLAT_KERNEL_CS;
        traps[n].address = va(reinterpret_cast<const void*>(s.entry));
        ++n;
    }
    long rc = hc::set_trap_table(traps);
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.flags = CALLBACKF_mask_events;  // no upcall nests in the handler: a flood would overflow the stack
    cb.address = va(reinterpret_cast<const void*>(&attack_event_entry));
    return rc ? rc : hc::callback_op(CALLBACKOP_register, &cb);
}

namespace {

void clear_trap() {
    g_trap.count = 0;
    g_trap.vector = 0;
    g_trap.error = 0;
    g_trap.rip = 0;
    g_trap.cr2 = 0;
    g_vectors_seen = 0;
}

void iret_noncanonical(u64 flags) { attack_iret_to(NONCANONICAL_ADDRESS, flags); }

}  // namespace

// HYPERVISOR_iret to a non-canonical RIP, plain and with VGCF_in_syscall (which asks for the
// SYSRET path: SYSRET with a non-canonical RCX faults in ring 0 on Intel CPUs).  The hypervisor
// must neither fault itself nor return there: the guest gets a #GP at the return.
void sysret_noncanonical() {
    static constexpr struct {
        const char* name;
        u64 flags;
    } cases[] = {{"iret", 0}, {"sysret", VGCF_in_syscall}};
    for (const auto& c : cases) {
        clear_trap();
        u64 trapped = guarded_call(iret_noncanonical, c.flags);
        info("%s to %#lx: trapped %lu, vector %lu error %#lx rip %#lx", c.name, NONCANONICAL_ADDRESS, trapped,
             g_trap.vector, g_trap.error, g_trap.rip);
        char name[64];
        pv::format(name, sizeof name, "sysret_noncanonical.%s_gp_delivered", c.name);
        check(name, trapped && g_trap.vector == 13 && g_trap.error == 0, "trapped %lu, vector %lu error %#lx",
              trapped, g_trap.vector, g_trap.error);
    }
}

namespace {

constinit u16 g_ss_selector = FLAT_KERNEL_SS;

// DR0 on the selector word, read/write, 2 bytes, locally enabled.
constexpr u64 DR7_WATCH_RW2 = 1u | (3u << 16) | (1u << 18);

void movss_syscall(u64 result_ptr) { *reinterpret_cast<long*>(result_ptr) = attack_movss_syscall(&g_ss_selector); }
void movss_int3(u64) { attack_movss_int3(&g_ss_selector); }

}  // namespace

// A data breakpoint on the selector MOV SS loads, then SYSCALL (or INT3) in its shadow: the #DB
// is held back until the next instruction has begun, which is then the hypervisor's entry
// (CVE-2018-8897).  The hypervisor must survive it and the guest go on: the hypercall's result
// comes back and at most the guest's own #DB/#BP handlers run.
void movss_debug() {
    long rc0 = hc::set_debugreg(0, va(&g_ss_selector));
    long rc7 = hc::set_debugreg(7, DR7_WATCH_RW2);
    check("movss_debug.breakpoint_set", rc0 == 0 && rc7 == 0, "set_debugreg: DR0 %ld, DR7 %ld", rc0, rc7);
    const long version = hc::xen_version(XENVER_version, nullptr);

    clear_trap();
    long result = -1;
    u64 trapped = guarded_call(movss_syscall, va(&result));
    info("mov ss; syscall: trapped %lu, result %#lx, vectors %#lx, last %lu rip %#lx, dr6 %#lx", trapped, result,
         g_vectors_seen, g_trap.vector, g_trap.rip, hc::get_debugreg(6));
    check("movss_debug.syscall_completes", !trapped && result == version, "trapped %lu, result %#lx (version %#lx)",
          trapped, result, version);
    check("movss_debug.syscall_only_db", (g_vectors_seen & ~u64{1 << 1}) == 0, "vectors %#lx", g_vectors_seen);

    hc::set_debugreg(6, 0xffff0ff0);
    clear_trap();
    trapped = guarded_call(movss_int3, 0);
    info("mov ss; int3: trapped %lu, vectors %#lx, last %lu rip %#lx, dr6 %#lx", trapped, g_vectors_seen,
         g_trap.vector, g_trap.rip, hc::get_debugreg(6));
    check("movss_debug.int3_bp_delivered", !trapped && (g_vectors_seen & (1u << 3)) &&
                                               (g_vectors_seen & ~u64{(1 << 1) | (1 << 3)}) == 0,
          "trapped %lu, vectors %#lx", trapped, g_vectors_seen);

    rc7 = hc::set_debugreg(7, 0);
    CHECK_EQ("movss_debug.breakpoint_cleared", rc7, 0);
}

namespace {
void raise_ud(u64) { asm volatile("ud2"); }
}  // namespace

// A trap handler in the hypervisor's range: set_trap_table takes it (Xen checks only that it is
// canonical), and a #UD bounces there, in the guest's ring, where fetching from the hypervisor's
// pages faults: the guest's #PF handler gets that fault, with CR2 the handler's address.
void trap_handler_hv_range() {
    trap_info_t ud[2]{};
    ud[0].vector = 6;
    ud[0].cs = FLAT_KERNEL_CS;
    ud[0].address = HYPERVISOR_ADDRESS;
    CHECK_EQ("trap_handler_hv_range.set_trap_table_ok", hc::set_trap_table(ud), 0);
    clear_trap();
    u64 trapped = guarded_call(raise_ud, 0);
    info("#UD to a handler at %#lx: trapped %lu, vector %lu error %#lx rip %#lx cr2 %#lx", HYPERVISOR_ADDRESS,
         trapped, g_trap.vector, g_trap.error, g_trap.rip, g_trap.cr2);
    check("trap_handler_hv_range.pf_at_handler", trapped && g_trap.vector == 14 && g_trap.rip == HYPERVISOR_ADDRESS &&
                                                     g_trap.cr2 == HYPERVISOR_ADDRESS,
          "trapped %lu, vector %lu rip %#lx cr2 %#lx", trapped, g_trap.vector, g_trap.rip, g_trap.cr2);
}

namespace {

// Crash classes: a #UD whose bounce frame cannot be written at `rsp`.  The hypervisor crashes
// the domain; nothing after the attempt may run.
void trap_on_stack(const char* name, u64 rsp) {
    info("%s: #UD with RSP %#lx: the domain should crash now", name, rsp);
    console_flush();
    guarded_call(attack_trap_on_stack, rsp);
    check_fail(name, "survived: trap vector %lu delivered at rip %#lx", g_trap.vector, g_trap.rip);
}

}  // namespace

// The per-vCPU areas a guest names by frame or address: vcpu_info in another domain's frame, in
// a page table, across a page's end; vCPUs the domain does not have; a segment base in the
// hypervisor's range.
void vcpu_areas() {
    struct Case {
        const char* name;
        u64 mfn, offset;
        long expected;
    };
    alignas(4096) static u8 page[4096];
    const Case cases[] = {
        {"vcpu_areas.vcpu_info_victim_frame", g_params.victim_mfn, 0, -XEN_EINVAL},
        {"vcpu_areas.vcpu_info_hypervisor_frame",
         (reinterpret_cast<const volatile u64*>(g_si->pt_base)[256] & PTE_ADDR) >> PAGE_SHIFT, 0, -XEN_EINVAL},
        {"vcpu_areas.vcpu_info_own_l4", l4_mfn(), 0, -XEN_EINVAL},
        // The offset is checked first: past the page's last vcpu_info is ENXIO.
        {"vcpu_areas.vcpu_info_across_page_end", mfn_of(page), 4096 - 32, -XEN_ENXIO},
    };
    for (const Case& c : cases) {
        vcpu_register_vcpu_info_t info{};
        info.mfn = c.mfn;
        info.offset = static_cast<u32>(c.offset);
        expect_rc(c.name, hc::vcpu_op(VCPUOP_register_vcpu_info, 0, &info), c.expected);
    }
    vcpu_guest_context_t ctx{};
    expect_rc("vcpu_areas.initialise_absent_vcpu", hc::vcpu_op(VCPUOP_initialise, 1, &ctx), -XEN_ENOENT);
    expect_rc("vcpu_areas.up_absent_vcpu", hc::vcpu_op(VCPUOP_up, 5, nullptr), -XEN_ENOENT);
    expect_rc("vcpu_areas.gs_base_hypervisor", hc::set_segment_base(SEGBASE_GS_KERNEL, HYPERVISOR_ADDRESS), 0);
    expect_rc("vcpu_areas.gs_base_back", hc::set_segment_base(SEGBASE_GS_KERNEL, 0), 0);
}

void bounce_stack_unmapped() { trap_on_stack("bounce_stack_unmapped.survived", 0x1000); }
void bounce_stack_hv_range() { trap_on_stack("bounce_stack_hv_range.survived", HYPERVISOR_ADDRESS + 0x1000); }

}  // namespace atk
