#include "lib/spinlock.hpp"

#include <gtest/gtest.h>

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace {

using pv::Spinlock;

TEST(Spinlock, LockUnlock) {
    Spinlock l;
    EXPECT_FALSE(l.is_locked());
    l.lock();
    EXPECT_TRUE(l.is_locked());
    l.unlock();
    EXPECT_FALSE(l.is_locked());
}

TEST(Spinlock, TryLockSemantics) {
    Spinlock l;
    ASSERT_TRUE(l.try_lock());
    EXPECT_TRUE(l.is_locked());
    EXPECT_FALSE(l.try_lock());  // held: fails without waiting, and takes no ticket
    EXPECT_FALSE(l.try_lock());
    l.unlock();
    EXPECT_FALSE(l.is_locked());  // the failed attempts left nothing queued
    ASSERT_TRUE(l.try_lock());
    l.unlock();
    l.lock();  // lock() after try_lock()/unlock() must not wait forever
    EXPECT_FALSE(l.try_lock());
    l.unlock();
}

TEST(Spinlock, TryLockFailsWhileAnotherThreadHolds) {
    Spinlock l;
    std::atomic<bool> held{false}, release{false};
    std::thread t([&] {
        l.lock();
        held = true;
        while (!release) std::this_thread::yield();
        l.unlock();
    });
    while (!held) std::this_thread::yield();
    EXPECT_FALSE(l.try_lock());
    release = true;
    t.join();
    EXPECT_TRUE(l.try_lock());
    l.unlock();
}

TEST(Spinlock, TicketsProgressPastWrap) {
    // The tickets are 16-bit counters: they must keep working across the wrap at 65536.
    Spinlock l;
    for (int i = 0; i < 70000; ++i) {
        l.lock();
        ASSERT_TRUE(l.is_locked()) << i;
        l.unlock();
        ASSERT_FALSE(l.is_locked()) << i;
    }
    for (int i = 0; i < 70000; ++i) {
        ASSERT_TRUE(l.try_lock()) << i;
        l.unlock();
    }
}

TEST(Spinlock, MutualExclusionFourThreads) {
    constexpr int THREADS = 4;
    constexpr int ITERATIONS = 100000;
    Spinlock l;
    long counter = 0;  // deliberately not atomic: only the lock protects it
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < THREADS; ++t)
        ts.emplace_back([&] {
            while (!go) std::this_thread::yield();
            for (int i = 0; i < ITERATIONS; ++i) {
                pv::SpinGuard g(l);
                long v = counter;
                counter = v + 1;
            }
        });
    go = true;
    for (auto& t : ts) t.join();
    EXPECT_EQ(counter, long{THREADS} * ITERATIONS);
    EXPECT_FALSE(l.is_locked());
}

TEST(Spinlock, MutualExclusionWithTryLockAndIrqGuard) {
    Spinlock l;
    long counter = 0;
    std::atomic<bool> go{false};
    auto trier = [&] {
        while (!go) std::this_thread::yield();
        for (int i = 0; i < 50000;) {
            if (!l.try_lock()) {
                std::this_thread::yield();
                continue;
            }
            counter = counter + 1;
            l.unlock();
            ++i;
        }
    };
    auto locker = [&] {
        while (!go) std::this_thread::yield();
        for (int i = 0; i < 50000; ++i) {
            pv::IrqSpinGuard g(l);
            counter = counter + 1;
        }
    };
    std::thread a(trier), b(trier), c(locker), d(locker);
    go = true;
    a.join();
    b.join();
    c.join();
    d.join();
    EXPECT_EQ(counter, 200000);
    EXPECT_FALSE(l.is_locked());
}

TEST(Spinlock, WaitersAreServedInTicketOrder) {
    // Main holds the lock; A queues, then B queues; on release A must get it before B.  The
    // sleeps only make "A took its ticket before B" near-certain; the lock itself decides the
    // order after that.
    Spinlock l;
    std::mutex m;
    std::vector<char> order;
    std::atomic<bool> a_started{false}, b_started{false};
    l.lock();
    std::thread a([&] {
        a_started = true;
        l.lock();
        {
            std::lock_guard<std::mutex> g(m);
            order.push_back('A');
        }
        l.unlock();
    });
    while (!a_started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::thread b([&] {
        b_started = true;
        l.lock();
        {
            std::lock_guard<std::mutex> g(m);
            order.push_back('B');
        }
        l.unlock();
    });
    while (!b_started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(l.try_lock());  // two waiters queued: still not free
    l.unlock();
    a.join();
    b.join();
    EXPECT_EQ(order, (std::vector<char>{'A', 'B'}));
    EXPECT_FALSE(l.is_locked());
}

TEST(Spinlock, ForceReleaseOfAFreeLockIsHarmless) {
    Spinlock l;
    l.force_release();
    EXPECT_FALSE(l.is_locked());
    l.lock();
    l.unlock();
    l.force_release();
    EXPECT_FALSE(l.is_locked());
    ASSERT_TRUE(l.try_lock());
    l.unlock();
}

TEST(Spinlock, ForceReleaseFreesALockHeldByAStoppedCpu) {
    Spinlock l;
    l.lock();  // the holder "dies" here and never unlocks
    l.force_release();
    EXPECT_FALSE(l.is_locked());
    ASSERT_TRUE(l.try_lock());
    l.unlock();
    l.lock();
    l.unlock();
}

// The panic path: one CPU died holding the console lock and another was stopped (by NMI) while
// queued for it.  A child process plays the queued CPU, stopped with SIGSTOP while spinning on a
// lock in shared memory.  Handing the lock to the next ticket (plain unlock) would give it to the
// stopped waiter and leave the panicking CPU spinning forever.
TEST(Spinlock, ForceReleaseSkipsAStoppedWaiter) {
    struct Shared {
        Spinlock lock;
        std::atomic<int> queued{0};
    };
    void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    auto* sh = new (mem) Shared;
    sh->lock.lock();  // the holder that died

    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        sh->queued.store(1);
        sh->lock.lock();  // takes the next ticket and spins
        _exit(0);
    }
    while (sh->queued.load() == 0) sched_yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it take its ticket
    ASSERT_EQ(kill(child, SIGSTOP), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, WUNTRACED), child);
    ASSERT_TRUE(WIFSTOPPED(status));

    sh->lock.force_release();
    EXPECT_FALSE(sh->lock.is_locked());
    EXPECT_TRUE(sh->lock.try_lock());  // a lock() here would not wait for the stopped child
    sh->lock.unlock();

    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    sh->~Shared();
    munmap(mem, sizeof(Shared));
}

}  // namespace
