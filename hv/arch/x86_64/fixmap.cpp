#include <arch/cpu.hpp>
#include <arch/fixmap.hpp>
#include <arch/layout.hpp>
#include <arch/paging.hpp>

#include "core/panic.hpp"

namespace pv::arch::fixmap {

void* map_mmio(Slot slot, u64 phys) {
    u64 va = FIXMAP_VIRT_START + u64{slot} * PAGE_SIZE;
    u64 page = align_down(phys, PAGE_SIZE);
    auto r = paging::hv_tables().map(va, page, PAGE_SIZE, paging::MAP_MMIO);
    if (!r) panic("fixmap: cannot map MMIO page %#lx (%s)", page, errno_name(r.error()));
    invlpg(reinterpret_cast<void*>(va));
    return reinterpret_cast<void*>(va + (phys - page));
}

}  // namespace pv::arch::fixmap
