/*
 * Exception and interrupt entry.  256 stubs of 16 bytes each (vector v's stub is at
 * trap_stubs + 16*v): each pushes a zero error code where the CPU pushes none, then the vector,
 * and joins trap_common, which saves the general registers into a TrapFrame (traps.hpp) and
 * calls trap_dispatch(frame).  return_from_trap is the one way back, for guests too.
 */
#include <arch/frame.h>
        .section .text, "ax"
        .code64

        .p2align 4
        .globl trap_stubs
trap_stubs:
        .set vec, 0
        .rept 256
        .p2align 4
        .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        .else
        pushq   $0
        .endif
        pushq   $vec
        jmp     trap_common
        .set vec, vec + 1
        .endr

trap_common:
        SAVE_GPRS
        cld
        mov     %rsp, %rdi
        call    trap_dispatch
        .globl return_from_trap
return_from_trap:
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %r11
        pop     %r10
        pop     %r9
        pop     %r8
        pop     %rbp
        pop     %rdi
        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rbx
        pop     %rax
        add     $16, %rsp                       /* vector, error code */
        .globl return_to_guest_iret
return_to_guest_iret:                           /* a fault here: see handle_hypervisor_exception */
        iretq
