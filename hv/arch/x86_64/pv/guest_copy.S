/*
 * Copies between hypervisor memory and a guest's virtual address space, with the guest's page
 * tables live.  A fault on the guest side is not fatal: the #PF handler finds the faulting
 * instruction in the exception table and resumes at its fixup, which returns how many bytes
 * were NOT copied (rep movsb leaves RCX = bytes remaining).
 *
 *   u64 raw_copy_guest(void* dst, const void* src, u64 n);   (RDI, RSI, RDX)
 */
        .section .text, "ax"
        .globl raw_copy_guest
raw_copy_guest:
        mov     %rdx, %rcx
1:      rep movsb
        xor     %eax, %eax
        ret
2:      mov     %rcx, %rax
        ret

        .section .ex_table, "a"
        .balign 8
        .quad 1b, 2b
