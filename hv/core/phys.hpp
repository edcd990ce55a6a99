// Read access to structures at machine-physical addresses handed over by firmware or the boot
// loader (Multiboot information, ACPI tables).  The hypervisor implements it with its direct map;
// unit tests implement it over a byte buffer, so parsers of untrusted boot data run on the host.
#pragma once
#include "lib/types.hpp"

namespace pv {

class PhysMemory {
public:
    // A pointer to the bytes [pa, pa + len), or nullptr when that range is not accessible
    // (outside RAM known to the mapper, or pa + len overflows).
    virtual const void* map(u64 pa, usize len) const = 0;

protected:
    ~PhysMemory() = default;
};

}  // namespace pv
