// The XenStore core (guest/lib/xenstore): every operation, permissions, quotas, transactions,
// watches, the ring codec against hostile input, and random operations against a model.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "guest/lib/xenstore/ring.hpp"
#include "guest/lib/xenstore/xenstored.hpp"

namespace {

using namespace std::string_literals;

struct Msg {
    uint32_t type;
    uint32_t req_id;
    uint32_t tx_id;
    std::string data;
};

class XsTest : public ::testing::Test {
protected:
    explicit XsTest(size_t arena_size = 8 << 20, xs::Quotas q = {})
        : mem_(std::malloc(arena_size)), arena_(mem_.p, arena_size), xs_(arena_, q) {}
    void SetUp() override { ASSERT_TRUE(xs_.init()); }

    // Drains a domain's output.
    std::vector<Msg> drain(uint32_t dom) {
        std::vector<Msg> out;
        while (const xs::OutMsg* m = xs_.peek_output(dom)) {
            const char* d = reinterpret_cast<const char*>(m + 1);
            out.push_back({m->hdr.type, m->hdr.req_id, m->hdr.tx_id, std::string(d, m->hdr.len)});
            xs_.pop_output(dom);
        }
        return out;
    }
    // One request; returns its reply.  Watch events queued meanwhile go to events_[dom].
    Msg req(uint32_t dom, uint32_t type, const std::string& payload, uint32_t tx = 0) {
        xsd_sockmsg h{type, ++req_id_, tx, static_cast<uint32_t>(payload.size())};
        xs_.handle(dom, h, payload.data(), h.len);
        Msg reply{XS_INVALID, 0, 0, "(none)"};
        for (Msg& m : drain(dom)) {
            if (m.type == XS_WATCH_EVENT)
                events_[dom].push_back(m.data);
            else
                reply = m;
        }
        EXPECT_EQ(reply.req_id, req_id_);
        return reply;
    }
    std::string err(const Msg& m) { return m.type == XS_ERROR ? m.data : "not an error: " + m.data; }
    std::vector<std::string> events(uint32_t dom) {
        for (Msg& m : drain(dom))
            if (m.type == XS_WATCH_EVENT) events_[dom].push_back(m.data);
        auto e = events_[dom];
        events_[dom].clear();
        return e;
    }

    Msg write(uint32_t dom, const std::string& path, const std::string& v, uint32_t tx = 0) {
        return req(dom, XS_WRITE, path + '\0' + v, tx);
    }
    Msg read(uint32_t dom, const std::string& path, uint32_t tx = 0) {
        return req(dom, XS_READ, path + '\0', tx);
    }
    void introduce(uint32_t dom) {
        auto r = req(0, XS_INTRODUCE, std::to_string(dom) + '\0' + "1234\0"s + "5\0"s);
        ASSERT_EQ(r.data, "OK"s + '\0');
        // The toolstack's part: the domain's home, owned by it.
        std::string home = "/local/domain/" + std::to_string(dom);
        ASSERT_EQ(req(0, XS_MKDIR, home + '\0').data, "OK"s + '\0');
        ASSERT_EQ(req(0, XS_SET_PERMS, home + '\0' + "n" + std::to_string(dom) + '\0').data,
                  "OK"s + '\0');
    }
    uint32_t tx_start(uint32_t dom) {
        auto r = req(dom, XS_TRANSACTION_START, ""s + '\0');
        EXPECT_EQ(r.type, XS_TRANSACTION_START);
        return static_cast<uint32_t>(std::stoul(r.data));
    }

