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
u64 g_m2p_chunks = 0;
u64 g_m2p_l3 = 0;
constexpr unsigned M2P_CHUNK_ORDER = 9;
constexpr u64 M2P_CHUNK = PAGE_SIZE << M2P_CHUNK_ORDER;
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
    // In 2 MiB pieces of contiguous, aligned frames, as Xen builds it: XENMEM_machphys_mfn_list
    // hands out each piece's first frame and tools map the table through them.
    u64 bytes = align_up(max_mfn * sizeof(u64), M2P_CHUNK);
    if (bytes > MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) panic("M2P: too much memory for the M2P area");
    g_m2p_chunks = bytes / M2P_CHUNK;
    g_m2p_l3 = zeroed_page();
    u64* l3 = paging::table_virt(g_m2p_l3);
    for (u64 c = 0; c < g_m2p_chunks; ++c) {
        u64 va = MACH2PHYS_VIRT_START + c * M2P_CHUNK;
        unsigned i3 = static_cast<unsigned>((va >> 30) & 511), i2 = static_cast<unsigned>((va >> 21) & 511);
        if (!(l3[i3] & paging::PTE_P)) l3[i3] = zeroed_page() | M2P_TABLE;
        u64* l2 = paging::table_virt(l3[i3] & paging::PTE_ADDR);
        u64 l1_pa = zeroed_page();
        u64* l1 = paging::table_virt(l1_pa);
        l2[i2] = l1_pa | M2P_TABLE;
        void* chunk = mm::alloc_pages(M2P_CHUNK_ORDER);
        if (!chunk) panic("M2P: out of memory");
        mem_set(chunk, 0xff, M2P_CHUNK);  // INVALID_M2P_ENTRY for every frame no guest owns
        // 4 KiB leaves (the hypervisor's tables use no large pages outside the direct map).
        for (unsigned i1 = 0; i1 < 512; ++i1) l1[i1] = (virt_to_phys(chunk) + i1 * PAGE_SIZE) | M2P_LEAF;
    }
    pv_info("M2P: %lu entries, %lu KiB at %#lx\n", max_mfn, bytes / KiB, MACH2PHYS_VIRT_START);
}

u64 m2p_nr_chunks() { return g_m2p_chunks; }

u64 m2p_chunk_mfn(u64 index) {
    if (index >= g_m2p_chunks) return 0;
    u64 va = MACH2PHYS_VIRT_START + index * M2P_CHUNK;
    const u64* l3 = paging::table_virt(g_m2p_l3);
    const u64* l2 = paging::table_virt(l3[(va >> 30) & 511] & paging::PTE_ADDR);
    const u64* l1 = paging::table_virt(l2[(va >> 21) & 511] & paging::PTE_ADDR);
    return (l1[0] & paging::PTE_ADDR) >> PAGE_SHIFT;
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
