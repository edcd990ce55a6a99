/*
 * Application-processor start-up.  This blob is copied to TRAMPOLINE_PHYS (0x8000) and an AP
 * begins here in real mode after INIT-SIPI-SIPI (SIPI vector 0x08).  It climbs to long mode on
 * the boot page tables (which map low memory 1:1 and the image at its link address), then jumps
 * to ap_entry64 in the image, which switches to the final tables and the CPU's own stack.
 * The BSP fills the parameter block at the end before each start-up.
 */
#define TRAMPOLINE_PHYS 0x8000
#define REL(x) ((x) - trampoline_start)
#define ABS(x) (TRAMPOLINE_PHYS + REL(x))

        .section .trampoline, "a"
        .code16
        .globl trampoline_start
trampoline_start:
        cli
        cld
        mov     %cs, %ax
        mov     %ax, %ds
        lgdtl   REL(tr_gdt_desc)
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $ABS(tr_pm32)

        .code32
tr_pm32:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %cr4, %eax
        or      $(1 << 5), %eax                 /* PAE */
        mov     %eax, %cr4
        mov     ABS(tr_boot_cr3), %eax
        mov     %eax, %cr3
        mov     $0xc0000080, %ecx
        rdmsr
        or      $((1 << 8) | (1 << 11)), %eax   /* LME, NXE */
        wrmsr
        mov     %cr0, %eax
        or      $((1 << 31) | (1 << 16)), %eax  /* PG, WP */
        mov     %eax, %cr0
        ljmp    $0x18, $ABS(tr_lm64)

        .code64
tr_lm64:
        /* Still on the boot tables: fetch the parameters, then leave low memory for the image,
         * which both the boot and the final tables map at the same address. */
        mov     ABS(tr_final_cr3), %rax
        mov     ABS(tr_stack), %rdx
        mov     ABS(tr_entry), %rcx
        jmp     *%rcx

        .balign 8
tr_gdt:
        .quad 0
        .quad 0x00cf9b000000ffff                /* 0x08: 32-bit code */
        .quad 0x00cf93000000ffff                /* 0x10: data */
        .quad 0x00af9b000000ffff                /* 0x18: 64-bit code */
tr_gdt_end:
tr_gdt_desc:
        .short tr_gdt_end - tr_gdt - 1
        .long ABS(tr_gdt)

        /* Parameter block (struct TrampolineParams in smp.cpp). */
        .balign 8
        .globl trampoline_params
trampoline_params:
tr_boot_cr3:    .quad 0
tr_final_cr3:   .quad 0
tr_stack:       .quad 0
tr_entry:       .quad 0
        .globl trampoline_end
trampoline_end:

        .section .text, "ax"
        .code64
        /* RAX = final CR3, RDX = the CPU's stack top (mapped only in the final tables). */
        .globl ap_entry64
ap_entry64:
        mov     %rax, %cr3
        mov     %rdx, %rsp
        xor     %ebp, %ebp
        call    ap_main
        ud2
