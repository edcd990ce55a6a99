#include <arch/cpu.hpp>
#include <arch/apic.hpp>
#include <arch/percpu.hpp>
#include <arch/time.hpp>

#include "core/console.hpp"
#include "core/rtc.hpp"
#include "core/timer.hpp"
#include "lib/spinlock.hpp"

extern "C" pv::u64 boot_tsc;

namespace pv::arch::time {
namespace {

u64 g_tsc_khz = 0;
constexpr u32 PIT_HZ = 1193182;

}  // namespace

u64 pit_window_raw(u64 (*counter)()) {
    // PIT channel 2 counts PIT_WINDOW_MS down once in mode 0; its output shows up in port 0x61
    // bit 5.  The gate (bit 0) starts it, the speaker (bit 1) stays off.
    constexpr u32 count = PIT_HZ * PIT_WINDOW_MS / 1000;
    u8 ctl = inb(0x61);
    outb(0x61, static_cast<u8>((ctl & ~0x02) & ~0x01));
    outb(0x43, 0xb0);  // channel 2, lobyte/hibyte, mode 0, binary
    outb(0x42, static_cast<u8>(count & 0xff));
    outb(0x42, static_cast<u8>(count >> 8));
    outb(0x61, static_cast<u8>((ctl & ~0x02) | 0x01));
    u64 start = counter();
    u64 spins = 0;
    while (!(inb(0x61) & 0x20)) {
        if (++spins > 100000000) return 0;
    }
    u64 ticks = counter() - start;
    outb(0x61, ctl);
    return ticks;
}

namespace {

u64 measure_tsc_once() {
    return pit_window_raw([] { return rdtsc(); });
}

}  // namespace

// The median of several short measurements: under emulation (or an SMI on hardware) the CPU can
// be away for milliseconds between starting the PIT and reading the TSC, or between the PIT's
// end and noticing it, which skews one window either way; the median drops those.  A wrong
// rate would make every timer fire early or late (the TSC-deadline timer converts with the
// platform's own notion of the TSC), which the scheduler's accounting cannot survive.
bool calibrate_tsc() {
    constexpr unsigned RUNS = 5;
    u64 t[RUNS];
    for (unsigned i = 0; i < RUNS; ++i) {
        t[i] = measure_tsc_once();
        if (!t[i]) return false;
    }
    for (unsigned i = 1; i < RUNS; ++i)  // insertion sort: five values
        for (unsigned j = i; j > 0 && t[j - 1] > t[j]; --j) {
            u64 x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    g_tsc_khz = t[RUNS / 2] / PIT_WINDOW_MS;
    return g_tsc_khz > 1000;  // a TSC under 1 MHz is not a TSC
}

u64 tsc_khz() { return g_tsc_khz; }

u64 tsc_to_ns(u64 ticks) {
    if (!g_tsc_khz) return 0;
    return static_cast<u64>(static_cast<unsigned __int128>(ticks) * 1000000 / g_tsc_khz);
}

u64 ns_to_tsc(u64 ns) { return static_cast<u64>(static_cast<unsigned __int128>(ns) * g_tsc_khz / 1000000); }

u64 since_boot_ns() { return tsc_to_ns(rdtsc() - boot_tsc); }

namespace {

// Each CPU's armed timers, under a lock taken with interrupts off.  A timer is set from the CPU
// it belongs to (a vCPU's timers from the CPU the vCPU runs on); stopping works from anywhere.
struct CpuTimers {
    TimerQueue queue;  // first: timer_stop finds the CpuTimers from a timer's queue
    Spinlock lock;
    std::atomic<Timer*> running{nullptr};  // the timer whose function runs now (timer_kill)
};
CpuTimers g_timers[MAX_CPUS];

CpuTimers& of_queue(TimerQueue* q) { return *reinterpret_cast<CpuTimers*>(q); }

// With c.lock held, on c's CPU: the local APIC timer fires at the earliest deadline.
void program(CpuTimers& c) {
    u64 next = c.queue.next_deadline();
    if (next == TimerQueue::NEVER) {
        apic::timer_stop();
        return;
    }
    u64 now = since_boot_ns();
    apic::timer_arm_ns(next > now ? next - now : 0);
}

}  // namespace

void timer_set(Timer& t, u64 when_ns) {
    unsigned long flags = irq_save();
    CpuTimers& here = g_timers[this_cpu_id()];
    if (TimerQueue* q = t.queue(); q && q != &here.queue) {
        CpuTimers& there = of_queue(q);
        there.lock.lock();
        there.queue.stop(t);  // its CPU finds nothing due when its hardware fires
        there.lock.unlock();
    }
    here.lock.lock();
    if (here.queue.set(t, when_ns)) program(here);
    here.lock.unlock();
    irq_restore(flags);
}

void timer_stop(Timer& t) {
    unsigned long flags = irq_save();
    while (TimerQueue* q = t.queue()) {
        CpuTimers& c = of_queue(q);
        c.lock.lock();
        bool stopped = t.queue() == q;
        if (stopped) c.queue.stop(t);  // the hardware may fire early and find nothing due
        c.lock.unlock();
        if (stopped) break;
    }
    irq_restore(flags);
}

void timer_kill(Timer& t) {
    for (;;) {
        timer_stop(t);
        for (auto& c : g_timers) {
            // Taking the lock orders us after a pop_due in progress (which names its timer in
            // `running` before it lets go), so a popped timer is seen running.
            unsigned long flags = irq_save();
            c.lock.lock();
            c.lock.unlock();
            irq_restore(flags);
            while (c.running.load(std::memory_order_seq_cst) == &t) cpu_relax();
        }
        if (!t.queue()) return;  // re-armed by its last run: once more
    }
}

void timer_interrupt() {
    CpuTimers& c = g_timers[this_cpu_id()];
    c.lock.lock();
    while (Timer* t = c.queue.pop_due(since_boot_ns())) {
        c.running.store(t, std::memory_order_seq_cst);
        c.lock.unlock();
        t->fire();
        c.lock.lock();
        c.running.store(nullptr, std::memory_order_release);
    }
    program(c);
    c.lock.unlock();
}

void sleep_ns(u64 ns) {
    volatile bool fired = false;
    Timer t([](Timer&, void* data) { *static_cast<volatile bool*>(data) = true; },
            const_cast<bool*>(&fired));
    unsigned long flags = irq_save();
    timer_set(t, since_boot_ns() + ns);
    // sti;hlt is atomic with respect to interrupts (the STI shadow): no wake-up is lost.
    while (!fired) asm volatile("sti; hlt; cli" : : : "memory");
    irq_restore(flags);
}

namespace {

u8 cmos_read(u8 reg) {
    outb(0x70, reg);  // bit 7 clear: NMIs stay enabled
    return inb(0x71);
}

rtc::Registers rtc_snapshot() {
    return {cmos_read(0x00), cmos_read(0x02), cmos_read(0x04), cmos_read(0x07), cmos_read(0x08),
            cmos_read(0x09), cmos_read(0x32), cmos_read(0x0b)};
}

u64 g_wallclock_at_boot = 0;
bool g_wallclock_read = false;

}  // namespace

u64 wallclock_at_boot_s() {
    if (g_wallclock_read) return g_wallclock_at_boot;
    g_wallclock_read = true;
    // The RTC ticks once a second; read while no update is in progress (status A bit 7), and
    // twice alike, so no field is caught mid-carry.
    rtc::Registers a{}, b{};
    for (int tries = 0; tries < 1000; ++tries) {
        u64 end = rdtsc() + ns_to_tsc(10'000'000);
        while ((cmos_read(0x0a) & 0x80) && rdtsc() < end) cpu_relax();
        a = rtc_snapshot();
        b = rtc_snapshot();
        if (__builtin_memcmp(&a, &b, sizeof a) == 0) break;
    }
    i64 now = rtc::to_unix(b);
    u64 up = since_boot_ns() / 1'000'000'000;
    if (now < 0 || static_cast<u64>(now) < up) {
        pv_warn("CMOS RTC holds no valid date: wallclock starts at the epoch\n");
        return g_wallclock_at_boot = 0;
    }
    return g_wallclock_at_boot = static_cast<u64>(now) - up;
}

void udelay(u64 us) {
    u64 end = rdtsc() + ns_to_tsc(us * 1000);
    while (rdtsc() < end) cpu_relax();
}

}  // namespace pv::arch::time
