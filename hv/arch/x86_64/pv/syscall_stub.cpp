// The per-CPU SYSCALL entry stub (and the SYSENTER MSRs, which need no stub).  SYSCALL does not switch stacks, and pvisor does not keep
// per-CPU data behind GS (the guest owns GS), so each CPU's LSTAR points at a few instructions
// of its own that embed that CPU's stack address, as Xen's write_stub_trampoline does:
//
//     movabs %rax, stack_top-8        save guest RAX in the frame's SS slot
//     mov    %rsp, %rax
//     movabs $stack_top-8, %rsp       switch to the hypervisor stack
//     push   %rax                     guest RSP into the frame's RSP slot
//     movabs $pv_syscall_entry, %rax
//     jmp    *%rax
//
// The stub is written through the direct map (RW, NX) and executed through its own read-only,
// executable mapping, so W^X holds.  SFMASK clears IF: no interrupt may arrive while RSP still
// points at the guest's stack.
#include <arch/cpu.hpp>
#include <arch/desc.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>
#include <arch/percpu.hpp>

#include "arch/x86_64/pv/pv.hpp"
#include "core/panic.hpp"
#include "lib/string.hpp"

extern "C" char pv_syscall_entry[], pv_sysenter_entry[];

namespace pv::arch::pv {
namespace {

constexpr u32 MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;
constexpr u32 CPUID1_EDX_SEP = 1u << 11;
constexpr u32 MSR_STAR = 0xc0000081, MSR_LSTAR = 0xc0000082, MSR_CSTAR = 0xc0000083, MSR_SFMASK = 0xc0000084;
constexpr u64 RFLAGS_TF = 1u << 8, RFLAGS_IF = 1u << 9, RFLAGS_DF = 1u << 10, RFLAGS_NT = 1u << 14,
              RFLAGS_AC = 1u << 18, RFLAGS_IOPL = 3u << 12;

usize emit(u8* p, usize at, const u8* bytes, usize n) {
    mem_copy(p + at, bytes, n);
    return at + n;
}
usize emit64(u8* p, usize at, u64 v) {
    mem_copy(p + at, &v, 8);
    return at + 8;
}

}  // namespace

void install_syscall_stub(unsigned cpu, u64 stack_block) {
    u8* page = static_cast<u8*>(mm::alloc_pages(0));
    if (!page) panic("CPU %u: no memory for its SYSCALL stub", cpu);
    mem_set(page, 0xcc, PAGE_SIZE);  // int3 everywhere else
    u64 slot = stack_block + STACK_MAIN_TOP - 8;
    usize at = 0;
    static constexpr u8 MOVABS_TO_MEM_RAX[] = {0x48, 0xa3};
    static constexpr u8 MOV_RSP_RAX[] = {0x48, 0x89, 0xe0};
    static constexpr u8 MOVABS_RSP[] = {0x48, 0xbc};
    static constexpr u8 PUSH_RAX[] = {0x50};
    static constexpr u8 MOVABS_RAX[] = {0x48, 0xb8};
    static constexpr u8 JMP_RAX[] = {0xff, 0xe0};
    at = emit(page, at, MOVABS_TO_MEM_RAX, sizeof MOVABS_TO_MEM_RAX);
    at = emit64(page, at, slot);
    at = emit(page, at, MOV_RSP_RAX, sizeof MOV_RSP_RAX);
    at = emit(page, at, MOVABS_RSP, sizeof MOVABS_RSP);
    at = emit64(page, at, slot);
    at = emit(page, at, PUSH_RAX, sizeof PUSH_RAX);
    at = emit(page, at, MOVABS_RAX, sizeof MOVABS_RAX);
    at = emit64(page, at, reinterpret_cast<u64>(pv_syscall_entry));
    at = emit(page, at, JMP_RAX, sizeof JMP_RAX);

    u64 va = STUBS_VIRT_START + u64{cpu} * PAGE_SIZE;
    mm::map_hv_pages(va, virt_to_phys(page), 1, paging::MAP_TEXT);

    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    // SYSCALL: CS = 0xe008, SS = 0xe010.  SYSRET (unused: exits go through IRET) would load
    // CS = 0xe023 + 16, SS = 0xe023 + 8 — the flat ring-3 selectors.
    wrmsr(MSR_STAR, (u64{FLAT_RING3_CS32} << 48) | (u64{SEL_HV_CS} << 32));
    wrmsr(MSR_LSTAR, va);
    wrmsr(MSR_CSTAR, va);  // 32-bit SYSCALL (compat guests are not supported): same stub
    wrmsr(MSR_SFMASK, RFLAGS_TF | RFLAGS_IF | RFLAGS_DF | RFLAGS_NT | RFLAGS_AC | RFLAGS_IOPL);

    // SYSENTER (valid in 64-bit mode on Intel CPUs; AMD ones raise #UD there): straight onto
    // this CPU's stack top, where the frame goes (pv_entry.S); CS 0xe008, SS 0xe010.
    if (cpuid(1).edx & CPUID1_EDX_SEP) {
        wrmsr(MSR_SYSENTER_CS, SEL_HV_CS);
        wrmsr(MSR_SYSENTER_ESP, stack_block + STACK_MAIN_TOP);
        wrmsr(MSR_SYSENTER_EIP, reinterpret_cast<u64>(pv_sysenter_entry));
    }
}

}  // namespace pv::arch::pv
