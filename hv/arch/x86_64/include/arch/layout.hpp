// pvisor's virtual memory layout.  Everything the hypervisor maps lives inside the range Xen
// reserves for itself in every 64-bit PV guest's address space (L4 slots 256-271,
// HYPERVISOR_VIRT_START..END in xen/arch-x86/xen-x86_64.h), so guests keep slots 0-255 and
// 272-511 as they do on Xen.  The addresses follow Xen's where Xen has the same region.
//
//   0xffff800000000000  read-only machine-to-phys table (M2P), for guests       (slot 256)
//   0xffff82c000000000  per-CPU stack blocks, each with a guard page             (slot 261)
//   0xffff82c480000000  per-CPU GDT+LDT windows, 16+16 pages (Xen's GDT layout)   (slot 261)
//   0xffff82d000000000  fixmap: device MMIO (local APIC, I/O APIC, HPET)         (slot 261)
//   0xffff82d020000000  per-CPU SYSCALL entry stubs, one page each, R+X           (slot 261)
//   0xffff82d040000000  the hypervisor image: VA = IMAGE_VIRT_BASE + physical    (slot 261)
//   0xffff82e000000000  frame table: PageInfo[mfn]                               (slot 261)
//   0xffff830000000000  direct map of all RAM (and nothing else)                 (slots 262-271)
#pragma once
#include "core/xen_abi.hpp"

#include "lib/types.hpp"

namespace pv::arch {

inline constexpr u64 HV_VIRT_START = HYPERVISOR_VIRT_START;
inline constexpr u64 HV_VIRT_END = HYPERVISOR_VIRT_END;
inline constexpr u64 STACKS_VIRT_START = 0xffff82c000000000;
inline constexpr u64 GDT_VIRT_START = 0xffff82c480000000;
inline constexpr u64 FIXMAP_VIRT_START = 0xffff82d000000000;
inline constexpr u64 STUBS_VIRT_START = 0xffff82d020000000;
inline constexpr u64 IMAGE_VIRT_BASE = 0xffff82d040000000;
inline constexpr u64 IMAGE_PHYS_START = 0x100000;  // pvisor.ld: where the loader puts the image
inline constexpr u64 FRAMETABLE_VIRT_START = 0xffff82e000000000;
inline constexpr u64 DIRECTMAP_VIRT_START = 0xffff830000000000;
inline constexpr u64 DIRECTMAP_SIZE = HV_VIRT_END - DIRECTMAP_VIRT_START;

static_assert(HV_VIRT_START == 0xffff800000000000 && HV_VIRT_END == 0xffff880000000000);
static_assert(DIRECTMAP_VIRT_START > FRAMETABLE_VIRT_START && IMAGE_VIRT_BASE > FIXMAP_VIRT_START);

// Per-CPU stack block: 32 KiB, naturally aligned, so the CPU's own data is found from RSP alone
// (as Xen's get_cpu_info()), from any stack including the IST ones.
//   page 0     guard (not mapped)
//   pages 1-4  the CPU's main stack
//   page 5     #DF IST stack      page 6  NMI IST stack      page 7  #MC IST stack + CpuInfo
inline constexpr u64 STACK_BLOCK_SIZE = 32 * KiB;
inline constexpr u64 STACK_BLOCK_PAGES = STACK_BLOCK_SIZE / PAGE_SIZE;

inline void* phys_to_virt(u64 pa) { return reinterpret_cast<void*>(DIRECTMAP_VIRT_START + pa); }
inline u64 virt_to_phys(const void* va) {
    auto v = reinterpret_cast<u64>(va);
    return v >= IMAGE_VIRT_BASE && v < FRAMETABLE_VIRT_START ? v - IMAGE_VIRT_BASE : v - DIRECTMAP_VIRT_START;
}

}  // namespace pv::arch
