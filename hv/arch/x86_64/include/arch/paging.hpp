// x86-64 4-level page tables as the hypervisor builds them for itself.
//
// The hypervisor's own mappings obey W^X: every leaf is either writable or executable, never
// both (text R+X, rodata R+NX, data/bss/stacks/direct map RW+NX, MMIO RW+NX+UC).  Upper-level
// entries are permissive (P|RW) and the leaf decides, so the check walks the effective rights.
#pragma once
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv::arch::paging {

inline constexpr u64 PTE_P = 1ull << 0;
inline constexpr u64 PTE_W = 1ull << 1;
inline constexpr u64 PTE_U = 1ull << 2;
inline constexpr u64 PTE_PWT = 1ull << 3;
inline constexpr u64 PTE_PCD = 1ull << 4;
inline constexpr u64 PTE_A = 1ull << 5;
inline constexpr u64 PTE_D = 1ull << 6;
inline constexpr u64 PTE_PS = 1ull << 7;
inline constexpr u64 PTE_G = 1ull << 8;
inline constexpr u64 PTE_NX = 1ull << 63;
inline constexpr u64 PTE_ADDR = 0x000ffffffffff000ull;

// Common leaf permission sets.
inline constexpr u64 MAP_TEXT = PTE_P | PTE_G;
inline constexpr u64 MAP_RO = PTE_P | PTE_G | PTE_NX;
inline constexpr u64 MAP_RW = PTE_P | PTE_W | PTE_G | PTE_NX;
inline constexpr u64 MAP_MMIO = PTE_P | PTE_W | PTE_G | PTE_NX | PTE_PCD | PTE_PWT;

// Where page-table pages get their memory: returns the physical address of a page, or 0.
using PtAllocator = u64 (*)();

// How page-table pages are reached by the CPU running this code: before the switch to the final
// tables through the boot mapping of the image window, afterwards through the direct map.
void set_table_window(u64 virt_offset);
u64* table_virt(u64 pa);

class PageTables {
public:
    void init(u64 root_pa, PtAllocator alloc) {
        root_ = root_pa;
        alloc_ = alloc;
    }
    u64 root() const { return root_; }

    // Maps [va, va+size) to [pa, pa+size) with 4 KiB pages, or 2 MiB pages where both sides are
    // aligned and `large` allows.  Fails with ENOMEM when a table page cannot be allocated and
    // EEXIST when a different mapping is already there.
    Result<void> map(u64 va, u64 pa, u64 size, u64 flags, bool large = false);
    // Removes the 4 KiB mapping of va (the page must be mapped with a 4 KiB leaf).
    void unmap_page(u64 va);
    // The leaf entry for va (0 when unmapped); *level set to 1 (4 KiB) or 2 (2 MiB).
    u64 lookup(u64 va, unsigned* level = nullptr) const;

    struct WxReport {
        u64 mappings;   // leaf entries walked
        u64 violations; // leaves both writable and executable
        u64 first_bad_va;
    };
    // Walks every present leaf and checks no page is both writable and executable.
    WxReport check_wx() const;

private:
    u64* walk(u64 va, unsigned leaf_level, bool create);
    u64 root_ = 0;
    PtAllocator alloc_ = nullptr;
};

// The hypervisor's page tables, once built.
PageTables& hv_tables();

}  // namespace pv::arch::paging
