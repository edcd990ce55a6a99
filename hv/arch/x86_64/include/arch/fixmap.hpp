// Fixed virtual slots for device MMIO, mapped uncached and non-executable.
#pragma once
#include "lib/types.hpp"

namespace pv::arch::fixmap {

enum Slot : unsigned { SLOT_LAPIC = 0, SLOT_HPET, SLOT_IOAPIC0, SLOT_COUNT = SLOT_IOAPIC0 + 8 };

// Maps the page containing phys at the slot; returns the virtual address of phys itself.
void* map_mmio(Slot slot, u64 phys);

}  // namespace pv::arch::fixmap
