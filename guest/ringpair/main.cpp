// ringpair: two domUs that talk over a shared ring (issue 5's acceptance scenario).  One kernel,
// two roles chosen on the command line (role=server|client rounds=N); protocol.hpp has the
// XenStore layout and the messages.
//
//   server  grants a ring page to the client (GrantTable), allocates an unbound event channel
//           for it, publishes ring-ref and event-channel in its device directory, watches the
//           client's state until Connected, then pushes `rounds` requests (up to a ring's
//           worth in flight), checks each response's checksum, and closes: state Closing, waits
//           for the client's Closed, revokes the grant (refused while mapped) and closes the port.
//   client  first probes XenStore's isolation (reads and writes outside its permissions are
//           refused, its quotas for watches, transactions and nodes end in Xen's errors and it
//           recovers), then watches the server's state until Initialised, maps the grant, binds
//           the channel, answers every request with its own checksum of the payload, and on the
//           server's Closing unmaps, unbinds and says Closed.
//
// Console input waiting at start is echoed as "ringpair: echo <input>".  Both print progress and
// check lines ("ringpair: check ...") on their console ring, which domain 0's console backend
// shows and relays; a failed check shuts down with code 0x40 + the number of failures (as
// domutest) before the poweroff.
#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/xenbus/domu.hpp"
#include "guest/lib/xenbus/grant.hpp"
#include "guest/ringpair/protocol.hpp"
#include "lib/format.hpp"

#include <xen/io/xenbus.h>

