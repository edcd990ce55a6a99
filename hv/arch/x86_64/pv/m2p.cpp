// The machine-to-phys table (M2P): m2p[mfn] = the pfn the owning domain gave that frame.  One
// global table, written by the hypervisor through the direct map and mapped read-only (and
// user-accessible, since 64-bit PV kernels run in ring 3) at MACH2PHYS_VIRT_START in every PV
// guest's L4, through one L3 that all guests share.
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/panic.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

u64 g_m2p_entries = 0;
u64 g_m2p_l3 = 0;
constexpr u64 M2P_LEAF = paging::PTE_P | paging::PTE_U | paging::PTE_A | paging::PTE_NX;
constexpr u64 M2P_TABLE = paging::PTE_P | paging::PTE_U | paging::PTE_A;

u64 zeroed_page() {
    void* p = mm::alloc_pages(0);
    if (!p) panic("M2P: out of memory");
    mem_set(p, 0, PAGE_SIZE);
    return virt_to_phys(p);
}

}  // namespace

void m2p_init(u64 max_mfn) {
    g_m2p_entries = max_mfn;
    u64 bytes = align_up(max_mfn * sizeof(u64), PAGE_SIZE);
    if (bytes > MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) panic("M2P: too much memory for the M2P area");
    u64 pages = bytes / PAGE_SIZE;
    g_m2p_l3 = zeroed_page();
    u64* l3 = paging::table_virt(g_m2p_l3);
    // Frames one by one (the table need not be contiguous), 4 KiB leaves.
    for (u64 i = 0; i < pages; ++i) {
        u64 va = MACH2PHYS_VIRT_START + i * PAGE_SIZE;
        unsigned i3 = static_cast<unsigned>((va >> 30) & 511), i2 = static_cast<unsigned>((va >> 21) & 511),
                 i1 = static_cast<unsigned>((va >> 12) & 511);
        if (!(l3[i3] & paging::PTE_P)) l3[i3] = zeroed_page() | M2P_TABLE;
        u64* l2 = paging::table_virt(l3[i3] & paging::PTE_ADDR);
        if (!(l2[i2] & paging::PTE_P)) l2[i2] = zeroed_page() | M2P_TABLE;
        u64* l1 = paging::table_virt(l2[i2] & paging::PTE_ADDR);
        void* frame = mm::alloc_pages(0);
        if (!frame) panic("M2P: out of memory");
        mem_set(frame, 0xff, PAGE_SIZE);  // INVALID_M2P_ENTRY for every frame no guest owns
        l1[i1] = virt_to_phys(frame) | M2P_LEAF;
    }
    pv_info("M2P: %lu entries, %lu KiB at %#lx\n", max_mfn, bytes / KiB, MACH2PHYS_VIRT_START);
}

void m2p_set(u64 mfn, u64 pfn) {
    if (mfn >= g_m2p_entries) return;
    // Walk the M2P's own tables to the frame holding this entry.
    u64 va = MACH2PHYS_VIRT_START + mfn * sizeof(u64);
    const u64* l3 = paging::table_virt(g_m2p_l3);
    const u64* l2 = paging::table_virt(l3[(va >> 30) & 511] & paging::PTE_ADDR);
    const u64* l1 = paging::table_virt(l2[(va >> 21) & 511] & paging::PTE_ADDR);
    auto* page = reinterpret_cast<u64*>(phys_to_virt(l1[(va >> 12) & 511] & paging::PTE_ADDR));
    page[(va & (PAGE_SIZE - 1)) / sizeof(u64)] = pfn;
}

u64 m2p_l3_table() { return g_m2p_l3; }

}  // namespace pv::arch::pv
