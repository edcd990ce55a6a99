/* The #BP (int3) handler and trigger for the trap-delivery checks.
 *
 * Xen delivers a trap taken in guest kernel mode by pushing a bounce frame on the current guest
 * stack, lowest address first: RCX, R11, RIP, CS, RFLAGS, RSP, SS (no error code for #BP), and
 * entering the trap table's handler.  The handler copies the frame for the checks, counts the
 * trap and returns with HYPERVISOR_iret, which pops {RAX, R11, RCX, flags, RIP, CS, RFLAGS, RSP,
 * SS}: either by its own `syscall` or through the hypercall page's iret stub, which pushes RCX,
 * R11 and RAX itself and must be jumped to (not called). */
#include <xen/xen.h>

    .text
    .globl bp_handler
    .type bp_handler, @function
bp_handler:
    pushq %rax
    movq 8(%rsp), %rax;  movq %rax, bp_frame + 0
    movq 16(%rsp), %rax; movq %rax, bp_frame + 8
    movq 24(%rsp), %rax; movq %rax, bp_frame + 16
    movq 32(%rsp), %rax; movq %rax, bp_frame + 24
    movq 40(%rsp), %rax; movq %rax, bp_frame + 32
    movq 48(%rsp), %rax; movq %rax, bp_frame + 40
    movq 56(%rsp), %rax; movq %rax, bp_frame + 48
    popq %rax
    incq bp_count
    popq %rcx
    popq %r11
    pushq $0                        /* iret flags: not returning from a syscall */
    cmpb $0, bp_return_via_page
    jne 1f
    pushq %rcx
    pushq %r11
    pushq %rax
    movl $__HYPERVISOR_iret, %eax
    syscall
    ud2                             /* HYPERVISOR_iret does not return */
1:  jmp hypercall_page + __HYPERVISOR_iret * 32
    .size bp_handler, . - bp_handler

    /* u64 trigger_int3(void): returns the RSP at which int3 executed; the trap's saved RIP
     * must be trigger_int3_resume. */
    .globl trigger_int3, trigger_int3_resume
    .type trigger_int3, @function
trigger_int3:
    movq %rsp, %rax
    int3
trigger_int3_resume:
    ret
    .size trigger_int3, . - trigger_int3

    .section .note.GNU-stack, "", @progbits
