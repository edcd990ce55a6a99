// The generic trap machinery of the later check groups (traps.S, traps.cpp).
//
// Every vector the table covers enters one stub that evens out the bounce frame (Xen pushes an
// error code for some vectors only), saves the registers a C call clobbers and calls
// trap_dispatch() with a TrapFrame; on return the frame, possibly edited, is handed back to
// HYPERVISOR_iret.  trap_dispatch records the trap and decides where it resumes:
//   * a fault in kernel mode resumes at g_resume (one-shot) when a check armed it: see
//     PVT_GUARDED below; a #NM or #BP resumes where the frame says;
//   * an event upcall (only possible while user.cpp runs user code with events unmasked) is
//     counted and returns with events masked;
//   * user mode (user.cpp) resumes at the address the user routine stored in its data page, and
//     the syscall callback / int $0x80 answer requests or end the user run;
//   * anything else is unexpected: a FAIL line, then the verdict and power-off.
#pragma once
#include "guest/lib/types.hpp"

namespace pvt {

using pvg::u64;
using pvg::u8;

// The vector numbers trap_dispatch sees for the syscall and event callbacks.
constexpr u64 VEC_SYSCALL = 0x100;
constexpr u64 VEC_EVENT = 0x101;
constexpr u64 VEC_SYSENTER = 0x102;

// The stack at the C call, lowest address first: the registers traps.S saved, the iret flags
// to use (0 or VGCF_in_syscall), the vector, then Xen's bounce frame with an error-code slot
// (0 when the vector has none).
struct TrapFrame {
    u64 rbx, rax, rdx, rsi, rdi, r8, r9, r10;
    u64 iret_flags;
    u64 vector;
    u64 rcx, r11, error, rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(TrapFrame) == 18 * 8);

// What one trap looked like on arrival.
struct TrapRecord {
    u64 vector, error, rip, cs, rflags, rsp, ss, rcx, r11, rax, rdi;
    u64 cr2;           // vcpu_info.arch.cr2 at delivery
    u64 frame_top;     // one past the SS slot: where Xen started the frame (16-aligned)
    u64 entry_rflags;  // RFLAGS as the handler was entered
    u8 upcall_mask;    // vCPU 0's evtchn_upcall_mask as the handler was entered
};

constexpr unsigned MAX_TRAP_RECORDS = 16;
extern TrapRecord g_traps[MAX_TRAP_RECORDS];
extern unsigned g_ntraps;  // traps since the last traps_reset(), also past MAX_TRAP_RECORDS

inline void traps_reset() { g_ntraps = 0; }
inline const TrapRecord* last_trap() {
    return g_ntraps ? &g_traps[(g_ntraps - 1) % MAX_TRAP_RECORDS] : nullptr;
}

// Set by a check: the next int3 returns with events unmasked (IF set in the iret frame).
extern volatile bool g_unmask_on_return;

// Installs the full trap table (traps.cpp); the result of set_trap_table.
long install_trap_table();

// How user-mode traps are answered (user.cpp sets it; null outside user runs).
using UserTrapHandler = void (*)(TrapFrame* f);
extern UserTrapHandler g_user_handler;

}  // namespace pvt

extern "C" {
// Kernel-mode resume address for the next fault (one-shot, cleared by the handler).
extern pvt::u64 g_resume;
void trap_dispatch(pvt::TrapFrame* f);
// traps.S: the entry stubs, by vector.
void trap_stub_0();
void trap_stub_3();
void trap_stub_4();
void trap_stub_6();
void trap_stub_7();
void trap_stub_13();
void trap_stub_14();
void trap_stub_0x80();
void trap_stub_syscall();
void trap_stub_event();
void trap_stub_sysenter();
}

// Runs the instruction(s) INSN with g_resume armed: a fault resumes right after them.  Use
// inside an asm statement's template, with "r11" among the clobbers (the scratch register:
// INSN must not take an input in R11).  One per asm statement (it defines the label 1).
#define PVT_GUARDED(INSN)                  \
    "leaq 1f(%%rip), %%r11\n\t"           \
    "movq %%r11, g_resume(%%rip)\n\t" INSN \
    "\n1:\n\t"                             \
    "movq $0, g_resume(%%rip)\n\t"
