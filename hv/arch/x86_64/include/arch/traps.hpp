// The saved state of an exception or interrupt, and the hooks for handling one.
#pragma once
#include "lib/types.hpp"

namespace pv::arch {

struct TrapFrame {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error_code;
    u64 rip, cs, rflags, rsp, ss;  // pushed by the CPU
};
static_assert(sizeof(TrapFrame) == 22 * 8);

enum Vector : u8 {
    VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5, VEC_UD = 6, VEC_NM = 7,
    VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14, VEC_MF = 16,
    VEC_AC = 17, VEC_MC = 18, VEC_XM = 19, VEC_VE = 20, VEC_CP = 21,
    // Interrupt vectors owned by the hypervisor.
    VEC_FIRST_IRQ = 0x20,
    VEC_SERIAL = 0x24,     // COM1's receive interrupt (pv/console_input.cpp)
    VEC_PIRQ_FIRST = 0x30, // GSIs bound to guests' pirqs, from here to 0xdf but 0x80 (pv/physdev.cpp)
    VEC_TIMER = 0xf0,
    VEC_IPI_CALL = 0xf1,
    VEC_IPI_STOP = 0xf2,
    VEC_IPI_SCHED = 0xf3,  // "reschedule, or look at your upcalls" (pv/sched.cpp)
    VEC_SPURIOUS = 0xff,
};

using IrqHandler = void (*)(TrapFrame&);
// Installs the handler for an interrupt vector (>= VEC_FIRST_IRQ).  The handler runs with
// interrupts off; the local APIC is acknowledged after it returns.
void set_irq_handler(u8 vector, IrqHandler h);

// Prints the general-purpose registers, three a line (rax ... r15).
void print_gprs(const TrapFrame& f);
// Prints a full register dump, the faulting address and a backtrace, then panics.
[[noreturn]] void fatal_trap(const TrapFrame& f);
// Walks frame pointers from rbp, printing return addresses while they stay on this CPU's stack.
void print_backtrace(u64 rbp, u64 rip);

}  // namespace pv::arch
