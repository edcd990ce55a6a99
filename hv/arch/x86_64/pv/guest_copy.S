/*
 * Copies between hypervisor memory and a guest's virtual address space, with the guest's page
 * tables live.  A fault on the guest side is not fatal: the #PF handler finds the faulting
 * instruction in the exception table and resumes at its fixup, which returns how many bytes
 * were NOT copied.  Eight bytes a step, then the tail (as Xen's copy_{to,from}_guest): a
 * multicall entry is 8 iterations rather than 64.  A fault in the words leaves RCX = words
 * remaining, in the tail RCX = bytes remaining.
 *
 *   u64 raw_copy_guest(void* dst, const void* src, u64 n);   (RDI, RSI, RDX)
 */
        .section .text, "ax"
        .globl raw_copy_guest
raw_copy_guest:
        mov     %rdx, %rcx
        shr     $3, %rcx
        and     $7, %edx
1:      rep movsq
        mov     %rdx, %rcx
2:      rep movsb
        xor     %eax, %eax
        ret
3:      lea     (%rdx,%rcx,8), %rax
        ret
4:      mov     %rcx, %rax
        ret

        .section .ex_table, "a"
        .balign 8
        .quad 1b, 3b
        .quad 2b, 4b
