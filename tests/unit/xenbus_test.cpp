// The domU side of domain 0's services (guest/lib/xenbus), on the host: the XenStore client
// against the real XenStore core (guest/lib/xenstore) over rings in memory — framing across the
// wrap and across messages longer than the ring, watch events between replies, errors by name,
// transactions, domain 0's toolstack calls — and against a hostile server; the console ring's two
// ends and the console backend's per-domain buffer.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <stdexcept>
#include <vector>

#include <xen/errno.h>

#include "guest/lib/xenbus/cons_ring.hpp"
#include "guest/lib/xenbus/xs_client.hpp"
#include "guest/lib/xenstore/ring.hpp"

namespace {

using namespace std::string_literals;

// The server end of one domain's ring: the client's notify and wait both let the core run.
class Served final : public xb::Channel {
public:
    Served(xs::Xenstored& store, uint32_t domid) : conn_(domid, &page_), store_(store) {}
    void notify() override { ++notifies; conn_.service(store_); }
    void wait() override {
        ++waits;
        conn_.service(store_);
    }
    xenstore_domain_interface* page() { return &page_; }
    unsigned notifies = 0, waits = 0;

private:
    xenstore_domain_interface page_{};
    xs::RingConn conn_;
    xs::Xenstored& store_;
};

class XbTest : public ::testing::Test {
protected:
    XbTest()
        : mem_{std::malloc(8 << 20)}, arena_(mem_.p, 8 << 20), store_(arena_), dom0_ch_(store_, 0),
          dom0_(dom0_ch_.page(), dom0_ch_) {}
    void SetUp() override { ASSERT_TRUE(store_.init()); }

    std::string read(xb::XsClient& c, const char* path, int* err = nullptr) {
        std::vector<char> buf(5000);
        uint32_t len = 0;
        int e = c.read(path, buf.data(), static_cast<uint32_t>(buf.size()), &len);
        if (err) *err = e;
        return e ? "" : std::string(buf.data(), len);
    }

