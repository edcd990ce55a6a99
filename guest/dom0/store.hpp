// xenstored in domain 0: the XenStore core (guest/lib/xenstore) served over every introduced
// domain's store ring, as Xen 4.17's C xenstored serves them.
//
// INTRODUCE <domid> <mfn> <port> (the toolstack's, after building a domain) maps the domain's
// ring by grant — GNTTAB_RESERVED_XENSTORE, which the builder seeded, as 4.17's map_interface
// (the mfn only travels along) — and binds an interdomain channel to the domain's store port;
// RELEASE, or VIRQ_DOM_EXC finding the domain dying or gone, unbinds and unmaps.  A port firing
// moves that ring's requests into the core; after anything is handled, every connection's
// queued output (replies, and watch events the request fired for others) goes onto its ring
// and the domain is notified.
//
// The arena starts as a static block and grows into domain 0's spare memory (set_memory), a
// step at a time whenever less than a quarter of it is free, as Xen's xenstored takes heap from
// domain 0's kernel as domains use their quotas: it stops only when domain 0 has no frame left.
//
// Domain 0's own accesses are in-process: a ring page in our memory with an XsClient on one end
// and the core on the other, served synchronously by the client's channel, so the toolstack uses
// the same typed client as a domU.
#pragma once
#include "guest/dom0/event_loop.hpp"
#include "guest/lib/xenbus/grant.hpp"
#include "guest/lib/xenbus/xs_client.hpp"
#include "guest/lib/xenstore/ring.hpp"

namespace dom0 {

class StoreService final : public xs::Backend, public EventHandler {
public:
    // Where the arena grows from: `bytes` of domain 0's memory, for good; nullptr when there is
    // none left.
    class Memory {
    public:
        virtual void* take(usize bytes) = 0;
    protected:
        ~Memory() = default;
    };

    // Domains served at once (the event loop serves 4096 ports, two a domain).
    static constexpr unsigned MAX_DOMAINS = 128;
    // Requests served from one domain's ring per event before the others get their turn.
    static constexpr u32 REQUESTS_PER_EVENT = 32;

    StoreService(EventLoop& loop, xb::GrantMapper& mapper) : loop_(loop), mapper_(mapper), local_(*this) {}

    // The arena and tree, domain 0's connection, VIRQ_DOM_EXC.  false on failure.
    bool init();
    // From then on the arena grows from `m` whenever less than a quarter of it is free.
    void set_memory(Memory* m) { memory_ = m; }
    // Domain 0's client.
    xb::XsClient& client() { return *client_; }
    xs::Xenstored& core() { return *core_; }

    // xs::Backend.
    int connect(u32 domid, u64 mfn, u32 port) override;
    void disconnect(u32 domid) override;
    bool on_event(u32 port) override;

    // What VIRQ_DOM_EXC triggers (also called by the toolstack right after destroying a domain).
    void check_domains();
    // How many VIRQ_DOM_EXC events came: the toolstack looks at its domains when it moves.
    u64 dom_exc_count() const { return dom_exc_count_; }

private:
    struct Ring {
        u32 domid;
        u32 port;
        bool shut_down;
        xb::GrantMapper::Mapping map;
        xs::RingConn* conn;
    };
    // Domain 0's side of its own ring.
    class Local final : public xb::Channel {
    public:
        explicit Local(StoreService& s) : s_(s) {}
        void notify() override { s_.serve_local(); }
        void wait() override { s_.serve_local(); }
    private:
        StoreService& s_;
    };

    void serve_local();
    void flush();
    void grow();
    Ring* find(u32 domid);

    EventLoop& loop_;
    xb::GrantMapper& mapper_;
    Local local_;
    xs::Xenstored* core_ = nullptr;
    xs::Arena* arena_ = nullptr;
    Memory* memory_ = nullptr;
    xs::RingConn* local_conn_ = nullptr;
    xb::XsClient* client_ = nullptr;
    u32 virq_port_ = 0;
    u64 dom_exc_count_ = 0;
    Ring rings_[MAX_DOMAINS] = {};
};

}  // namespace dom0
