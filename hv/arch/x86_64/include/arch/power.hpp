// Machine power-off and reset.  power_init() keeps the few ACPI facts these need (PM1 control
// ports, \_S5 values, the FADT reset register), so they work late, from a panic, without the
// ACPI tables still being mapped.  Both are safe to call without power_init(): power_off then
// halts, and reboot skips straight to the legacy methods.
#pragma once
#include "core/acpi.hpp"

namespace pv::arch {

void power_init(const AcpiInfo& info);
// ACPI S5 (soft-off); when that is unavailable or does not take, halts with interrupts off.
[[noreturn]] void power_off();
// Tries, in order: the FADT reset register, the 8042 keyboard controller, port 0xCF9, and a
// triple fault.
[[noreturn]] void reboot();

}  // namespace pv::arch
