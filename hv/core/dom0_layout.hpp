// Domain 0's initial virtual layout, as Xen 4.17's dom0 builder computes it
// (xen/arch/x86/pv/dom0_build.c, dom0_construct_pv and setup_pv_physmap; xen-pv-abi.md §1.3).
// Arch-neutral arithmetic only: the builder (arch/x86_64/pv/dom0_build.cpp) fills the frames.
//
// The bootstrap region is mapped 1:1 from VIRT_BASE onto pfns from 0, each element page
// aligned:
//
//   [kernel][initrd][p2m list][start_info + VGA info][page tables][stack] ... padding to 4 MiB
//
// With an INIT_P2M note the p2m list leaves the region (its slot there is empty, so start_info
// follows the initrd) and is mapped at the note's address instead, page by page, with page
// tables of its own.  Those frames are not part of the bootstrap allocation: Xen allocates the
// region as one power-of-two chunk (plus the initrd), so they come next, at pfn
// first_p2m_pfn = 2^order + initrd pages, in the order the walk takes them: for each p2m page,
// a new L3, L2 and L1 where the entry above is still empty, then the page itself.  Tables the
// bootstrap mapping already has (the p2m sharing a 512 GiB, 1 GiB or 2 MiB region with it) are
// reused.  Xen maps the p2m with 2 MiB/1 GiB superpages when it can allocate them; pvisor
// always takes the 4 KiB path, which is Xen's own when those allocations fail.
#pragma once
#include "core/diagnostics.hpp"
#include "core/elf.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

struct Dom0Layout {
    // All guest virtual addresses (Xen's v_start, vkern_start, ...), ends exclusive.
    u64 v_start = 0, v_end = 0;
    u64 kern_start = 0, kern_end = 0;
    u64 initrd_start = 0, initrd_end = 0;
    // The p2m list (start_info.mfn_list = p2m_start): inside the region, or at INIT_P2M.
    u64 p2m_start = 0, p2m_end = 0;
    bool p2m_separate = false;
    u64 si_start = 0, si_end = 0;  // start_info and dom0's VGA console info
    u64 pt_start = 0, pt_end = 0, nr_pt_pages = 0;
    u64 stack_start = 0, stack_end = 0;
    // Pages of the bootstrap allocation: 2^order covering the region (without a mapped initrd).
    u64 alloc_pages = 0;
    // start_info.first_p2m_pfn / nr_p2m_frames: the first pfn after the bootstrap allocation
    // and the initrd, and how many frames (p2m pages and their page tables) INIT_P2M took there.
    u64 first_p2m_pfn = 0, nr_p2m_frames = 0;

    u64 va_to_pfn(u64 va) const { return (va - v_start) >> 12; }
};

// Computes dom0's layout for a kernel xen_parse_guest accepted, an initrd of initrd_len bytes
// (mapped after the kernel) and nr_pages of memory.  Refuses, with the problem named in diags,
// what Xen refuses (an allocation too small for the region or for the separate p2m, a region
// in the hypervisor's range, a p2m overlapping or touching the bootstrap region) and a p2m that
// would leave the guest's half of the address space (Xen does not check it and writes into its
// own L4 slots).
Result<void> dom0_compute_layout(const XenGuestParams& parms, u64 initrd_len, u64 nr_pages, Dom0Layout& out,
                                 Diagnostics& diags);

// Xen's get_order_from_bytes: the smallest order with (4 KiB << order) >= bytes.
unsigned dom0_order_from_bytes(u64 bytes);

}  // namespace pv