    struct Mem {  // freed after the store that lives in it
        void* p;
        ~Mem() { std::free(p); }
    } mem_;
    xs::Arena arena_;
    xs::Xenstored xs_;
    uint32_t req_id_ = 0;
    std::map<uint32_t, std::vector<std::string>> events_;
};

const std::string OK = "OK"s + '\0';
std::string E(const char* name) { return std::string(name) + '\0'; }

TEST_F(XsTest, ReadWriteMkdirDirectory) {
    EXPECT_EQ(write(0, "/a/b/c", "hello").data, OK);
    auto r = read(0, "/a/b/c");
    EXPECT_EQ(r.type, XS_READ);
    EXPECT_EQ(r.data, "hello");
    EXPECT_EQ(read(0, "/a/b").data, "");  // created parents are empty
    EXPECT_EQ(req(0, XS_DIRECTORY, "/a\0"s).data, "b"s + '\0');
    EXPECT_EQ(req(0, XS_MKDIR, "/a/d\0"s).data, OK);
    EXPECT_EQ(req(0, XS_MKDIR, "/a/b/c\0"s).data, OK);  // exists: value untouched
    EXPECT_EQ(read(0, "/a/b/c").data, "hello");
    EXPECT_EQ(req(0, XS_DIRECTORY, "/a\0"s).data, "b\0d\0"s);
    EXPECT_EQ(write(0, "/a/b/c", "bin\0ary"s).data, OK);  // values may hold NULs
    EXPECT_EQ(read(0, "/a/b/c").data, "bin\0ary"s);
    EXPECT_EQ(err(read(0, "/nope")), E("ENOENT"));
    EXPECT_EQ(req(0, XS_DIRECTORY, "/\0"s).data, "tool\0local\0a\0"s);
}

TEST_F(XsTest, RemoveSubtree) {
    write(0, "/a/b/c", "1");
    write(0, "/a/b/d", "2");
    write(0, "/a/e", "3");
    EXPECT_EQ(req(0, XS_RM, "/a/b\0"s).data, OK);
    EXPECT_EQ(err(read(0, "/a/b/c")), E("ENOENT"));
    EXPECT_EQ(err(read(0, "/a/b")), E("ENOENT"));
    EXPECT_EQ(req(0, XS_DIRECTORY, "/a\0"s).data, "e"s + '\0');
    EXPECT_EQ(req(0, XS_RM, "/a/b\0"s).data, OK);  // gone, but the parent exists: fine
    EXPECT_EQ(err(req(0, XS_RM, "/a/x/y\0"s)), E("ENOENT"));  // nor the parent
    EXPECT_EQ(err(req(0, XS_RM, "/\0"s)), E("EINVAL"));
}

TEST_F(XsTest, DomainPathsAndRelativePaths) {
    introduce(3);
    EXPECT_EQ(req(3, XS_GET_DOMAIN_PATH, "7\0"s).data, "/local/domain/7"s + '\0');
    EXPECT_EQ(write(3, "device/vif", "x").data, OK);
    EXPECT_EQ(read(0, "/local/domain/3/device/vif").data, "x");
    EXPECT_EQ(read(3, "device/vif").data, "x");
    // What the domain creates is its own.
    EXPECT_EQ(req(0, XS_GET_PERMS, "/local/domain/3/device/vif\0"s).data, "n3\0"s);
    EXPECT_EQ(xs_.nodes_owned(3), 3u);  // home, device, device/vif
}

TEST_F(XsTest, IntroduceReleaseAndSpecialWatches) {
    EXPECT_EQ(req(0, XS_IS_DOMAIN_INTRODUCED, "4\0"s).data, "F\0"s);
    EXPECT_EQ(req(0, XS_WATCH, "@introduceDomain\0i\0"s).data, OK);
    EXPECT_EQ(req(0, XS_WATCH, "@releaseDomain\0r\0"s).data, OK);
    EXPECT_EQ(events(0), (std::vector<std::string>{"@introduceDomain\0i\0"s, "@releaseDomain\0r\0"s}));
    introduce(4);
    EXPECT_EQ(req(0, XS_IS_DOMAIN_INTRODUCED, "4\0"s).data, "T\0"s);
    EXPECT_EQ(events(0), (std::vector<std::string>{"@introduceDomain\0i\0"s}));
    // Only domain 0 introduces, releases or asks; others get EACCES.
    EXPECT_EQ(err(req(4, XS_INTRODUCE, "5\0001\0002\0"s)), E("EACCES"));
    EXPECT_EQ(err(req(4, XS_IS_DOMAIN_INTRODUCED, "4\0"s)), E("EACCES"));
    EXPECT_EQ(err(req(4, XS_RELEASE, "4\0"s)), E("EACCES"));
    // A domain may not see the special events by default (the nodes are dom0's, "n0").
    EXPECT_EQ(req(4, XS_WATCH, "@releaseDomain\0r4\0"s).data, OK);
    events(4);
    EXPECT_EQ(err(req(0, XS_INTRODUCE, "6\0001\0000\0"s)), E("EINVAL"));  // port 0
    EXPECT_EQ(err(req(0, XS_INTRODUCE, "6\0001\0"s)), E("EINVAL"));       // too few
    introduce(6);
    EXPECT_EQ(req(0, XS_RELEASE, "6\0"s).data, OK);
    EXPECT_FALSE(xs_.connected(6));
    EXPECT_EQ(req(0, XS_IS_DOMAIN_INTRODUCED, "6\0"s).data, "F\0"s);
    EXPECT_EQ(err(req(0, XS_RELEASE, "6\0"s)), E("ENOENT"));
    EXPECT_EQ(err(req(0, XS_RELEASE, "0\0"s)), E("EINVAL"));
    auto ev = events(0);
    EXPECT_EQ(ev.back(), "@releaseDomain\0r\0"s);
    EXPECT_TRUE(events(4).empty());
    // Granting read on the special node lets domain 4 see it (the SET_PERMS fires it too).
    EXPECT_EQ(req(0, XS_SET_PERMS, "@releaseDomain\0n0\0r4\0"s).data, OK);
    EXPECT_EQ(events(4), (std::vector<std::string>{"@releaseDomain\0r4\0"s}));
    introduce(6);
    req(0, XS_RELEASE, "6\0"s);
    EXPECT_EQ(events(4), (std::vector<std::string>{"@releaseDomain\0r4\0"s}));
}

TEST_F(XsTest, Permissions) {
    introduce(1);
    introduce(2);
    // Domain 1 may not touch domain 2's home, nor the root.
    EXPECT_EQ(err(write(1, "/local/domain/2/x", "v")), E("EACCES"));
    EXPECT_EQ(err(read(1, "/local/domain/2")), E("EACCES"));
    EXPECT_EQ(err(read(1, "/local/domain/2/missing")), E("EACCES"));  // not ENOENT: no leak
    EXPECT_EQ(err(read(1, "/local/domain/1/missing")), E("ENOENT"));
    EXPECT_EQ(err(write(1, "/evil", "v")), E("EACCES"));
    EXPECT_EQ(err(req(1, XS_RM, "/local\0"s)), E("EACCES"));
    // Domain 2 shares a node: read for 1.
    write(2, "shared", "s");
    EXPECT_EQ(req(2, XS_SET_PERMS, "shared\0n2\0r1\0"s).data, OK);
    EXPECT_EQ(read(1, "/local/domain/2/shared").data, "s");
    EXPECT_EQ(err(write(1, "/local/domain/2/shared", "w")), E("EACCES"));
    EXPECT_EQ(req(0, XS_GET_PERMS, "/local/domain/2/shared\0"s).data, "n2\0r1\0"s);
    // Write-only ACL.
    EXPECT_EQ(req(2, XS_SET_PERMS, "shared\0n2\0w1\0"s).data, OK);
    EXPECT_EQ(write(1, "/local/domain/2/shared", "w").data, OK);
    EXPECT_EQ(err(read(1, "/local/domain/2/shared")), E("EACCES"));
    // Only the owner sets permissions, and only domain 0 gives a node away.
    EXPECT_EQ(err(req(1, XS_SET_PERMS, "/local/domain/2/shared\0n1\0"s)), E("EACCES"));
    EXPECT_EQ(err(req(2, XS_SET_PERMS, "shared\0n1\0"s)), E("EPERM"));
    EXPECT_EQ(req(0, XS_SET_PERMS, "/local/domain/2/shared\0b1\0"s).data, OK);
    EXPECT_EQ(req(1, XS_GET_PERMS, "/local/domain/2/shared\0"s).data, "b1\0"s);
    EXPECT_EQ(xs_.nodes_owned(1), 2u);  // its home and the node it was given
    // Bad permission strings.
    EXPECT_EQ(err(req(0, XS_SET_PERMS, "/local\0x0\0"s)), E("EINVAL"));
    EXPECT_EQ(err(req(0, XS_SET_PERMS, "/local\0r\0"s)), E("EINVAL"));
    EXPECT_EQ(err(req(0, XS_SET_PERMS, "/local\0r70000\0"s)), E("EINVAL"));
    EXPECT_EQ(err(req(0, XS_SET_PERMS, "/local\0"s)), E("EINVAL"));
}

TEST_F(XsTest, BadPaths) {
    for (const char* p : {"/a//b", "/a/", "", "/a b", "/a\x01", "@foo"})
        EXPECT_EQ(err(read(0, p)), E("EINVAL")) << p;
    EXPECT_EQ(err(write(0, "/a/@x/", "v")), E("EINVAL"));
    introduce(1);
    std::string longp(2100, 'x');
    EXPECT_EQ(err(write(1, longp, "v")), E("EINVAL"));  // the path-length quota
    std::string toolong = "/" + std::string(3100, 'x');
    EXPECT_EQ(err(write(0, toolong, "v")), E("EINVAL"));
}

TEST_F(XsTest, MalformedRequests) {
    EXPECT_EQ(err(req(0, XS_READ, "/local")), E("EINVAL"));          // no NUL
    EXPECT_EQ(err(req(0, XS_READ, "/local\0/x\0"s)), E("EINVAL"));   // two strings
    EXPECT_EQ(err(req(0, XS_READ, "")), E("EINVAL"));
    EXPECT_EQ(err(req(0, XS_WRITE, "/local/x")), E("EINVAL"));       // no NUL at all
    EXPECT_EQ(err(req(0, XS_WATCH, "/x\0"s)), E("EINVAL"));          // no token
    EXPECT_EQ(err(req(0, XS_TRANSACTION_END, "X\0"s, 0)), E("EINVAL"));
    EXPECT_EQ(err(req(0, XS_TRANSACTION_END, "T\0"s, 0)), E("ENOENT"));
    EXPECT_EQ(err(req(0, XS_READ, "/local\0"s, 77)), E("ENOENT"));  // unknown transaction
    EXPECT_EQ(err(req(0, 9999, "x\0"s)), E("ENOSYS"));
    EXPECT_EQ(err(req(0, XS_WATCH_EVENT, "x\0"s)), E("ENOSYS"));
    EXPECT_EQ(err(req(0, XS_ERROR, ""s)), E("ENOSYS"));
    EXPECT_EQ(xs::error_string(12345), std::string("EINVAL"));
}

TEST_F(XsTest, Watches) {
    introduce(1);
    EXPECT_EQ(req(0, XS_WATCH, "/a\0tok\0"s).data, OK);
    EXPECT_EQ(events(0), (std::vector<std::string>{"/a\0tok\0"s}));  // the initial event
    EXPECT_EQ(err(req(0, XS_WATCH, "/a\0tok\0"s)), E("EEXIST"));
    write(0, "/a/b", "1");
    EXPECT_EQ(events(0), (std::vector<std::string>{"/a/b\0tok\0"s}));
    write(0, "/ab", "1");  // not below /a
    write(0, "/c", "1");
    EXPECT_TRUE(events(0).empty());
    req(0, XS_MKDIR, "/a/b/c\0"s);
    EXPECT_EQ(events(0), (std::vector<std::string>{"/a/b/c\0tok\0"s}));
    // rm of a parent: the watch below fires with its own path.
    EXPECT_EQ(req(0, XS_WATCH, "/a/b/c\0deep\0"s).data, OK);
    events(0);
    req(0, XS_RM, "/a\0"s);
    auto ev = events(0);
    // The removed root fires watches on it and above; each node below fires only the watches
    // set exactly on it (xenstored's delnode_sub): /a's watch sees "/a" once.
    std::set<std::string> got(ev.begin(), ev.end());
    EXPECT_EQ(got, (std::set<std::string>{"/a\0tok\0"s, "/a/b/c\0deep\0"s}));
    // Relative watches report relative paths.
    EXPECT_EQ(req(1, XS_WATCH, "dev\0rel\0"s).data, OK);
    EXPECT_EQ(events(1), (std::vector<std::string>{"dev\0rel\0"s}));
    write(1, "dev/x", "1");
    EXPECT_EQ(events(1), (std::vector<std::string>{"dev/x\0rel\0"s}));
    // No events from nodes the watcher may not read.
    EXPECT_EQ(req(1, XS_WATCH, "/\0all\0"s).data, OK);
    events(1);
    write(0, "/secret", "s");
    EXPECT_TRUE(events(1).empty());
    // Unwatch.
    EXPECT_EQ(req(1, XS_UNWATCH, "dev\0rel\0"s).data, OK);
    EXPECT_EQ(err(req(1, XS_UNWATCH, "dev\0rel\0"s)), E("ENOENT"));
    write(1, "dev/y", "1");
    EXPECT_EQ(events(1), (std::vector<std::string>{"/local/domain/1/dev/y\0all\0"s}));
    // set_perms fires too.
    req(0, XS_SET_PERMS, "/local/domain/1/dev/y\0n0\0"s);
    EXPECT_EQ(events(1), (std::vector<std::string>{"/local/domain/1/dev/y\0all\0"s}));
    // RESET_WATCHES drops them all.
    EXPECT_EQ(req(1, XS_RESET_WATCHES, ""s).data, OK);
    write(1, "dev/z", "1");
    EXPECT_TRUE(events(1).empty());
}

// The ping-pong pair's rendezvous (guest/pingpong): a domain's world-readable announcement in
// its own home reaches another domain watching /local/domain; a node shared with one peer
// (n<owner> r<peer>) is readable by that peer only.
TEST_F(XsTest, WatchersSeeOnlyWhatTheyMayRead) {
    for (uint32_t d : {1u, 2u, 3u}) {
        introduce(d);
        EXPECT_EQ(req(d, XS_WATCH, "/local/domain\0peer\0"s).data, OK);
        events(d);
    }
    EXPECT_EQ(req(1, XS_MKDIR, "data\0"s).data, OK);
    EXPECT_EQ(req(1, XS_SET_PERMS, "data\0r1\0"s).data, OK);  // everyone reads
    for (uint32_t d : {1u, 2u, 3u}) events(d);
    write(1, "data/name", "ping");  // inherits r1
    EXPECT_EQ(events(2), (std::vector<std::string>{"/local/domain/1/data/name\0peer\0"s}));
    EXPECT_EQ(read(3, "/local/domain/1/data/name").data, "ping");
    EXPECT_EQ(err(read(3, "/local/domain/1")), E("EACCES"));  // the home itself stays private
    events(3);
    write(1, "data/ring-ref", "8");
    EXPECT_EQ(req(1, XS_SET_PERMS, "data/ring-ref\0n1\0r2\0"s).data, OK);
    for (uint32_t d : {2u, 3u}) events(d);
    write(1, "data/ring-ref", "9");
    EXPECT_EQ(events(2), (std::vector<std::string>{"/local/domain/1/data/ring-ref\0peer\0"s}));
    // Xen's watch_permitted also lets the event through when the parent is readable: domain 3
    // learns that the node changed, not what it holds.
    EXPECT_EQ(events(3), (std::vector<std::string>{"/local/domain/1/data/ring-ref\0peer\0"s}));
    EXPECT_EQ(err(read(3, "/local/domain/1/data/ring-ref")), E("EACCES"));
    write(0, "/local/domain/1/secret", "s");  // n0 r1, below a home domain 3 may not read
    EXPECT_TRUE(events(3).empty());
}

// The ring pump writes out only the connections that have something queued.
TEST_F(XsTest, ConnectionsWithOutput) {
    introduce(1);
    introduce(2);
    uint32_t ids[4];
    EXPECT_EQ(xs_.connections_with_output(ids, 4), 0u);
    xsd_sockmsg h{XS_READ, 1, 0, 6};
    xs_.handle(2, h, "/nosu\0", h.len);
    ASSERT_EQ(xs_.connections_with_output(ids, 4), 1u);
    EXPECT_EQ(ids[0], 2u);
    drain(2);
    EXPECT_EQ(xs_.connections_with_output(ids, 4), 0u);
}

TEST_F(XsTest, TransactionsCommitAndAbort) {
    write(0, "/t/a", "0");
    uint32_t tx = tx_start(0);
    EXPECT_NE(tx, 0u);
    EXPECT_EQ(req(0, XS_WATCH, "/t\0w\0"s).data, OK);
    events(0);
    EXPECT_EQ(write(0, "/t/a", "1", tx).data, OK);
    EXPECT_EQ(write(0, "/t/new/x", "2", tx).data, OK);
    EXPECT_EQ(read(0, "/t/a", tx).data, "1");
    EXPECT_EQ(read(0, "/t/a").data, "0");  // not visible outside
    EXPECT_EQ(err(read(0, "/t/new/x")), E("ENOENT"));
    EXPECT_TRUE(events(0).empty());  // events wait for the commit
    EXPECT_EQ(err(req(0, XS_TRANSACTION_START, ""s + '\0', tx)), E("EBUSY"));
    EXPECT_EQ(req(0, XS_TRANSACTION_END, "T\0"s, tx).data, OK);
    EXPECT_EQ(read(0, "/t/a").data, "1");
    EXPECT_EQ(read(0, "/t/new/x").data, "2");
    EXPECT_EQ(req(0, XS_DIRECTORY, "/t\0"s).data, "a\0new\0"s);
    auto ev = events(0);
    std::set<std::string> got(ev.begin(), ev.end());
    EXPECT_TRUE(got.count("/t/a\0w\0"s));
    EXPECT_TRUE(got.count("/t/new/x\0w\0"s));
    EXPECT_EQ(err(read(0, "/t/a", tx)), E("ENOENT"));  // the id is gone
    // Abort.
    tx = tx_start(0);
    req(0, XS_RM, "/t/a\0"s, tx);
    EXPECT_EQ(req(0, XS_TRANSACTION_END, "F\0"s, tx).data, OK);
    EXPECT_EQ(read(0, "/t/a").data, "1");
    EXPECT_TRUE(events(0).empty());
}

TEST_F(XsTest, TransactionConflicts) {
    write(0, "/c/a", "0");
    write(0, "/c/b", "0");
    // Read a, someone writes a: EAGAIN.
    uint32_t tx = tx_start(0);
    read(0, "/c/a", tx);
    write(0, "/c/b", "x", tx);
    write(0, "/c/a", "other");
    EXPECT_EQ(err(req(0, XS_TRANSACTION_END, "T\0"s, tx)), E("EAGAIN"));
    EXPECT_EQ(read(0, "/c/b").data, "0");  // nothing applied
    // Seen absent, created meanwhile: EAGAIN.
    tx = tx_start(0);
    EXPECT_EQ(err(read(0, "/c/n", tx)), E("ENOENT"));
    write(0, "/c/n", "1");
    EXPECT_EQ(err(req(0, XS_TRANSACTION_END, "T\0"s, tx)), E("EAGAIN"));
    // Deleted meanwhile: EAGAIN.
    tx = tx_start(0);
    read(0, "/c/a", tx);
    req(0, XS_RM, "/c/a\0"s);
    EXPECT_EQ(err(req(0, XS_TRANSACTION_END, "T\0"s, tx)), E("EAGAIN"));
    // Unrelated changes do not conflict.
    tx = tx_start(0);
    read(0, "/c/b", tx);
    write(0, "/elsewhere", "1");
    EXPECT_EQ(req(0, XS_TRANSACTION_END, "T\0"s, tx).data, OK);
    // Two transactions touching the same node: the second commit fails.
    uint32_t t1 = tx_start(0), t2 = tx_start(0);
    write(0, "/c/b", "t1", t1);
    write(0, "/c/b", "t2", t2);
    EXPECT_EQ(req(0, XS_TRANSACTION_END, "T\0"s, t1).data, OK);
    EXPECT_EQ(err(req(0, XS_TRANSACTION_END, "T\0"s, t2)), E("EAGAIN"));
    EXPECT_EQ(read(0, "/c/b").data, "t1");
}

TEST_F(XsTest, TransactionRmAndPermsInside) {
    introduce(1);
    write(1, "x/y/z", "1");
    uint32_t tx = tx_start(1);
    EXPECT_EQ(req(1, XS_RM, "x\0"s, tx).data, OK);
    EXPECT_EQ(err(read(1, "x/y/z", tx)), E("ENOENT"));
    EXPECT_EQ(read(1, "x/y/z").data, "1");
    EXPECT_EQ(err(write(1, "/local/domain/0/evil", "1", tx)), E("EACCES"));
    EXPECT_EQ(req(1, XS_TRANSACTION_END, "T\0"s, tx).data, OK);
    EXPECT_EQ(err(read(1, "x")), E("ENOENT"));
    EXPECT_EQ(xs_.nodes_owned(1), 1u);
}

// A domain's memory quota: what its requests allocate is charged to it, wherever it lives.
class XsMemoryTest : public XsTest {
protected:
    static xs::Quotas q() {
        xs::Quotas q;
        q.memory = 64 << 10;
        return q;
    }
    XsMemoryTest() : XsTest(8 << 20, q()) {}
};

TEST_F(XsMemoryTest, TransactionsAndNodesStopAtTheMemoryQuota) {
    introduce(1);
    introduce(2);
    const size_t before = xs_.memory_used(1);
    uint32_t tx = tx_start(1);
    const std::string value(1800, 't');
    Msg r;
    int n = 0;
    for (; n < 1000; ++n) {
        r = write(1, "/local/domain/1/t" + std::to_string(n), value, tx);
        if (r.type == XS_ERROR) break;
    }
    EXPECT_EQ(err(r), E("ENOMEM"));
    EXPECT_GT(n, 10);
    EXPECT_LE(xs_.memory_used(1), 64u << 10);
    EXPECT_EQ(write(2, "/local/domain/2/x", value).data, OK);  // the others go on
    EXPECT_EQ(write(0, "/tool/x", value).data, OK);
    EXPECT_EQ(req(1, XS_TRANSACTION_END, "F\0"s, tx).data, OK);
    EXPECT_EQ(xs_.memory_used(1), before);  // all given back
    // Nodes in the tree count too, and removing them gives the memory back — even when domain 0
    // removes them.
    for (n = 0; n < 1000; ++n) {
        r = write(1, "/local/domain/1/n" + std::to_string(n), value);
        if (r.type == XS_ERROR) break;
    }
    EXPECT_EQ(err(r), E("ENOMEM"));
    EXPECT_EQ(req(0, XS_RM, "/local/domain/1/n0\0"s).data, OK);
    EXPECT_LT(xs_.memory_used(1), (64u << 10) - 1800);
    EXPECT_EQ(write(1, "/local/domain/1/again", value).data, OK);
    EXPECT_EQ(xs_.memory_used(0), 0u);  // domain 0 is not accounted
}

// A small arena that domains fill long before their quotas.
class XsSmallArenaTest : public XsTest {
protected:
    XsSmallArenaTest() : XsTest(256 << 10) {}
};

TEST_F(XsSmallArenaTest, DomainsCannotTakeDomain0sReserve) {
    introduce(1);
    introduce(2);
    const std::string value(1500, 'v');
    // Each domain writes until the arena refuses: answered with ENOMEM, not left unanswered.
    for (uint32_t dom : {1u, 2u}) {
        const std::string home = "/local/domain/" + std::to_string(dom) + "/n";
        Msg r;
        int written = 0;
        for (; written < 1000; ++written) {
            r = write(dom, home + std::to_string(written), value);
            if (r.type == XS_ERROR) break;
        }
        EXPECT_EQ(err(r), E("ENOMEM")) << "domain " << dom;
        EXPECT_LT(written, 1000);
        EXPECT_EQ(read(dom, home + "0").data, value);  // and it is still served
    }
    EXPECT_GT(arena_.capacity() - arena_.used(), arena_.capacity() / 16);
    // Domain 0 goes on in its reserve: the toolstack still writes, and cleans up.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(write(0, "/tool/t" + std::to_string(i), std::string(300, 't')).data, OK);
    EXPECT_EQ(req(0, XS_RM, "/local/domain/1\0"s).data, OK);
    EXPECT_EQ(write(2, "/local/domain/2/x", value).data, OK);
}

class XsQuotaTest : public XsTest {
protected:
    static xs::Quotas small() {
        xs::Quotas q;
        q.nodes = 10;
        q.node_size = 100;
        q.perms = 3;
        q.watches = 4;
        q.transactions = 2;
        q.trans_nodes = 20;
        q.out_bytes = 4096;
        return q;
    }
    XsQuotaTest() : XsTest(8 << 20, small()) {}
};

TEST_F(XsQuotaTest, Quotas) {
    introduce(1);  // home owned by 1: one node
    for (int i = 0; i < 9; ++i) EXPECT_EQ(write(1, "n" + std::to_string(i), "v").data, OK);
    EXPECT_EQ(xs_.nodes_owned(1), 10u);
    EXPECT_EQ(err(write(1, "one-more", "v")), E("ENOSPC"));
    EXPECT_EQ(write(1, "n0", "rewrite is fine").data, OK);
    req(1, XS_RM, "n0\0"s);
    EXPECT_EQ(err(write(1, "a/b", "v")), E("ENOSPC"));  // two levels, one slot: nothing made
    EXPECT_EQ(err(read(1, "a")), E("ENOENT"));
    EXPECT_EQ(write(1, "a", "v").data, OK);
    // Domain 0 is not limited.
    for (int i = 0; i < 20; ++i) EXPECT_EQ(write(0, "/d0/" + std::to_string(i), "v").data, OK);
    // Node size.
    EXPECT_EQ(err(write(1, "n1", std::string(200, 'x'))), E("ENOSPC"));
    EXPECT_EQ(write(0, "/big", std::string(200, 'x')).data, OK);
    // ACL entries.
    EXPECT_EQ(err(req(1, XS_SET_PERMS, "n1\0n1\0r2\0r3\0r4\0"s)), E("ENOSPC"));
    EXPECT_EQ(req(1, XS_SET_PERMS, "n1\0n1\0r2\0r3\0"s).data, OK);
    // Watches: as xenstored, the count before is compared, so quota + 1 fit.
    for (int i = 0; i < 5; ++i) EXPECT_EQ(req(1, XS_WATCH, "w" + std::to_string(i) + "\0t\0"s).data, OK);
    EXPECT_EQ(err(req(1, XS_WATCH, "w9\0t\0"s)), E("E2BIG"));
    // Transactions: quota + 1 too.
    for (int i = 0; i < 3; ++i) tx_start(1);
    EXPECT_EQ(err(req(1, XS_TRANSACTION_START, ""s + '\0')), E("ENOSPC"));
}

TEST_F(XsQuotaTest, TransactionNodeQuota) {
    introduce(1);
    uint32_t tx = tx_start(1);
    std::string last;
    for (int i = 0; i < 25; ++i) last = err(read(1, "x" + std::to_string(i), tx));
    EXPECT_EQ(last, E("ENOSPC"));
}

TEST_F(XsQuotaTest, FloodedWatcherLosesEventsNotMemory) {
    introduce(1);
    req(0, XS_SET_PERMS, "/local/domain/1\0b1\0"s);
    EXPECT_EQ(req(1, XS_WATCH, "/local/domain/1\0t\0"s).data, OK);
    size_t before = arena_.used();
    // Domain 1 never drains; dom0 writes many distinct nodes below its watch.
    for (int i = 0; i < 500; ++i) {
        xsd_sockmsg h{XS_WRITE, 1, 0, 0};
        std::string p = "/local/domain/1/k" + std::to_string(i % 8) + std::string(1, '\0') + "v";
        h.len = static_cast<uint32_t>(p.size());
        xs_.handle(0, h, p.data(), h.len);
        drain(0);
    }
    EXPECT_LE(xs_.output_bytes(1), 4096u);
    EXPECT_LT(arena_.used() - before, 64u * 1024);
}

// The ring codec: a fake shared page, a client writing requests into it.
class XsRingTest : public XsTest {
protected:
    void SetUp() override {
        XsTest::SetUp();
        introduce(1);
        drain(0);
    }
    void put(const void* p, size_t n) {
        auto* b = static_cast<const char*>(p);
        for (size_t i = 0; i < n; ++i) page_.req[MASK_XENSTORE_IDX(page_.req_prod + i)] = b[i];
        page_.req_prod += static_cast<uint32_t>(n);
    }
    void send(uint32_t type, const std::string& payload, uint32_t id = 1) {
        xsd_sockmsg h{type, id, 0, static_cast<uint32_t>(payload.size())};
        put(&h, sizeof h);
        put(payload.data(), payload.size());
    }
    std::vector<Msg> replies() {
        std::vector<Msg> out;
        while (page_.rsp_prod - page_.rsp_cons >= sizeof(xsd_sockmsg)) {
            xsd_sockmsg h;
            for (size_t i = 0; i < sizeof h; ++i)
                reinterpret_cast<char*>(&h)[i] = page_.rsp[MASK_XENSTORE_IDX(page_.rsp_cons + i)];
            if (page_.rsp_prod - page_.rsp_cons < sizeof h + h.len) break;
            std::string d;
            for (size_t i = 0; i < h.len; ++i)
                d += page_.rsp[MASK_XENSTORE_IDX(page_.rsp_cons + sizeof h + i)];
            page_.rsp_cons += static_cast<uint32_t>(sizeof h + h.len);
            out.push_back({h.type, h.req_id, h.tx_id, d});
        }
        return out;
    }
    xenstore_domain_interface page_{};
    xs::RingConn ring_{1, &page_};
};

TEST_F(XsRingTest, RequestsAcrossTheWrap) {
    std::vector<Msg> all;
    for (int i = 0; i < 200; ++i) {  // many times round the 1 KiB rings
        send(XS_WRITE, "k" + std::to_string(i % 5) + '\0' + std::string(50, 'v'), static_cast<uint32_t>(i));
        EXPECT_TRUE(ring_.service(xs_));
        for (auto& m : replies()) all.push_back(m);
    }
    ASSERT_EQ(all.size(), 200u);
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].req_id, i);
        EXPECT_EQ(all[i].data, OK);
    }
    // A request fed one byte at a time.
    std::string p = "k1\0"s;
    xsd_sockmsg h{XS_READ, 999, 0, static_cast<uint32_t>(p.size())};
    std::string bytes(reinterpret_cast<char*>(&h), sizeof h);
    bytes += p;
    for (char c : bytes) {
        put(&c, 1);
        ring_.service(xs_);
    }
    auto r = replies();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].data, std::string(50, 'v'));
    EXPECT_FALSE(ring_.broken());
}

