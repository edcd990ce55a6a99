// pingpong.elf: the ping-pong pair of domain 0's store (issue 6's example guests).  Two domUs,
// started by two `xl create` commands in either order (examples/ping.cfg, examples/pong.cfg),
// find each other through XenStore the Xen way and bounce count= messages over a page one of
// them grants the other.  Command line: role=ping|pong peer=<the other's name> count=<n>.
//
// Finding the peer.  A domU may neither list /local/domain (domain 0's, no access for others)
// nor read another domain's name, so each side announces itself in its own tree, readable by
// everyone (perms "r<me>": owner me, read for all others):
//
//   /local/domain/<me>/data/pingpong/name = <my name>
//                                    peer = <the peer's domid, once known>
//
// and watches /local/domain.  xenstored sends a watcher an event for each change below the
// watched path that it may read (Xen's watch_permitted: the node or its parent readable), so
// the side that started first sees the other's announcement, and the side that started second
// sees the first one's `peer` node, written as soon as it found us.  The peer is the announcer
// whose name is our peer=.
//
// The channel, as libxenvchan sets one up: the server (ping) grants a page to the peer,
// allocates an unbound event channel for it, and publishes ring-ref and event-channel in its
// directory with XS_SET_PERMS "n<me>" "r<peer>" (only the peer may read them); the client (pong)
// reads them when its watch says they are there, maps the grant, binds the channel and says
// state = connected in its own directory.  Then ping writes message i (a payload and its
// checksum) and notifies; pong checks it and writes back i and its own checksum.  After count
// messages pong unmaps and unbinds and says state = closed; ping revokes its grant and closes
// its port.  Each side prints one result line, then waits for domain 0's shutdown request as
// hello does.
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/time.hpp"
#include "guest/lib/xenbus/domu.hpp"
#include "guest/lib/xenbus/grant.hpp"
#include "guest/ringpair/protocol.hpp"  // the payloads and their checksum
#include "lib/format.hpp"

