// The hypervisor's memory bring-up: final page tables (W^X image, direct map, frame table),
// then the buddy allocator and the heap over the RAM that is left.
#pragma once
#include "core/buddy.hpp"
#include "core/memmap.hpp"
#include "lib/types.hpp"

namespace pv::arch::mm {

// Builds the final page tables from the boot allocator's memory and switches to them.  The map
// must already have the image, boot modules and low memory reserved; ram_end is the top of RAM
// as the firmware reported it, before those reservations (the frame table covers all of it).
void init_paging(MemoryMap& map, u64 ram_end);
// Hands every remaining RAM page to the frame allocator and starts the heap.
void init_allocators(MemoryMap& map);

FrameAllocator& frames();
// Pages of RAM in the firmware's memory map (after availmem=), whether the hypervisor, the
// allocator or a domain holds them: Xen's total_pages (sysctl physinfo).
void set_ram_pages(u64 pages);
u64 ram_pages();
// Allocates 2^order frames and returns their direct-map address (nullptr when out of memory).
void* alloc_pages(unsigned order);
void free_pages(void* p, unsigned order);

// Maps frames at a hypervisor virtual address (4 KiB pages, RW+NX) — stacks, GDT windows.
void map_hv_pages(u64 va, u64 pa, u64 npages, u64 flags);

struct Footprint {
    u64 image_bytes;      // text + data + bss of the image
    u64 pagetable_bytes;  // boot-time page-table pages
    u64 frametable_bytes;
    u64 heap_bytes;       // pages the heap holds
    u64 total_ram;
    u64 free_ram;
};
Footprint footprint();

}  // namespace pv::arch::mm
