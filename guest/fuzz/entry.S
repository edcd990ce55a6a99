/* The fuzzer's trap and callback entries (guest/fuzz/main.cpp installs them).
 *
 * Xen enters a trap handler with a bounce frame at RSP, lowest address first: RCX, R11,
 * [error code], RIP, CS, RFLAGS, RSP, SS.  Every vector of the trap table enters a stub that
 * pushes a zero error code where the CPU has none, then the vector, and calls
 * fuzz_trap(frame) with the registers a C call clobbers saved.  fuzz_trap returns only for the
 * traps the fuzzer may legitimately cause (#DB, NMI, #BP, #NM after fpu_taskswitch); anything
 * else is reported there and the domain powers off. */
#include <xen/xen.h>

#include "guest/lib/iret_asm.h"

    .text

.macro trap_noerr vec
    .globl fuzz_trap_\vec
fuzz_trap_\vec:
    popq %rcx
    popq %r11
    pushq $0
    pushq %r11
    pushq %rcx
    pushq $\vec
    jmp fuzz_trap_common
.endm
.macro trap_err vec
    .globl fuzz_trap_\vec
fuzz_trap_\vec:
    pushq $\vec
    jmp fuzz_trap_common
.endm

trap_noerr 0
trap_noerr 1
trap_noerr 2
trap_noerr 3
trap_noerr 4
trap_noerr 5
trap_noerr 6
trap_noerr 7
trap_err 8
trap_noerr 9
trap_err 10
trap_err 11
trap_err 12
trap_err 13
trap_err 14
trap_noerr 16
trap_err 17
trap_noerr 18
trap_noerr 19

/* Stack: vector, RCX, R11, error, RIP, CS, RFLAGS, RSP, SS. */
fuzz_trap_common:
    push_call_clobbered
    movq %rsp, %rdi
    call fuzz_trap
    pop_call_clobbered
    addq $8, %rsp                   /* the vector */
    drop_error_code
    iret_from_bounce $0

/* The event upcall: events arrive only after SCHEDOP_block unmasked them.  Return with them
 * masked again (IF clear in the frame); what is pending stays pending. */
    .globl fuzz_event_entry
fuzz_event_entry:
    andq $~0x200, 32(%rsp)
    iret_from_bounce $0

/* The syscall callback: never used (no user mode); return at once. */
    .globl fuzz_syscall_entry
fuzz_syscall_entry:
    iret_from_bounce $VGCF_in_syscall

/* The failsafe callback: a bad segment on a return to the guest.  The fuzzer never sets up
 * one legitimately: report as vector 0x200. */
    .globl fuzz_failsafe_entry
fuzz_failsafe_entry:
    pushq $0
    pushq $0
    pushq $0
    pushq $0x200
    jmp fuzz_trap_common

    .section .note.GNU-stack, "", @progbits
