#include <arch/apic.hpp>
#include <arch/cpu.hpp>
#include <arch/fixmap.hpp>
#include <arch/time.hpp>
#include <arch/traps.hpp>

#include "core/console.hpp"

namespace pv::arch::apic {
namespace {

// Register offsets in xAPIC MMIO; x2APIC MSR = 0x800 + offset / 16.
constexpr u32 REG_ID = 0x20, REG_EOI = 0xb0, REG_SVR = 0xf0, REG_ICR_LO = 0x300, REG_ICR_HI = 0x310,
              REG_LVT_TIMER = 0x320, REG_LVT_LINT0 = 0x350, REG_LVT_LINT1 = 0x360, REG_LVT_ERROR = 0x370,
              REG_TIMER_INIT = 0x380, REG_TIMER_CUR = 0x390, REG_TIMER_DIV = 0x3e0, REG_ESR = 0x280,
              REG_TPR = 0x80, REG_IRR = 0x200;
constexpr u64 APIC_BASE_ENABLE = 1u << 11, APIC_BASE_X2 = 1u << 10;
constexpr u32 ICR_INIT = 5u << 8, ICR_STARTUP = 6u << 8, ICR_NMI = 4u << 8, ICR_ASSERT = 1u << 14,
              ICR_LEVEL = 1u << 15, ICR_PENDING = 1u << 12, ICR_ALL_BUT_SELF = 3u << 18;
constexpr u32 LVT_MASKED = 1u << 16, LVT_TSC_DEADLINE = 2u << 17;

bool g_x2 = false;
volatile u32* g_mmio = nullptr;
bool g_deadline = false;
u32 g_ticks_per_ms = 0;

u32 read(u32 reg) {
    if (g_x2) return static_cast<u32>(rdmsr(0x800 + reg / 16));
    return g_mmio[reg / 4];
}
void write(u32 reg, u32 v) {
    if (g_x2) wrmsr(0x800 + reg / 16, v);
    else g_mmio[reg / 4] = v;
}
void write_icr(u32 dest, u32 lo) {
    if (g_x2) {
        wrmsr(0x830, (u64{dest} << 32) | lo);  // one 64-bit write in x2APIC mode
    } else {
        write(REG_ICR_HI, dest << 24);
        write(REG_ICR_LO, lo);
    }
}

}  // namespace

bool x2apic_mode() { return g_x2; }

void init_bsp() {
    g_x2 = (cpuid(1).ecx >> 21) & 1;
    g_deadline = (cpuid(1).ecx >> 24) & 1;
    if (!g_x2) {
        u64 base = rdmsr(MSR_APIC_BASE) & 0xffffff000ull;
        g_mmio = static_cast<volatile u32*>(fixmap::map_mmio(fixmap::SLOT_LAPIC, base));
    }
    init_cpu();
}

void init_cpu() {
    u64 base = rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE;
    if (g_x2) base |= APIC_BASE_X2;
    wrmsr(MSR_APIC_BASE, base);
    write(REG_TPR, 0);
    write(REG_SVR, 0x100 | VEC_SPURIOUS);  // software enable
    write(REG_LVT_LINT0, LVT_MASKED);
    write(REG_LVT_LINT1, 4u << 8);  // NMI
    write(REG_LVT_ERROR, LVT_MASKED);
    write(REG_ESR, 0);
    eoi();
}

u32 id() { return g_x2 ? read(REG_ID) : read(REG_ID) >> 24; }
void eoi() { write(REG_EOI, 0); }

bool interrupt_pending() {
    // IRR: eight registers of 32 vectors each; vectors 0-31 are exceptions, never requested.
    for (u32 i = 1; i < 8; ++i)
        if (read(REG_IRR + 0x10 * i)) return true;
    return false;
}

bool wait_icr_idle() {
    if (g_x2) return true;  // x2APIC ICR writes complete synchronously
    for (unsigned i = 0; i < 1000000; ++i) {
        if (!(read(REG_ICR_LO) & ICR_PENDING)) return true;
        cpu_relax();
    }
    return false;
}

void send_ipi(u32 apic_id, u8 vector) {
    wait_icr_idle();
    write_icr(apic_id, vector | ICR_ASSERT);
}
void send_ipi_all_but_self(u8 vector) {
    wait_icr_idle();
    write_icr(0, vector | ICR_ASSERT | ICR_ALL_BUT_SELF);
}
void send_nmi_all_but_self() {
    wait_icr_idle();
    write_icr(0, ICR_NMI | ICR_ASSERT | ICR_ALL_BUT_SELF);
}
void send_init(u32 apic_id) {
    wait_icr_idle();
    write_icr(apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
    wait_icr_idle();
    write_icr(apic_id, ICR_INIT | ICR_LEVEL);  // de-assert (ignored by modern CPUs)
}
void send_startup(u32 apic_id, u8 page) {
    wait_icr_idle();
    write_icr(apic_id, ICR_STARTUP | page);
}

void timer_calibrate() {
    if (g_deadline) return;  // the deadline is in TSC ticks: nothing to measure
    // Count APIC timer ticks (divide by 16) over a PIT window, the median of three: the APIC
    // timer and the PIT share one clock (on hardware the bus and the PIT crystal; under
    // emulation the host's), which the TSC need not follow exactly, and a single short window
    // can be skewed by the CPU being away (an SMI, or a descheduled emulator thread).
    write(REG_TIMER_DIV, 0x3);
    write(REG_LVT_TIMER, LVT_MASKED);
    u64 per_window[3];
    for (u64& w : per_window) {
        write(REG_TIMER_INIT, 0xffffffff);
        w = time::pit_window([] { return static_cast<u64>(0xffffffffu - read(REG_TIMER_CUR)); });
    }
    write(REG_TIMER_INIT, 0);
    for (unsigned i = 1; i < 3; ++i)
        for (unsigned j = i; j > 0 && per_window[j - 1] > per_window[j]; --j) {
            u64 x = per_window[j];
            per_window[j] = per_window[j - 1];
            per_window[j - 1] = x;
        }
    u64 per_ms = per_window[1] / time::PIT_WINDOW_MS;
    g_ticks_per_ms = per_ms ? static_cast<u32>(per_ms) : 1;
}

void timer_init_cpu() {
    if (g_deadline) {
        write(REG_LVT_TIMER, VEC_TIMER | LVT_TSC_DEADLINE);
    } else {
        write(REG_TIMER_DIV, 0x3);
        write(REG_LVT_TIMER, VEC_TIMER);  // one-shot
    }
}

void timer_arm_ns(u64 delta_ns) {
    if (g_deadline) {
        wrmsr(MSR_TSC_DEADLINE, rdtsc() + time::ns_to_tsc(delta_ns));
        return;
    }
    u64 ticks = delta_ns * g_ticks_per_ms / 1000000;
    if (ticks == 0) ticks = 1;
    if (ticks > 0xffffffffull) ticks = 0xffffffffull;
    write(REG_TIMER_INIT, static_cast<u32>(ticks));
}

void timer_stop() {
    if (g_deadline) wrmsr(MSR_TSC_DEADLINE, 0);
    else write(REG_TIMER_INIT, 0);
}

bool tsc_deadline_mode() { return g_deadline; }
u32 timer_ticks_per_ms() { return g_ticks_per_ms; }

namespace {
// The I/O APICs ioapic_init found: their registers (index register at 0, window at 0x10) and
// the GSIs their pins serve.
struct IoApic {
    volatile u32* regs = nullptr;
    u32 gsi_base = 0;
    u32 pins = 0;
    u32 read(u32 reg) const {
        regs[0] = reg;
        return regs[4];
    }
    void write(u32 reg, u32 v) const {
        regs[0] = reg;
        regs[4] = v;
    }
};
IoApic g_ioapics[MAX_IOAPICS];
}  // namespace

void ioapic_init(unsigned index, u64 phys_base, u32 gsi_base) {
    auto slot = static_cast<fixmap::Slot>(fixmap::SLOT_IOAPIC0 + index);
    IoApic& io = g_ioapics[index];
    io.regs = static_cast<volatile u32*>(fixmap::map_mmio(slot, phys_base));
    io.gsi_base = gsi_base;
    io.pins = ((io.read(1) >> 16) & 0xff) + 1;
    for (u32 i = 0; i < io.pins; ++i) {
        io.write(0x10 + 2 * i, LVT_MASKED);
        io.write(0x11 + 2 * i, 0);
    }
    pv_info("I/O APIC at %#lx: id %u, %u pins from GSI %u\n", phys_base, io.read(0) >> 24, io.pins, gsi_base);
}

bool ioapic_route(u32 gsi, u8 vector, bool level, bool active_low, u32 dest_apic_id) {
    for (const IoApic& io : g_ioapics) {
        if (!io.regs || gsi < io.gsi_base || gsi - io.gsi_base >= io.pins) continue;
        u32 pin = gsi - io.gsi_base;
        // Fixed delivery, physical destination; the high word (destination) first, then the
        // low word unmasks.  In x2APIC mode an 8-bit destination still reaches APIC ids < 255.
        io.write(0x11 + 2 * pin, dest_apic_id << 24);
        io.write(0x10 + 2 * pin, vector | (active_low ? 1u << 13 : 0) | (level ? 1u << 15 : 0));
        return true;
    }
    return false;
}

bool ioapic_set_masked(u32 gsi, bool masked) {
    for (const IoApic& io : g_ioapics) {
        if (!io.regs || gsi < io.gsi_base || gsi - io.gsi_base >= io.pins) continue;
        u32 reg = 0x10 + 2 * (gsi - io.gsi_base);
        u32 lo = io.read(reg);
        io.write(reg, masked ? lo | LVT_MASKED : lo & ~LVT_MASKED);
        return true;
    }
    return false;
}

u32 ioapic_gsi_end() {
    u32 end = 0;
    for (const IoApic& io : g_ioapics)
        if (io.regs && io.gsi_base + io.pins > end) end = io.gsi_base + io.pins;
    return end;
}

}  // namespace pv::arch::apic
