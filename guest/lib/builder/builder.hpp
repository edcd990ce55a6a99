// The PV64 domain builder of a control domain: creates a domain and lays a kernel out in it as
// Xen's toolstack (libxl + libxenguest) does, then lets it run, waits for it and destroys it.
//
// The sequence, with the hypercall each step makes (tools/libs/guest/xg_dom_boot.c and
// xg_dom_x86.c, tools/libs/light/libxl_dom.c):
//   1. unpack a bzImage kernel into cfg.unpack_buf (hv/core/bzimage.cpp), parse the ELF and its
//      Xen notes (hv/core/elf.cpp, shared with the hypervisor's dom0 builder) and compute the
//      layout (layout.hpp);
//   2. XEN_DOMCTL_createdomain (PV: no CDF flags; max_vcpus vCPUs, 1023 event channels, 64 grant
//      frames, the config's maptrack frames, grant table v1), XEN_DOMCTL_max_vcpus,
//      XEN_DOMCTL_set_address_size 64, XEN_DOMCTL_max_mem (memory + 1 MiB of slack: Xen 4.17's
//      libxl__build_pre sets max_pages from the target, not from maxmem), XENMEM_set_memory_map
//      (one RAM entry from 0 to maxmem: libxl's xc_domain_set_memmap_limit);
//   3. XENMEM_populate_physmap: nr_pages 4 KiB extents; Xen writes each one's MFN back (a PV
//      domain's p2m is the builder's business);
//   4. through foreign mappings (foreign.hpp): zero the allocated pages, load the kernel and
//      ramdisk, write the p2m list and the page tables;
//   5. EVTCHNOP_alloc_unbound twice (xenstore and console ports, remote end dom0), and the
//      grant table seeded with the console and xenstore pages for dom0 (GNTTAB_RESERVED_*);
//   6. XEN_DOMCTL_getdomaininfo for the shared_info frame, then start_info;
//   7. XEN_DOMCTL_hypercall_init (if the kernel has a HYPERCALL_PAGE note);
//   8. drop every foreign mapping, MMUEXT_PIN_L4_TABLE with foreigndom = the new domain;
//   9. shared_info: zeroed, every vcpu_info's upcall mask set;
//  10. XEN_DOMCTL_setvcpucontext for vCPU 0.  The other vCPUs stay down without a context: a PV
//      guest brings them up itself (VCPUOP_initialise, VCPUOP_up), as Linux's smp_pv.c does.
// The domain is left paused; unpause() starts it.  On any failure the domain is destroyed and
// `diags` holds the reason, naming the hypercall and errno.
#pragma once
#include "guest/lib/builder/layout.hpp"

namespace pvb {

struct BuildConfig {
    const u8* kernel = nullptr;  // an ELF, or a bzImage (hv/core/bzimage.hpp)
    usize kernel_size = 0;
    // Where a bzImage's compressed payload is decompressed: it must hold the whole ELF (the size
    // the bzImage declares; Debian's 6.1 vmlinux is 63 MiB).  Unused for an ELF kernel.
    u8* unpack_buf = nullptr;
    usize unpack_size = 0;
    const char* cmdline = "";
    const u8* ramdisk = nullptr;  // optional
    usize ramdisk_size = 0;
    u64 memory = 0;  // bytes, a multiple of 4 KiB
    u64 maxmem = 0;  // bytes: the end of its memory map, what it may balloon up to (0: memory)
    u32 max_vcpus = 1;  // createdomain's max_vcpus (at least 1; the hypervisor bounds it)
    // The p2m (pfn -> mfn) of the domain under construction, one entry a page: the builder's own
    // table serves domains up to STATIC_P2M_PAGES; larger ones need the caller's (8 bytes a page).
    u64* p2m = nullptr;
    u64 p2m_entries = 0;
    i32 max_maptrack_frames = 0;  // frames of grant mappings the domain may hold (0: none)
    // The control domain's own bootstrap region, for its foreign-mapping window.
    u64 self_pt_base = 0;
    u64 self_virt_base = 0;
};

// The largest domain the builder's own p2m table holds (BuildConfig::p2m for larger ones).
inline constexpr u64 STATIC_P2M_PAGES = 64 * MiB / PAGE_SIZE;

struct BuiltDomain {
    domid_t domid = DOMID_INVALID;
    DomainLayout layout;
    u64 shared_info_mfn = 0;
    u32 store_evtchn = 0;
    u32 console_evtchn = 0;
    u64 console_mfn = 0;
    u64 store_mfn = 0;  // start_info.store_mfn: the xenstore ring page
    u64 entry = 0;     // vCPU 0's entry point (user_regs.rip)
    u64 l4_mfn = 0;    // its top-level page table (ctrlreg[3] = xen_pfn_to_cr3(l4_mfn))
};

Result<void> build_domain(const BuildConfig& cfg, BuiltDomain& out, Diagnostics& diags);

Result<void> unpause(domid_t dom, Diagnostics& diags);

// Polls getdomaininfo, yielding the CPU between polls, until the domain has shut down (every
// vCPU stopped: XEN_DOMINF_shutdown), and returns its shutdown code (the SHUTDOWN_* reason, or
// the code the guest set first with SCHEDOP_shutdown_code).  ETIMEDOUT after max_polls.
Result<unsigned> wait_for_shutdown(domid_t dom, u64 max_polls, Diagnostics& diags);

// XEN_DOMCTL_destroydomain, then polls until the domain is gone from getdomaininfo.
Result<void> destroy(domid_t dom, u64 max_polls, Diagnostics& diags);

// Copies what the guest wrote to its console ring (struct xencons_interface `out`, from
// out_cons to out_prod) into buf as a NUL-terminated string; returns its length.
Result<usize> read_console(const BuiltDomain& d, const BuildConfig& cfg, char* buf, usize size,
                           Diagnostics& diags);

// "poweroff", "reboot", ... for a SHUTDOWN_* code; nullptr for others.
const char* shutdown_name(unsigned code);

}  // namespace pvb
