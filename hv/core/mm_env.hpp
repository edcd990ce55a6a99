// MmEnv: everything the PV MMU's reference and type engine (core/page_types.hpp) needs from the
// machine and from the domain layer, as a C++20 concept.  The hypervisor implements it with the
// frame table, the direct map, the memory map, the frame allocator and TLB shootdowns; the unit
// tests with a fake memory array that records what happened.
//
// The engine never learns about the allocator, page-table layout of the hypervisor, or domains
// beyond their Owner handle: whatever it must know or do about them goes through these calls.
#pragma once
#include <concepts>

#include "core/page_info.hpp"
#include "lib/types.hpp"

namespace pv {

template <typename E>
concept MmEnv = requires(E& env, const E& cenv, u64 mfn, Owner d) {
    // The record of machine frame mfn when it is RAM (frame-table backed); nullptr for MMIO,
    // holes and anything beyond the table.  Must not change while the frame is mapped: an L1
    // entry's references are taken and dropped according to it.  The hypervisor's own RAM frames
    // are RAM here; their count_info stays 0, which is what keeps guests away from them.
    { cenv.ram_frame(mfn) } -> std::same_as<PageInfo*>;
    // The contents of RAM frame mfn as 512 eight-byte words (the direct map in the hypervisor).
    // The engine reads and writes them with atomic accesses only.
    { cenv.table(mfn) } -> std::same_as<u64*>;
    // May domain d map the non-RAM frame mfn (Xen's iomem_access_permitted)?
    { cenv.io_mapping_permitted(d, mfn) } -> std::same_as<bool>;
    // Must mappings of the permitted non-RAM frame mfn stay read-only (Xen's mmio_ro_ranges)?  A
    // writable entry for it is stored without RW, as Xen forces it.
    { cenv.io_read_only(mfn) } -> std::same_as<bool>;
    // May d put cache attributes (PWT/PCD/PAT) in L1 entries: does it have any I/O capability?
    { cenv.cache_attrs_permitted(d) } -> std::same_as<bool>;
    // The last reference to mfn, a frame of d's, is gone: give it back to the allocator (and
    // charge it off d).  Called exactly once per assignment, from whichever CPU dropped the last
    // reference, with the record already reset (no owner, no type).  CPUs that ran d may still
    // hold stale TLB entries for it: the allocator must flush before the frame is used again, as
    // Xen's page allocator does with need_tlbflush.
    { env.free_frame(mfn, d) } -> std::same_as<void>;
    // mfn (owned by d) is about to change type.  No CPU may keep a TLB or paging-structure cache
    // entry that reaches it through its old use, or a guest could write a frame that is about
    // to become a page table, or walk through a page table that is about to become writable.
    // An implementation may skip CPUs that cannot hold such entries (Xen's TLB clock).  Not
    // called for a frame leaving type none: it was never writable nor a table since d got it.
    { env.flush_for_type_change(mfn, d) } -> std::same_as<void>;
    // An L4 owned by a guest has just validated: fill its hypervisor slots (256-271) with the
    // hypervisor's own entries, overwriting whatever the guest left there (Xen's
    // init_xen_l4_slots).  The engine never takes or drops references for those slots.
    { env.init_hypervisor_l4_slots(mfn) } -> std::same_as<void>;
};

// A machine frame and its record, as the engine passes them around: info is nullptr when the
// frame is not RAM.
struct Frame {
    u64 mfn;
    PageInfo* info;
};

}  // namespace pv
