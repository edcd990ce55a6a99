// Local APIC (x2APIC when the CPU has it, else xAPIC through an uncached fixmap page) and the
// I/O APIC.  The local APIC gives each CPU its timer and the inter-processor interrupts.
#pragma once
#include "lib/types.hpp"

namespace pv::arch::apic {

// BSP: picks the mode, maps the xAPIC page if needed.  Every CPU: enables its APIC.
void init_bsp();
void init_cpu();
bool x2apic_mode();
u32 id();
void eoi();
// Whether an interrupt waits in this CPU's IRR (requested, not yet taken: interrupts are off).
// A few register reads: hypercall loops poll it to know when to give the CPU back.
bool interrupt_pending();

void send_ipi(u32 apic_id, u8 vector);
void send_ipi_all_but_self(u8 vector);
void send_nmi_all_but_self();
void send_init(u32 apic_id);
void send_startup(u32 apic_id, u8 page);
// Waits (bounded) until the previous IPI left the local APIC; false on timeout.
bool wait_icr_idle();

// The local APIC timer: one-shot, or TSC-deadline where the CPU offers it.
void timer_calibrate();  // BSP, after the TSC is calibrated
void timer_init_cpu();   // each CPU: LVT timer on VEC_TIMER, masked until armed
void timer_arm_ns(u64 delta_ns);
void timer_stop();
bool tsc_deadline_mode();
u32 timer_ticks_per_ms();

// I/O APIC: all redirection entries masked at boot (interrupts reach guests later through it).
inline constexpr unsigned MAX_IOAPICS = 8;
void ioapic_init(unsigned index, u64 phys_base, u32 gsi_base);
// Routes a GSI to `vector` on the CPU with local APIC id dest_apic_id, unmasked; false when no
// I/O APIC serves the GSI.
bool ioapic_route(u32 gsi, u8 vector, bool level, bool active_low, u32 dest_apic_id);
// Masks or unmasks a GSI's pin (false: no I/O APIC serves it).
bool ioapic_set_masked(u32 gsi, bool masked);
// One past the highest GSI an I/O APIC serves (0: none).
u32 ioapic_gsi_end();

}  // namespace pv::arch::apic
