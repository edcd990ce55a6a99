/* The benchmark kernel's entries from the hypervisor and its user-mode loops.  Each entry does
 * what a minimal PV kernel must and no more, so the timings are the hypervisor's paths plus a
 * few guest instructions that are the same on any hypervisor.
 *
 * Xen enters a callback or trap handler with a bounce frame at RSP, lowest address first: RCX,
 * R11, [error code], RIP, CS, RFLAGS, RSP, SS; HYPERVISOR_iret pops RAX, R11, RCX, flags, RIP,
 * CS, RFLAGS, RSP, SS.  A saved CS with RPL 0 means the guest kernel was interrupted. */
#include <xen/xen.h>

#include "guest/lib/iret_asm.h"

#define USER_CODE      0x400000
#define USER_DATA      0x401000
#define USER_COUNT     (USER_DATA + 0)     /* iterations the loop runs (the kernel writes it) */
#define USER_SAMPLES   (USER_DATA + 64)    /* the loop's TSC deltas, one u64 each */
#define USER_UNMAPPED  0x40f000            /* not present in the user page tables */
#define USER_DONE      0xd0e               /* RAX of the syscall that ends a user run */

    .text

/* The syscall callback.  A syscall with RAX = USER_DONE ends the user run: back on the kernel
 * stack bench_enter_user saved (the callback already runs in kernel mode).  Any other returns at
 * once by HYPERVISOR_iret with VGCF_in_syscall, as Linux's PV syscall exit. */
    .globl bench_syscall_entry
    .type bench_syscall_entry, @function
bench_syscall_entry:
    cmpq $USER_DONE, %rax
    je 1f
    iret_from_bounce $VGCF_in_syscall
1:  movq bench_user_return_rsp(%rip), %rsp
    jmp bench_enter_user_return
    .size bench_syscall_entry, . - bench_syscall_entry

/* #PF: only the user loop faults, with the address to resume at in R12 (which the bounce
 * preserves).  A fault in kernel mode is a bug: ud2 (no handler) crashes the domain loudly. */
    .globl bench_pf_entry
    .type bench_pf_entry, @function
bench_pf_entry:
    testb $3, 32(%rsp)              /* the saved CS */
    jz 9f
    movq %r12, 24(%rsp)             /* RIP */
    drop_error_code
    iret_from_bounce $0
9:  ud2
    .size bench_pf_entry, . - bench_pf_entry

/* The event upcall: bench_event_upcall(rsp) acknowledges this vCPU's pending events (events.cpp);
 * the return masks events again (IF clear in the frame), so they stay masked but where a metric
 * unmasks them, and SCHEDOP_block finds any event that arrives later still pending. */
    .globl bench_event_entry
    .type bench_event_entry, @function
bench_event_entry:
    push_call_clobbered
    movq %rsp, %rdi
    call bench_event_upcall
    pop_call_clobbered
    andq $~0x200, 32(%rsp)          /* the saved RFLAGS: return with events masked */
    iret_from_bounce $0
    .size bench_event_entry, . - bench_event_entry

/* vCPU 1 starts here, on its own stack. */
    .globl bench_vcpu1_entry
    .type bench_vcpu1_entry, @function
bench_vcpu1_entry:
    call bench_vcpu1_main
    ud2
    .size bench_vcpu1_entry, . - bench_vcpu1_entry

/* void bench_enter_user(u64 rip, u64 rsp): HYPERVISOR_iret to user mode at rip with events
 * masked; returns when the user code makes the USER_DONE syscall. */
    .globl bench_enter_user
    .type bench_enter_user, @function
bench_enter_user:
    push_callee_saved
    movq %rsp, bench_user_return_rsp(%rip)
    /* CS with RPL 3: to user mode; RFLAGS with IF clear: events stay masked. */
    iret_to %rdi, $FLAT_USER_CS64, $2, %rsi, $FLAT_USER_SS64
bench_enter_user_return:
    pop_callee_saved
    ret
    .size bench_enter_user, . - bench_enter_user

/* ---------------------------------------------------------------------------------------------
 * User mode: one page, mapped read-only at USER_CODE by the user page tables; position
 * independent.  Each loop times USER_COUNT round trips into the kernel from user mode and stores
 * the TSC deltas at USER_SAMPLES; between the two RDTSCs are four instructions of the loop and
 * the one that enters the kernel. */
.macro tsc_to reg:req
    rdtsc
    shlq $32, %rdx
    orq %rdx, %rax
    movq %rax, \reg
.endm
.macro store_delta
    rdtsc
    shlq $32, %rdx
    orq %rdx, %rax
    subq %rbx, %rax
    movq %rax, (%r14,%r15,8)
    incq %r15
.endm

    .section .text.user, "ax"
    .balign 4096
    .globl bench_user_start, bench_user_end, bench_user_syscall_loop, bench_user_pf_loop
bench_user_start:

bench_user_syscall_loop:
    movq USER_COUNT, %r13
    movq $USER_SAMPLES, %r14
    xorl %r15d, %r15d
1:  tsc_to %rbx
    xorl %eax, %eax
    syscall
    store_delta
    cmpq %r13, %r15
    jb 1b
    movl $USER_DONE, %eax
    syscall
    ud2

bench_user_pf_loop:
    movq USER_COUNT, %r13
    movq $USER_SAMPLES, %r14
    xorl %r15d, %r15d
    movq $USER_UNMAPPED, %rsi
    leaq 2f(%rip), %r12
1:  tsc_to %rbx
    movq (%rsi), %rax               /* #PF; the handler resumes at R12 */
2:  store_delta
    cmpq %r13, %r15
    jb 1b
    movl $USER_DONE, %eax
    syscall
    ud2

    .balign 16
bench_user_end:
    .previous

    .section .note.GNU-stack, "", @progbits
