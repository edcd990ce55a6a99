#include "guest/lib/xenbus/domu.hpp"

#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/time.hpp"

namespace xb {

namespace {

const unsigned long* const m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);

// The console writer print() uses: one Domu per kernel.
constinit Domu* g_self = nullptr;

void write_console(const char* s, usize n) { g_self->console_write(s, n); }

void* own_page(u64 mfn) {
    return reinterpret_cast<void*>(reinterpret_cast<uptr>(__image_start) + (u64{m2p[mfn]} << PAGE_SHIFT));
}

// How long a full console ring is given before its bytes are dropped: the backend may be gone.
constexpr u64 CONSOLE_STALL_NS = 2'000'000'000;

}  // namespace

void PortChannel::notify() { (void)evtchn_send(port_); }

void PortChannel::wait() { (void)wait_until(0); }

bool PortChannel::wait_until(u64 deadline_ns) {
    for (;;) {
        if (test_and_clear_pending(shared_, port_)) return true;
        if (deadline_ns && vcpu_system_time_ns(shared_->vcpu_info[0].time) >= deadline_ns) return false;
        (void)poll(&port_, 1, deadline_ns);
    }
}

bool Domu::init(const start_info_t* si) {
    shared_ = shared_info(si);
    if (!shared_ || !si->store_mfn || !si->console.domU.mfn) return false;
    store_ch_ = PortChannel(shared_, si->store_evtchn);
    cons_ch_ = PortChannel(shared_, si->console.domU.evtchn);
    console_ = static_cast<xencons_interface*>(own_page(si->console.domU.mfn));
    static XsClient client(static_cast<xenstore_domain_interface*>(own_page(si->store_mfn)), store_ch_);
    store_ = &client;
    g_self = this;
    set_console_writer(write_console);
    return true;
}

void Domu::console_write(const char* s, usize n) {
    u64 deadline = 0;
    while (n) {
        usize done = cons_write(console_, s, n);
        s += done;
        n -= done;
        cons_ch_.notify();
        if (!n) break;
        if (!deadline) deadline = vcpu_system_time_ns(shared_->vcpu_info[0].time) + CONSOLE_STALL_NS;
        if (!cons_ch_.wait_until(deadline)) return;  // nobody drains the ring: drop the rest
    }
}

int Domu::watch_shutdown() { return store_->watch("control/shutdown", SHUTDOWN_TOKEN); }

int Domu::shutdown_request() {
    char path[64], token[16];
    bool asked = false;
    while (store_->next_event(path, sizeof(path), token, sizeof(token)))
        if (pv::StrView(token).equals(SHUTDOWN_TOKEN)) asked = true;
    return asked ? shutdown_reason() : -1;
}

int Domu::shutdown_reason() {
    char v[16];
    u32 len = 0;
    if (store_->read("control/shutdown", v, sizeof(v), &len) != 0) return -1;
    const pv::StrView what(v, len);
    const int reason = what.equals("poweroff") ? SHUTDOWN_poweroff : what.equals("reboot") ? SHUTDOWN_reboot : -1;
    if (reason >= 0) (void)store_->write("control/shutdown", "");
    return reason;
}

void Domu::wait_store_or_console(u64 deadline_ns) {
    const u32 ports[2] = {store_ch_.port(), cons_ch_.port()};
    (void)poll(ports, 2, deadline_ns);
    for (u32 p : ports) (void)test_and_clear_pending(shared_, p);
}

}  // namespace xb
