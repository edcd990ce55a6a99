// Serial input (Xen's console_rx): COM1's receive interrupt feeds core/serial_input.hpp, which
// sends characters to domain 0 (its CONSOLEIO_read ring, signalled by VIRQ_CONSOLE) or to the
// hypervisor's debug keys (keyhandler.cpp), Ctrl-A three times switching between the two.
//
// The interrupt goes to the boot CPU.  ISA IRQ 4 becomes a GSI through the MADT's interrupt
// source overrides (edge, active high unless an override says otherwise).  Input starts with
// the hypervisor and is handed to domain 0 when domain 0 starts (Xen's console_endboot), unless
// conswitch= says 'x'.
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/acpi.hpp"
#include "core/serial_input.hpp"

#include <arch/apic.hpp>
#include <arch/serial.hpp>
#include <arch/smp.hpp>
#include <arch/traps.hpp>

namespace pv::arch::pv {

void handle_debug_key(char key, TrapFrame& f);  // keyhandler.cpp

namespace {

SerialInput g_input;
unsigned g_irq_count = 0;

void announce(SerialInput::Target t, char switch_char) {
    char sw = static_cast<char>(switch_char + 'a' - 1);
    if (!switch_char)
        printk("*** Serial input to %s\n", t == SerialInput::Target::dom0 ? "DOM0" : "Xen");
    else
        printk("*** Serial input to %s (type 'CTRL-%c' three times to switch input)\n",
               t == SerialInput::Target::dom0 ? "DOM0" : "Xen", sw);
}

void on_serial_irq(TrapFrame& f) {
    ++g_irq_count;
    char buf[16];
    bool notify = false;
    // The UART's FIFO holds 16 bytes; drain until it is empty so the (edge) line drops.
    for (usize n; (n = com_port(0).read(buf, sizeof buf)) != 0;) {
        for (usize i = 0; i < n; ++i) {
            SerialInput::Result r = g_input.feed(buf[i]);
            notify |= r.dom0_input;
            if (r.switched) announce(g_input.target(), g_input.switch_char());
            for (unsigned k = 0; k < r.nkeys; ++k) handle_debug_key(r.keys[k], f);
        }
    }
    if (notify)
        if (PvDomain* d0 = domain_find(0); d0 && d0->vcpu[0]) send_virq(*d0->vcpu[0], VIRQ_CONSOLE);
}

// ISA IRQ irq's GSI and polarity/trigger, from the MADT overrides (MPS INTI flags: polarity in
// bits 1:0, 3 = active low; trigger in bits 3:2, 3 = level).
void isa_irq_gsi(const AcpiInfo& acpi, u8 irq, u32* gsi, bool* level, bool* active_low) {
    *gsi = irq;
    *level = false;
    *active_low = false;
    for (usize i = 0; i < acpi.override_count; ++i) {
        const AcpiIrqOverride& o = acpi.overrides[i];
        if (o.bus != 0 || o.source != irq) continue;
        *gsi = o.gsi;
        *active_low = (o.flags & 3) == 3;
        *level = ((o.flags >> 2) & 3) == 3;
    }
}

}  // namespace

void console_input_init(const AcpiInfo& acpi, u8 irq, char switch_char, bool to_dom0) {
    g_input.set_switch_char(switch_char);
    if (irq == 0 || acpi.ioapic_count == 0) {
        pv_warn("serial input: %s; the console takes no input\n",
                irq == 0 ? "COM1 is polled (irq 0)" : "no I/O APIC");
        return;
    }
    u32 gsi;
    bool level, active_low;
    isa_irq_gsi(acpi, irq, &gsi, &level, &active_low);
    set_irq_handler(VEC_SERIAL, on_serial_irq);
    if (!apic::ioapic_route(gsi, VEC_SERIAL, level, active_low, smp::cpu(0).apic_id)) {
        pv_warn("serial input: no I/O APIC pin for GSI %u; the console takes no input\n", gsi);
        return;
    }
    com_port(0).enable_rx_interrupt();
    pv_info("serial input: COM1 IRQ %u (GSI %u) on vector %#x\n", irq, gsi, VEC_SERIAL);
    if (to_dom0) g_input.set_target(SerialInput::Target::dom0);
    announce(g_input.target(), switch_char);
}

usize console_input_read(char* buf, usize max) { return g_input.read(buf, max); }

}  // namespace pv::arch::pv