TEST_F(XsRingTest, RequestBudgetLeavesTheRestForLater) {
    for (uint32_t i = 0; i < 3; ++i) send(XS_WRITE, "k\0v"s, i);
    EXPECT_TRUE(ring_.service(xs_, 2));
    EXPECT_EQ(replies().size(), 2u);
    EXPECT_TRUE(ring_.more());  // the third still waits
    EXPECT_TRUE(ring_.service(xs_, 2));
    EXPECT_EQ(replies().size(), 1u);
    EXPECT_FALSE(ring_.more());
    EXPECT_FALSE(ring_.service(xs_, 2));
}

TEST_F(XsRingTest, LongReplyWaitsForSpace) {
    write(0, "/local/domain/1/big", std::string(3000, 'b'));
    send(XS_READ, "big\0"s, 5);
    ring_.service(xs_);
    std::string got;
    for (int i = 0; i < 10 && got.size() < 3000; ++i) {
        // Consume the partial message bytes as they come, as a client would.
        while (page_.rsp_cons != page_.rsp_prod) got += page_.rsp[MASK_XENSTORE_IDX(page_.rsp_cons++)];
        ring_.service(xs_);
    }
    ASSERT_EQ(got.size(), sizeof(xsd_sockmsg) + 3000);
    EXPECT_EQ(got.substr(sizeof(xsd_sockmsg)), std::string(3000, 'b'));
}

