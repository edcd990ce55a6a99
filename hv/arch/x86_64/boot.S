/*
 * Entry from the boot loader.  Both Multiboot 1 (QEMU -kernel, as Xen's own image) and
 * Multiboot 2 (GRUB) enter here in 32-bit protected mode, paging off, with the magic in EAX and
 * the information structure's physical address in EBX.
 *
 * This code runs identity-mapped at its load address.  It zeroes .bss, builds boot page tables
 * that map the first 1 GiB twice — identity (for this code and, later, the AP trampoline) and at
 * IMAGE_VIRT_BASE (for the hypervisor proper) — with 2 MiB pages, turns on long mode and jumps
 * to the higher half.  The C++ code replaces these tables with its final, W^X ones at once.
 */
#define IMAGE_VIRT_BASE 0xffff82d040000000
#define PHYS(sym) ((sym) - IMAGE_VIRT_BASE)

#define MB1_MAGIC 0x1badb002
#define MB1_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* page-aligned modules, memory map, address fields */
#define MB2_MAGIC 0xe85250d6

        .section .boot.header, "a"
        .balign 4
mb1_header:
        .long MB1_MAGIC
        .long MB1_FLAGS
        .long -(MB1_MAGIC + MB1_FLAGS)
        /* The address fields ("a.out kludge"): QEMU's -kernel refuses ELF64 images otherwise.
         * The image is one contiguous run of the file from __image_phys_start. */
        .long mb1_header
        .long __image_phys_start
        .long PHYS(__data_end)
        .long PHYS(__bss_end)
        .long start32

        .balign 8
mb2_header:
        .long MB2_MAGIC
        .long 0                                 /* i386 */
        .long mb2_header_end - mb2_header
        .long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header))
        /* entry address tag */
        .short 3, 0
        .long 12
        .long start32
        .long 0                                 /* pad to 8 */
        /* module alignment tag: modules page aligned */
        .short 6, 0
        .long 8
        /* end tag */
        .short 0, 0
        .long 8
mb2_header_end:

        .section .boot.text, "ax"
        .code32
        .globl start32
start32:
        cli
        cld
        /* Keep the loader's hand-over in registers the 64-bit code will read: EDI magic, ESI info. */
        mov     %eax, %edi
        mov     %ebx, %esi
        rdtsc
        mov     %eax, PHYS(boot_tsc)
        mov     %edx, PHYS(boot_tsc) + 4
        mov     $boot32_stack_top, %esp

        /* A 64-bit CPU is required: CPUID 0x80000001 EDX.LM. */
        mov     $0x80000000, %eax
        cpuid
        cmp     $0x80000001, %eax
        jb      no_long_mode
        mov     $0x80000001, %eax
        cpuid
        test    $(1 << 29), %edx
        jz      no_long_mode
        mov     %edx, %ebp                      /* EBP bit 20 = NX available */

        /* Zero .bss: not every loader does (the a.out-kludge path may not). */
        push    %edi
        mov     $PHYS(__bss_start), %edi
        mov     $PHYS(__bss_end), %ecx
        sub     %edi, %ecx
        shr     $2, %ecx
        xor     %eax, %eax
        rep stosl
        pop     %edi

        /* Boot page tables (in .boot.pagetables, zero-filled by the loader as part of the image):
         * PML4[0] -> pdpt_low, PML4[261] -> pdpt_high; pdpt_low[0] = pdpt_high[321] -> pd,
         * pd = 512 x 2 MiB pages covering physical 0..1 GiB. */
        mov     $boot_pd, %ebx
        xor     %ecx, %ecx
1:      mov     %ecx, %eax
        shl     $21, %eax
        or      $0x83, %eax                     /* present, writable, 2 MiB */
        mov     %eax, (%ebx, %ecx, 8)
        movl    $0, 4(%ebx, %ecx, 8)
        inc     %ecx
        cmp     $512, %ecx
        jb      1b
        movl    $(boot_pd + 3), boot_pdpt_low
        movl    $(boot_pd + 3), boot_pdpt_high + 321 * 8
        movl    $(boot_pdpt_low + 3), boot_pml4
        movl    $(boot_pdpt_high + 3), boot_pml4 + 261 * 8

        /* CR4.PAE, CR3, EFER.LME (+NXE when present), CR0.PG|WP. */
        mov     %cr4, %eax
        or      $(1 << 5), %eax
        mov     %eax, %cr4
        mov     $boot_pml4, %eax
        mov     %eax, %cr3
        mov     $0xc0000080, %ecx
        rdmsr
        or      $(1 << 8), %eax
        test    $(1 << 20), %ebp
        jz      2f
        or      $(1 << 11), %eax
2:      wrmsr
        mov     %cr0, %eax
        or      $((1 << 31) | (1 << 16) | 1), %eax
        mov     %eax, %cr0

        lgdt    boot_gdt_desc
        ljmp    $0x08, $start64_low

no_long_mode:
        /* Say why on COM1 (polling the transmitter) and stop. */
        mov     $msg_no_lm, %esi
3:      lodsb
        test    %al, %al
        jz      4f
        mov     %al, %bl
        mov     $0x3fd, %dx
5:      in      %dx, %al
        test    $0x20, %al
        jz      5b
        mov     $0x3f8, %dx
        mov     %bl, %al
        out     %al, %dx
        jmp     3b
4:      hlt
        jmp     4b

        .code64
start64_low:
        movabs  $start64_high, %rax
        jmp     *%rax

        .section .boot.data, "aw"
        .balign 8
boot_gdt:
        .quad 0
        .quad 0x00af9a000000ffff                /* 0x08: 64-bit code, DPL0 */
        .quad 0x00cf92000000ffff                /* 0x10: data, DPL0 */
boot_gdt_end:
boot_gdt_desc:
        .short boot_gdt_end - boot_gdt - 1
        .quad boot_gdt
msg_no_lm:
        .asciz "pvisor: this CPU has no 64-bit long mode; cannot boot.\r\n"
        .balign 16
        .space 512
boot32_stack_top:

        .section .boot.pagetables, "aw", @nobits
        .balign 4096
        .globl boot_pml4
boot_pml4:      .space 4096
boot_pdpt_low:  .space 4096
boot_pdpt_high: .space 4096
boot_pd:        .space 4096

/* ---------------------------------------------------------------------------------------- */
        .section .text.entry, "ax"
        .code64
start64_high:
        mov     $0x10, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        xor     %eax, %eax
        mov     %eax, %fs
        mov     %eax, %gs
        /* The BSP's stack block (32 KiB aligned, CpuInfo at its top, see layout.hpp). */
        lea     bsp_stack_block + 5 * 4096(%rip), %rsp
        xor     %ebp, %ebp
        /* EDI = magic, ESI = info (zero-extended by the 32-bit moves above). */
        mov     %edi, %edi
        mov     %esi, %esi
        call    boot_main
        ud2

        .section .data, "aw"
        .balign 8
        .globl boot_tsc
boot_tsc:                                       /* TSC at entry: the start of "time to ready" */
        .quad 0

        .section .bss.stack, "aw", @nobits
        .balign 4096                            /* 32 KiB alignment comes from pvisor.ld */
        .globl bsp_stack_block
bsp_stack_block:
        .space 32768
