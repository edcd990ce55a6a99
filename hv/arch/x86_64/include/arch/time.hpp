// Time: the TSC, calibrated against the PIT at boot, is the hypervisor's clock.
#pragma once
#include "lib/types.hpp"

namespace pv::arch::time {

// Measures the TSC frequency against PIT channel 2; returns false when the PIT gives nonsense.
bool calibrate_tsc();
u64 tsc_khz();
u64 tsc_to_ns(u64 ticks);
u64 ns_to_tsc(u64 ns);
// Nanoseconds since the hypervisor's entry point (boot.S takes the first TSC reading).
u64 since_boot_ns();
void udelay(u64 us);

}  // namespace pv::arch::time
