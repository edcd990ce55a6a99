// Domain 0's main loop: every service registers the event-channel ports it serves, and the loop
// sleeps in SCHEDOP_block until any of them fires, then hands each port found pending to its
// handler.  Nothing spins: between events domain 0 is blocked in the hypervisor, and a deadline
// (a single-shot timer, VIRQ_TIMER) bounds the sleep for callers that also wait for time.
//
// Events are delivered as Xen delivers them to any PV kernel: a port going pending sets its
// selector bit in vcpu_info and, if that bit was clear, evtchn_upcall_pending, which wakes a
// blocked vCPU and enters its event callback once events are unmasked (SCHEDOP_block unmasks
// them).  The callback (upcall.S) only returns with events masked again; the loop itself
// acknowledges (clears upcall_pending and the selector) and then scans the pending words for its
// ports.  So an event that comes after the scan re-arms upcall_pending, and SCHEDOP_block returns
// at once: no wake-up is lost.  Unlike SCHEDOP_poll, which takes at most 128 ports, this serves
// every port of the 2-level ABI (4096 on 64-bit), two a domU (store and console).
//
// A handler serves a bounded amount per call and asks to be called again for the rest; the loop
// then goes round every pending port before it comes back, and does not sleep meanwhile.
#pragma once
#include "guest/lib/builder/xen_tools.hpp"  // first: dom0 sees the tools-only headers too

#include "guest/lib/xenbus/events.hpp"

namespace dom0 {

using namespace pvg;  // NOLINT

class EventHandler {
public:
    // Serves the port; true when work was left for later (a budget ran out), so the loop
    // calls again before it sleeps: one busy domain cannot starve the others.
    virtual bool on_event(u32 port) = 0;
protected:
    ~EventHandler() = default;
};

class EventLoop {
public:
    // The ports of the 2-level event-channel ABI.
    static constexpr u32 MAX_PORTS = sizeof(xen_ulong_t) * 8 * sizeof(xen_ulong_t) * 8;

    // Registers the event callback, binds VIRQ_TIMER for deadlines and stops the periodic
    // timer (whose ticks would wake us for nothing).  false on failure.
    bool init(volatile shared_info_t* s);
    volatile shared_info_t* shared() const { return shared_; }

    // false for a port out of range or already served.
    bool add(u32 port, EventHandler* h);
    void remove(u32 port);

    // Dispatches the pending ports; if there were none, first sleeps until one fires or system
    // time reaches deadline_ns (0: no deadline).  Returns how many ports were dispatched.
    unsigned run_once(u64 deadline_ns);

    u64 now_ns() const;

private:
    static constexpr u32 BITS = sizeof(xen_ulong_t) * 8;
    static constexpr u32 WORDS = MAX_PORTS / BITS;

    unsigned dispatch();
    void sleep(u64 deadline_ns);

    volatile shared_info_t* shared_ = nullptr;
    u32 timer_port_ = 0;
    EventHandler* handlers_[MAX_PORTS] = {};
    xen_ulong_t served_[WORDS] = {};  // ports with a handler
    xen_ulong_t again_[WORDS] = {};   // ports whose handler left work
};

}  // namespace dom0
