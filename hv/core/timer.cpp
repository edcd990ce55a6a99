#include "core/timer.hpp"

namespace pv {

bool TimerQueue::set(Timer& t, u64 when) {
    if (t.active()) timers_.remove(t);
    t.expires_ = when;
    t.queue_ = this;
    for (Timer& p : timers_) {
        if (p.expires_ > when) {
            List<Timer, TimerListTag>::insert_before(p, t);
            return timers_.front() == &t;
        }
    }
    timers_.push_back(t);
    return timers_.front() == &t;
}

bool TimerQueue::stop(Timer& t) {
    if (!t.active() || t.queue_ != this) return false;
    bool was_first = timers_.front() == &t;
    timers_.remove(t);
    return was_first;
}

Timer* TimerQueue::pop_due(u64 now) {
    Timer* t = timers_.front();
    if (!t || t->expires_ > now) return nullptr;
    timers_.remove(*t);
    return t;
}

u64 TimerQueue::next_deadline() const {
    Timer* t = timers_.front();
    return t ? t->expires_ : NEVER;
}

}  // namespace pv