TEST_F(XsRingTest, OverlongPayloadBreaksTheConnection) {
    xsd_sockmsg h{XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX + 1};
    put(&h, sizeof h);
    ring_.service(xs_);
    EXPECT_TRUE(ring_.broken());
    EXPECT_EQ(page_.error, uint32_t{XENSTORE_ERROR_PROTO});
    EXPECT_FALSE(ring_.service(xs_));
}

TEST_F(XsRingTest, BogusIndicesBreakTheConnection) {
    page_.req_prod = page_.req_cons + XENSTORE_RING_SIZE + 1;
    ring_.service(xs_);
    EXPECT_TRUE(ring_.broken());
    EXPECT_EQ(page_.error, uint32_t{XENSTORE_ERROR_RINGIDX});
}

TEST_F(XsRingTest, BogusResponseIndicesBreakTheConnection) {
    page_.rsp_cons = page_.rsp_prod + 5000;  // the client claims to have read what was never written
    send(XS_READ, "x\0"s);
    ring_.service(xs_);
    EXPECT_TRUE(ring_.broken());
}

TEST_F(XsRingTest, GarbageDoesNotCrash) {
    std::mt19937 rng(7);
    for (int round = 0; round < 2000 && !ring_.broken(); ++round) {
        xsd_sockmsg h{static_cast<uint32_t>(rng() % 24), static_cast<uint32_t>(rng()),
                      static_cast<uint32_t>(rng() % 3), static_cast<uint32_t>(rng() % 64)};
        std::string p;
        for (uint32_t i = 0; i < h.len; ++i) {
            const char alphabet[] = "ab/\0@0123TF";
            p += alphabet[rng() % (sizeof alphabet - 1)];
        }
        put(&h, sizeof h);
        put(p.data(), p.size());
        ring_.service(xs_);
        replies();
    }
    EXPECT_FALSE(ring_.broken());
}

