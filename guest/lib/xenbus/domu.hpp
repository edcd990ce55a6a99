// A domU's own XenStore connection and console, from what its builder put in start_info
// (store_mfn/store_evtchn, console.domU.mfn/evtchn): the pages lie in the domain's bootstrap
// region, found through the M2P.  init() maps shared_info (events.hpp) and routes the guest
// library's print() into the console ring, so a domU's output reaches domain 0's console
// backend.
#pragma once
#include "guest/lib/xenbus/cons_ring.hpp"
#include "guest/lib/xenbus/events.hpp"
#include "guest/lib/xenbus/xs_client.hpp"

namespace xb {

// A Channel over one interdomain port, sleeping in SCHEDOP_poll.
class PortChannel final : public Channel {
public:
    PortChannel() = default;
    PortChannel(volatile shared_info_t* s, u32 port) : shared_(s), port_(port) {}
    void notify() override;
    void wait() override;
    // Waits at most until system time `deadline_ns` (0: forever); true if the port fired.
    bool wait_until(u64 deadline_ns);
    u32 port() const { return port_; }

private:
    volatile shared_info_t* shared_ = nullptr;
    u32 port_ = 0;
};

class Domu {
public:
    // false when shared_info cannot be mapped or start_info names no store or console.
    bool init(const start_info_t* si);

    XsClient& store() { return *store_; }
    volatile shared_info_t* shared() const { return shared_; }
    xencons_interface* console() const { return console_; }
    // Writes to the console ring, waiting for the backend to make room.
    void console_write(const char* s, usize n);

    // Domain 0's shutdown requests, as Linux's PV guests take them: watch_shutdown() watches
    // control/shutdown; shutdown_request() goes through the queued watch events and, when the
    // node holds "poweroff" or "reboot", clears it (the acknowledgement the toolstack sees) and
    // returns that SHUTDOWN_* reason; -1 when nothing was asked.
    int watch_shutdown();
    int shutdown_request();
    // For kernels with watches of their own, taking the events themselves: the token of
    // watch_shutdown()'s events, and the reason its node holds (cleared as above), or -1.
    static constexpr char SHUTDOWN_TOKEN[] = "shutdown";
    int shutdown_reason();
    // Sleeps until the store or the console port fires (XenStore replies and watch events,
    // console input), at most until system time deadline_ns (0: no limit).
    void wait_store_or_console(u64 deadline_ns);

private:
    volatile shared_info_t* shared_ = nullptr;
    PortChannel store_ch_, cons_ch_;
    xencons_interface* console_ = nullptr;
    XsClient* store_ = nullptr;
};

}  // namespace xb
