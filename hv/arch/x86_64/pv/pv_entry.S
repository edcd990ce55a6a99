/*
 * Entry from and exit to 64-bit PV guests.
 *
 * SYSCALL from a guest arrives at this CPU's stub (see syscall_stub.cpp), which saves the guest
 * RSP and RAX in the SS/RSP slots at the top of the CPU's main stack, switches to that stack
 * and jumps here.  We complete a TrapFrame (arch/traps.hpp) at the same place an exception from
 * ring 3 puts its frame (the TSS's RSP0), so every path into the hypervisor from a guest leaves
 * the guest's registers at one address, as Xen's guest_cpu_user_regs.
 *
 * Exit is always IRETQ from such a frame: correct for every RIP (no SYSRET with a non-canonical
 * RIP, XSA-7), and the same code for every kind of entry.
 */
#include <arch/frame.h>

#define SYSCALL_VECTOR 0x100
#define SYSENTER_VECTOR 0x101

        .section .text, "ax"
        .code64
        .globl pv_syscall_entry
pv_syscall_entry:
        /* Stack: [rsp] = guest RSP, [rsp+8] = guest RAX (in the SS slot). */
        mov     8(%rsp), %rax
        movq    $0xe02b, 8(%rsp)                /* SS: FLAT_KERNEL_SS64 */
        push    %r11                            /* RFLAGS */
        pushq   $0xe033                         /* CS: FLAT_KERNEL_CS64 */
        push    %rcx                            /* RIP */
        pushq   $0                              /* error code */
        pushq   $SYSCALL_VECTOR
        SAVE_GPRS
        cld
        xor     %ebp, %ebp                      /* end of the backtrace */
        mov     %rsp, %rdi
        call    pv_syscall
        jmp     return_from_trap

/*
 * SYSENTER from a guest (MSR_SYSENTER_ESP is this CPU's stack top, the frame's end).  The CPU
 * saves neither RIP nor RSP, so the frame says 0 for both, with SS FLAT_USER_SS and the null
 * ring-3 CS, as Xen's sysenter_entry; pv_sysenter always replaces CS before the return.  A guest
 * TF survives SYSENTER: the #DB after each instruction up to pv_sysenter_flags_saved is
 * swallowed there, and TF is cleared once the guest's RFLAGS are saved (traps.cpp).
 */
        .globl pv_sysenter_entry, pv_sysenter_flags_saved
pv_sysenter_entry:
        pushq   $0xe02b                         /* SS: FLAT_USER_SS */
        pushq   $0                              /* RSP: unknown */
        pushfq                                  /* RFLAGS (IF, VM, RF cleared by SYSENTER) */
pv_sysenter_flags_saved:
        pushq   $3                              /* CS: null selector, RPL 3 */
        pushq   $0                              /* RIP: unknown */
        pushq   $0                              /* error code */
        pushq   $SYSENTER_VECTOR
        SAVE_GPRS
        cld
        xor     %ebp, %ebp
        mov     %rsp, %rdi
        call    pv_sysenter
        jmp     return_from_trap

/* void pv_enter_guest(const TrapFrame* frame): start a vCPU; frame is copied to the stack top. */
        .globl pv_enter_guest
pv_enter_guest:
        mov     %rdi, %rsi
        mov     %rsp, %rax
        and     $~(32768 - 1), %rax
        lea     5*4096 - 22*8(%rax), %rdi       /* STACK_MAIN_TOP - sizeof(TrapFrame) */
        mov     %rdi, %rsp
        mov     $22, %ecx
        rep movsq
        jmp     return_from_trap
