/* Entry point, Xen ELF notes and hypercall page of a 64-bit PV guest kernel.
 *
 * The domain builder starts the guest at the ENTRY note's address in guest kernel mode with
 * RSI = the start_info page's address and RSP = the top of a one-page stack it placed after the
 * bootstrap page tables (public/xen.h, "start of day").  That stack sits in the region the guest
 * later reuses, so the guest moves to its own stack in .bss at once. */
#include <xen/elfnote.h>
#include <xen/features.h>
#include <xen/xen.h>

#include "guest/lib/entry_state.h"

/* One Xen note: name "Xen", then the descriptor given as assembler directives. */
.macro xen_note type:req, desc:vararg
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f
    .long 4f - 3f
    .long \type
1:  .asciz "Xen"
2:  .balign 4
3:  \desc
4:  .balign 4
    .popsection
.endm

    xen_note XEN_ELFNOTE_GUEST_OS,       .asciz "pvisor-test"
    xen_note XEN_ELFNOTE_GUEST_VERSION,  .asciz "0.1"
    /* The builder refuses images whose XEN_VERSION is not "xen-3.0..." and whose LOADER is not
     * "generic" (unless GUEST_OS starts with "linux"): libelf's elf_xen_note_check. */
    xen_note XEN_ELFNOTE_XEN_VERSION,    .asciz "xen-3.0"
    xen_note XEN_ELFNOTE_LOADER,         .asciz "generic"
    xen_note XEN_ELFNOTE_VIRT_BASE,      .quad GUEST_VIRT_BASE
    xen_note XEN_ELFNOTE_PADDR_OFFSET,   .quad 0
    xen_note XEN_ELFNOTE_ENTRY,          .quad _start
    xen_note XEN_ELFNOTE_HYPERCALL_PAGE, .quad hypercall_page
    /* A dom0 kernel that declares SUPPORTED_FEATURES must include XENFEAT_dom0, or the dom0
     * builder refuses it ("Kernel does not support Dom0 operation"); without the note Xen does
     * not check.  We declare it: this kernel is written to run as dom0. */
    xen_note XEN_ELFNOTE_SUPPORTED_FEATURES, .long (1 << XENFEAT_dom0)

    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
_start:
    /* What the builder handed over, before any register changes.  entry_state is in .data,
     * not .bss, because .bss is cleared below. */
    movq %rax, entry_state + ES_RAX
    movq %rbx, entry_state + ES_RBX
    movq %rcx, entry_state + ES_RCX
    movq %rdx, entry_state + ES_RDX
    movq %rsi, entry_state + ES_RSI
    movq %rdi, entry_state + ES_RDI
    movq %rbp, entry_state + ES_RBP
    movq %rsp, entry_state + ES_RSP
    movq %r8,  entry_state + ES_R8
    movq %r9,  entry_state + ES_R9
    movq %r10, entry_state + ES_R10
    movq %r11, entry_state + ES_R11
    movq %r12, entry_state + ES_R12
    movq %r13, entry_state + ES_R13
    movq %r14, entry_state + ES_R14
    movq %r15, entry_state + ES_R15
    pushfq
    popq entry_state + ES_RFLAGS
    movw %cs, entry_state + ES_CS
    movw %ss, entry_state + ES_SS
    movw %ds, entry_state + ES_DS
    movw %es, entry_state + ES_ES
    movw %fs, entry_state + ES_FS
    movw %gs, entry_state + ES_GS
    /* The first instruction's time, near enough (the boot benchmark, guest/bench). */
    rdtsc
    movl %eax, entry_state + ES_TSC
    movl %edx, entry_state + ES_TSC + 4
    cld

    /* The builder should have loaded .bss as zeroes (p_memsz beyond p_filesz); note whether it
     * did, for a check, then clear it regardless.  Both bounds are 16-byte aligned. */
    movq $__bss_start, %rdi
    movq $__bss_end, %rcx
    xorl %eax, %eax
1:  cmpq %rcx, %rdi
    jae 2f
    orq (%rdi), %rax
    addq $8, %rdi
    jmp 1b
2:  movq %rax, entry_state + ES_BSS_OR
    movq $__bss_start, %rdi
    subq %rdi, %rcx
    shrq $3, %rcx
    xorl %eax, %eax
    rep stosq

    movq $guest_stack_top, %rsp
    xorl %ebp, %ebp
    movq entry_state + ES_RSI, %rdi
    call guest_main
    ud2     /* guest_main does not return; with no trap table this crashes the domain */
    .size _start, . - _start

    /* Filled by the builder: 128 stubs of 32 bytes, stub i making hypercall i.  Assembled as
     * zeroes so that an unfilled page is recognisable (and calling into it faults). */
    .section .text.hypercall_page, "ax"
    .balign 4096
    .globl hypercall_page
    .type hypercall_page, @object
hypercall_page:
    .fill 4096, 1, 0
    .size hypercall_page, 4096

    /* In .data: _start records it before clearing .bss. */
    .section .data.entry_state, "aw"
    .balign 8
    .globl entry_state
    .type entry_state, @object
entry_state:
    .fill ES_SIZE, 1, 0
    .size entry_state, ES_SIZE

    .section .bss.stack, "aw", @nobits
    .balign 16
    .skip GUEST_STACK_SIZE
    .globl guest_stack_top
guest_stack_top:

    .section .note.GNU-stack, "", @progbits
