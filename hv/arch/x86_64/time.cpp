#include <arch/cpu.hpp>
#include <arch/apic.hpp>
#include <arch/percpu.hpp>
#include <arch/time.hpp>

extern "C" pv::u64 boot_tsc;

namespace pv::arch::time {
namespace {

u64 g_tsc_khz = 0;
constexpr u32 PIT_HZ = 1193182;
constexpr u32 CALIBRATE_MS = 5;

}  // namespace

bool calibrate_tsc() {
    // PIT channel 2 in mode 0 counts down once; its output shows up in port 0x61 bit 5.  The
    // gate (bit 0) starts it, the speaker (bit 1) stays off.
    constexpr u32 count = PIT_HZ * CALIBRATE_MS / 1000;
    u8 ctl = inb(0x61);
    outb(0x61, static_cast<u8>((ctl & ~0x02) & ~0x01));
    outb(0x43, 0xb0);  // channel 2, lobyte/hibyte, mode 0, binary
    outb(0x42, static_cast<u8>(count & 0xff));
    outb(0x42, static_cast<u8>(count >> 8));
    outb(0x61, static_cast<u8>((ctl & ~0x02) | 0x01));
    u64 start = rdtsc();
    u64 spins = 0;
    while (!(inb(0x61) & 0x20)) {
        if (++spins > 100000000) return false;
    }
    u64 ticks = rdtsc() - start;
    outb(0x61, ctl);
    g_tsc_khz = ticks / CALIBRATE_MS;
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
volatile bool g_timer_fired[MAX_CPUS];
}

void timer_interrupt() { g_timer_fired[this_cpu_id()] = true; }

void sleep_ns(u64 ns) {
    unsigned cpu = this_cpu_id();
    unsigned long flags = irq_save();
    g_timer_fired[cpu] = false;
    apic::timer_arm_ns(ns);
    // sti;hlt is atomic with respect to interrupts (the STI shadow): no wake-up is lost.
    while (!g_timer_fired[cpu]) asm volatile("sti; hlt; cli" : : : "memory");
    irq_restore(flags);
}

void udelay(u64 us) {
    u64 end = rdtsc() + ns_to_tsc(us * 1000);
    while (rdtsc() < end) cpu_relax();
}

}  // namespace pv::arch::time
