// The format-independent half of the PV64 domain builder: where everything goes in a new
// domain's pseudo-physical space, and what goes there.  No hypercalls here: frames are written
// through a FrameMapper, so the unit tests (tests/unit/builder_test.cpp) run this on the host
// against frames in memory, and dom0test runs it against foreign mappings.
//
// The layout is libxenguest's for a 64-bit PV domU (tools/libs/guest/xg_dom_core.c
// xc_dom_build_image, xg_dom_x86.c), which guests depend on: Linux finds its page tables by
// walking from pt_base in the order built here, and expects 512 KiB of mapped slack after them.
// From VIRT_BASE (pfn 0) upwards, each piece page aligned and zeroed:
//
//   [padding up to the kernel's first byte, if the kernel does not start at VIRT_BASE]
//   kernel         the ELF's PT_LOAD extent [virt_kstart, virt_kend)
//   ramdisk        (unless MOD_START_PFN: then it goes after the bootstrap region, below)
//   p2m list       nr_pages 8-byte MFNs (INIT_P2M is not supported: see BuildConfig)
//   start_info     one page
//   xenstore       one page (store_mfn; no xenstored here, but the page exists as for any domU)
//   console        one page (console.domU.mfn: a struct xencons_interface ring)
//   page tables    [L4][L3...][L2...][L1...], enough to map up to virt_pgtab_end
//   boot stack     one page; RSP starts at its top
//   padding        up to virt_pgtab_end: the 4 MiB boundary at or above the stack + 512 KiB
//   ramdisk        (MOD_START_PFN guests only: unmapped, mod_start is then its pfn)
//
// The page tables map [VIRT_BASE, virt_pgtab_end) onto pfns 0.. with P|RW|A (the page-table
// frames themselves read-only); upper levels are P|RW|A|D|U.
#pragma once
#include "guest/lib/builder/xen_tools.hpp"
#include "core/elf.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pvb {

using namespace pv;  // NOLINT: the builder is written in pvisor's support-library vocabulary

// A [first, first + count) run of pseudo-physical frames, and its virtual address.
struct Segment {
    u64 pfn = 0;
    u64 pages = 0;
    u64 vstart = 0;
    u64 end_pfn() const { return pfn + pages; }
};

// One level of the initial page tables: `count` consecutive table frames from `pfn`, together
// covering the virtual range [from, to] (inclusive, in 48-bit masked form as libxenguest keeps it).
struct PtLevel {
    u64 from = 0;
    u64 to = 0;
    u64 pfn = 0;
    u64 count = 0;
};

struct DomainLayout {
    u64 virt_base = 0;
    u64 nr_pages = 0;
    Segment kernel;
    Segment ramdisk;  // pages == 0: none
    bool ramdisk_unmapped = false;
    Segment p2m;
    u64 start_info_pfn = 0;
    u64 xenstore_pfn = 0;
    u64 console_pfn = 0;
    Segment pgtables;
    PtLevel levels[4];  // [0] = L1 ... [3] = L4
    u64 bootstack_pfn = 0;
    u64 virt_pgtab_end = 0;  // end of the bootstrap mapping (exclusive)
    u64 alloc_end_pfn = 0;   // first pfn the builder did not allocate (padding and unmapped ramdisk included)

    u64 va(u64 pfn) const { return virt_base + (pfn << PAGE_SHIFT); }
    u64 stack_top() const { return va(bootstack_pfn + 1); }
};

// What to build, beyond the kernel image.
struct LayoutInput {
    u64 virt_base = 0;
    u64 virt_kstart = 0;  // XenGuestParams::virt_kstart/virt_kend
    u64 virt_kend = 0;
    u64 nr_pages = 0;
    u64 ramdisk_size = 0;
    bool unmapped_ramdisk = false;  // the MOD_START_PFN note
};

// Computes the layout, as xc_dom_build_image and alloc_pgtables_pv do.  EINVAL when the image is
// malformed for a layout (kernel below VIRT_BASE, unaligned), ENOMEM when nr_pages cannot hold
// it, each with a message in `diags`.
Result<DomainLayout> compute_layout(const LayoutInput& in, Diagnostics& diags);

// Access to the new domain's frames.  map() returns a writable view of one frame that stays
// valid until the next map() call (implementations may keep more, callers must not rely on it),
// or nullptr after reporting why in the Diagnostics they were given.
class FrameMapper {
public:
    virtual u8* map(u64 mfn) = 0;

protected:
    ~FrameMapper() = default;
};

// The builder's view of a domain under construction: its layout, its p2m (pfn -> mfn) and the
// frames, written through the mapper.
struct DomainImage {
    const DomainLayout& layout;
    const u64* p2m;  // layout.nr_pages entries
    FrameMapper& mapper;
    Diagnostics& diags;

    Result<u8*> map_pfn(u64 pfn);
    // Zeroes every page of the segments libxenguest zeroes when it allocates them: all of
    // [0, first pfn after the boot stack), and the unmapped ramdisk.
    Result<void> clear_allocated();
    // Copies `len` bytes to the domain's pseudo-physical address `pa` (within nr_pages).
    Result<void> write_phys(u64 pa, const u8* src, u64 len);
};

// Loads the kernel's segments at their place in the layout (via pv::elf_load).
Result<void> load_kernel(DomainImage& img, const ElfInfo& elf, const XenGuestParams& params);
// Copies the ramdisk into its segment.
Result<void> load_ramdisk(DomainImage& img, const u8* data, u64 size);
// Writes the p2m list (the whole p2m; 8 bytes per pfn) into its segment.
Result<void> write_p2m(DomainImage& img);
// Fills the page-table frames: setup_pgtables_pv for one mapping of four levels.
Result<void> build_page_tables(DomainImage& img);

// The start_info page of a domU as libxenguest fills it (start_info_x86_64).
struct StartInfoInput {
    const char* cmdline = "";
    u64 shared_info_mfn = 0;
    u32 store_evtchn = 0;
    u32 console_evtchn = 0;
};
void fill_start_info(start_info_t& si, const DomainLayout& layout, const u64* p2m,
                     const StartInfoInput& in);

// vCPU 0's initial context (vcpu_x86_64): entry, boot stack, start_info in RSI, flat kernel
// segments, the L4 in CR3, kernel mode, online.
void fill_vcpu_context(vcpu_guest_context_t& ctx, const DomainLayout& layout, const u64* p2m,
                       u64 entry);

// Page-table entry bits used by the builder (the architecture's, as libxenguest names them).
inline constexpr u64 PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_US = 1u << 2, PTE_A = 1u << 5,
                     PTE_D = 1u << 6;
inline constexpr u64 PTE_ADDR = 0x000ffffffffff000ull;
inline constexpr u64 L1_PROT = PTE_P | PTE_RW | PTE_A;
inline constexpr u64 UPPER_PROT = PTE_P | PTE_RW | PTE_A | PTE_D | PTE_US;

}  // namespace pvb
