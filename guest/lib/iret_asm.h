/* Assembler macros for returning through HYPERVISOR_iret, which pops a struct iret_context from
 * the guest stack: RAX, R11, RCX, flags, RIP, CS, RFLAGS, RSP, SS (public/arch-x86/xen-x86_64.h).
 * Include after <xen/xen.h>. */
#pragma once

/* From a handler entered by a bounce frame (RCX, R11, [error code], RIP, CS, RFLAGS, RSP, SS),
 * its error code already dropped: turns the frame's head into an iret_context with `flags`
 * (0 or $VGCF_in_syscall) and returns to the frame's context, RCX and R11 included (an upcall
 * can interrupt code that holds live values in them). */
.macro iret_from_bounce flags:req
    popq %rcx
    popq %r11
    pushq \flags
    pushq %rcx                      /* r11 then rcx above rax, as the context lists them */
    pushq %r11
    pushq %rax
    movl $__HYPERVISOR_iret, %eax
    syscall
    ud2
.endm

/* Trap-table entry stubs that make every bounce frame alike: `\prefix\()_\vec` pushes a zero
 * error code where the CPU has none (bounce_stub_noerr) or nothing (bounce_stub_err), then the
 * vector, and jumps to `common`, which finds: vector, RCX, R11, error, RIP, CS, RFLAGS, RSP, SS. */
.macro bounce_stub_noerr prefix:req, vec:req, common:req
    .globl \prefix\()_\vec
\prefix\()_\vec:
    popq %rcx
    popq %r11
    pushq $0
    pushq %r11
    pushq %rcx
    pushq $\vec
    jmp \common
.endm
.macro bounce_stub_err prefix:req, vec:req, common:req
    .globl \prefix\()_\vec
\prefix\()_\vec:
    pushq $\vec
    jmp \common
.endm

/* From a handler entered by a bounce frame with an error code, RCX and R11 on top: drops the
 * error code, leaving the frame iret_from_bounce expects. */
.macro drop_error_code
    popq %rcx
    popq %r11
    addq $8, %rsp
    pushq %r11
    pushq %rcx
.endm

/* To a new context (each argument a register or an immediate), with RAX, R11, RCX and the flags
 * zero; the iret_context is built below the current RSP. */
.macro iret_to rip:req, cs:req, rflags:req, rsp:req, ss:req
    subq $72, %rsp
    movq $0, 0(%rsp)                /* rax */
    movq $0, 8(%rsp)                /* r11 */
    movq $0, 16(%rsp)               /* rcx */
    movq $0, 24(%rsp)               /* flags */
    movq \rip, 32(%rsp)
    movq \cs, 40(%rsp)
    movq \rflags, 48(%rsp)
    movq \rsp, 56(%rsp)
    movq \ss, 64(%rsp)
    movl $__HYPERVISOR_iret, %eax
    syscall
    ud2
.endm

/* The registers a C call may clobber that a bounce frame does not already hold (RCX and R11
 * are in it): around a call from a trap or callback entry into C, RSP then pointing at them. */
.macro push_call_clobbered
    pushq %rax
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %r8
    pushq %r9
    pushq %r10
.endm
.macro pop_call_clobbered
    popq %r10
    popq %r9
    popq %r8
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rax
.endm

/* The System V callee-saved registers, around a trip to user mode and back. */
.macro push_callee_saved
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
.endm
.macro pop_callee_saved
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
.endm
