#include "guest/dom0/event_loop.hpp"

#include "guest/lib/hypercall.hpp"
#include "guest/lib/time.hpp"

extern "C" void dom0_event_entry();  // upcall.S

namespace dom0 {

namespace {

// The timer's port is served by the loop itself: its firing only ends a sleep.
class Wakeup final : public EventHandler {
public:
    bool on_event(u32) override { return false; }
};
constinit Wakeup g_wakeup;

xen_ulong_t bit(u32 port) { return xen_ulong_t{1} << (port % (sizeof(xen_ulong_t) * 8)); }

}  // namespace

bool EventLoop::init(volatile shared_info_t* s) {
    shared_ = s;
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = reinterpret_cast<uptr>(&dom0_event_entry);
    if (hc::callback_op(CALLBACKOP_register, &cb) != 0) return false;
    (void)hc::vcpu_op(VCPUOP_stop_periodic_timer, 0, nullptr);
    return xb::evtchn_bind_virq(VIRQ_TIMER, &timer_port_) == 0 && add(timer_port_, &g_wakeup);
}

bool EventLoop::add(u32 port, EventHandler* h) {
    if (port >= MAX_PORTS || handlers_[port]) return false;
    handlers_[port] = h;
    served_[port / BITS] |= bit(port);
    // A port's mask bit outlives the port (Xen leaves it as the last owner set it): unmasked, so
    // that its events raise upcall_pending.
    __atomic_fetch_and(const_cast<xen_ulong_t*>(&shared_->evtchn_mask[port / BITS]), ~bit(port), __ATOMIC_SEQ_CST);
    return true;
}

void EventLoop::remove(u32 port) {
    if (port >= MAX_PORTS) return;
    handlers_[port] = nullptr;
    served_[port / BITS] &= ~bit(port);
    again_[port / BITS] &= ~bit(port);
}

u64 EventLoop::now_ns() const { return vcpu_system_time_ns(shared_->vcpu_info[0].time); }

unsigned EventLoop::dispatch() {
    // Acknowledge first, then look: an event from here on raises upcall_pending again.
    volatile vcpu_info_t& vi = shared_->vcpu_info[0];
    vi.evtchn_upcall_pending = 0;
    (void)__atomic_exchange_n(const_cast<xen_ulong_t*>(&vi.evtchn_pending_sel), 0, __ATOMIC_SEQ_CST);
    unsigned fired = 0;
    for (u32 w = 0; w < WORDS; ++w) {
        xen_ulong_t todo = (shared_->evtchn_pending[w] | again_[w]) & served_[w];
        while (todo) {
            const u32 port = w * BITS + static_cast<u32>(__builtin_ctzl(todo));
            todo &= todo - 1;
            const bool pending = xb::test_and_clear_pending(shared_, port);
            if (!pending && !(again_[w] & bit(port))) continue;
            again_[w] &= ~bit(port);
            // Earlier handlers may have removed this port (a domain released).
            if (EventHandler* h = handlers_[port]) {
                if (h->on_event(port) && handlers_[port] == h) again_[w] |= bit(port);
                ++fired;
            }
        }
    }
    return fired;
}

void EventLoop::sleep(u64 deadline_ns) {
    if (deadline_ns) {
        vcpu_set_singleshot_timer_t t{};
        t.timeout_abs_ns = deadline_ns;
        (void)hc::vcpu_op(VCPUOP_set_singleshot_timer, 0, &t);
    }
    // Unmasks events and blocks until one needs delivery; the upcall that then comes masks
    // them again on its way back (upcall.S).
    (void)hc::sched_op(SCHEDOP_block, nullptr);
    shared_->vcpu_info[0].evtchn_upcall_mask = 1;
    if (deadline_ns) (void)hc::vcpu_op(VCPUOP_stop_singleshot_timer, 0, nullptr);
}

unsigned EventLoop::run_once(u64 deadline_ns) {
    if (unsigned fired = dispatch()) return fired;
    if (deadline_ns && now_ns() >= deadline_ns) return 0;
    sleep(deadline_ns);
    return dispatch();
}

}  // namespace dom0