    struct Mem {  // freed after the store that lives in it
        void* p;
        ~Mem() { std::free(p); }
    } mem_;
    xs::Arena arena_;
    xs::Xenstored store_;
    Served dom0_ch_;
    xb::XsClient dom0_;
};

TEST_F(XbTest, ReadWriteDirectoryRm) {
    EXPECT_EQ(dom0_.write("/a/b", "hello"), 0);
    EXPECT_EQ(read(dom0_, "/a/b"), "hello");
    EXPECT_EQ(dom0_.mkdir("/a/c"), 0);
    char list[64];
    uint32_t len = 0;
    ASSERT_EQ(dom0_.directory("/a", list, sizeof(list), &len), 0);
    EXPECT_EQ(std::string(list, len), "b\0c\0"s);
    EXPECT_EQ(dom0_.rm("/a"), 0);
    int err = 0;
    read(dom0_, "/a/b", &err);
    EXPECT_EQ(err, XEN_ENOENT);
    uint32_t v = 0;
    EXPECT_EQ(dom0_.write("/n", "42"), 0);
    EXPECT_EQ(dom0_.read_u32("/n", &v), 0);
    EXPECT_EQ(v, 42u);
    EXPECT_EQ(dom0_.write("/n", "x"), 0);
    EXPECT_EQ(dom0_.read_u32("/n", &v), XEN_EINVAL);
    // A buffer too small for the value.
    char small[3];
    EXPECT_EQ(dom0_.read("/a", small, sizeof(small), &len), XEN_ENOENT);
    EXPECT_EQ(dom0_.write("/big", "abcdef"), 0);
    EXPECT_EQ(dom0_.read("/big", small, sizeof(small), &len), XEN_E2BIG);
}

TEST_F(XbTest, MessagesLongerThanTheRingBothWays) {
    // 3000 bytes: three ring's worth each way, so both ends wait for the other to make room.
    std::string big(3000, 'x');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    EXPECT_EQ(dom0_.write_bytes("/big", big.data(), static_cast<uint32_t>(big.size())), 0);
    EXPECT_EQ(read(dom0_, "/big"), big);
    EXPECT_GT(dom0_ch_.waits + dom0_ch_.notifies, 3u);
    // Many small requests go across the indices' wrap.
    for (int i = 0; i < 500; ++i) ASSERT_EQ(dom0_.write("/k", std::to_string(i).c_str()), 0);
    EXPECT_EQ(read(dom0_, "/k"), "499");
}

TEST_F(XbTest, DomainsPermissionsAndToolstackCalls) {
    EXPECT_EQ(dom0_.introduce(5, 1234, 7), 0);
    bool in = false;
    EXPECT_EQ(dom0_.is_domain_introduced(5, &in), 0);
    EXPECT_TRUE(in);
    EXPECT_EQ(dom0_.is_domain_introduced(6, &in), 0);
    EXPECT_FALSE(in);
    char path[64];
    EXPECT_EQ(dom0_.get_domain_path(5, path, sizeof(path)), 0);
    EXPECT_STREQ(path, "/local/domain/5");
    EXPECT_EQ(dom0_.mkdir("/local/domain/5"), 0);
    EXPECT_EQ(dom0_.set_perms("/local/domain/5", "n5\0r0\0", 6), 0);

    Served ch5(store_, 5);
    xb::XsClient dom5(ch5.page(), ch5);
    EXPECT_EQ(dom5.write("data", "mine"), 0);  // relative to its home
    EXPECT_EQ(read(dom0_, "/local/domain/5/data"), "mine");
    int err = 0;
    read(dom5, "/local/domain/0", &err);
    EXPECT_EQ(err, XEN_EACCES);
    EXPECT_EQ(dom5.write("/tool/x", "1"), XEN_EACCES);
    EXPECT_EQ(dom5.introduce(6, 1, 2), XEN_EACCES);
    EXPECT_EQ(dom5.release(5), XEN_EACCES);

    EXPECT_EQ(dom0_.release(5), 0);
    EXPECT_EQ(dom0_.is_domain_introduced(5, &in), 0);
    EXPECT_FALSE(in);
    EXPECT_EQ(dom0_.release(5), XEN_ENOENT);
}

TEST_F(XbTest, WatchEventsArriveBetweenReplies) {
    EXPECT_EQ(dom0_.watch("/w", "tok"), 0);
    char p[64], t[16];
    ASSERT_TRUE(dom0_.next_event(p, sizeof(p), t, sizeof(t)));  // the initial event
    EXPECT_STREQ(p, "/w");
    EXPECT_STREQ(t, "tok");
    EXPECT_FALSE(dom0_.next_event(p, sizeof(p), t, sizeof(t)));
    EXPECT_EQ(dom0_.write("/w/x", "1"), 0);  // its event comes before the reply
    EXPECT_EQ(dom0_.write("/other", "1"), 0);
    ASSERT_TRUE(dom0_.next_event(p, sizeof(p), t, sizeof(t)));
    EXPECT_STREQ(p, "/w/x");
    EXPECT_FALSE(dom0_.next_event(p, sizeof(p), t, sizeof(t)));
    // More events than the client keeps: the oldest stay, the rest are counted as dropped.
    for (unsigned i = 0; i < xb::XsClient::MAX_EVENTS + 4; ++i) ASSERT_EQ(dom0_.write("/w", "v"), 0);
    unsigned got = 0;
    while (dom0_.next_event(p, sizeof(p), t, sizeof(t))) ++got;
    EXPECT_EQ(got, xb::XsClient::MAX_EVENTS);
    EXPECT_EQ(dom0_.events_dropped(), 4u);
    EXPECT_EQ(dom0_.unwatch("/w", "tok"), 0);
    EXPECT_EQ(dom0_.unwatch("/w", "tok"), XEN_ENOENT);
}

TEST_F(XbTest, Transactions) {
    uint32_t t1 = 0, t2 = 0;
    ASSERT_EQ(dom0_.transaction_start(&t1), 0);
    EXPECT_EQ(dom0_.write("/t", "1", t1), 0);
    EXPECT_EQ(read(dom0_, "/t").size(), 0u);  // not visible outside yet
    EXPECT_EQ(dom0_.transaction_end(t1, true), 0);
    EXPECT_EQ(read(dom0_, "/t"), "1");
    // Two transactions reading and writing the same node: the second to commit gets EAGAIN.
    ASSERT_EQ(dom0_.transaction_start(&t1), 0);
    ASSERT_EQ(dom0_.transaction_start(&t2), 0);
    char v[8];
    uint32_t len = 0;
    EXPECT_EQ(dom0_.read("/t", v, sizeof(v), &len, t1), 0);
    EXPECT_EQ(dom0_.read("/t", v, sizeof(v), &len, t2), 0);
    EXPECT_EQ(dom0_.write("/t", "2", t1), 0);
    EXPECT_EQ(dom0_.write("/t", "3", t2), 0);
    EXPECT_EQ(dom0_.transaction_end(t1, true), 0);
    EXPECT_EQ(dom0_.transaction_end(t2, true), XEN_EAGAIN);
    EXPECT_EQ(read(dom0_, "/t"), "2");
    EXPECT_EQ(dom0_.transaction_end(t2, false), XEN_ENOENT);  // already gone
}

TEST(XbErrors, NamesToNumbers) {
    EXPECT_EQ(xs::error_number("EACCES", 7), XEN_EACCES);
    EXPECT_EQ(xs::error_number("EAGAIN\0junk", 11), XEN_EAGAIN);
    EXPECT_EQ(xs::error_number("E2BIG", 5), XEN_E2BIG);  // no NUL: the length ends it
    EXPECT_EQ(xs::error_number("EACCESS", 8), XEN_EINVAL);
    EXPECT_EQ(xs::error_number("EACCE", 6), XEN_EINVAL);
    EXPECT_EQ(xs::error_number("", 1), XEN_EINVAL);
}

// A server that writes whatever the test wants on the response ring.
class Scripted final : public xb::Channel {
public:
    void notify() override {}
    void wait() override {
        if (++waits > 3) throw std::runtime_error("the client waits forever");
    }
    xenstore_domain_interface page{};
    unsigned waits = 0;
};

TEST(XbHostile, BogusIndicesFailTheConnection) {
    Scripted s;
    xb::XsClient c(&s.page, s);
    s.page.rsp_prod = XENSTORE_RING_SIZE + 1;  // more than a ring ahead
    EXPECT_EQ(c.write("/x", "1"), XEN_EIO);
    EXPECT_TRUE(c.failed());
    EXPECT_EQ(c.write("/x", "1"), XEN_EIO);  // and stays failed
}

TEST(XbHostile, OverlongPayloadFailsTheConnection) {
    Scripted s;
    xb::XsClient c(&s.page, s);
    xsd_sockmsg h{XS_READ, 1, 0, XENSTORE_PAYLOAD_MAX + 1};
    std::memcpy(s.page.rsp, &h, sizeof(h));
    s.page.rsp_prod = sizeof(h);
    char buf[8];
    uint32_t len = 0;
    EXPECT_EQ(c.read("/x", buf, sizeof(buf), &len), XEN_EIO);
    EXPECT_TRUE(c.failed());
}

TEST(XbHostile, StrayRepliesAreDropped) {
    Scripted s;
    xb::XsClient c(&s.page, s);
    // A reply to a request never made (req_id 99), then the real one (req_id 1).
    std::string ring;
    auto msg = [&](uint32_t type, uint32_t id, const std::string& body) {
        xsd_sockmsg h{type, id, 0, static_cast<uint32_t>(body.size())};
        ring.append(reinterpret_cast<const char*>(&h), sizeof(h));
        ring += body;
    };
    msg(XS_READ, 99, "stray");
    msg(XS_READ, 1, "real");
    std::memcpy(s.page.rsp, ring.data(), ring.size());
    s.page.rsp_prod = static_cast<uint32_t>(ring.size());
    char buf[16];
    uint32_t len = 0;
    ASSERT_EQ(c.read("/x", buf, sizeof(buf), &len), 0);
    EXPECT_EQ(std::string(buf, len), "real");
}

TEST(ConsRing, WriteDrainAcrossTheWrap) {
    xencons_interface r{};
    r.out_prod = r.out_cons = 0xfffffff0u;  // the indices wrap during the test
    std::string sent, got;
    char buf[300];
    for (int round = 0; round < 40; ++round) {
        std::string chunk(100 + round, static_cast<char>('A' + round % 26));
        size_t done = 0;
        while (done < chunk.size()) {
            size_t n = xb::cons_write(&r, chunk.data() + done, chunk.size() - done);
            done += n;
            if (n == 0 || done < chunk.size()) {  // full: the backend drains
                size_t m = xb::cons_drain_output(&r, buf, sizeof(buf));
                got.append(buf, m);
            }
        }
        sent += chunk;
    }
    while (size_t m = xb::cons_drain_output(&r, buf, sizeof(buf))) got.append(buf, m);
    EXPECT_EQ(got, sent);
}

TEST(ConsRing, FullRingTakesNoMore) {
    xencons_interface r{};
    std::string lots(5000, 'z');
    EXPECT_EQ(xb::cons_write(&r, lots.data(), lots.size()), sizeof(r.out));
    EXPECT_EQ(xb::cons_write(&r, "a", 1), 0u);
    EXPECT_EQ(xb::cons_push_input(&r, lots.data(), lots.size()), sizeof(r.in));
    char buf[2000];
    EXPECT_EQ(xb::cons_read_input(&r, buf, sizeof(buf)), sizeof(r.in));
    EXPECT_EQ(xb::cons_read_input(&r, buf, sizeof(buf)), 0u);
}

TEST(ConsRing, HostileIndicesMoveNothing) {
    xencons_interface r{};
    r.out_prod = sizeof(r.out) + 1;  // the guest claims more than a ring
    char buf[16];
    EXPECT_EQ(xb::cons_drain_output(&r, buf, sizeof(buf)), 0u);
    EXPECT_EQ(r.out_cons, 0u);
    r.in_cons = 5;  // the guest's consumer ahead of our producer
    EXPECT_EQ(xb::cons_push_input(&r, "abc", 3), 0u);
    EXPECT_EQ(r.in_prod, 0u);
}

struct Lines final : xb::ConsoleBuffer::LineSink {
    void line(const char* s, size_t n) override { got.emplace_back(s, n); }
    std::vector<std::string> got;
};

TEST(ConsoleBuffer, LinesAndHistory) {
    auto* b = new xb::ConsoleBuffer;
    Lines sink;
    std::string text = "one\r\ntw";
    b->append(text.data(), text.size(), sink);
    EXPECT_EQ(sink.got, std::vector<std::string>{"one"});
    b->append("o\n\n", 3, sink);
    EXPECT_EQ(sink.got, (std::vector<std::string>{"one", "two", ""}));
    std::string longline(xb::ConsoleBuffer::LINE_LIMIT + 10, 'q');
    b->append(longline.data(), longline.size(), sink);
    ASSERT_EQ(sink.got.size(), 4u);  // cut at LINE_LIMIT; the rest waits for its newline
    EXPECT_EQ(sink.got[3].size(), xb::ConsoleBuffer::LINE_LIMIT);
    char h[16];
    size_t n = b->history(h, sizeof(h));
    EXPECT_EQ(std::string(h, n), std::string(10, 'q').insert(0, "qqqqqq"));
    // History keeps the last HISTORY bytes.
    std::string flood(xb::ConsoleBuffer::HISTORY + 100, 'x');
    flood.back() = 'E';
    b->append(flood.data(), flood.size(), sink);
    std::vector<char> all(xb::ConsoleBuffer::HISTORY * 2);
    n = b->history(all.data(), all.size());
    EXPECT_EQ(n, xb::ConsoleBuffer::HISTORY);
    EXPECT_EQ(all[n - 1], 'E');
    b->reset();
    EXPECT_EQ(b->history(all.data(), all.size()), 0u);
    delete b;
}

}  // namespace
