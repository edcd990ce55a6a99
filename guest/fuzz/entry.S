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

bounce_stub_noerr fuzz_trap, 0, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 1, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 2, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 3, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 4, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 5, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 6, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 7, fuzz_trap_common
bounce_stub_err fuzz_trap, 8, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 9, fuzz_trap_common
bounce_stub_err fuzz_trap, 10, fuzz_trap_common
bounce_stub_err fuzz_trap, 11, fuzz_trap_common
bounce_stub_err fuzz_trap, 12, fuzz_trap_common
bounce_stub_err fuzz_trap, 13, fuzz_trap_common
bounce_stub_err fuzz_trap, 14, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 16, fuzz_trap_common
bounce_stub_err fuzz_trap, 17, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 18, fuzz_trap_common
bounce_stub_noerr fuzz_trap, 19, fuzz_trap_common

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
