// Descriptor tables: per-CPU GDT and TSS, the shared IDT.
//
// The GDT follows Xen's layout, because 64-bit PV guests depend on it: a guest may install up to
// 14 pages of its own descriptors (entries 0-7167), and the hypervisor's entries start at entry
// 7168, selector 0xe000.  The ring-3 flat selectors are part of the guest ABI (xen.h
// FLAT_RING3_*), and SYSCALL/SYSRET derive theirs from MSR_STAR, which forces this order.
#pragma once
#include "core/xen_abi.hpp"

#include "lib/types.hpp"

namespace pv::arch {

inline constexpr u16 GDT_FIRST_HV_ENTRY = 0xe000 >> 3;
inline constexpr u16 SEL_HV_CS = 0xe008;    // 64-bit code, DPL0
inline constexpr u16 SEL_HV_DS32 = 0xe010;  // flat data, DPL0 (SYSCALL's SS)
inline constexpr u16 SEL_HV_CS32 = 0xe018;  // 32-bit code, DPL0
inline constexpr u16 SEL_TSS = 0xe040;
inline constexpr u16 SEL_LDT = 0xe050;
static_assert(FLAT_RING3_CS32 == 0xe023 && FLAT_RING3_DS32 == 0xe02b && FLAT_RING3_CS64 == 0xe033);
inline constexpr unsigned GDT_PAGES = 16;  // guest pages 0-13, hypervisor page 14, one spare
// Each CPU's descriptor window (as Xen's per-vCPU GDT/LDT area): the 16 GDT pages, then 16 pages
// for the LDT of the vCPU running there, mapped lazily on LDT faults (core/pv_ldt.hpp).
inline constexpr unsigned LDT_PAGES = 16;
inline constexpr unsigned GDT_LDT_PAGES = GDT_PAGES + LDT_PAGES;

struct __attribute__((packed)) Tss {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
};
static_assert(sizeof(Tss) == 104);

enum IstIndex : u8 { IST_NONE = 0, IST_DF = 1, IST_NMI = 2, IST_MC = 3 };

// Early: an IDT usable with the boot GDT (code selector 0x08), before per-CPU tables exist.
void idt_init_early();
// Builds this CPU's GDT page and TSS (IST stacks from its stack block) and loads GDTR, TR and
// the final IDT.  `gdt_page` is the CPU's GDT page, `gdt_base` where the 16-page GDT window
// that contains it at page 14 is mapped (so Xen's selectors resolve).
void load_cpu_tables(u64* gdt_page, u64 gdt_base, Tss* tss, u64 stack_block);
// Points LDTR at `ents` descriptors at `base` (the CPU's LDT window) through the LDT descriptor
// at SEL_LDT in gdt_page; with ents == 0 loads the null LDT.
void load_ldt(u64* gdt_page, u64 base, unsigned ents);

}  // namespace pv::arch
