// Physical CPUs: per-CPU tables, application-processor start-up, IPIs.
#pragma once
#include <arch/desc.hpp>
#include <arch/percpu.hpp>

#include "core/acpi.hpp"
#include "lib/types.hpp"

namespace pv::arch {

struct PerCpu {
    u32 id;
    u32 apic_id;
    u64 stack_block;  // virtual base of the 32 KiB stack block
    u64* gdt_page;    // this CPU's hypervisor GDT page (page 14 of its window)
    u64 gdt_window;   // virtual base of the 16-page GDT window
    u64 ldt_window;   // virtual base of the 16-page LDT window that follows it
    Tss tss;
    volatile bool online;
    volatile u64 ipi_calls;  // call-function IPIs this CPU has handled
};

namespace smp {

// The boot page tables (boot.S): APs climb to long mode on them.
void set_boot_page_tables(u64 cr3);
// The BSP's per-CPU state and tables (its stack block is the one boot.S started on).
void init_bsp();
// Starts every enabled CPU the MADT lists, up to `limit` CPUs in all; returns the number online.
unsigned start_aps(const AcpiInfo& acpi, unsigned limit);
unsigned online_cpus();
PerCpu& cpu(unsigned id);
// Sends a call IPI to every other online CPU and waits (bounded) for each to answer; returns
// how many answered.
unsigned ping_all();
// A page of zeroes, never written: backs the unused part of GDT windows.
void* zero_page();
// A CPU that receives the panic NMI parks itself here.
[[noreturn]] void stop_this_cpu();

}  // namespace smp
}  // namespace pv::arch