// Random operations by domain 0 and two domUs against a simple model of the tree (values and
// existence; permissions stay the defaults, so domUs only touch their homes).
TEST_F(XsTest, RandomAgainstModel) {
    introduce(1);
    introduce(2);
    std::map<std::string, std::string> model;  // absolute path -> value
    auto add_parents = [&](std::string p) {
        while (true) {
            auto s = p.rfind('/');
            if (s == 0) break;
            p = p.substr(0, s);
            if (!model.count(p)) model[p] = "";
        }
    };
    for (auto& p : {"/local/domain/1", "/local/domain/2"}) model[p] = "";
    std::mt19937 rng(12345);
    const char* names[] = {"a", "b", "c"};
    for (int step = 0; step < 3000; ++step) {
        uint32_t dom = rng() % 3;
        std::string home = "/local/domain/" + std::to_string(dom ? dom : 1 + rng() % 2);
        std::string p = home;
        int depth = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < depth; ++i) p += "/"s + names[rng() % 3];
        std::string v = std::to_string(rng() % 100);
        bool mine = dom == 0 || home == "/local/domain/" + std::to_string(dom);
        switch (rng() % 4) {
        case 0: {
            auto r = write(dom, p, v);
            if (mine) {
                ASSERT_EQ(r.data, OK) << p;
                model[p] = v;
                add_parents(p);
            } else {
                ASSERT_EQ(err(r), E("EACCES"));
            }
            break;
        }
        case 1: {
            auto r = read(dom, p);
            if (!mine)
                ASSERT_EQ(err(r), E("EACCES"));
            else if (model.count(p))
                ASSERT_EQ(r.data, model[p]) << p;
            else
                ASSERT_EQ(err(r), E("ENOENT")) << p;
            break;
        }
        case 2: {
            auto r = req(dom, XS_RM, p + '\0');
            if (!mine) {
                ASSERT_EQ(err(r), E("EACCES"));
                break;
            }
            std::string parent = p.substr(0, p.rfind('/'));
            if (model.count(p) || model.count(parent)) {
                ASSERT_EQ(r.data, OK);
                for (auto it = model.begin(); it != model.end();)
                    it = (it->first == p || it->first.rfind(p + "/", 0) == 0) ? model.erase(it)
                                                                              : std::next(it);
            } else {
                ASSERT_EQ(err(r), E("ENOENT"));
            }
            break;
        }
        case 3: {
            if (!mine) break;
            auto r = req(dom, XS_DIRECTORY, home + '\0');
            std::string expect_set;
            std::set<std::string> kids;
            for (auto& [k, _] : model)
                if (k.rfind(home + "/", 0) == 0 && k.find('/', home.size() + 1) == std::string::npos)
                    kids.insert(k.substr(home.size() + 1));
            std::set<std::string> got;
            for (size_t s = 0; s < r.data.size();) {
                auto e = r.data.find('\0', s);
                got.insert(r.data.substr(s, e - s));
                s = e + 1;
            }
            ASSERT_EQ(got, kids) << home;
            break;
        }
        }
        events(0);
    }
    // Node accounting matches the model: each domU owns its home and what it created; nodes dom0
    // created inherit the home's owner too.
    for (uint32_t d : {1u, 2u}) {
        std::string home = "/local/domain/" + std::to_string(d);
        uint32_t n = 0;
        for (auto& [k, _] : model)
            if (k == home || k.rfind(home + "/", 0) == 0) ++n;
        EXPECT_EQ(xs_.nodes_owned(d), n);
    }
}

