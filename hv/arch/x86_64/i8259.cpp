// The legacy 8259 interrupt controllers.  pvisor takes interrupts only through the local and
// I/O APICs, so the PICs are moved off the exception vectors and fully masked — first thing at
// boot, while the firmware's virtual-wire mode still routes their output: masking then lowers
// the line the CPU sees, so no stale PIC interrupt (the BIOS's 18.2 Hz PIT tick) is delivered
// once interrupts are enabled.
#include <arch/cpu.hpp>
#include <arch/pic.hpp>
#include <arch/traps.hpp>

namespace pv::arch::pic {

void disable() {
    constexpr u16 MASTER_CMD = 0x20, MASTER_DATA = 0x21, SLAVE_CMD = 0xa0, SLAVE_DATA = 0xa1;
    outb(MASTER_DATA, 0xff);
    outb(SLAVE_DATA, 0xff);
    // ICW1-4: edge, cascade, vectors 0x20-0x2f (a spurious IRQ7/15 lands on an IRQ vector, not
    // on #DF or #GP), slave on IRQ2, 8086 mode.
    outb(MASTER_CMD, 0x11);
    outb(SLAVE_CMD, 0x11);
    outb(MASTER_DATA, VEC_FIRST_IRQ);
    outb(SLAVE_DATA, VEC_FIRST_IRQ + 8);
    outb(MASTER_DATA, 0x04);
    outb(SLAVE_DATA, 0x02);
    outb(MASTER_DATA, 0x01);
    outb(SLAVE_DATA, 0x01);
    outb(MASTER_DATA, 0xff);
    outb(SLAVE_DATA, 0xff);
}

}  // namespace pv::arch::pic
