// The console backend in domain 0 (xenconsoled's job): each domU's console ring (xen/io/console.h)
// is mapped by grant (GNTTAB_RESERVED_CONSOLE, seeded by the builder, as xenconsoled maps it),
// its port bound, and whenever the port fires the output is drained into the domain's
// ConsoleBuffer (the last 4 KiB, for a console that attaches later: issue 6's `xl console`) and
// each complete line printed on domain 0's console as "[<name>] <line>" (control characters shown
// as '?'); the domain is then
// notified, as xenconsoled does, so a writer waiting for room goes on.  input() puts bytes on the
// ring's input side.  A Listener sees every line too (the test modes relay check lines).
// While a domain is attached to the terminal (xl console: set_attached), its output goes to
// domain 0's console as it comes, byte for byte, and its "[<name>]" lines are not printed.
//
// time_next_attach() times a domain's creation to its first output (issue 6's figure, read by
// bench/run.py): the next console attached prints, when its first bytes arrive,
//   dom0: create_to_console name=<n> domid=<d> domus=<domUs served before> ticks=<TSC> ns=<time>
// both counted from the moment given (the start of `xl create`); with a line prefix set
// (time_line), also when its first line starting with it is relayed:
//   dom0: create_to_line name=<n> domid=<d> ticks=<TSC> ns=<time>
// (Linux's shell for issue 7's figure: a domU's own TSC need not be domain 0's, on Xen it is not.)
#pragma once
#include "guest/dom0/event_loop.hpp"
#include "guest/lib/xenbus/cons_ring.hpp"
#include "guest/lib/xenbus/grant.hpp"
#include "lib/string.hpp"

namespace dom0 {

class ConsoleService final : public EventHandler {
public:
    static constexpr unsigned MAX_DOMAINS = 128;  // as StoreService
    static constexpr usize NAME_MAX = 32;

    class Listener {
    public:
        virtual void line(u32 domid, const char* name, const char* s, usize n) = 0;
    protected:
        ~Listener() = default;
    };

    ConsoleService(EventLoop& loop, xb::GrantMapper& mapper) : loop_(loop), mapper_(mapper) {}

    // Maps the domain's console and binds its console port; 0 or a negative errno / GNTST_*.
    long attach(u32 domid, const char* name, u32 remote_port);
    // Drains what is left, then unbinds and unmaps.
    void detach(u32 domid);
    // Drains (a ring's worth of) the domain's output now, as its port firing does.
    void drain(u32 domid);

    usize input(u32 domid, const char* s, usize n);
    usize history(u32 domid, char* buf, usize size) const;
    // The name its lines are labelled with (xl rename).
    void rename(u32 domid, const char* name);
    // The domain whose output goes raw to the terminal; DOMID_INVALID for none.
    void set_attached(u32 domid) { attached_ = domid; }
    void set_listener(Listener* l) { listener_ = l; }
    void time_next_attach(u64 tsc, u64 ns);
    void time_line(pv::StrView prefix) { timed_prefix_ = prefix; }

    bool on_event(u32 port) override;

private:
    struct Console final : xb::ConsoleBuffer::LineSink {
        void line(const char* s, usize n) override;
        ConsoleService* owner = nullptr;
        u32 domid = 0;
        u32 port = 0;
        bool used = false;
        char name[NAME_MAX] = {};
        xb::GrantMapper::Mapping map;
        xb::ConsoleBuffer buffer;
        bool timed = false;       // prints create_to_console at its first output
        bool timed_line = false;  // prints create_to_line at its first line with the prefix
        u64 timed_tsc = 0, timed_ns = 0;
    };
    Console* find(u32 domid);
    const Console* find(u32 domid) const;
    // Drains at most one ring's worth; true if the ring still holds output.
    bool drain(Console& c);

    EventLoop& loop_;
    xb::GrantMapper& mapper_;
    Listener* listener_ = nullptr;
    u32 attached_ = DOMID_INVALID;
    bool timing_ = false;  // time_next_attach() armed
    u64 timer_tsc_ = 0, timer_ns_ = 0;
    unsigned timer_domus_ = 0;
    pv::StrView timed_prefix_;
    Console consoles_[MAX_DOMAINS];
};

}  // namespace dom0
