// 16550 UART console driver (COM1/COM2), polled transmit.
#pragma once
#include "core/console.hpp"

namespace pv::arch {

class Uart16550 final : public ConsoleDriver {
public:
    constexpr explicit Uart16550(u16 base) : base_(base) {}
    // Programs baud rate and 8n1 framing; FIFOs on, interrupts off.
    void init(u32 baud);
    void write(const char* s, usize n) override;
    bool probe() const;
    // Non-blocking: the bytes already received, up to max.
    usize read(char* buf, usize max);
    // Raise the UART's interrupt line when a byte arrives (IER receive-data, MCR OUT2, which
    // gates the line on PCs).
    void enable_rx_interrupt();

private:
    void put(char c);
    u16 base_;
};

Uart16550& com_port(unsigned index);  // 0 = COM1 (0x3f8), 1 = COM2 (0x2f8)

}  // namespace pv::arch
