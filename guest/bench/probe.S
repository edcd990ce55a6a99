/* probe.elf: the firmware baseline of the boot benchmark.  A bare Multiboot1 kernel (32-bit ELF)
 * whose first instruction reads the TSC: under QEMU with -icount shift=0 that is the guest time
 * the firmware and QEMU's Multiboot loader take before any hypervisor runs.  It prints
 * `bench: probe tsc=0x<16 hex digits>` on COM1 and powers off through ACPI (QEMU's PIIX4 PM1a
 * control register at 0x604, as SeaBIOS sets it up; SLP_TYP 0, SLP_EN). */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0
#define COM1 0x3f8

    .text
    .code32
    .balign 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)  /* the header: in the first 8 KiB */
    .globl _start
_start:
    rdtsc
    movl %edx, %edi                 /* high half first */
    movl %eax, %ebp
    movl $prefix, %esi
1:  movb (%esi), %al
    testb %al, %al
    jz 2f
    call putc
    incl %esi
    jmp 1b
2:  movl %edi, %ebx
    call hex32
    movl %ebp, %ebx
    call hex32
    movb $'\n', %al
    call putc
    movw $0x604, %dx
    movw $0x2000, %ax
    outw %ax, %dx
3:  cli
    hlt
    jmp 3b

/* Eight hex digits of EBX. */
hex32:
    movl $8, %ecx
1:  roll $4, %ebx
    movl %ebx, %eax
    andl $15, %eax
    movb digits(%eax), %al
    call putc
    loop 1b
    ret

putc:
    movw $COM1, %dx
    outb %al, %dx
    ret

prefix: .asciz "bench: probe tsc=0x"
digits: .ascii "0123456789abcdef"

    .section .note.GNU-stack, "", @progbits
