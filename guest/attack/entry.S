/* The attack kernel's trap and event entries and its guarded calls (guest/attack/cpu.cpp).
 *
 * Xen enters a trap handler with a bounce frame at RSP, lowest address first: RCX, R11,
 * [error code], RIP, CS, RFLAGS, RSP, SS.  Each vector's stub makes the frame uniform (a zero
 * error code where the CPU pushes none) and pushes the vector; attack_trap(frame) records the
 * trap and, when a guarded call is running, points the frame at its resume point.
 *
 * guarded_call(fn, arg) calls fn(arg) with the callee-saved registers and RSP kept, so that a
 * trap anywhere in fn (on any stack fn set up) can resume at guarded_resume, which returns 1. */
#include <xen/xen.h>

#include "guest/lib/iret_asm.h"

    .text

bounce_stub_noerr attack_trap, 0, attack_trap_common
bounce_stub_noerr attack_trap, 1, attack_trap_common
bounce_stub_noerr attack_trap, 3, attack_trap_common
bounce_stub_noerr attack_trap, 4, attack_trap_common
bounce_stub_noerr attack_trap, 5, attack_trap_common
bounce_stub_noerr attack_trap, 6, attack_trap_common
bounce_stub_noerr attack_trap, 7, attack_trap_common
bounce_stub_err attack_trap, 10, attack_trap_common
bounce_stub_err attack_trap, 11, attack_trap_common
bounce_stub_err attack_trap, 12, attack_trap_common
bounce_stub_err attack_trap, 13, attack_trap_common
bounce_stub_err attack_trap, 14, attack_trap_common
bounce_stub_noerr attack_trap, 16, attack_trap_common
bounce_stub_err attack_trap, 17, attack_trap_common
bounce_stub_noerr attack_trap, 19, attack_trap_common

/* Stack: vector, RCX, R11, error, RIP, CS, RFLAGS, RSP, SS. */
attack_trap_common:
    push_call_clobbered
    movq %rsp, %rdi
    call attack_trap
    pop_call_clobbered
    addq $8, %rsp                   /* the vector */
    drop_error_code
    iret_from_bounce $0

/* Event upcalls: counted and their pending bits cleared (attack_upcall); returning with the
 * frame's IF restores the mask as it was. */
    .globl attack_event_entry
attack_event_entry:
    push_call_clobbered
    call attack_upcall
    pop_call_clobbered
    iret_from_bounce $0

    .globl guarded_call
guarded_call:
    push_callee_saved
    movq %rsp, guard_rsp(%rip)
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax
    movq $0, guard_rsp(%rip)
    pop_callee_saved
    xorl %eax, %eax
    ret
    .globl guarded_resume
guarded_resume:
    movq guard_rsp(%rip), %rsp
    movq $0, guard_rsp(%rip)
    pop_callee_saved
    movl $1, %eax
    ret

/* attack_iret_to(rip, flags): HYPERVISOR_iret to `rip` in kernel mode on the current stack,
 * events masked (RFLAGS.IF clear), with the iret_context's flags (0 or VGCF_in_syscall).  The
 * kernel's CS goes with RPL 0: RPL 3 asks for a return to user mode. */
    .globl attack_iret_to
attack_iret_to:
    movq %rsp, %rdx
    pushq $FLAT_KERNEL_SS
    pushq %rdx
    pushq $0x2
    pushq $(FLAT_KERNEL_CS & ~3)
    pushq %rdi
    pushq %rsi
    pushq $0
    pushq $0
    pushq $0
    movl $__HYPERVISOR_iret, %eax
    syscall
    ud2

/* attack_movss_syscall(selector address): MOV SS from memory a data breakpoint watches, then
 * at once (in its shadow) SYSCALL: xen_version(XENVER_version).  Returns the hypercall's RAX. */
    .globl attack_movss_syscall
attack_movss_syscall:
    movq %rdi, %rcx
    xorl %edi, %edi
    xorl %esi, %esi
    movl $__HYPERVISOR_xen_version, %eax
    movw (%rcx), %ss
    syscall
    ret

/* attack_movss_int3(selector address): the same with INT3 in the shadow. */
    .globl attack_movss_int3
attack_movss_int3:
    movw (%rdi), %ss
    int3
    ret

/* attack_spin_rcx_r11(iterations): spins holding known values in RCX and R11, which upcalls
 * may interrupt at any instruction; 0 if both held throughout, 1 if either changed. */
    .globl attack_spin_rcx_r11
attack_spin_rcx_r11:
    movabsq $0x1111222233334444, %rcx
    movabsq $0x5555666677778888, %r11
1:  movabsq $0x1111222233334444, %rdx
    cmpq %rdx, %rcx
    jne 2f
    movabsq $0x5555666677778888, %rdx
    cmpq %rdx, %r11
    jne 2f
    decq %rdi
    jnz 1b
    xorl %eax, %eax
    ret
2:  movl $1, %eax
    ret

/* attack_trap_on_stack(rsp): moves to `rsp` and raises #UD, whose bounce frame Xen must write
 * there. */
    .globl attack_trap_on_stack
attack_trap_on_stack:
    movq %rdi, %rsp
    ud2

    .section .note.GNU-stack, "", @progbits
