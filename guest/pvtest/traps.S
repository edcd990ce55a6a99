/* The #BP (int3) handler and trigger for the first trap-delivery checks; then the generic trap
 * entry of the later groups, enter_user, multicall_iret and the user-mode routines.
 *
 * Xen delivers a trap taken in guest kernel mode by pushing a bounce frame on the current guest
 * stack, lowest address first: RCX, R11, RIP, CS, RFLAGS, RSP, SS (no error code for #BP), and
 * entering the trap table's handler.  The handler copies the frame for the checks, counts the
 * trap and returns with HYPERVISOR_iret, which pops {RAX, R11, RCX, flags, RIP, CS, RFLAGS, RSP,
 * SS}: either by its own `syscall` or through the hypercall page's iret stub, which pushes RCX,
 * R11 and RAX itself and must be jumped to (not called). */
#include <xen/xen.h>

#include "guest/lib/iret_asm.h"

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

/* ---------------------------------------------------------------------------------------------
 * The generic trap entry (traps.hpp).  Xen enters a handler with the bounce frame at RSP,
 * lowest address first: RCX, R11, [error code], RIP, CS, RFLAGS, RSP, SS.  A stub for a vector
 * without an error code makes room for one (0), so every frame has the same shape; then it
 * pushes the vector and trap_common saves what a C call clobbers and calls trap_dispatch.
 * Xen returns to a handler by SYSRET, so RCX and R11 hold nothing of value on entry. */
.macro trap_stub name:req, vec:req, err:req
    .globl trap_stub_\name
    .type trap_stub_\name, @function
trap_stub_\name:
  .if \err == 0
    popq %rcx
    popq %r11
    pushq $0
    pushq %r11
    pushq %rcx
  .endif
    pushq $\vec
    jmp trap_common
    .size trap_stub_\name, . - trap_stub_\name
.endm

    trap_stub 0, 0, 0
    trap_stub 3, 3, 0
    trap_stub 4, 4, 0
    trap_stub 6, 6, 0
    trap_stub 7, 7, 0
    trap_stub 13, 13, 1
    trap_stub 14, 14, 1
    trap_stub 0x80, 0x80, 0
    trap_stub syscall, 0x100, 0
    trap_stub event, 0x101, 0
    trap_stub sysenter, 0x102, 0

    /* The stack, from RSP up (struct TrapFrame): RBX RAX RDX RSI RDI R8 R9 R10, iret flags,
     * vector, RCX R11 ERR RIP CS RFLAGS RSP SS.  Xen aligned the frame's top to 16 bytes and
     * the frame with its error-code slot is 64 bytes, so the 10 pushes here leave RSP aligned
     * for the call. */
    .type trap_common, @function
trap_common:
    pushfq
    popq trap_entry_rflags(%rip)
    cld
    pushq $0
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rax
    pushq %rbx
    movq %rsp, %rdi
    call trap_dispatch
    /* Turn the four slots below RIP (vector, RCX, R11, ERR) into the head of a struct
     * iret_context (RAX, R11, RCX, flags), with the values trap_dispatch left. */
    movq 64(%rsp), %rax
    movq %rax, 96(%rsp)
    movq 80(%rsp), %rax
    movq 88(%rsp), %rdx
    movq %rdx, 80(%rsp)
    movq %rax, 88(%rsp)
    movq 8(%rsp), %rax
    movq %rax, 72(%rsp)
    popq %rbx
    popq %rax
    popq %rdx
    popq %rsi
    popq %rdi
    popq %r8
    popq %r9
    popq %r10
    addq $8, %rsp
    movl $__HYPERVISOR_iret, %eax
    syscall
    ud2
    .size trap_common, . - trap_common

/* ---------------------------------------------------------------------------------------------
 * u64 enter_user(u64 rip, u64 rsp, u64 rflags): HYPERVISOR_iret to user mode (CS
 * FLAT_USER_CS64) at rip with stack rsp and rflags (whose IF becomes the inverse of the upcall
 * mask).  trap_dispatch ends the
 * run by resuming enter_user_return on the stack saved here, with the result in RAX. */
    .globl enter_user, enter_user_return
    .type enter_user, @function
enter_user:
    push_callee_saved
    movq %rsp, user_return_rsp(%rip)
    /* CS with RPL 3, so Xen switches to user mode. */
    iret_to %rdi, $FLAT_USER_CS64, %rdx, %rsi, $FLAT_USER_SS64
enter_user_return:
    pop_callee_saved
    ret
    .size enter_user, . - enter_user

/* ---------------------------------------------------------------------------------------------
 * long multicall_iret(multicall_entry_t* calls, unsigned n, u64* resumed): a multicall whose
 * batch holds a HYPERVISOR_iret, made with an iret_context on the stack (RAX 0x1ce7, RIP
 * 1f below, kernel mode, this stack).  Sets *resumed to 1 when execution continued at the
 * context's RIP, 0 when the multicall returned to the instruction after `syscall`. */
    .globl multicall_iret
    .type multicall_iret, @function
