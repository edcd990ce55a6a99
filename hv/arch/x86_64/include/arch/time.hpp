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
// Sleeps with the CPU halted until the local APIC timer fires after `ns` (needs the timer set
// up on this CPU).  Unlike udelay, it lets a hyperthread sibling or, under emulation, the other
// virtual CPUs run.
void sleep_ns(u64 ns);
// Polls cond() every `step_ns`, sleeping in between, until it holds or `timeout_ns` passed.
template <typename F> bool wait_for(F cond, u64 timeout_ns, u64 step_ns = 20'000) {
    u64 end = since_boot_ns() + timeout_ns;
    while (!cond()) {
        if (since_boot_ns() >= end) return cond();
        sleep_ns(step_ns);
    }
    return true;
}
// The timer interrupt's bookkeeping (called from the timer vector).
void timer_interrupt();

}  // namespace pv::arch::time
