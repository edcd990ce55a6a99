// Software timers: a Timer is a deadline (in system time, nanoseconds since boot) and a function
// to call when it passes; a TimerQueue holds the armed timers of one CPU, earliest first (Xen's
// common/timer.c, whose heap we replace by a sorted list: a CPU carries a handful of timers per
// vCPU it runs, so insertion stays short, and the earliest is always at the front).
//
// The queue is pure bookkeeping: it neither reads a clock nor touches hardware nor locks.  The
// arch side (arch/time.hpp) keeps one queue per CPU under a lock with interrupts off, calls
// pop_due() from its timer interrupt, runs each timer's function with the lock dropped (so a
// function may re-arm its own timer or others), and programs the hardware for next_deadline().
#pragma once
#include "lib/list.hpp"
#include "lib/types.hpp"

namespace pv {

class TimerQueue;
struct TimerListTag;

class Timer : public ListLink<TimerListTag> {
public:
    using Fn = void (*)(Timer& t, void* data);

    Timer() = default;
    Timer(Fn fn, void* data) : fn_(fn), data_(data) {}
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void init(Fn fn, void* data) {
        fn_ = fn;
        data_ = data;
    }
    // Armed: on a queue, waiting for its deadline.
    bool active() const { return linked(); }
    u64 expires() const { return expires_; }
    // The queue it is armed on (nullptr when not armed).
    TimerQueue* queue() const { return active() ? queue_ : nullptr; }
    void fire() {
        if (fn_) fn_(*this, data_);
    }

private:
    friend class TimerQueue;
    u64 expires_ = 0;
    Fn fn_ = nullptr;
    void* data_ = nullptr;
    TimerQueue* queue_ = nullptr;
};

class TimerQueue {
public:
    static constexpr u64 NEVER = ~u64{0};

    TimerQueue() = default;
    TimerQueue(const TimerQueue&) = delete;
    TimerQueue& operator=(const TimerQueue&) = delete;

    // Arms t (taking it off this queue first if it is armed here; it must not be armed on another
    // queue) to expire at `when`.  Timers with equal deadlines expire in the order they were set.
    // True when t is now the earliest: the hardware must be reprogrammed.
    bool set(Timer& t, u64 when);
    // Disarms t if it is armed here; true when it was the earliest (the hardware may be
    // reprogrammed later, or left to fire early and find nothing due).
    bool stop(Timer& t);
    // Takes the earliest timer whose deadline is at or before `now` off the queue; nullptr when
    // none is due.  The caller then calls fire().
    Timer* pop_due(u64 now);
    // The earliest deadline, NEVER when the queue is empty.
    u64 next_deadline() const;
    bool empty() const { return timers_.empty(); }
    usize size() const { return timers_.size(); }

private:
    mutable List<Timer, TimerListTag> timers_;  // mutable: List has no const front()
};

}  // namespace pv
