// x86-64 CPU primitives: the small instruction wrappers every part of the hypervisor uses.
#pragma once
#include "lib/types.hpp"

namespace pv::arch {

inline void cpu_relax() { __builtin_ia32_pause(); }

inline unsigned long irq_save() {
    unsigned long flags;
    asm volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
    return flags;
}
inline void irq_restore(unsigned long flags) {
    if (flags & (1ul << 9)) asm volatile("sti" : : : "memory");
}
inline void irq_enable() { asm volatile("sti" : : : "memory"); }
inline void irq_disable() { asm volatile("cli" : : : "memory"); }
inline bool irqs_enabled() {
    unsigned long flags;
    asm volatile("pushfq; popq %0" : "=r"(flags));
    return flags & (1ul << 9);
}
inline void halt() { asm volatile("hlt" : : : "memory"); }
// This CPU's index (0 = boot CPU); see percpu.hpp.
unsigned this_cpu_index();

inline u8 inb(u16 port) {
    u8 v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline u16 inw(u16 port) {
    u16 v;
    asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline u32 inl(u16 port) {
    u32 v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
inline void outw(u16 port, u16 v) { asm volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

inline u64 rdtsc() {
    u32 lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (u64{hi} << 32) | lo;
}
inline u64 rdmsr(u32 msr) {
    u32 lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (u64{hi} << 32) | lo;
}
inline void wrmsr(u32 msr, u64 v) {
    asm volatile("wrmsr" : : "c"(msr), "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32)) : "memory");
}

struct CpuidResult {
    u32 eax, ebx, ecx, edx;
};
inline CpuidResult cpuid(u32 leaf, u32 subleaf = 0) {
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

// The CPU's vendor (CPUID leaf 0's string), read once.
enum class CpuVendor : u8 { other, intel, amd, hygon };
inline CpuVendor cpu_vendor() {
    static const CpuVendor v = [] {
        CpuidResult r = cpuid(0);
        if (r.ebx == 0x756e6547 && r.edx == 0x49656e69 && r.ecx == 0x6c65746e) return CpuVendor::intel;  // GenuineIntel
        if (r.ebx == 0x68747541 && r.edx == 0x69746e65 && r.ecx == 0x444d4163) return CpuVendor::amd;    // AuthenticAMD
        if (r.ebx == 0x6f677948 && r.edx == 0x6e65476e && r.ecx == 0x656e6975) return CpuVendor::hygon;  // HygonGenuine
        return CpuVendor::other;
    }();
    return v;
}

inline u64 read_cr0() { u64 v; asm volatile("mov %%cr0, %0" : "=r"(v)); return v; }
inline u64 read_cr2() { u64 v; asm volatile("mov %%cr2, %0" : "=r"(v)); return v; }
inline u64 read_cr3() { u64 v; asm volatile("mov %%cr3, %0" : "=r"(v)); return v; }
inline u64 read_cr4() { u64 v; asm volatile("mov %%cr4, %0" : "=r"(v)); return v; }
inline void write_cr0(u64 v) { asm volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
inline void write_cr3(u64 v) { asm volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
inline void write_cr4(u64 v) { asm volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
inline void invlpg(const void* va) { asm volatile("invlpg (%0)" : : "r"(va) : "memory"); }

inline constexpr u32 MSR_EFER = 0xc0000080;
inline constexpr u32 MSR_APIC_BASE = 0x1b;
inline constexpr u32 MSR_TSC_DEADLINE = 0x6e0;
inline constexpr u32 MSR_PAT = 0x277;
inline constexpr u32 MSR_FS_BASE = 0xc0000100;
inline constexpr u32 MSR_GS_BASE = 0xc0000101;
inline constexpr u32 MSR_KERNEL_GS_BASE = 0xc0000102;
inline constexpr u64 EFER_SCE = 1u << 0, EFER_LME = 1u << 8, EFER_NXE = 1u << 11;
inline constexpr u64 CR0_WP = 1u << 16;
inline constexpr u64 CR4_PGE = 1u << 7, CR4_OSFXSR = 1u << 9, CR4_SMEP = 1u << 20, CR4_SMAP = 1u << 21;
inline constexpr u64 CR4_OSXMMEXCPT = 1u << 10;
inline constexpr u64 CR0_MP = 1u << 1, CR0_EM = 1u << 2, CR0_NE = 1u << 5;

}  // namespace pv::arch