namespace ringpair {

namespace {

using pv::StrView;

constexpr grant_ref_t RING_REF = xb::FIRST_FREE_REF;
constexpr u32 PATH = 128;

const start_info_t* g_start;
xb::Domu g_domu;
alignas(4096) constinit u8 g_ring_page[4096];

xb::XsClient& xs() { return g_domu.store(); }

// Waits until the node `path` reads as the decimal `want` (watching it).
bool await_state(const char* path, u32 want) {
    if (int err = xs().watch(path, "state")) {
        check_fail("xs.watch_state", "XS_WATCH %s: %s", path, errno_name(err));
        return false;
    }
    for (;;) {
        u32 v = 0;
        if (xs().read_u32(path, &v) == 0 && v == want) break;
        char p[PATH], tok[16];
        xs().wait_event();
        while (xs().next_event(p, sizeof(p), tok, sizeof(tok))) {}
        if (xs().failed()) return false;
    }
    (void)xs().unwatch(path, "state");
    return true;
}

int write_state(const char* dir, u32 state) {
    char path[PATH], v[4];
    pv::format(path, sizeof(path), "%s/state", dir);
    pv::format(v, sizeof(v), "%u", state);
    return xs().write(path, v);
}

// --- server ---

void run_server(u32 rounds) {
    const char* dir = "device/ring/0";  // relative: under /local/domain/<our id>/
    char backend[PATH];
    u32 len = 0, client = 0;
    int err = xs().read("device/ring/0/backend", backend, sizeof(backend), &len);
    if (!check("xs.backend", err == 0, "%s", errno_name(err))) return;
    err = xs().read_u32("device/ring/0/backend-id", &client);
    if (!check("xs.backend_id", err == 0, "%s", errno_name(err))) return;
    info("server: the client is d%u at %s", client, backend);

    xb::GrantTable gt;
    i16 status = 0;
    long rc = gt.init(&status);
    if (!check("grant.setup_table", rc == 0, "rc %ld status %d", rc, status)) return;
    auto* sring = reinterpret_cast<rp_sring*>(g_ring_page);
    SHARED_RING_INIT(sring);
    rp_front_ring front;
    FRONT_RING_INIT(&front, sring, sizeof(g_ring_page));
    rc = gt.grant(RING_REF, static_cast<domid_t>(client), xb::virt_to_mfn(g_start, g_ring_page), false);
    CHECK_EQ("grant.access", rc, 0);
    u32 port = 0;
    rc = xb::evtchn_alloc_unbound(static_cast<domid_t>(client), &port);
    if (!CHECK_EQ("evtchn.alloc_unbound", rc, 0)) return;

    // Publish both in one transaction, then say Initialised.
    u32 tx = 0;
    char v[16];
    err = xs().transaction_start(&tx);
    if (!err) {
        pv::format(v, sizeof(v), "%u", RING_REF);
        err = xs().write("device/ring/0/ring-ref", v, tx);
    }
    if (!err) {
        pv::format(v, sizeof(v), "%u", port);
        err = xs().write("device/ring/0/event-channel", v, tx);
    }
    if (!err) err = xs().transaction_end(tx, true);
    if (!check("xs.publish", err == 0, "%s", errno_name(err))) return;
    CHECK_EQ("xs.state_initialised", write_state(dir, XenbusStateInitialised), 0);

    char client_state[PATH];
    pv::format(client_state, sizeof(client_state), "%s/state", backend);
    if (!check("client_connected", await_state(client_state, XenbusStateConnected), "no Connected")) return;
    print("ringpair: server: connected to d%u, sending %u requests\n", client, rounds);

    xb::PortChannel ch(g_domu.shared(), port);
    u32 sent = 0, answered = 0, bad = 0;
    while (answered < rounds) {
        while (sent < rounds && !RING_FULL(&front)) {
            Request* rq = RING_GET_REQUEST(&front, front.req_prod_pvt);
            rq->id = sent;
            rq->len = fill_payload(sent, rq->data);
            rq->sum = checksum(rq->data, rq->len);
            ++front.req_prod_pvt;
            ++sent;
        }
        int notify = 0;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
        if (notify) ch.notify();
        bool more = true;
        while (more) {
            RING_IDX prod = front.sring->rsp_prod;
            xen_rmb();
            for (RING_IDX i = front.rsp_cons; i != prod; ++i) {
                const Response* rs = RING_GET_RESPONSE(&front, i);
                u8 expect[PAYLOAD];
                const u32 n = fill_payload(answered, expect);
                if (rs->id != answered || rs->status != 0 || rs->sum != checksum(expect, n)) ++bad;
                if (++answered % (rounds / 4 ? rounds / 4 : 1) == 0)
                    print("ringpair: server: %u of %u answered\n", answered, rounds);
            }
            front.rsp_cons = prod;
            RING_FINAL_CHECK_FOR_RESPONSES(&front, more);
        }
        // Everything sent or the ring full: sleep until the client answers.
        if (answered < rounds && (sent == rounds || RING_FULL(&front))) ch.wait();
    }
    CHECK_EQ("exchange.bad_responses", bad, 0);
    CHECK_EQ("exchange.answered", answered, rounds);
    // The hypervisor marks a mapped grant in use (GTF_reading/GTF_writing): it cannot be ended.
    CHECK_EQ("grant.revoke_while_mapped", gt.revoke(RING_REF), -XEN_EBUSY);

    CHECK_EQ("xs.state_closing", write_state(dir, XenbusStateClosing), 0);
    check("client_closed", await_state(client_state, XenbusStateClosed), "no Closed");
    CHECK_EQ("grant.revoke", gt.revoke(RING_REF), 0);
    CHECK_EQ("evtchn.close", xb::evtchn_close(port), 0);
    CHECK_EQ("xs.state_closed", write_state(dir, XenbusStateClosed), 0);
    print("ringpair: server: done\n");
}

// --- client ---

// XenStore refuses what our permissions and quotas do not allow, and we recover.
void probe_isolation(const char* frontend, u32 server) {
    char buf[256], path[PATH];
    u32 len = 0;
    CHECK_EQ("client.xs.read_dom0", xs().read("/local/domain/0", buf, sizeof(buf), &len), XEN_EACCES);
    pv::format(path, sizeof(path), "/local/domain/%u/name", server);
    CHECK_EQ("xs.read_other_domain", xs().read(path, buf, sizeof(buf), &len), XEN_EACCES);
    pv::format(path, sizeof(path), "%s/backend-id", frontend);
    CHECK_EQ("xs.read_granted", xs().read(path, buf, sizeof(buf), &len), 0);
    CHECK_EQ("xs.write_granted_readonly", xs().write(path, "0"), XEN_EACCES);
    pv::format(path, sizeof(path), "%s/nosuch", frontend);
    CHECK_EQ("xs.read_missing_readable", xs().read(path, buf, sizeof(buf), &len), XEN_ENOENT);
    CHECK_EQ("xs.write_tool", xs().write("/tool/evil", "1"), XEN_EACCES);
    CHECK_EQ("xs.mkdir_local", xs().mkdir("/local/evil"), XEN_EACCES);
    CHECK_EQ("xs.set_perms_other", xs().set_perms(frontend, "b0", 3), XEN_EACCES);
    CHECK_EQ("xs.rm_other", xs().rm(frontend), XEN_EACCES);

    // Watches: the quota, then E2BIG.
    u32 watches = 0;
    int err = 0;
    for (; watches < 1000; ++watches) {
        pv::format(path, sizeof(path), "data/w%u", watches);
        if ((err = xs().watch(path, "flood"))) break;
    }
    info("client: %u watches accepted, then %s", watches, errno_name(err));
    CHECK_EQ("xs.watch_quota", err, XEN_E2BIG);
    for (u32 i = 0; i < watches; ++i) {
        pv::format(path, sizeof(path), "data/w%u", i);
        (void)xs().unwatch(path, "flood");
    }
    // Transactions: the quota, then ENOSPC.
    u32 txs[64], ntx = 0;
    for (; ntx < 64; ++ntx)
        if ((err = xs().transaction_start(&txs[ntx]))) break;
    info("client: %u transactions open, then %s", ntx, errno_name(err));
    CHECK_EQ("xs.transaction_quota", err, XEN_ENOSPC);
    for (u32 i = 0; i < ntx; ++i) (void)xs().transaction_end(txs[i], false);
    // Nodes: the quota, then ENOSPC; removing them gives the room back.
    // (100 to a directory: a node's size quota also counts its children's names.)
    u32 nodes = 0;
    for (; nodes < 5000; ++nodes) {
        pv::format(path, sizeof(path), "data/flood/d%u/n%u", nodes / 100, nodes);
        if ((err = xs().write(path, "x"))) break;
    }
    info("client: %u nodes written, then %s", nodes, errno_name(err));
    CHECK_EQ("xs.node_quota", err, XEN_ENOSPC);
    CHECK_EQ("xs.rm_flood", xs().rm("data/flood"), 0);
    CHECK_EQ("xs.write_after_flood", xs().write("data/after-flood", "ok"), 0);
    CHECK_EQ("xs.read_after_flood", xs().read("data/after-flood", buf, sizeof(buf), &len), 0);
}

void run_client(u32 rounds) {
    // Our backend directory names the server: backend/ring/<S>/0.
    char list[256], dir[PATH], frontend[PATH], path[PATH];
    u32 len = 0, server = 0;
    int err = xs().directory("backend/ring", list, sizeof(list), &len);
    if (!check("xs.backend_dir", err == 0 && len > 0, "%s", errno_name(err))) return;
    pv::format(dir, sizeof(dir), "backend/ring/%s/0", list);
    pv::format(path, sizeof(path), "%s/frontend", dir);
    err = xs().read(path, frontend, sizeof(frontend), &len);
    if (!check("xs.frontend", err == 0, "%s", errno_name(err))) return;
    pv::format(path, sizeof(path), "%s/frontend-id", dir);
    err = xs().read_u32(path, &server);
    if (!check("xs.frontend_id", err == 0, "%s", errno_name(err))) return;
    info("client: the server is d%u at %s", server, frontend);

    probe_isolation(frontend, server);

    pv::format(path, sizeof(path), "%s/state", frontend);
    if (!check("server_initialised", await_state(path, XenbusStateInitialised), "no Initialised")) return;
    u32 ref = 0, remote_port = 0;
    pv::format(path, sizeof(path), "%s/ring-ref", frontend);
    CHECK_EQ("xs.ring_ref", xs().read_u32(path, &ref), 0);
    pv::format(path, sizeof(path), "%s/event-channel", frontend);
    CHECK_EQ("xs.event_channel", xs().read_u32(path, &remote_port), 0);

    static xb::GrantMapper::Pages<1> pages;  // the one grant the client maps
    xb::GrantMapper mapper(g_start, pages);
    xb::GrantMapper::Mapping m;
    // The server's store page is granted to domain 0 only, and refs past those granted are empty:
    // Xen refuses both with GNTST_general_error ("Bad flags or dom" in its _set_status).
    long rc = mapper.map(static_cast<domid_t>(server), GNTTAB_RESERVED_XENSTORE, false, &m);
    CHECK_EQ("grant.map_not_ours", rc, GNTST_general_error);
    rc = mapper.map(static_cast<domid_t>(server), ref + 1, true, &m);
    CHECK_EQ("grant.map_unused_ref", rc, GNTST_general_error);
    rc = mapper.map(static_cast<domid_t>(server), ref, false, &m);
    if (!CHECK_EQ("grant.map", rc, 0)) return;
    u32 port = 0;
    rc = xb::evtchn_bind_interdomain(static_cast<domid_t>(server), remote_port, &port);
    if (!CHECK_EQ("evtchn.bind_interdomain", rc, 0)) return;
    rp_back_ring back;
    BACK_RING_INIT(&back, static_cast<rp_sring*>(m.va), 4096);
    CHECK_EQ("xs.state_connected", write_state(dir, XenbusStateConnected), 0);
    print("ringpair: client: connected to d%u\n", server);

    xb::PortChannel ch(g_domu.shared(), port);
    u32 served = 0, bad = 0;
    while (served < rounds) {
        bool more = true;
        while (more) {
            RING_IDX prod = back.sring->req_prod;
            xen_rmb();
            for (RING_IDX i = back.req_cons; i != prod && !RING_REQUEST_CONS_OVERFLOW(&back, i); ++i) {
                const Request rq = *RING_GET_REQUEST(&back, i);  // a copy: the server may rewrite it
                const u32 n = rq.len <= PAYLOAD ? rq.len : PAYLOAD;
                const u32 sum = checksum(rq.data, n);
                Response* rs = RING_GET_RESPONSE(&back, back.rsp_prod_pvt);
                rs->id = rq.id;
                rs->status = sum == rq.sum ? 0 : 1;
                rs->sum = sum;
                if (rq.id != served || sum != rq.sum) ++bad;
                ++back.rsp_prod_pvt;
                back.req_cons = i + 1;
                if (++served % (rounds / 4 ? rounds / 4 : 1) == 0)
                    print("ringpair: client: %u of %u served\n", served, rounds);
            }
            int notify = 0;
            RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back, notify);
            if (notify) ch.notify();
            RING_FINAL_CHECK_FOR_REQUESTS(&back, more);
        }
        if (served < rounds) ch.wait();
    }
    CHECK_EQ("exchange.bad_requests", bad, 0);
    CHECK_EQ("exchange.served", served, rounds);

