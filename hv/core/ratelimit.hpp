// A token bucket for log messages a guest can provoke at will (a refused page-table update, a
// bad hypercall): a burst passes, then at most `per_second` a second, and what was dropped is
// counted and reported with the next message that passes — so a hostile guest cannot flood the
// console, and nothing is silently lost.  The clock is the caller's (nanoseconds), which keeps
// this testable on the host.
#pragma once
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

namespace pv {

class RateLimit {
public:
    constexpr RateLimit(u32 burst, u32 per_second) : burst_(burst), per_second_(per_second) {}

    // True when a message may be printed at time now_ns; *dropped_before gets the number of
    // messages suppressed since the last one that passed.
    bool allow(u64 now_ns, u64* dropped_before) {
        SpinGuard g(lock_);
        if (!started_) {
            started_ = true;
            tokens_ = burst_;
            last_ns_ = now_ns;
        }
        if (now_ns > last_ns_) {
            u64 gained = (now_ns - last_ns_) * per_second_ / 1'000'000'000ull;
            if (gained) {
                tokens_ = static_cast<u32>(min<u64>(burst_, tokens_ + gained));
                last_ns_ = now_ns;
            }
        }
        if (tokens_ == 0) {
            ++dropped_;
            return false;
        }
        --tokens_;
        *dropped_before = dropped_;
        dropped_ = 0;
        return true;
    }

private:
    Spinlock lock_;
    u32 burst_, per_second_;
    u32 tokens_ = 0;
    bool started_ = false;
    u64 last_ns_ = 0;
    u64 dropped_ = 0;
};

}  // namespace pv