multicall_iret:
    pushq %rbx
    pushq %r12
    pushq %r13
    movq %rsp, %r12
    movq %rdx, %r13
    subq $72, %rsp
    movq $0x1ce7, 0(%rsp)           /* rax */
    movq $0, 8(%rsp)                /* r11 */
    movq $0, 16(%rsp)               /* rcx */
    movq $0, 24(%rsp)               /* flags */
    leaq 1f(%rip), %rax
    movq %rax, 32(%rsp)             /* rip */
    movq $(FLAT_KERNEL_CS & ~3), 40(%rsp)
    pushfq
    popq %rax
    andq $~0x200, %rax
    movq %rax, 48(%rsp)             /* rflags: IF clear, the upcall mask stays set */
    movq %r12, 56(%rsp)             /* rsp */
    movq $FLAT_KERNEL_SS, 64(%rsp)
    movl $__HYPERVISOR_multicall, %eax
    syscall
    movq $0, (%r13)
    jmp 2f
1:  movq $1, (%r13)
2:  movq %r12, %rsp
    popq %r13
    popq %r12
    popq %rbx
    ret
    .size multicall_iret, . - multicall_iret

/* ---------------------------------------------------------------------------------------------
 * The user-mode routines (user.cpp), on a page of their own that the user page tables map
 * read-only at USER_CODE; position independent, data at the absolute user addresses below.
 * Each fault they provoke is preceded by storing the resume address at USER_RESUME, where the
 * kernel's handler finds it. */
#define USER_CODE      0x400000
#define USER_DATA      0x401000
#define USER_RESUME    (USER_DATA + 0)
#define USER_OUT       (USER_DATA + 0x100)
#define USER_UNMAPPED  0x403000
#define USER_DONE      0xd0e
#define GUEST_VIRT_BASE 0xffffffff80000000

.macro user_resume_at label:req
    leaq \label(%rip), %rax
    movq %rax, USER_RESUME
.endm

    .section .text.user, "ax"
    .balign 4096
    .globl user_code_start, user_code_end
user_code_start:

    /* Run 1, before any syscall callback is registered: SYSCALL must raise #UD at itself. */
    .globl user_nocallback, user_nocb_syscall
user_nocallback:
    user_resume_at 1f
user_nocb_syscall:
    syscall
1:  movl $USER_DONE, %eax
    int $0x80
    ud2

    /* Run 2: the main routine. */
    .globl user_main, user_after_syscall, user_after_int3, user_after_int80, user_pf_read
    .globl user_pf_kernel, user_pf_write, user_gp_cli, user_ud2
user_main:
    movq %rsp, USER_OUT + 0x00
    /* A syscall with DF and CF set: the callback doubles RDI into RAX and returns by SYSRET. */
    movl $1, %eax
    movl $0x1111, %edi
    std
    stc
    syscall
user_after_syscall:
    pushfq
    popq %rdx
    cld
    movq %rax, USER_OUT + 0x08
    movq %rcx, USER_OUT + 0x10
    movq %r11, USER_OUT + 0x18
    movq %rdx, USER_OUT + 0x20
    /* int3 (trap table DPL 3): resumes after itself. */
    int3
user_after_int3:
    /* int $0x80 (DPL 3): the handler adds 1 to RAX. */
    movl $0x80, %eax
    int $0x80
user_after_int80:
    movq %rax, USER_OUT + 0x28
    /* A read of an unmapped user address. */
    user_resume_at 1f
user_pf_read:
    movq USER_UNMAPPED, %rax
1:  /* A read of a kernel address: not mapped by the user page tables. */
    user_resume_at 1f
    movabsq $GUEST_VIRT_BASE, %rbx
user_pf_kernel:
    movq (%rbx), %rax
1:  /* A write to the read-only code page. */
    user_resume_at 1f
    leaq user_code_start(%rip), %rbx
user_pf_write:
    movb $0, (%rbx)
1:  /* cli in user mode: #GP whatever the virtual IOPL. */
    user_resume_at 1f
user_gp_cli:
    cli
1:  /* ud2 */
    user_resume_at 1f
user_ud2:
    ud2
1:  movl $USER_DONE, %eax
    syscall
    ud2

    /* Run 3, with events unmasked: int3 (a trap-table entry without the mask flag), int $4 (an
     * entry with it), then the final syscall (callback registered with CALLBACKF_mask_events). */
    .globl user_events, user_events_after_int3, user_events_after_int4
user_events:
    int3
user_events_after_int3:
    int $4
user_events_after_int4:
    movl $USER_DONE, %eax
    syscall
    ud2

    /* Run 4, after SEGBASE_GS_USER_SEL: the user GS selector, and a read through the user GS
     * base the kernel chose (USER_DATA). */
    .globl user_gs
user_gs:
    movw %gs, %ax
    movq %rax, USER_OUT + 0x30
    movq %gs:0x208, %rax
    movq %rax, USER_OUT + 0x38
    movl $USER_DONE, %eax
    int $0x80
    ud2

    /* Runs 5 and 6: SYSENTER, which saves neither RIP nor RSP: whatever the kernel's handler
     * gets, it resumes at the label, which restores RSP. */
    .globl user_sysenter, user_sysenter_insn
user_sysenter:
    movq %rsp, USER_OUT + 0x40
    user_resume_at 1f
    movl $0x3333, %edi
    movl $0x5555, %ecx
    movl $0x6666, %r11d
user_sysenter_insn:
    sysenter
1:  movq USER_OUT + 0x40, %rsp
    movl $USER_DONE, %eax
    int $0x80
    ud2

    .balign 16
user_code_end:
    .previous

    .section .note.GNU-stack, "", @progbits
