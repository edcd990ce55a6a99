// The legacy 8259 PICs (see i8259.cpp).
#pragma once

namespace pv::arch::pic {

// Remaps both PICs to IRQ vectors and masks every line.
void disable();

}  // namespace pv::arch::pic