namespace {

using namespace pvg;  // NOLINT
using pv::StrView;
using ringpair::checksum;
using ringpair::fill_payload;
using ringpair::PAYLOAD;

constexpr grant_ref_t PAGE_REF = xb::FIRST_FREE_REF;
constexpr u32 PATH = 96;
constexpr char DIR[] = "data/pingpong";  // relative: under /local/domain/<me>/
constexpr char PREFIX[] = "/local/domain/";

// The shared page: ping's message, pong's answer.
struct Exchange {
    u32 seq;  // ping: message number (1..count)
    u32 len;
    u32 sum;
    u8 data[PAYLOAD];
    u32 answered;  // pong: the last message answered
    u32 answer_sum;
};

const start_info_t* g_si;
constinit xb::Domu g_domu;
alignas(4096) constinit u8 g_page[4096];
constinit u32 g_me = 0;

xb::XsClient& xenstore() { return g_domu.store(); }
u64 now_ns() { return vcpu_system_time_ns(g_domu.shared()->vcpu_info[0].time); }

template <typename T> T load(const T& v) { return __atomic_load_n(&v, __ATOMIC_ACQUIRE); }
template <typename T> void store(T& v, T x) { __atomic_store_n(&v, x, __ATOMIC_RELEASE); }

int write_mine(const char* key, const char* value) {
    char path[PATH];
    pv::format(path, sizeof(path), "%s/%s", DIR, key);
    return xenstore().write(path, value);
}

int read_theirs(u32 dom, const char* key, char* buf, u32 size) {
    char path[PATH];
    u32 len = 0;
    pv::format(path, sizeof(path), "%s%u/%s/%s", PREFIX, dom, DIR, key);
    return xenstore().read(path, buf, size, &len);
}

int read_theirs_u32(u32 dom, const char* key, u32* v) {
    char path[PATH];
    pv::format(path, sizeof(path), "%s%u/%s/%s", PREFIX, dom, DIR, key);
    return xenstore().read_u32(path, v);
}

// The domain whose pingpong directory an event's path lies in, if it does.
bool announcer(StrView path, u32* dom) {
    if (!path.starts_with(PREFIX)) return false;
    usize i = sizeof(PREFIX) - 1;
    u32 d = 0;
    const usize first = i;
    while (i < path.len && path[i] >= '0' && path[i] <= '9' && i - first < 5) d = d * 10 + u32(path[i++] - '0');
    if (i == first || !path.substr(i).starts_with("/data/pingpong")) return false;
    *dom = d;
    return true;
}

constexpr u32 NONE = ~0u;

// Calls done(NONE), then done(d) for the announcer d (not us) of each watch event below
// /local/domain, sleeping between batches of events, until it returns true (true) or the store
// connection failed (false).
template <typename F> bool await(F done) {
    for (;;) {
        if (done(NONE)) return true;
        char path[PATH], token[16];
        while (xenstore().next_event(path, sizeof(path), token, sizeof(token))) {
            u32 dom = 0;
            if (announcer(StrView(path), &dom) && dom != g_me && done(dom)) return true;
        }
        xenstore().wait_event();
        if (xenstore().failed()) return false;
    }
}

// Announces us, then waits for the announcer named `peer`; its domid, or NONE.
u32 find_peer(StrView peer, StrView my_name) {
    char perms[16];
    const u32 n = static_cast<u32>(pv::format(perms, sizeof(perms), "r%u", g_me)) + 1;
    int err = xenstore().watch("/local/domain", "peer");
    if (!err) err = xenstore().mkdir(DIR);
    if (!err) err = xenstore().set_perms(DIR, perms, n);
    char name[64];
    pv::format(name, sizeof(name), "%.*s", static_cast<int>(my_name.len), my_name.ptr);
    if (!err) err = write_mine("name", name);
    if (err) {
        print("pingpong: cannot announce us in XenStore: %d\n", err);
        return NONE;
    }
    print("pingpong: domain %u (%s) looks for %.*s\n", g_me, name, static_cast<int>(peer.len), peer.ptr);
    u32 dom = NONE;
    (void)await([&](u32 d) {
        char theirs[64];
        if (d == NONE || read_theirs(d, "name", theirs, sizeof(theirs)) != 0 || !peer.equals(theirs)) return false;
        dom = d;
        return true;
    });
    if (dom == NONE) return NONE;
    char v[8];
    pv::format(v, sizeof(v), "%u", dom);
    (void)write_mine("peer", v);  // tells the peer, if it came first
    return dom;
}

// Waits until the peer's node `key` holds `want`.
bool await_value(u32 peer, const char* key, StrView want) {
    return await([&](u32) {
        char v[32];
        return read_theirs(peer, key, v, sizeof(v)) == 0 && want.equals(v);
    });
}

void result(const char* role, StrView peer, u32 dom, u32 done, u32 count, u32 bad, u64 ns) {
    print("pingpong: %s: %u of %u messages with %.*s (domain %u) in %lu us, %u bad: %s\n", role, done, count,
          static_cast<int>(peer.len), peer.ptr, dom, ns / 1000, bad, done == count && bad == 0 ? "PASS" : "FAIL");
}

void run_ping(StrView peer, u32 dom, u32 count) {
    xb::GrantTable gt;
    long rc = gt.init();
    if (rc == 0) rc = gt.grant(PAGE_REF, static_cast<domid_t>(dom), xb::virt_to_mfn(g_si, g_page), false);
    u32 port = 0;
    if (rc == 0) rc = xb::evtchn_alloc_unbound(static_cast<domid_t>(dom), &port);
    if (rc) {
        print("pingpong: ping: cannot grant the page or allocate the channel: %ld\n", rc);
        return;
    }
    // Published for the peer only: n<me> (others nothing), r<peer>.
    char perms[24], path[PATH], v[16];
    u32 n = static_cast<u32>(pv::format(perms, sizeof(perms), "n%u", g_me)) + 1;
    n += static_cast<u32>(pv::format(perms + n, sizeof(perms) - n, "r%u", dom)) + 1;
    u32 tx = 0;
    int err = xenstore().transaction_start(&tx);
    const struct {
        const char* key;
        u32 value;
    } nodes[] = {{"ring-ref", PAGE_REF}, {"event-channel", port}};
    for (const auto& node : nodes) {
        pv::format(path, sizeof(path), "%s/%s", DIR, node.key);
        pv::format(v, sizeof(v), "%u", node.value);
        if (!err) err = xenstore().write(path, v, tx);
        if (!err) err = xenstore().set_perms(path, perms, n, tx);
    }
    if (!err) err = xenstore().transaction_end(tx, true);
    if (err || !await_value(dom, "state", "connected")) {
        print("pingpong: ping: publishing the channel or waiting for the peer failed: %d\n", err);
        return;
    }
    auto* ex = reinterpret_cast<Exchange*>(g_page);
    xb::PortChannel ch(g_domu.shared(), port);
    u32 bad = 0, done = 0;
    const u64 start = now_ns();
    for (u32 i = 1; i <= count; ++i) {
        ex->len = fill_payload(i, ex->data);
        ex->sum = checksum(ex->data, ex->len);
        store(ex->seq, i);
        (void)ch.notify();
        while (load(ex->answered) != i) ch.wait();
        if (ex->answer_sum != ex->sum) ++bad;
        done = i;
    }
    const u64 ns = now_ns() - start;
    if (!await_value(dom, "state", "closed")) print("pingpong: ping: the peer never closed\n");
    rc = gt.revoke(PAGE_REF);
    if (rc == 0) rc = xb::evtchn_close(port);
    if (rc) print("pingpong: ping: revoking the grant or closing the port: %ld\n", rc);
    result("ping", peer, dom, done, count, bad, ns);
}

void run_pong(StrView peer, u32 dom, u32 count) {
    u32 ref = 0, remote = 0;
    if (!await([&](u32) {
            return read_theirs_u32(dom, "ring-ref", &ref) == 0 && read_theirs_u32(dom, "event-channel", &remote) == 0;
        }))
        return;
    static xb::GrantMapper::Pages<1> pages;
    xb::GrantMapper mapper(g_si, pages);
    xb::GrantMapper::Mapping m;
    long rc = mapper.map(static_cast<domid_t>(dom), ref, false, &m);
    u32 port = 0;
    if (rc == 0) rc = xb::evtchn_bind_interdomain(static_cast<domid_t>(dom), remote, &port);
    if (rc || write_mine("state", "connected")) {
        print("pingpong: pong: cannot map ref %u or bind port %u of domain %u: %ld\n", ref, remote, dom, rc);
        return;
    }
    auto* ex = static_cast<Exchange*>(m.va);
    xb::PortChannel ch(g_domu.shared(), port);
    u32 bad = 0, done = 0;
    const u64 start = now_ns();
    while (done < count) {
        const u32 seq = load(ex->seq);
        if (seq == done) {
            ch.wait();
            continue;
        }
        const u32 len = ex->len <= PAYLOAD ? ex->len : PAYLOAD;  // the peer's page: bounded
        ex->answer_sum = checksum(ex->data, len);
        if (seq != done + 1 || ex->answer_sum != ex->sum) ++bad;
        done = seq <= count ? seq : count;
        store(ex->answered, seq);
        (void)ch.notify();
    }
    const u64 ns = now_ns() - start;
    rc = mapper.unmap(m);
    if (rc == 0) rc = xb::evtchn_close(port);
    if (rc) print("pingpong: pong: unmapping or closing: %ld\n", rc);
    (void)write_mine("state", "closed");
    result("pong", peer, dom, done, count, bad, ns);
}

}  // namespace

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    g_si = si;
    if (!g_domu.init(si)) shutdown(SHUTDOWN_crash);  // no console to say why
    const StrView cmd = guest_cmdline(si);
    const StrView role = cmdline_value(cmd, "role"), peer = cmdline_value(cmd, "peer");
    u64 count = 0;
    if (!pv::parse_u64(cmdline_value(cmd, "count"), &count) || count == 0 || count > 1'000'000) count = 1000;
    char name[64] = "?";
    u32 len = 0;
    (void)xenstore().read("name", name, sizeof(name), &len);
    (void)xenstore().read_u32("domid", &g_me);
    if ((!role.equals("ping") && !role.equals("pong")) || peer.empty()) {
        print("pingpong: role=ping|pong and peer=<name> expected on the command line\n");
    } else {
        const u32 dom = find_peer(peer, StrView(name, len));
        if (dom != NONE) {
            print("pingpong: %.*s is domain %u\n", static_cast<int>(peer.len), peer.ptr, dom);
            if (role.equals("ping")) run_ping(peer, dom, static_cast<u32>(count));
            else run_pong(peer, dom, static_cast<u32>(count));
        }
        (void)xenstore().unwatch("/local/domain", "peer");
    }
    // Then as hello: until domain 0 asks us to go.
    if (const int err = g_domu.watch_shutdown()) print("pingpong: cannot watch control/shutdown: %d\n", err);
    for (;;) {
        const int reason = g_domu.shutdown_request();
        if (reason >= 0) {
            console_flush();
            shutdown(static_cast<unsigned>(reason));
        }
        g_domu.wait_store_or_console(0);
    }
}