    pv::format(path, sizeof(path), "%s/state", frontend);
    check("server_closing", await_state(path, XenbusStateClosing), "no Closing");
    CHECK_EQ("grant.unmap", mapper.unmap(m), 0);
    CHECK_EQ("evtchn.close", xb::evtchn_close(port), 0);
    CHECK_EQ("xs.state_closed", write_state(dir, XenbusStateClosed), 0);
    print("ringpair: client: done\n");
}

}  // namespace
}  // namespace ringpair

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    using namespace ringpair;
    g_start = si;
    set_report_prefix("ringpair");
    if (!g_domu.init(si)) shutdown(SHUTDOWN_crash);  // no console to say why
    const StrView cmd = guest_cmdline(si);
    const StrView role = cmdline_value(cmd, "role");
    u64 rounds = 0;
    if (!pv::parse_u64(cmdline_value(cmd, "rounds"), &rounds) || rounds == 0 || rounds > 1'000'000) rounds = 64;
    print("ringpair: start (%.*s, %lu rounds)\n", static_cast<int>(role.len), role.ptr, rounds);
    // Whatever domain 0 typed on our console before we ran comes back as one line.
    char input[64];
    usize n = xb::cons_read_input(g_domu.console(), input, sizeof(input));
    while (n && (input[n - 1] == '\n' || input[n - 1] == '\r')) --n;
    if (n) print("ringpair: echo %.*s\n", static_cast<int>(n), input);
    if (role.equals("server")) run_server(static_cast<u32>(rounds));
    else if (role.equals("client")) run_client(static_cast<u32>(rounds));
    else check_fail("role", "role=server or role=client expected");
    if (checks_failed()) {
        sched_shutdown_t code{};
        code.reason = 0x40 + checks_failed();
        (void)hc::sched_op(SCHEDOP_shutdown_code, &code);
    }
    finish();
}
