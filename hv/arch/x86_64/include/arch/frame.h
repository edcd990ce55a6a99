/* The general-register part of a TrapFrame (arch/traps.hpp), pushed and popped in one order by
 * every entry path (entry.S, pv/pv_entry.S). */
#pragma once

.macro SAVE_GPRS
        push    %rax
        push    %rbx
        push    %rcx
        push    %rdx
        push    %rsi
        push    %rdi
        push    %rbp
        push    %r8
        push    %r9
        push    %r10
        push    %r11
        push    %r12
        push    %r13
        push    %r14
        push    %r15
.endm
