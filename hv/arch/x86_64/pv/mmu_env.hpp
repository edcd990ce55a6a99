// The x86 environment of the arch-neutral PV MMU engine (core/mm_env.hpp) and of the grant
// tables (core/grant_table.hpp): the frame table, the direct map, TLB flushes, the hypervisor's
// L4 slots, the heap and the frame allocator.  One engine serves every domain (mmu.cpp).
#pragma once
#include <arch/cpu.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/pv.hpp"
#include "core/grant_table.hpp"
#include "core/heap.hpp"
#include "core/pv_mmu.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {

class X86MmEnv {
public:
    PageInfo* ram_frame(u64 mfn) const {
        // The frame table spans RAM and the holes below its top; the holes, firmware areas and
        // the first MiB are marked I/O (machine_map.cpp).  RAM frames the hypervisor never gave
        // a domain have count 0, which keeps guests away from them.
        if (mfn >= mm::frames().nr_frames()) return nullptr;
        PageInfo* pi = reinterpret_cast<PageInfo*>(FRAMETABLE_VIRT_START) + mfn;
        return pi->io ? nullptr : pi;
    }
    u64* table(u64 mfn) const { return static_cast<u64*>(phys_to_virt(mfn << PAGE_SHIFT)); }
    bool io_mapping_permitted(Owner d, u64 mfn) const {
        // Domain 0 may map device memory, except what Xen's dom0_setup_permissions keeps from
        // it and reports reserved in XENMEM_machine_memory_map (machine_map.cpp): the local
        // APIC, the I/O APICs, the MSI window, AMD's HyperTransport range.
        return d == dom0_owner() && mfn < max_io_mfn() && !machine_map_denied(mfn);
    }
    // The HPET stays read-only to domain 0, as Xen's default (ro-hpet).
    bool io_read_only(u64 mfn) const { return machine_map_read_only(mfn); }
    bool cache_attrs_permitted(Owner d) const { return d == dom0_owner(); }
    void free_frame(u64 mfn, Owner d) { memory_frame_freed(mfn, d); }
    void flush_for_type_change(u64, Owner) {
        // A domain runs on one CPU (this one) for now: a local flush reaches every TLB entry.
        write_cr3(read_cr3());
    }
    void init_hypervisor_l4_slots(u64 mfn) { fill_hypervisor_l4_slots(table(mfn)); }

    // For the grant tables: heap memory and frames to lend as table frames.
    void* alloc_zeroed(usize bytes) {
        void* p = hv_heap().alloc(bytes);
        if (p) mem_set(p, 0, bytes);
        return p;
    }
    void free_mem(void* p) { hv_heap().free(p); }
    u64 alloc_table_frame() {
        void* p = mm::alloc_pages(0);
        if (!p) return 0;
        mem_set(p, 0, PAGE_SIZE);
        return virt_to_phys(p) >> PAGE_SHIFT;
    }
    void free_table_frame(u64 mfn) { mm::free_pages(phys_to_virt(mfn << PAGE_SHIFT), 0); }

    static Owner dom0_owner() { return static_cast<Owner>(1); }
    // Frames beyond the CPU's physical address width exist nowhere (as Xen bounds dom0's I/O
    // memory by paddr_bits).
    static u64 max_io_mfn() {
        static u64 limit = 0;
        if (!limit) {
            unsigned bits = (cpuid(0x80000000).eax >= 0x80000008) ? (cpuid(0x80000008).eax & 0xff) : 36;
            limit = u64{1} << (bits - PAGE_SHIFT);
        }
        return limit;
    }
};
static_assert(GntEnv<X86MmEnv>);

X86MmEnv& mmu_env();
PvMmu<X86MmEnv>& mmu_engine();
Owner owner_of(const PvDomain& d);

}  // namespace pv::arch::pv
