// Ticket spinlock: FIFO-fair, so no CPU starves under contention.  The lock word is two 16-bit
// counters; lock() takes a ticket with one atomic add and spins until "now serving" reaches it.
// Acquire on lock, release on unlock: everything written inside the critical section is visible
// to the next holder.  IrqSpinGuard also disables interrupts on this CPU for locks that interrupt
// handlers take.
#pragma once
#include <atomic>

#include <arch/cpu.hpp>

#include "lib/types.hpp"

namespace pv {

class Spinlock {
public:
    constexpr Spinlock() = default;
    Spinlock(const Spinlock&) = delete;
    Spinlock& operator=(const Spinlock&) = delete;

    void lock() {
        u16 ticket = next_.fetch_add(1, std::memory_order_relaxed);
        while (serving_.load(std::memory_order_acquire) != ticket) arch::cpu_relax();
    }
    bool try_lock() {
        u16 s = serving_.load(std::memory_order_relaxed);
        u16 expected = s;
        return next_.compare_exchange_strong(expected, static_cast<u16>(s + 1), std::memory_order_acquire,
                                             std::memory_order_relaxed);
    }
    void unlock() {
        serving_.store(static_cast<u16>(serving_.load(std::memory_order_relaxed) + 1),
                       std::memory_order_release);
    }
    // Panic only: make the lock free whatever state the stopped CPUs left it in, as Xen's
    // console_force_unlock re-initialises its lock.  A plain unlock() would hand the lock to the
    // next queued ticket, and if that CPU was stopped while waiting the caller's lock() would
    // then wait forever.  Stopped holders and waiters must never run again: their unlock() or
    // stale ticket would corrupt the lock.
    void force_release() {
        serving_.store(next_.load(std::memory_order_relaxed), std::memory_order_release);
    }
    bool is_locked() const {
        return next_.load(std::memory_order_relaxed) != serving_.load(std::memory_order_relaxed);
    }

private:
    std::atomic<u16> next_{0};
    std::atomic<u16> serving_{0};
};

class SpinGuard {
public:
    explicit SpinGuard(Spinlock& l) : l_(l) { l_.lock(); }
    ~SpinGuard() { l_.unlock(); }
    SpinGuard(const SpinGuard&) = delete;
    SpinGuard& operator=(const SpinGuard&) = delete;

private:
    Spinlock& l_;
};

class IrqSpinGuard {
public:
    explicit IrqSpinGuard(Spinlock& l) : l_(l), flags_(arch::irq_save()) { l_.lock(); }
    ~IrqSpinGuard() {
        l_.unlock();
        arch::irq_restore(flags_);
    }
    IrqSpinGuard(const IrqSpinGuard&) = delete;
    IrqSpinGuard& operator=(const IrqSpinGuard&) = delete;

private:
    Spinlock& l_;
    unsigned long flags_;
};

}  // namespace pv