TEST(XsArena, AllocFreeCoalesce) {
    std::vector<char> mem(4096);
    xs::Arena a(mem.data(), mem.size());
    void* p = a.alloc(100);
    void* q = a.alloc(200);
    void* r = a.alloc(300);
    ASSERT_TRUE(p && q && r);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    a.free(q);
    a.free(p);
    a.free(r);
    EXPECT_EQ(a.used(), 0u);
    void* big = a.alloc(4000);  // only fits if everything merged back
    EXPECT_NE(big, nullptr);
    EXPECT_EQ(a.alloc(100), nullptr);
    a.free(big);
    EXPECT_EQ(a.alloc(5000), nullptr);
}

TEST(XsArena, GrowsByBlocksHandedOver) {
    std::vector<char> first(4096), second(8192);
    xs::Arena a(first.data(), first.size());
    EXPECT_EQ(a.alloc(6000), nullptr);
    a.grow(second.data(), second.size());
    EXPECT_EQ(a.capacity(), first.size() + second.size());
    void* big = a.alloc(6000);  // only the new block holds it
    ASSERT_NE(big, nullptr);
    EXPECT_GE(static_cast<char*>(big), second.data());
    void* small = a.alloc(3000);  // the first block is still in use
    ASSERT_NE(small, nullptr);
    EXPECT_LT(static_cast<char*>(small), first.data() + first.size());
    a.free(big);
    a.free(small);
    EXPECT_EQ(a.used(), 0u);
    // Adjacent blocks merge: a second half after the first gives one block of both.
    std::vector<char> both(16384);
    xs::Arena b(both.data(), 8192);
    b.grow(both.data() + 8192, 8192);
    void* all = b.alloc(16000);
    EXPECT_NE(all, nullptr);
    b.free(all);
}

