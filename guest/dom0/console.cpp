#include "guest/dom0/console.hpp"

#include "guest/lib/console.hpp"
#include "guest/lib/time.hpp"
#include "lib/string.hpp"

namespace dom0 {

ConsoleService::Console* ConsoleService::find(u32 domid) {
    for (Console& c : consoles_)
        if (c.used && c.domid == domid) return &c;
    return nullptr;
}

const ConsoleService::Console* ConsoleService::find(u32 domid) const {
    for (const Console& c : consoles_)
        if (c.used && c.domid == domid) return &c;
    return nullptr;
}

long ConsoleService::attach(u32 domid, const char* name, u32 remote_port) {
    if (find(domid)) return -XEN_EEXIST;
    Console* c = nullptr;
    for (Console& s : consoles_)
        if (!s.used && !c) c = &s;
    if (!c) return -XEN_ENOSPC;
    long rc = mapper_.map(static_cast<domid_t>(domid), GNTTAB_RESERVED_CONSOLE, false, &c->map);
    if (rc) return rc;
    rc = xb::evtchn_bind_interdomain(static_cast<domid_t>(domid), remote_port, &c->port);
    if (rc == 0 && !loop_.add(c->port, this)) {
        (void)xb::evtchn_close(c->port);
        rc = -XEN_ENOSPC;
    }
    if (rc) {
        (void)mapper_.unmap(c->map);
        return rc;
    }
    c->owner = this;
    c->domid = domid;
    c->used = true;
    c->timed = timing_;
    c->timed_line = timing_ && !timed_prefix_.empty();
    c->timed_tsc = timer_tsc_;
    c->timed_ns = timer_ns_;
    timing_ = false;
    c->buffer.reset();
    pv::str_copy(c->name, name, sizeof(c->name));
    (void)drain(*c);  // whatever the domain wrote before we were there
    return 0;
}

void ConsoleService::detach(u32 domid) {
    Console* c = find(domid);
    if (!c) return;
    (void)drain(*c);  // a ring's worth: all a domain that no longer runs can have left
    loop_.remove(c->port);
    (void)xb::evtchn_close(c->port);
    if (long rc = mapper_.unmap(c->map)) print("console: unmapping d%u's ring: %ld\n", domid, rc);
    c->used = false;
}

void ConsoleService::drain(u32 domid) {
    if (Console* c = find(domid)) (void)drain(*c);
}

bool ConsoleService::drain(Console& c) {
    auto* ring = static_cast<xencons_interface*>(c.map.va);
    char buf[256];
    usize total = 0;
    while (total < sizeof(ring->out)) {
        const usize n = xb::cons_drain_output(ring, buf, sizeof(buf));
        if (!n) break;
        if (c.domid == attached_) console_write(buf, n);
        c.buffer.append(buf, n, c);
        total += n;
    }
    if (total) (void)xb::evtchn_send(c.port);
    if (total && c.timed) {
        c.timed = false;
        print("dom0: create_to_console name=%s domid=%u domus=%u ticks=%lu ns=%lu\n", c.name, c.domid, timer_domus_,
              rdtsc() - c.timed_tsc, loop_.now_ns() - c.timed_ns);
    }
    return total >= sizeof(ring->out);
}

void ConsoleService::time_next_attach(u64 tsc, u64 ns) {
    timing_ = true;
    timer_tsc_ = tsc;
    timer_ns_ = ns;
    timer_domus_ = 0;
    for (const Console& c : consoles_) timer_domus_ += c.used ? 1u : 0u;
}

void ConsoleService::Console::line(const char* s, usize n) {
    // A guest's bytes go to our console: control characters (escape sequences) become '?'.
    char shown[xb::ConsoleBuffer::LINE_LIMIT];
    for (usize i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        shown[i] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : s[i];
    }
    if (domid != owner->attached_) print("[%s] %.*s\n", name, static_cast<int>(n), shown);
    if (timed_line && pv::StrView(s, n).starts_with(owner->timed_prefix_)) {
        timed_line = false;
        print("dom0: create_to_line name=%s domid=%u ticks=%lu ns=%lu\n", name, domid, rdtsc() - timed_tsc,
              owner->loop_.now_ns() - timed_ns);
    }
    if (owner->listener_) owner->listener_->line(domid, name, s, n);
}

bool ConsoleService::on_event(u32 port) {
    for (Console& c : consoles_)
        if (c.used && c.port == port) return drain(c);
    return false;
}

usize ConsoleService::input(u32 domid, const char* s, usize n) {
    Console* c = find(domid);
    if (!c) return 0;
    usize done = xb::cons_push_input(static_cast<xencons_interface*>(c->map.va), s, n);
    if (done) (void)xb::evtchn_send(c->port);
    return done;
}

void ConsoleService::rename(u32 domid, const char* name) {
    if (Console* c = find(domid)) pv::str_copy(c->name, name, sizeof(c->name));
}

usize ConsoleService::history(u32 domid, char* buf, usize size) const {
    const Console* c = find(domid);
    return c ? c->buffer.history(buf, size) : 0;
}

}  // namespace dom0
