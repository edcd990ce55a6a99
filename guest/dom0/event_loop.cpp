#include "guest/dom0/event_loop.hpp"

#include "guest/lib/time.hpp"

namespace dom0 {

bool EventLoop::add(u32 port, EventHandler* h) {
    if (count_ == xb::POLL_MAX_PORTS) return false;
    entries_[count_++] = {port, h, false};
    return true;
}

void EventLoop::remove(u32 port) {
    for (unsigned i = 0; i < count_; ++i) {
        if (entries_[i].port != port) continue;
        entries_[i] = entries_[--count_];
        return;
    }
}

u64 EventLoop::now_ns() const { return vcpu_system_time_ns(shared_->vcpu_info[0].time); }

unsigned EventLoop::dispatch() {
    // A handler may add or remove ports: work from a copy, and skip ports gone meanwhile.
    Entry snapshot[xb::POLL_MAX_PORTS];
    const unsigned n = count_;
    for (unsigned i = 0; i < n; ++i) snapshot[i] = entries_[i];
    unsigned fired = 0;
    for (unsigned i = 0; i < n; ++i) {
        const bool pending = xb::test_and_clear_pending(shared_, snapshot[i].port);
        if (!pending && !snapshot[i].again) continue;
        Entry* e = nullptr;
        for (unsigned k = 0; k < count_ && !e; ++k)
            if (entries_[k].port == snapshot[i].port && entries_[k].handler == snapshot[i].handler) e = &entries_[k];
        if (!e) continue;
        e->again = false;
        const bool again = snapshot[i].handler->on_event(snapshot[i].port);
        // The handler may have changed the table: find the entry again.
        for (unsigned k = 0; k < count_; ++k)
            if (entries_[k].port == snapshot[i].port && entries_[k].handler == snapshot[i].handler)
                entries_[k].again = again;
        ++fired;
    }
    return fired;
}

unsigned EventLoop::run_once(u64 deadline_ns) {
    if (unsigned fired = dispatch()) return fired;
    if (deadline_ns && now_ns() >= deadline_ns) return 0;
    u32 ports[xb::POLL_MAX_PORTS];
    for (unsigned i = 0; i < count_; ++i) ports[i] = entries_[i].port;
    (void)xb::poll(ports, count_, deadline_ns);
    return dispatch();
}

}  // namespace dom0
