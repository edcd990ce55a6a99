#include "core/console.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using pv::LogLevel;

// The console is a process-wide singleton and a driver cannot be removed: one recording driver is
// added on first use and its buffer cleared per test.  The console calls write() under its lock.
class RecordingDriver final : public pv::ConsoleDriver {
public:
    void write(const char* s, pv::usize n) override {
        if (park_next.exchange(false)) {
            // Play a CPU that died inside the console's critical section: never return.
            parked = true;
            for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
        }
        out.append(s, n);
        ++calls;
    }
    std::string out;
    int calls = 0;
    std::atomic<bool> park_next{false};
    std::atomic<bool> parked{false};
};

RecordingDriver& recorder() {
    static RecordingDriver* d = [] {
        static RecordingDriver drv;
        pv::console::add_driver(drv);
        return &drv;
    }();
    return *d;
}

std::string ring_tail(pv::usize n) {
    std::string s(n, '\0');
    s.resize(pv::console::read_ring(s.data(), n));
    return s;
}

class Console : public ::testing::Test {
protected:
    void SetUp() override {
        saved_level_ = pv::console::level();
        // Earlier output may have left a partial line: end it so each test starts at a line start.
        pv::console::write("\n", 1);
        recorder().out.clear();
        recorder().calls = 0;
    }
    void TearDown() override {
        pv::console::set_level(saved_level_);
        pv::console::set_silent(false);
    }
    const std::string& out() { return recorder().out; }

private:
    LogLevel saved_level_ = LogLevel::info;
};

TEST_F(Console, PrefixPerLine) {
    pv::printk("hello %s\n", "world");
    EXPECT_EQ(out(), "(pvisor) hello world\n");
}

TEST_F(Console, MultiLineMessage) {
    pv::printk("one\ntwo\nthree\n");
    EXPECT_EQ(out(), "(pvisor) one\n(pvisor) two\n(pvisor) three\n");
}

TEST_F(Console, NewlinesInsideArguments) {
    pv::printk("[%s]\n", "a\nb");
    EXPECT_EQ(out(), "(pvisor) [a\n(pvisor) b]\n");
}

TEST_F(Console, EmptyLines) {
    pv::printk("\n\nx\n");
    EXPECT_EQ(out(), "(pvisor) \n(pvisor) \n(pvisor) x\n");
}

TEST_F(Console, PartialLineContinues) {
    pv::printk("abc");
    pv::printk("def");
    pv::printk("\n");
    pv::printk("next\n");
    EXPECT_EQ(out(), "(pvisor) abcdef\n(pvisor) next\n");
}

TEST_F(Console, PrefixOnlyWhenTextFollows) {
    // A line's prefix is written when its first character is, not eagerly after the newline.
    pv::printk("a\n");
    EXPECT_EQ(out(), "(pvisor) a\n");
    pv::printk("%s", "");
    EXPECT_EQ(out(), "(pvisor) a\n");
}

TEST_F(Console, RawWriteHasNoPrefixButTracksLineStart) {
    pv::console::write("raw", 3);
    pv::printk(" more\n");  // continues the raw line: no prefix in the middle of it
    pv::console::write("x\n", 2);
    pv::printk("after\n");
    EXPECT_EQ(out(), "raw more\nx\n(pvisor) after\n");
}

TEST_F(Console, LevelFiltering) {
    struct Case {
        LogLevel level;
        const char* expect;
    } cases[] = {
        {LogLevel::error, "(pvisor) E\n"},
        {LogLevel::warning, "(pvisor) E\n(pvisor) W\n"},
        {LogLevel::info, "(pvisor) E\n(pvisor) W\n(pvisor) I\n"},
        {LogLevel::debug, "(pvisor) E\n(pvisor) W\n(pvisor) I\n(pvisor) D\n"},
    };
    for (const auto& c : cases) {
        recorder().out.clear();
        pv::console::set_level(c.level);
        EXPECT_EQ(pv::console::level(), c.level);
        pv_err("E\n");
        pv_warn("W\n");
        pv_info("I\n");
        pv_debug("D\n");
        EXPECT_EQ(out(), c.expect) << static_cast<int>(c.level);
    }
}

TEST_F(Console, FilteredMessagesDoNotReachTheRing) {
    pv::console::set_level(LogLevel::error);
    pv::printk("marker-1\n");
    pv_info("hidden\n");
    EXPECT_EQ(ring_tail(18), "(pvisor) marker-1\n");
}

TEST_F(Console, PrintkIgnoresLevel) {
    pv::console::set_level(LogLevel::error);
    pv::printk("banner\n");
    EXPECT_EQ(out(), "(pvisor) banner\n");
}

TEST_F(Console, LogWithArguments) {
    pv::console::set_level(LogLevel::debug);
    pv::log(LogLevel::info, "%d-%s-%#x\n", 5, "x", 255u);
    EXPECT_EQ(out(), "(pvisor) 5-x-0xff\n");
}