// A store that grows keeps its domains going where a fixed arena says ENOMEM.
TEST(XsArena, StoreGoesOnAfterGrowing) {
    std::vector<char> mem(256 << 10), more(1 << 20);
    xs::Arena a(mem.data(), mem.size());
    xs::Xenstored store(a);
    ASSERT_TRUE(store.init());
    auto write = [&](int i) {
        std::string p = "/n" + std::to_string(i) + '\0' + std::string(1000, 'v');
        xsd_sockmsg h{XS_WRITE, 1, 0, static_cast<uint32_t>(p.size())};
        store.handle(0, h, p.data(), h.len);
        bool ok = true;
        while (const xs::OutMsg* m = store.peek_output(0)) {
            ok = ok && m->hdr.type != XS_ERROR;
            store.pop_output(0);
        }
        return ok;
    };
    int n = 0;
    while (n < 2000 && write(n)) ++n;
    EXPECT_LT(n, 2000);
    a.grow(more.data(), more.size());
    EXPECT_TRUE(write(n));
}

TEST(XsArena, OutOfMemoryIsAnError) {
    std::vector<char> mem(64 * 1024);
    xs::Arena a(mem.data(), mem.size());
    xs::Xenstored store(a);
    ASSERT_TRUE(store.init());
    int failures = 0;
    for (int i = 0; i < 2000; ++i) {
        std::string p = "/n" + std::to_string(i) + '\0' + std::string(100, 'v');
        xsd_sockmsg h{XS_WRITE, 1, 0, static_cast<uint32_t>(p.size())};
        store.handle(0, h, p.data(), h.len);
        while (const xs::OutMsg* m = store.peek_output(0)) {
            if (m->hdr.type == XS_ERROR) ++failures;
            store.pop_output(0);
        }
    }
    EXPECT_GT(failures, 0);
}

}  // namespace
