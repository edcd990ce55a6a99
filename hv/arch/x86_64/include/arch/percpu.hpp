// Per-CPU state.  Each physical CPU runs on its own 32 KiB stack block (layout.hpp) whose top
// holds a CpuInfo, so "which CPU am I" is one AND of RSP — valid on every stack, including the
// IST stacks of #DF/NMI/#MC, and without trusting the GS base (which guests will own).
#pragma once
#include <arch/layout.hpp>

#include "lib/types.hpp"

namespace pv::arch {

inline constexpr unsigned MAX_CPUS = 64;

struct PerCpu;

struct CpuInfo {
    u32 cpu_id;
    u32 apic_id;
    PerCpu* percpu;
    u64 reserved[2];
};
static_assert(sizeof(CpuInfo) % 16 == 0, "stack tops must stay 16-byte aligned");

inline CpuInfo* cpu_info() {
    u64 rsp;
    asm("mov %%rsp, %0" : "=r"(rsp));
    return reinterpret_cast<CpuInfo*>((rsp & ~(STACK_BLOCK_SIZE - 1)) + STACK_BLOCK_SIZE - sizeof(CpuInfo));
}
inline unsigned this_cpu_id() { return cpu_info()->cpu_id; }

// A stack block's pieces, by offset from its base.
inline constexpr u64 STACK_MAIN_TOP = 5 * PAGE_SIZE;
inline constexpr u64 STACK_DF_TOP = 6 * PAGE_SIZE;
inline constexpr u64 STACK_NMI_TOP = 7 * PAGE_SIZE;
inline constexpr u64 STACK_MC_TOP = 8 * PAGE_SIZE - sizeof(CpuInfo);

}  // namespace pv::arch
