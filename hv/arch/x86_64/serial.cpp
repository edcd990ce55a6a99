#include "arch/serial.hpp"

#include <arch/cpu.hpp>

namespace pv::arch {
namespace {
// Register offsets (16550 datasheet).
constexpr u16 THR = 0, DLL = 0, IER = 1, DLM = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5, SCR = 7;
constexpr u8 LSR_THRE = 0x20;
constexpr u32 UART_CLOCK = 115200;

Uart16550 g_com[2] = {Uart16550(0x3f8), Uart16550(0x2f8)};
}  // namespace

Uart16550& com_port(unsigned index) { return g_com[index & 1]; }

bool Uart16550::probe() const {
    // A UART echoes the scratch register; an absent port floats at 0xff.
    outb(static_cast<u16>(base_ + SCR), 0x5a);
    return inb(static_cast<u16>(base_ + SCR)) == 0x5a;
}

void Uart16550::init(u32 baud) {
    if (baud == 0 || baud > UART_CLOCK) baud = UART_CLOCK;
    u32 div = UART_CLOCK / baud;
    outb(static_cast<u16>(base_ + IER), 0);
    outb(static_cast<u16>(base_ + LCR), 0x80);  // DLAB
    outb(static_cast<u16>(base_ + DLL), static_cast<u8>(div));
    outb(static_cast<u16>(base_ + DLM), static_cast<u8>(div >> 8));
    outb(static_cast<u16>(base_ + LCR), 0x03);  // 8n1
    outb(static_cast<u16>(base_ + FCR), 0x07);  // FIFO on, cleared
    outb(static_cast<u16>(base_ + MCR), 0x03);  // DTR, RTS
}

void Uart16550::put(char c) {
    // Bounded wait: a wedged UART must not hang the hypervisor forever.
    for (unsigned spin = 0; spin < 100000 && !(inb(static_cast<u16>(base_ + LSR)) & LSR_THRE); ++spin)
        cpu_relax();
    outb(static_cast<u16>(base_ + THR), static_cast<u8>(c));
}

usize Uart16550::read(char* buf, usize max) {
    constexpr u8 LSR_DR = 0x01;
    usize n = 0;
    while (n < max && (inb(static_cast<u16>(base_ + LSR)) & LSR_DR)) buf[n++] = static_cast<char>(inb(base_));
    return n;
}

void Uart16550::enable_rx_interrupt() {
    constexpr u8 IER_RDA = 0x01, MCR_DTR_RTS_OUT2 = 0x0b;
    outb(static_cast<u16>(base_ + MCR), MCR_DTR_RTS_OUT2);
    outb(static_cast<u16>(base_ + IER), IER_RDA);
}

void Uart16550::write(const char* s, usize n) {
    for (usize i = 0; i < n; ++i) {
        if (s[i] == '\n') put('\r');
        put(s[i]);
    }
}

}  // namespace pv::arch
