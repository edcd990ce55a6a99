#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "core/timer.hpp"

using pv::Timer;
using pv::TimerQueue;

namespace {

// Each fired timer appends its tag to a log.
struct Tagged {
    Timer t;
    int tag;
    std::vector<int>* log;
    Tagged(int tg, std::vector<int>* l) : t(&Tagged::fn, this), tag(tg), log(l) {}
    static void fn(Timer&, void* data) {
        auto* self = static_cast<Tagged*>(data);
        self->log->push_back(self->tag);
    }
};

void drain(TimerQueue& q, pv::u64 now) {
    while (Timer* t = q.pop_due(now)) t->fire();
}

TEST(TimerQueue, EmptyHasNoDeadline) {
    TimerQueue q;
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.next_deadline(), TimerQueue::NEVER);
    EXPECT_EQ(q.pop_due(~pv::u64{0}), nullptr);
}

TEST(TimerQueue, FiresInDeadlineOrderAndOnlyWhenDue) {
    std::vector<int> log;
    Tagged a(1, &log), b(2, &log), c(3, &log);
    TimerQueue q;
    EXPECT_TRUE(q.set(b.t, 200));   // earliest so far
    EXPECT_FALSE(q.set(c.t, 300));  // later: no reprogramming needed
    EXPECT_TRUE(q.set(a.t, 100));   // new earliest
    EXPECT_EQ(q.next_deadline(), 100u);
    drain(q, 99);
    EXPECT_TRUE(log.empty());
    drain(q, 200);  // a deadline equal to now is due
    EXPECT_EQ(log, (std::vector<int>{1, 2}));
    EXPECT_TRUE(c.t.active());
    EXPECT_FALSE(a.t.active());
    EXPECT_EQ(q.next_deadline(), 300u);
    drain(q, 1000);
    EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
    EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, EqualDeadlinesKeepTheOrderTheyWereSet) {
    std::vector<int> log;
    Tagged a(1, &log), b(2, &log), c(3, &log);
    TimerQueue q;
    q.set(a.t, 50);
    q.set(b.t, 50);
    q.set(c.t, 50);
    drain(q, 50);
    EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueue, ResettingMovesTheTimer) {
    std::vector<int> log;
    Tagged a(1, &log), b(2, &log);
    TimerQueue q;
    q.set(a.t, 100);
    q.set(b.t, 200);
    EXPECT_FALSE(q.set(a.t, 300));  // a moves behind b: b is now the earliest, a is not
    EXPECT_EQ(q.size(), 2u);
    EXPECT_EQ(q.next_deadline(), 200u);
    drain(q, 250);
    EXPECT_EQ(log, (std::vector<int>{2}));
    EXPECT_EQ(a.t.expires(), 300u);
}

TEST(TimerQueue, StopDisarms) {
    std::vector<int> log;
    Tagged a(1, &log), b(2, &log);
    TimerQueue q;
    q.set(a.t, 100);
    q.set(b.t, 200);
    EXPECT_FALSE(q.stop(b.t));  // not the earliest
    EXPECT_TRUE(q.stop(a.t));   // the earliest
    EXPECT_FALSE(q.stop(a.t));  // no longer armed
    EXPECT_EQ(a.t.queue(), nullptr);
    drain(q, 1000);
    EXPECT_TRUE(log.empty());
    EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, StopOnAnotherQueueIsRefused) {
    std::vector<int> log;
    Tagged a(1, &log);
    TimerQueue q1, q2;
    q1.set(a.t, 10);
    EXPECT_EQ(a.t.queue(), &q1);
    EXPECT_FALSE(q2.stop(a.t));
    EXPECT_TRUE(a.t.active());
}

// A periodic timer re-arms itself from its own function, as the vCPU periodic timer does.
struct Periodic {
    Timer t;
    TimerQueue* q;
    pv::u64 period;
    int fired = 0;
    Periodic(TimerQueue* qq, pv::u64 p) : t(&Periodic::fn, this), q(qq), period(p) {}
    static void fn(Timer& t, void* data) {
        auto* self = static_cast<Periodic*>(data);
        ++self->fired;
        self->q->set(t, t.expires() + self->period);
    }
};

TEST(TimerQueue, TimerMayReArmItselfWhenFired) {
    TimerQueue q;
    Periodic p(&q, 10);
    q.set(p.t, 10);
    for (pv::u64 now = 0; now <= 100; now += 5) drain(q, now);
    EXPECT_EQ(p.fired, 10);
    EXPECT_EQ(q.next_deadline(), 110u);
}

// Against a model: random sets, stops and drains keep the queue sorted and lose nothing.
TEST(TimerQueue, RandomisedAgainstAModel) {
    constexpr int N = 64;
    std::mt19937_64 rng(12345);
    std::vector<int> log;
    std::vector<std::unique_ptr<Tagged>> ts;
    for (int i = 0; i < N; ++i) ts.push_back(std::make_unique<Tagged>(i, &log));
    std::vector<pv::u64> armed(N, TimerQueue::NEVER);  // the model: deadline or NEVER
    TimerQueue q;
    pv::u64 now = 0;
    for (int step = 0; step < 20000; ++step) {
        int i = static_cast<int>(rng() % N);
        switch (rng() % 3) {
            case 0: {
                pv::u64 when = now + rng() % 1000;
                q.set(ts[i]->t, when);
                armed[i] = when;
                break;
            }
            case 1:
                q.stop(ts[i]->t);
                armed[i] = TimerQueue::NEVER;
                break;
            case 2: {
                now += rng() % 200;
                log.clear();
                pv::u64 last = 0;
                while (Timer* t = q.pop_due(now)) {
                    ASSERT_GE(t->expires(), last);
                    last = t->expires();
                    t->fire();
                }
                for (int tag : log) {
                    ASSERT_LE(armed[tag], now);
                    armed[tag] = TimerQueue::NEVER;
                }
                break;
            }
        }
        pv::u64 earliest = TimerQueue::NEVER;
        size_t count = 0;
        for (int k = 0; k < N; ++k) {
            ASSERT_EQ(ts[k]->t.active(), armed[k] != TimerQueue::NEVER) << "timer " << k;
            if (armed[k] != TimerQueue::NEVER) {
                ++count;
                earliest = std::min(earliest, armed[k]);
            }
        }
        ASSERT_EQ(q.size(), count);
        ASSERT_EQ(q.next_deadline(), earliest);
    }
}

}  // namespace