TEST_F(Console, SilentStillFillsTheRing) {
    pv::console::set_silent(true);
    pv::printk("quiet-line\n");
    EXPECT_EQ(out(), "");
    EXPECT_EQ(ring_tail(20), "(pvisor) quiet-line\n");
    pv::console::set_silent(false);
    pv::printk("loud\n");
    EXPECT_EQ(out(), "(pvisor) loud\n");
}

bool level_of(const char* s, LogLevel* lvl, bool* none) {
    return pv::console::parse_level(s, std::strlen(s), lvl, none);
}

TEST_F(Console, ParseLevel) {
    LogLevel l = LogLevel::info;
    bool none = true;
    ASSERT_TRUE(level_of("error", &l, &none));
    EXPECT_EQ(l, LogLevel::error);
    EXPECT_FALSE(none);
    ASSERT_TRUE(level_of("warning", &l, &none));
    EXPECT_EQ(l, LogLevel::warning);
    ASSERT_TRUE(level_of("info", &l, &none));
    EXPECT_EQ(l, LogLevel::info);
    ASSERT_TRUE(level_of("debug", &l, &none));
    EXPECT_EQ(l, LogLevel::debug);
    ASSERT_TRUE(level_of("all", &l, &none));
    EXPECT_EQ(l, LogLevel::debug);
    EXPECT_FALSE(none);
    ASSERT_TRUE(level_of("none", &l, &none));
    EXPECT_TRUE(none);
    ASSERT_TRUE(level_of("info", &l, &none));
    EXPECT_FALSE(none);  // reset by every successful parse
}

TEST_F(Console, ParseLevelUsesOnlyTheGivenLength) {
    LogLevel l = LogLevel::error;
    bool none = false;
    ASSERT_TRUE(pv::console::parse_level("info/all", 4, &l, &none));
    EXPECT_EQ(l, LogLevel::info);
    ASSERT_TRUE(pv::console::parse_level("warningX", 7, &l, &none));
    EXPECT_EQ(l, LogLevel::warning);
}

TEST_F(Console, ParseLevelRejectsGarbage) {
    LogLevel l = LogLevel::warning;
    bool none = false;
    for (const char* bad : {"", "inf", "infoo", "INFO", "Error", "warn", "3", " info", "info ",
                            "nonE", "al"}) {
        EXPECT_FALSE(level_of(bad, &l, &none)) << '"' << bad << '"';
    }
    EXPECT_FALSE(pv::console::parse_level("info", 3, &l, &none));
    EXPECT_FALSE(pv::console::parse_level(nullptr, 0, &l, &none));
}

TEST_F(Console, ReadRingReturnsLatestOutput) {
    pv::printk("first-marker\n");
    pv::printk("second-marker\n");
    EXPECT_EQ(ring_tail(23), "(pvisor) second-marker\n");
    std::string both = ring_tail(45);
    EXPECT_EQ(both, "(pvisor) first-marker\n(pvisor) second-marker\n");
    EXPECT_EQ(ring_tail(1), "\n");
    EXPECT_EQ(ring_tail(0), "");
}

// The ring holds 16 KiB; writing more must keep exactly the most recent 16 KiB, in order.
constexpr pv::usize RING = 16 * 1024;

std::string pattern(pv::usize n, unsigned seed) {
    std::string s(n, '\0');
    unsigned x = seed;
    for (auto& c : s) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>('!' + (x >> 16) % 90);
    }
    return s;
}

TEST_F(Console, ReadRingWrapsPast16KiB) {
    pv::console::set_silent(true);
    std::string all;
    // Chunk sizes that are not divisors of the ring size, so the wrap falls mid-chunk.
    for (unsigned i = 0; all.size() < 3 * RING + 777; ++i) {
        std::string chunk = pattern(1000 + 37 * i, i);
        pv::console::write(chunk.data(), chunk.size());
        all += chunk;
    }
    std::string full(RING + 100, '\0');
    pv::usize n = pv::console::read_ring(full.data(), full.size());
    ASSERT_EQ(n, RING);  // never more than the ring holds
    full.resize(n);
    EXPECT_TRUE(full == all.substr(all.size() - RING)) << "ring content differs";

    // Smaller reads get the newest bytes, not the oldest.
    EXPECT_EQ(ring_tail(10), all.substr(all.size() - 10));
    EXPECT_EQ(ring_tail(RING - 1), all.substr(all.size() - (RING - 1)));
    EXPECT_EQ(ring_tail(RING), all.substr(all.size() - RING));
}

