// The rules for page-table entries a 64-bit PV guest writes, as Xen 4.17 applies them: which bits
// a present entry of each level may carry, which changes to an entry need no revalidation, and how
// an entry is rewritten before the hardware uses it.  Pure functions of the entry value; the type
// engine (core/page_types.hpp) applies them and takes the references entries hold.
//
// The bit names are the architectural x86-64 ones (Intel SDM vol. 3, 4.5); Xen's public headers do
// not carry them.  Bit 7 is PAT in an L1 entry and PS (superpage) above it.
#pragma once
#include "lib/types.hpp"

namespace pv::pte {

inline constexpr unsigned ENTRIES = 512;  // per table, of 8 bytes

inline constexpr u64 P = u64{1} << 0;
inline constexpr u64 RW = u64{1} << 1;
inline constexpr u64 US = u64{1} << 2;
inline constexpr u64 PWT = u64{1} << 3;
inline constexpr u64 PCD = u64{1} << 4;
inline constexpr u64 A = u64{1} << 5;
inline constexpr u64 D = u64{1} << 6;
inline constexpr u64 PAT = u64{1} << 7;  // L1
inline constexpr u64 PS = u64{1} << 7;   // L2..L4: superpage
inline constexpr u64 G = u64{1} << 8;
inline constexpr u64 AVAIL = u64{7} << 9;              // bits 9-11, ignored by the CPU
inline constexpr u64 ADDR = 0x000ffffffffff000ull;     // bits 12-51: the frame
inline constexpr u64 AVAIL_HIGH = u64{0x7ff} << 52;    // bits 52-62, ignored by the CPU (PKE off)
inline constexpr u64 GUEST_KERNEL = u64{1} << 52;      // Xen's marker for guest-kernel L1 entries
inline constexpr u64 GNTTAB = u64{1} << 62;            // reserved for grant mappings
inline constexpr u64 NX = u64{1} << 63;
inline constexpr u64 CACHE_ATTRS = PWT | PCD | PAT;    // an L1 entry's PAT index

// L4 slots 256-271 map the hypervisor (public/arch-x86/xen-x86_64.h: HYPERVISOR_VIRT_START/END).
inline constexpr unsigned FIRST_HYPERVISOR_L4_SLOT = 256;
inline constexpr unsigned LAST_HYPERVISOR_L4_SLOT = 271;

constexpr bool present(u64 e) { return e & P; }
constexpr u64 mfn(u64 e) { return (e & ADDR) >> 12; }
constexpr u64 make(u64 mfn, u64 flags) { return (mfn << 12 & ADDR) | flags; }
constexpr bool is_hypervisor_l4_slot(unsigned i) {
    return i >= FIRST_HYPERVISOR_L4_SLOT && i <= LAST_HYPERVISOR_L4_SLOT;
}
// Whether slot i of a table of this level belongs to the guest (is validated, may be updated).
constexpr bool is_guest_slot(unsigned level, unsigned i) {
    return level != 4 || !is_hypervisor_l4_slot(i);
}

// The flag bits a present entry of a table of `level` (1-4) must not carry.  L1: anything but
// P, RW, US, A, D, G, the available bits 9-11 and 52-61, NX; bit 62 is kept for grant mappings,
// and PWT/PCD/PAT are allowed only to a domain with I/O capabilities (cache_attrs_ok).  L2-L4: no
// superpages, no G, no cache attributes.
u64 disallowed(unsigned level, bool cache_attrs_ok);
// Whether an update from old to new changes nothing but bits that neither translation nor the
// hypervisor's safety depend on (NX, US, G, A, D, available bits): then no references move and no
// revalidation is needed (Xen's FASTPATH_FLAG_WHITELIST).  A not-present old entry never qualifies.
bool fast_path(u64 old_e, u64 new_e);
// The form a present entry takes in a 64-bit PV guest's tables, whose kernel runs in ring 3: every
// level gets US; an L1 entry without US (a kernel mapping) is marked GUEST_KERNEL, one with US
// (user) gets G, as Xen's adjust_guest_l*e; an L4 entry also gets A.
u64 adjust_for_guest(unsigned level, u64 e);
// An L1 entry mapping MMIO must not be cacheable: write-back, write-through and write-protect
// become uncacheable (Xen's default, mmio-relax off).  Assumes Xen's PAT layout (XEN_MSR_PAT).
u64 mmio_uncacheable(u64 e);

}  // namespace pv::pte
