#include <arch/apic.hpp>
#include <arch/cpu.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>
#include <arch/traps.hpp>

#include <atomic>

#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/panic.hpp"
#include "lib/string.hpp"

extern "C" char trampoline_start[], trampoline_end[], trampoline_params[], ap_entry64[], bsp_stack_block[];

namespace pv::arch {
namespace {

constexpr u64 TRAMPOLINE_PHYS = 0x8000;  // SIPI vector 0x08

struct TrampolineParams {
    u64 boot_cr3;
    u64 final_cr3;
    u64 stack;
    u64 entry;
};

PerCpu g_cpus[MAX_CPUS];
std::atomic<unsigned> g_online{0};
u64 g_zero_frame = 0;  // backs the guest part of every GDT window until a guest installs its own

void on_call_ipi(TrapFrame&) { g_cpus[this_cpu_id()].ipi_calls = g_cpus[this_cpu_id()].ipi_calls + 1; }

// Maps the CPU's descriptor window: guest GDT pages read-only zeroes, page 14 its own GDT page;
// the LDT pages after them stay unmapped (mapped on LDT faults), but their page table is made
// now, so the fault path never allocates.
void map_gdt_window(PerCpu& c) {
    c.gdt_window = GDT_VIRT_START + u64{c.id} * GDT_LDT_PAGES * PAGE_SIZE;
    c.ldt_window = c.gdt_window + GDT_PAGES * PAGE_SIZE;
    for (unsigned p = 0; p < GDT_PAGES; ++p) {
        bool own = p == GDT_FIRST_HV_ENTRY * 8 / PAGE_SIZE;
        u64 pa = own ? virt_to_phys(c.gdt_page) : g_zero_frame;
        mm::map_hv_pages(c.gdt_window + p * PAGE_SIZE, pa, 1, own ? paging::MAP_RW : paging::MAP_RO);
    }
    for (unsigned p = 0; p < LDT_PAGES; ++p) {
        mm::map_hv_pages(c.ldt_window + p * PAGE_SIZE, g_zero_frame, 1, paging::MAP_RO);
        paging::hv_tables().unmap_page(c.ldt_window + p * PAGE_SIZE);
    }
}

void setup_cpu_memory(PerCpu& c) {
    void* gdt = mm::alloc_pages(0);
    if (!gdt) panic("CPU %u: no memory for its GDT", c.id);
    c.gdt_page = static_cast<u64*>(gdt);
    map_gdt_window(c);
}

void load_tables(PerCpu& c) { load_cpu_tables(c.gdt_page, c.gdt_window, &c.tss, c.stack_block); }

// The FPU and SSE as guests need them (the hypervisor itself uses neither): x87 errors as #MF
// (NE), WAIT honouring TS (MP), no emulation (EM clear), and FXSAVE/SSE enabled with SIMD
// exceptions as #XM (OSFXSR, OSXMMEXCPT) — without OSFXSR every SSE instruction is #UD.
void enable_fpu_sse() {
    write_cr0((read_cr0() & ~CR0_EM) | CR0_MP | CR0_NE);
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
}

}  // namespace

namespace smp {

PerCpu& cpu(unsigned id) { return g_cpus[id]; }
void* zero_page() { return phys_to_virt(g_zero_frame); }
unsigned online_cpus() { return g_online.load(); }

void init_bsp() {
    void* zero = mm::alloc_pages(0);
    if (!zero) panic("no memory for the zero frame");
    mem_set(zero, 0, PAGE_SIZE);
    g_zero_frame = virt_to_phys(zero);

    PerCpu& c = g_cpus[0];
    c.id = 0;
    c.apic_id = apic::id();
    c.stack_block = reinterpret_cast<u64>(bsp_stack_block);
    setup_cpu_memory(c);
    CpuInfo* ci = cpu_info();
    ci->cpu_id = 0;
    ci->apic_id = c.apic_id;
    ci->percpu = &c;
    load_tables(c);
    enable_fpu_sse();
    set_irq_handler(VEC_IPI_CALL, on_call_ipi);
    c.online = true;
    g_online = 1;
}

}  // namespace smp

namespace {
u64 g_boot_page_tables = 0;
// An xAPIC can only address APIC ids below 255 (0xff is the broadcast id).
bool x2apic_capable(u32 apic_id) { return apic::x2apic_mode() || apic_id < 0xff; }
}  // namespace

void smp::set_boot_page_tables(u64 cr3) { g_boot_page_tables = cr3; }

extern "C" [[noreturn]] void ap_main() {
    CpuInfo* ci = cpu_info();
    PerCpu& c = *ci->percpu;
    load_tables(c);
    enable_fpu_sse();
    apic::init_cpu();
    apic::timer_init_cpu();
    c.online = true;
    g_online.fetch_add(1);
    irq_enable();
    // Idle until the scheduler exists (woken by its IPI), then run what it gives this CPU.
    while (!pv::sched_ready()) halt();
    pv::sched_enter_cpu();
}

namespace smp {

unsigned start_aps(const AcpiInfo& acpi, unsigned limit) {
    if (!g_boot_page_tables) return online_cpus();
    // Install the trampoline in low memory (reserved from the allocators at boot).
    auto* tramp = static_cast<u8*>(phys_to_virt(TRAMPOLINE_PHYS));
    usize tramp_len = static_cast<usize>(trampoline_end - trampoline_start);
    mem_copy(tramp, trampoline_start, tramp_len);
    auto* params = reinterpret_cast<TrampolineParams*>(tramp + (trampoline_params - trampoline_start));

    u32 bsp_apic = g_cpus[0].apic_id;
    unsigned next_id = 1;
    for (usize i = 0; i < acpi.cpu_count && next_id < limit && next_id < MAX_CPUS; ++i) {
        const AcpiCpu& a = acpi.cpus[i];
        if (!a.enabled || a.apic_id == bsp_apic) continue;
        if (!x2apic_capable(a.apic_id)) {
            pv_warn("CPU with APIC id %u needs x2APIC mode; skipped\n", a.apic_id);
            continue;
        }
        PerCpu& c = g_cpus[next_id];
        c.id = next_id;
        c.apic_id = a.apic_id;
        // Stack block: 8 frames, mapped with page 0 left out as the guard.
        void* block = mm::alloc_pages(3);
        if (!block) {
            pv_err("CPU %u: no memory for its stack\n", next_id);
            break;
        }
        c.stack_block = STACKS_VIRT_START + u64{next_id} * STACK_BLOCK_SIZE;
        mm::map_hv_pages(c.stack_block + PAGE_SIZE, virt_to_phys(block) + PAGE_SIZE, STACK_BLOCK_PAGES - 1,
                         paging::MAP_RW);
        auto* ci = reinterpret_cast<CpuInfo*>(c.stack_block + STACK_BLOCK_SIZE - sizeof(CpuInfo));
        ci->cpu_id = next_id;
        ci->apic_id = a.apic_id;
        ci->percpu = &c;
        setup_cpu_memory(c);

        *params = TrampolineParams{g_boot_page_tables, read_cr3(), c.stack_block + STACK_MAIN_TOP,
                                   reinterpret_cast<u64>(ap_entry64)};
        asm volatile("mfence" : : : "memory");

        // INIT, then STARTUP; a second STARTUP only if the first was lost (Intel SDM 8.4.4).
        apic::send_init(a.apic_id);
        time::udelay(100);
        for (unsigned attempt = 0; attempt < 2 && !c.online; ++attempt) {
            apic::send_startup(a.apic_id, static_cast<u8>(TRAMPOLINE_PHYS >> 12));
            time::wait_for([&c] { return c.online; }, attempt ? 100'000'000 : 10'000'000);
        }
        if (!c.online) {
            pv_err("CPU %u (APIC id %u) did not start\n", next_id, a.apic_id);
            continue;  // its block stays allocated: the CPU may still wake up and use it
        }
        pv_debug("CPU %u (APIC id %u) online\n", next_id, a.apic_id);
        ++next_id;
    }
    return online_cpus();
}

unsigned ping_all() {
    unsigned n = online_cpus();
    u64 before[MAX_CPUS];
    for (unsigned i = 0; i < n; ++i) before[i] = g_cpus[i].ipi_calls;
    apic::send_ipi_all_but_self(VEC_IPI_CALL);
    auto count = [&] {
        unsigned answered = 0;
        for (unsigned i = 1; i < n; ++i) answered += g_cpus[i].ipi_calls != before[i];
        return answered;
    };
    time::wait_for([&] { return count() == n - 1; }, 100'000'000);
    return count();
}

}  // namespace smp
}  // namespace pv::arch

namespace pv {

namespace {
std::atomic<unsigned> g_stopped{0};
}

unsigned arch::this_cpu_index() { return arch::this_cpu_id(); }

void arch::smp::stop_this_cpu() {
    g_stopped.fetch_add(1);
    for (;;) {
        irq_disable();
        halt();
    }
}

unsigned arch_stop_other_cpus(unsigned* others) {
    unsigned online = arch::smp::online_cpus();
    *others = online ? online - 1 : 0;
    if (!*others) return 0;
    arch::apic::send_nmi_all_but_self();
    // Bounded: a wedged CPU must not keep the panic message from being printed.
    for (unsigned i = 0; i < 100000000 && g_stopped.load() < *others; ++i) arch::cpu_relax();
    return g_stopped.load();
}

}  // namespace pv