TEST_F(Console, ReadRingExactlyAtBoundary) {
    pv::console::set_silent(true);
    std::string big = pattern(RING, 99);
    pv::console::write(big.data(), big.size());
    EXPECT_TRUE(ring_tail(RING) == big);
    std::string one = "Z";
    pv::console::write(one.data(), 1);
    std::string expect = big.substr(1) + "Z";
    EXPECT_TRUE(ring_tail(RING) == expect);
}

// XEN_SYSCTL_readconsole's reads: from the read position, incremental from an index inside the
// unread part, clear moving the read position, and a wrapped ring's position following it.
std::string read_from(pv::u32 index, bool incremental, pv::usize size, pv::u64* next) {
    std::string s(size, '\0');
    s.resize(pv::console::read_ring_from(index, incremental, s.data(), size, next));
    return s;
}

TEST_F(Console, ReadRingFromIndexAndClear) {
    pv::console::set_silent(true);
    pv::u64 next = 0;
    (void)read_from(0, false, RING, &next);
    pv::console::clear_ring(next);  // start empty
    EXPECT_EQ(read_from(0, false, RING, &next), "");
    pv::console::write("hello world", 11);
    pv::u64 end = 0;
    EXPECT_EQ(read_from(0, false, RING, &end), "hello world");
    EXPECT_EQ(read_from(static_cast<pv::u32>(end - 5), true, RING, &next), "world");  // from an index
    EXPECT_EQ(next, end);
    EXPECT_EQ(read_from(static_cast<pv::u32>(end), true, RING, &next), "");          // at the end
    EXPECT_EQ(read_from(static_cast<pv::u32>(end + 1), true, RING, &next), "hello world");  // outside
    EXPECT_EQ(read_from(0, false, 5, &next), "hello");  // bounded by the buffer
    pv::console::clear_ring(next);
    EXPECT_EQ(read_from(0, false, RING, &next), " world");  // cleared up to what was read
    // More than the ring holds since the read position: only the last RING bytes remain.
    std::string big = pattern(RING + 100, 7);
    pv::console::write(big.data(), big.size());
    std::string got = read_from(0, false, 2 * RING, &next);
    EXPECT_EQ(got.size(), RING);
    EXPECT_TRUE(got == big.substr(100));
    pv::console::clear_ring(next);
}

TEST_F(Console, GuestOutputBypassesTheRing) {
    pv::console::write("mine\n", 5);
    pv::console::write_guest("guest\n", 6);
    EXPECT_EQ(ring_tail(5), "mine\n");      // Xen's console_to_ring is off by default
    EXPECT_EQ(recorder().out, "mine\nguest\n");  // both on the console
    pv::console::write_guest("prompt# ", 8);
    pv::printk("message\n");  // still prefixed after a guest's partial line
    EXPECT_EQ(ring_tail(17), "(pvisor) message\n");
}

TEST_F(Console, ForceUnlockWhenNotHeldIsHarmless) {
    pv::console::force_unlock();
    pv::printk("still works\n");
    EXPECT_EQ(out(), "(pvisor) still works\n");
}

// panic() calls force_unlock() so that a CPU that died holding the console lock cannot silence
// the dying message.  The dead CPU is a thread parked for good inside a driver's write(), with
// the console lock held; it is left parked (it must never unlock a lock that was forced free).
TEST_F(Console, ForceUnlockAfterHolderDied) {
    recorder().parked = false;  // a thread parked by an earlier run (--gtest_repeat) stays so
    recorder().park_next = true;
    std::thread dead([] { pv::printk("dying holder\n"); });
    dead.detach();
    while (!recorder().parked) std::this_thread::yield();

    pv::console::force_unlock();
    pv::printk("panic message\n");
    EXPECT_EQ(out(), "(pvisor) panic message\n");
    pv::printk("still printing\n");
    EXPECT_EQ(out(), "(pvisor) panic message\n(pvisor) still printing\n");
}

TEST_F(Console, LinesFromThreadsDoNotInterleave) {
    constexpr int THREADS = 4;
    constexpr int LINES = 500;
    std::vector<std::thread> ts;
    for (int t = 0; t < THREADS; ++t)
        ts.emplace_back([t] {
            for (int i = 0; i < LINES; ++i) pv::printk("thread %d line %d end\n", t, i);
        });
    for (auto& t : ts) t.join();

    std::istringstream in(out());
    std::string line;
    int next[THREADS] = {};
    int total = 0;
    while (std::getline(in, line)) {
        int t = -1, i = -1;
        char end[4] = {};
        ASSERT_EQ(std::sscanf(line.c_str(), "(pvisor) thread %d line %d %3s", &t, &i, end), 3)
            << line;
        ASSERT_STREQ(end, "end") << line;
        ASSERT_TRUE(t >= 0 && t < THREADS) << line;
        EXPECT_EQ(i, next[t]++) << line;  // each thread's lines arrive whole and in order
        ++total;
    }
    EXPECT_EQ(total, THREADS * LINES);
}

}  // namespace
