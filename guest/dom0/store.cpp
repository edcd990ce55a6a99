#include "guest/dom0/store.hpp"

#include <new>

#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/console.hpp"

namespace dom0 {

namespace {

// Nodes, watches, transactions and queued output of every domain; XenStore has no other heap.
// A domain's share is bounded by its memory quota (2.5 MiB, xenstored.hpp); the arena starts
// here and grows by GROW_STEP from domain 0's spare memory (store.hpp).  When that runs out
// domUs get ENOMEM, while the arena's last eighth stays domain 0's, so the toolstack goes on.
alignas(16) constinit u8 g_arena_mem[8 << 20];
constexpr usize GROW_STEP = 4 << 20;
alignas(4096) constinit u8 g_local_page[4096];

// The connections' ring state (RingConn holds a request buffer of XENSTORE_PAYLOAD_MAX), placed
// by new into static storage: no heap in domain 0.
alignas(xs::RingConn) constinit u8 g_conn_mem[StoreService::MAX_DOMAINS + 1][sizeof(xs::RingConn)];
alignas(xs::Arena) constinit u8 g_arena_obj[sizeof(xs::Arena)];
alignas(xs::Xenstored) constinit u8 g_core_obj[sizeof(xs::Xenstored)];
alignas(xb::XsClient) constinit u8 g_client_obj[sizeof(xb::XsClient)];

}  // namespace

bool StoreService::init() {
    arena_ = new (g_arena_obj) xs::Arena(g_arena_mem, sizeof(g_arena_mem));
    core_ = new (g_core_obj) xs::Xenstored(*arena_, xs::Quotas{}, this);
    if (!core_->init()) return false;
    auto* page = reinterpret_cast<xenstore_domain_interface*>(g_local_page);
    local_conn_ = new (g_conn_mem[MAX_DOMAINS]) xs::RingConn(0, page);
    client_ = new (g_client_obj) xb::XsClient(page, local_);
    if (xb::evtchn_bind_virq(VIRQ_DOM_EXC, &virq_port_) != 0) return false;
    return loop_.add(virq_port_, this);
}

StoreService::Ring* StoreService::find(u32 domid) {
    for (Ring& r : rings_)
        if (r.conn && r.domid == domid) return &r;
    return nullptr;
}

int StoreService::connect(u32 domid, u64 mfn, u32 port) {
    (void)mfn;  // 4.17's xenstored maps by grant; the mfn is the toolstack's record
    if (Ring* old = find(domid)) disconnect(old->domid);  // introduced again: start afresh
    unsigned slot = 0;
    while (slot < MAX_DOMAINS && rings_[slot].conn) ++slot;
    if (slot == MAX_DOMAINS) return XEN_ENOSPC;
    Ring& r = rings_[slot];
    long rc = mapper_.map(static_cast<domid_t>(domid), GNTTAB_RESERVED_XENSTORE, false, &r.map);
    if (rc) {
        print("xenstored: cannot map d%u's ring by grant: %ld\n", domid, rc);
        return XEN_EINVAL;
    }
    rc = xb::evtchn_bind_interdomain(static_cast<domid_t>(domid), port, &r.port);
    if (rc == 0 && !loop_.add(r.port, this)) {
        (void)xb::evtchn_close(r.port);
        rc = -XEN_ENOSPC;
    }
    if (rc) {
        print("xenstored: cannot bind d%u's store port %u: %ld\n", domid, port, rc);
        (void)mapper_.unmap(r.map);
        return XEN_EINVAL;
    }
    r.domid = domid;
    r.shut_down = false;
    r.conn = new (g_conn_mem[slot]) xs::RingConn(domid, static_cast<xenstore_domain_interface*>(r.map.va));
    return 0;
}

void StoreService::disconnect(u32 domid) {
    Ring* r = find(domid);
    if (!r) return;
    loop_.remove(r->port);
    (void)xb::evtchn_close(r->port);
    long rc = mapper_.unmap(r->map);
    if (rc) print("xenstored: unmapping d%u's ring: %ld\n", domid, rc);
    r->conn->~RingConn();
    r->conn = nullptr;
}

bool StoreService::on_event(u32 port) {
    if (port == virq_port_) {
        ++dom_exc_count_;
        check_domains();
        return false;
    }
    bool more = false;
    for (Ring& r : rings_) {
        if (!r.conn || r.port != port) continue;
        if (r.conn->service(*core_, REQUESTS_PER_EVENT)) (void)xb::evtchn_send(r.port);
        more = r.conn->more();
        break;
    }
    flush();
    grow();
    return more;
}

void StoreService::serve_local() {
    (void)local_conn_->service(*core_);  // domain 0's own requests: no budget
    flush();
    grow();
}

void StoreService::grow() {
    // A quarter free (2 MiB at least) is far more than what is handled between two calls: one
    // domain's ring, at most REQUESTS_PER_EVENT requests of at most a payload each.
    if (!memory_ || arena_->capacity() - arena_->used() >= arena_->capacity() / 4) return;
    void* more = memory_->take(GROW_STEP);
    if (!more) {
        memory_ = nullptr;  // domain 0 has no spare memory left: said once
        print("xenstored: the store stays at %lu MiB: domain 0 has no spare memory\n", arena_->capacity() >> 20);
        return;
    }
    arena_->grow(more, GROW_STEP);
    print("xenstored: the store grows to %lu MiB\n", arena_->capacity() >> 20);
}

void StoreService::flush() {
    // Handling a request may queue output for any domain (watch events), or drop a connection:
    // every connection's queued output goes onto its ring (no requests are read here).
    u32 ready[MAX_DOMAINS + 1];
    const u32 n = core_->connections_with_output(ready, MAX_DOMAINS + 1);
    for (u32 i = 0; i < n; ++i) {
        if (ready[i] == 0) {
            (void)local_conn_->service(*core_, 0);
        } else if (Ring* r = find(ready[i])) {
            if (r->conn->service(*core_, 0)) (void)xb::evtchn_send(r->port);
        }
    }
}

void StoreService::check_domains() {
    pv::Diagnostics quiet;
    for (Ring& r : rings_) {
        if (!r.conn) continue;
        pv::Result<xen_domctl_getdomaininfo> info = pvb::domain_info(static_cast<domid_t>(r.domid), quiet);
        if (!info || (info->flags & XEN_DOMINF_dying)) {
            core_->domain_gone(r.domid);  // disconnects r through the Backend
        } else if ((info->flags & XEN_DOMINF_shutdown) && !r.shut_down) {
            r.shut_down = true;
            core_->domain_shut_down();
        }
    }
    flush();
}

}  // namespace dom0
