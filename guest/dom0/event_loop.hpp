// Domain 0's main loop: every service registers the event-channel ports it serves, and the loop
// sleeps in SCHEDOP_poll on all of them at once (domain 0 takes no upcalls: events.hpp), then
// hands each port found pending to its handler.  Nothing spins: between events domain 0 is
// blocked in the hypervisor, and a timeout bounds the sleep for callers that also wait for time.
//
// A handler serves a bounded amount per call and asks to be called again for the rest; the loop
// then goes round every pending port before it comes back, and does not sleep meanwhile.
//
// SCHEDOP_poll takes at most 128 ports, so the loop serves at most 128 (two a domU: store and
// console, plus VIRQ_DOM_EXC); beyond that domain 0 would have to move to upcalls.
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
    void init(volatile shared_info_t* s) { shared_ = s; }
    volatile shared_info_t* shared() const { return shared_; }

    // false when every slot is taken.
    bool add(u32 port, EventHandler* h);
    void remove(u32 port);

    // Dispatches the pending ports; if there were none, first sleeps until one fires or system
    // time reaches deadline_ns (0: no deadline).  Returns how many ports were dispatched.
    unsigned run_once(u64 deadline_ns);

    u64 now_ns() const;

private:
    unsigned dispatch();

    struct Entry {
        u32 port;
        EventHandler* handler;
        bool again;  // its handler left work
    };
    volatile shared_info_t* shared_ = nullptr;
    Entry entries_[xb::POLL_MAX_PORTS] = {};
    unsigned count_ = 0;
};

}  // namespace dom0
