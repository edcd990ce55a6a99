// Time: the TSC, calibrated against the PIT at boot, is the hypervisor's clock.
#pragma once
#include "lib/types.hpp"

namespace pv {
class Timer;
}

namespace pv::arch::time {

// Measures the TSC frequency against PIT channel 2; returns false when the PIT gives nonsense.
bool calibrate_tsc();
// How far `counter` advances while PIT channel 2 counts PIT_WINDOW_MS (0: the PIT never ended);
// the common ruler of the TSC's and the APIC timer's calibrations.
inline constexpr u64 PIT_WINDOW_MS = 5;
u64 pit_window_raw(u64 (*counter)());
template <typename F> u64 pit_window(F f) { return pit_window_raw(+f); }
u64 tsc_khz();
u64 tsc_to_ns(u64 ticks);
u64 ns_to_tsc(u64 ns);
// Nanoseconds since the hypervisor's entry point (boot.S takes the first TSC reading).
u64 since_boot_ns();
void udelay(u64 us);
// The time of day (seconds since the Unix epoch) at system time 0, from the CMOS RTC (read on
// first use); 0 when the RTC holds nonsense.
u64 wallclock_at_boot_s();
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
// Software timers (core/timer.hpp) on the local APIC timer.  timer_set arms t on this CPU to
// fire at system time when_ns (since_boot_ns; a past deadline fires at once), moving it from
// another CPU's queue if needed; timer_stop disarms it wherever it is.  A timer's function runs
// in the timer interrupt, with interrupts off; it may set or stop timers.
void timer_set(Timer& t, u64 when_ns);
void timer_stop(Timer& t);
// Xen's kill_timer: stopped, and its function no longer running on any CPU when this returns
// (the function must not re-arm it by then).  For a timer about to be freed.
void timer_kill(Timer& t);
// The timer vector's handler: runs the timers that are due and programs the next deadline.
void timer_interrupt();

}  // namespace pv::arch::time
