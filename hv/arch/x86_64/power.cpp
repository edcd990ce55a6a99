#include <arch/cpu.hpp>
#include <arch/power.hpp>

#include "core/console.hpp"

namespace pv::arch {
namespace {

struct PowerState {
    // Soft-off through PM1 control (legacy hardware) or the sleep control register (hardware-
    // reduced ACPI).  Ports are 0 when absent.
    u16 pm1a_cnt = 0;
    u16 pm1b_cnt = 0;
    u16 sleep_control = 0;
    u8 slp_typa = 0;
    u8 slp_typb = 0;
    const char* no_off_reason = "ACPI was not initialised";
    u16 reset_port = 0;
    u8 reset_value = 0;
};
constinit PowerState g_power;

// ACPI 6.5 §4.8.3.2.1 PM1 control: SLP_TYP in bits 12:10, SLP_EN bit 13.
constexpr u16 PM1_SLP_TYP_SHIFT = 10;
constexpr u16 PM1_SLP_TYP_MASK = 7u << PM1_SLP_TYP_SHIFT;
constexpr u16 PM1_SLP_EN = 1u << 13;
// §4.8.3.7 sleep control register: SLP_TYP in bits 4:2, SLP_EN bit 5.
constexpr u8 SLEEP_CTL_TYP_SHIFT = 2;
constexpr u8 SLEEP_CTL_EN = 1u << 5;

constexpr u16 KBC_STATUS = 0x64, KBC_COMMAND = 0x64;
constexpr u8 KBC_INPUT_FULL = 1u << 1, KBC_PULSE_RESET = 0xfe;
// Intel's reset control register: bit 1 selects a hard reset, bit 2 performs it.
constexpr u16 RESET_CONTROL = 0xcf9;

// Real chipsets act on SLP_EN within microseconds, but an emulator may act on it asynchronously
// (QEMU's q35 under TCG takes tens of milliseconds), so allow a generous nominal second before
// calling it a failure.
constexpr unsigned SLEEP_WAIT_US = 1000000;
constexpr unsigned RESET_WAIT_US = 50000;

u16 io_port(const AcpiGas& g) {
    if (g.space != AcpiGas::SPACE_IO || g.address == 0 || g.address > 0xffff) return 0;
    return static_cast<u16>(g.address);
}

// Writes to the POST-code port go nowhere and take about a microsecond on the LPC/ISA bus: a
// delay that needs no calibrated timer, which a panicking machine may not have.
void io_delay_us(unsigned us) {
    for (unsigned i = 0; i < us; ++i) outb(0x80, 0);
}

[[noreturn]] void halt_forever() {
    for (;;) {
        irq_disable();
        halt();
    }
}

// As ACPICA: preserve the other bits (SCI_EN must not change), set SLP_TYP, then SLP_EN.
void pm1_sleep(u16 port, u8 typ) {
    u16 v = static_cast<u16>(inw(port) & ~(PM1_SLP_TYP_MASK | PM1_SLP_EN));
    v = static_cast<u16>(v | ((typ & 7u) << PM1_SLP_TYP_SHIFT));
    outw(port, v);
    outw(port, static_cast<u16>(v | PM1_SLP_EN));
}

}  // namespace

void power_init(const AcpiInfo& info) {
    PowerState s;
    const AcpiFadt& f = info.fadt;
    if (!f.present) {
        s.no_off_reason = "no ACPI FADT";
    } else if (!info.s5_valid) {
        s.no_off_reason = "no \\_S5 sleep values in the DSDT";
    } else if (f.hw_reduced) {
        s.sleep_control = io_port(f.sleep_control);
        if (!s.sleep_control) s.no_off_reason = "sleep control register is not in I/O space";
    } else {
        s.pm1a_cnt = io_port(f.pm1a_cnt);
        s.pm1b_cnt = io_port(f.pm1b_cnt);
        if (!s.pm1a_cnt) s.no_off_reason = "PM1a control block is missing or not in I/O space";
    }
    s.slp_typa = info.slp_typa;
    s.slp_typb = info.slp_typb;

    if (f.reset_supported) {
        s.reset_port = io_port(f.reset_reg);
        s.reset_value = f.reset_value;
        if (!s.reset_port)
            pv_info("ACPI reset register in address space %u at %#lx not supported; legacy reset only\n",
                    f.reset_reg.space, f.reset_reg.address);
    }
    g_power = s;
    if (s.pm1a_cnt) pv_info("power-off: ACPI S5 through PM1a_CNT %#x (SLP_TYP %u)\n", s.pm1a_cnt, s.slp_typa);
    else if (s.sleep_control) pv_info("power-off: ACPI S5 through sleep control %#x\n", s.sleep_control);
    else pv_warn("power-off unavailable: %s\n", s.no_off_reason);
    if (s.reset_port) pv_info("reset: ACPI reset register, I/O port %#x <- %#x\n", s.reset_port, s.reset_value);
    else pv_info("reset: legacy (8042, port 0xcf9, triple fault)\n");
}

void power_off() {
    irq_disable();
    const PowerState& s = g_power;
    if (s.pm1a_cnt) {
        if (s.pm1b_cnt) pm1_sleep(s.pm1b_cnt, s.slp_typb);
        pm1_sleep(s.pm1a_cnt, s.slp_typa);
        io_delay_us(SLEEP_WAIT_US);
        pv_err("ACPI S5 did not power off (PM1a_CNT %#x, SLP_TYP %u); halting\n", s.pm1a_cnt, s.slp_typa);
    } else if (s.sleep_control) {
        outb(s.sleep_control, static_cast<u8>(((s.slp_typa & 7u) << SLEEP_CTL_TYP_SHIFT) | SLEEP_CTL_EN));
        io_delay_us(SLEEP_WAIT_US);
        pv_err("ACPI S5 did not power off (sleep control %#x); halting\n", s.sleep_control);
    } else {
        pv_err("power-off impossible: %s; halting\n", s.no_off_reason);
    }
    halt_forever();
}

void reboot() {
    irq_disable();
    const PowerState& s = g_power;
    if (s.reset_port) {
        outb(s.reset_port, s.reset_value);
        io_delay_us(RESET_WAIT_US);
    }

    // Bounded: on machines without an 8042 the status port floats to 0xff and never clears.
    for (unsigned i = 0; i < 100000 && (inb(KBC_STATUS) & KBC_INPUT_FULL); ++i) io_delay_us(1);
    outb(KBC_COMMAND, KBC_PULSE_RESET);
    io_delay_us(RESET_WAIT_US);

    outb(RESET_CONTROL, 0x02);
    io_delay_us(50);
    outb(RESET_CONTROL, 0x06);
    io_delay_us(RESET_WAIT_US);

    // Any exception with no IDT escalates to a triple fault, which resets the processor.
    struct [[gnu::packed]] {
        u16 limit;
        u64 base;
    } null_idt = {0, 0};
    asm volatile("lidt %0; int3" : : "m"(null_idt) : "memory");
    halt_forever();
}

}  // namespace pv::arch
