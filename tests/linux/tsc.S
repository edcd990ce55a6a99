/* tsc: a Linux user program for the test initramfs (tests/linux/init) that prints the time-stamp
 * counter as `0x` and 16 hex digits and a newline, then exits.  No C library: two system calls.
 * Under QEMU's -icount the TSC is the virtual clock, so the benchmark suite (bench/run.py) reads
 * the boot-to-shell time from this; it needs RDTSC allowed in user mode (CR4.TSD clear), as both
 * hypervisors leave it for domain 0. */
    .text
    .globl _start
_start:
    rdtsc
    shlq $32, %rdx
    orq %rdx, %rax
    leaq digits_end(%rip), %rdi
    leaq hex(%rip), %rsi
    movl $16, %ecx
1:  movl %eax, %edx                 /* the digits, lowest first, from the right */
    andl $15, %edx
    movzbl (%rsi,%rdx), %edx
    decq %rdi
    movb %dl, (%rdi)
    shrq $4, %rax
    loop 1b
    movl $1, %eax                   /* write(1, line, line_len) */
    movl $1, %edi
    leaq line(%rip), %rsi
    movl $line_len, %edx
    syscall
    movl $60, %eax                  /* exit(0) */
    xorl %edi, %edi
    syscall

    .section .rodata
hex:
    .ascii "0123456789abcdef"

    .data
line:
    .ascii "0x0000000000000000"
digits_end:
    .ascii "\n"
    .set line_len, . - line
    .section .note.GNU-stack, "", @progbits
