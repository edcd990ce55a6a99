// The bring-up sequence of the boot CPU, from the loader's hand-over to "ready".
#include <arch/apic.hpp>
#include <arch/cpu.hpp>
#include <arch/desc.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>
#include <arch/pic.hpp>
#include <arch/power.hpp>
#include <arch/serial.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>
#include <arch/traps.hpp>

#include "arch/x86_64/pv/dom0_kernel.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/acpi.hpp"
#include "core/bootinfo.hpp"
#include "core/cmdline.hpp"
#include "core/console.hpp"
#include "core/memmap.hpp"
#include "core/panic.hpp"
#include "lib/string.hpp"

extern "C" {
using InitFn = void (*)();
extern InitFn __init_array_start[], __init_array_end[];
extern char __bss_end[];
extern pv::u64 boot_tsc;
}

namespace pv {

[[noreturn]] void arch_halt_system(bool reboot) {
    if (reboot) arch::reboot();
    for (;;) {
        arch::irq_disable();
        arch::halt();
    }
}

namespace {

// Physical memory as seen through a linear window: the boot mapping of the first GiB before the
// final page tables, the direct map afterwards.
class WindowPhys final : public PhysMemory {
public:
    WindowPhys(u64 offset, u64 limit) : offset_(offset), limit_(limit) {}
    const void* map(u64 pa, usize len) const override {
        u64 end;
        if (add_overflows(pa, static_cast<u64>(len), &end) || end > limit_) return nullptr;
        return reinterpret_cast<const void*>(offset_ + pa);
    }

private:
    u64 offset_, limit_;
};

BootInfo g_bootinfo;
BootOptions g_options;
Diagnostics g_diags;
MemoryMap g_memmap;
u64 g_ram_end = 0;  // top of RAM before any reservation
AcpiInfo g_acpi;

void print_diagnostics(Diagnostics& d) {
    for (usize i = 0; i < d.count(); ++i)
        printk("%s: %s\n", d[i].severity == Severity::error ? "error" : "warning", d[i].message);
    if (d.dropped()) printk("warning: %zu more messages dropped\n", d.dropped());
}

void apply_console_options(const BootOptions& o) {
    // pvisor does not rate-limit: everything up to Xen's rate-limited (upper) level is printed.
    if (o.loglvl.upper == LogLevels::NONE) console::set_none();
    else console::set_level(static_cast<LogLevel>(o.loglvl.upper));
    g_noreboot = o.noreboot;
    if (o.com1.given && o.com1.baud != SerialConfig::BAUD_AUTO) arch::com_port(0).init(o.com1.baud);
    if (o.console.com2) {
        arch::com_port(1).init(o.com2.baud == SerialConfig::BAUD_AUTO ? 115200 : o.com2.baud);
        console::add_driver(arch::com_port(1));
    }
}

void build_memory_map() {
    const BootInfo& bi = g_bootinfo;
    for (usize i = 0; i < bi.memory_map_count; ++i) {
        const MemoryRange& r = bi.memory_map[i];
        if (auto res = g_memmap.add_region(r.base, r.length, mem_type_from_e820(r.type)); !res)
            pv_warn("memory map entry %#lx+%#lx ignored: %s\n", r.base, r.length, errno_name(res.error()));
    }
    if (!bi.memory_map_count && bi.has_basic_meminfo) {
        (void)g_memmap.add(0, u64{bi.mem_lower_kib} * KiB, MemType::ram);
        (void)g_memmap.add(1 * MiB, 1 * MiB + u64{bi.mem_upper_kib} * KiB, MemType::ram);
    }
    if (!g_memmap.total_ram()) panic("the boot loader gave no memory map");
    g_ram_end = g_memmap.max_ram_addr();
    if (g_options.availmem) (void)g_memmap.reserve(g_options.availmem, ~u64{0});
    arch::mm::set_ram_pages(g_memmap.total_ram() >> PAGE_SHIFT);

    // What the allocators must never hand out: real-mode memory (BIOS data, the AP
    // trampoline), the image, and the boot modules (domain 0's kernel and ramdisk).
    auto reserve = [](u64 s, u64 e, const char* what) {
        if (auto r = g_memmap.reserve(s, e); !r) panic("cannot reserve %s: %s", what, errno_name(r.error()));
    };
    reserve(0, 1 * MiB, "low memory");
    reserve(arch::IMAGE_PHYS_START, arch::virt_to_phys(__bss_end), "the image");
    for (usize i = 0; i < bi.module_count; ++i)
        reserve(align_down(bi.modules[i].start, PAGE_SIZE), align_up(bi.modules[i].end, PAGE_SIZE), "a module");
}

void print_memory_map() {
    for (const MemRange& r : g_memmap)
        pv_debug(" %016lx - %016lx (%s)\n", r.start, r.end, mem_type_name(r.type));
    pv_info("RAM: %lu MiB usable\n", g_memmap.total_ram() / MiB);
}

// Deliberate faults for the crash-path tests (selftest=).  Recursion with a frame the compiler
// cannot elide, until the stack runs into its guard page.
[[gnu::noinline]] u64 recurse(volatile u64* depth) {
    volatile char pad[512];
    pad[*depth % sizeof pad] = 1;
    *depth = *depth + 1;
    if (*depth != 0) return recurse(depth) + static_cast<u8>(pad[0]);
    return 0;
}

void run_selftest(const char* name) {
    if (!name[0]) return;
    StrView t(name);
    pv_info("selftest: %s\n", name);
    if (t.equals("pagefault")) {
        *reinterpret_cast<volatile u64*>(0x0000000000dead00ull) = 1;  // nothing is mapped low
    } else if (t.equals("ud")) {
        asm volatile("ud2");
    } else if (t.equals("gp")) {
        *reinterpret_cast<volatile u64*>(0x8000000000000000ull) = 1;  // non-canonical
    } else if (t.equals("divide")) {
        volatile u32 zero = 0;
        volatile u32 r = 1 / zero;
        (void)r;
    } else if (t.equals("stack-overflow")) {
        volatile u64 depth = 0;
        (void)recurse(&depth);  // runs into the guard page; #DF on its own IST stack
    } else if (t.equals("panic")) {
        panic("selftest: panic requested");
    } else {
        pv_warn("selftest: unknown test '%s' (pagefault, ud, gp, divide, stack-overflow, panic)\n", name);
    }
}

void on_timer(arch::TrapFrame&) { arch::time::timer_interrupt(); }

// Sleeps 1 ms on the local APIC timer: proves the timer and interrupt delivery work.
void check_timer() {
    arch::set_irq_handler(arch::VEC_TIMER, on_timer);
    u64 start = arch::rdtsc();
    arch::time::sleep_ns(1'000'000);
    pv_info("APIC timer (%s): 1 ms one-shot fired after %lu us\n",
            arch::apic::tsc_deadline_mode() ? "TSC deadline" : "one-shot",
            arch::time::tsc_to_ns(arch::rdtsc() - start) / 1000);
}

// Boot-phase timestamps at loglvl=debug: where the time to "ready" goes.  The TSC is only
// calibrated midway; earlier phases are reported once it is.
u64 g_phase_tsc[16];
const char* g_phase_name[16];
unsigned g_phases = 0;
void phase(const char* name) {
    if (g_phases < array_size(g_phase_tsc)) {
        g_phase_tsc[g_phases] = arch::rdtsc();
        g_phase_name[g_phases++] = name;
    }
}
void print_phases() {
    u64 prev = boot_tsc;
    for (unsigned i = 0; i < g_phases; ++i) {
        pv_debug("boot phase %-24s %6lu us\n", g_phase_name[i], arch::time::tsc_to_ns(g_phase_tsc[i] - prev) / 1000);
        prev = g_phase_tsc[i];
    }
}

[[noreturn]] void nothing_to_run() {
    if (g_noreboot) {
        printk("Halting ('noreboot' specified)\n");
        arch_halt_system(false);
    }
    printk("Powering off\n");
    arch::power_off();
}

// Builds domain 0 from the first module (kernel; its arguments are the guest's command line)
// and the second (initrd), and runs it on this CPU.
[[noreturn]] void start_dom0() {
    const BootModule& km = g_bootinfo.modules[0];
    ModuleArgs k = parse_module_args(StrView(km.cmdline));
    char cmdline[BootModule::CMDLINE_LEN];
    format(cmdline, sizeof cmdline, "%.*s", static_cast<int>(k.args.len), k.args.ptr);
    arch::pv::Dom0Input in{};
    // A bzImage is decompressed before dom0's memory is sized, and the frames are given back
    // once the builder has copied the kernel.
    arch::pv::Dom0Kernel kernel;
    if (!kernel.unpack(static_cast<const u8*>(arch::phys_to_virt(km.start)), km.size()))
        panic("Could not set up domain 0");
    in.kernel = kernel.elf();
    in.kernel_len = kernel.size();
    if (g_bootinfo.module_count > 1) {
        in.initrd = static_cast<const u8*>(arch::phys_to_virt(g_bootinfo.modules[1].start));
        in.initrd_len = g_bootinfo.modules[1].size();
    }
    in.cmdline = cmdline;
    u64 avail = arch::mm::frames().free_frames() * PAGE_SIZE;
    in.mem_bytes = align_down(g_options.dom0_mem.resolve(avail), PAGE_SIZE);
    printk("Domain 0 kernel %.*s, %lu MiB, command line '%s'\n", static_cast<int>(k.file.len), k.file.ptr,
           in.mem_bytes / MiB, cmdline);
    // Xen's dom0_max_vcpus(): a vCPU per CPU, within the option's bounds and the legacy limit
    // of vCPUs with a vcpu_info in shared_info.
    unsigned cpus = arch::smp::online_cpus();
    u32 nr = cpus;
    if (g_options.dom0_max_vcpus.min > nr) nr = g_options.dom0_max_vcpus.min;
    if (g_options.dom0_max_vcpus.max < nr) nr = g_options.dom0_max_vcpus.max;
    in.nr_vcpus = min<u32>(nr, XEN_LEGACY_MAX_VCPUS);
    arch::pv::sched_init(cpus);
    arch::pv::m2p_init(arch::mm::frames().nr_frames());
    arch::pv::PvDomain* d = arch::pv::build_dom0(in);
    kernel.release();
    if (!d) panic("Could not set up domain 0");
    arch::pv::machine_map_init(g_bootinfo, g_acpi);
    arch::pv::platform_init(g_acpi);
    arch::pv::physdev_init(g_acpi, g_options.com1.irq);
    arch::pv::console_input_init(g_acpi, g_options.com1.irq, g_options.conswitch.switch_char,
                                 g_options.conswitch.to_dom0_at_boot);
    arch::pv::start_domain(*d);
}

}  // namespace

const BootOptions& boot_options() { return g_options; }
}  // namespace pv

extern "C" [[noreturn]] void boot_main(pv::u32 magic, pv::u32 info) {
    using namespace pv;
    arch::pic::disable();
    for (InitFn* f = __init_array_start; f != __init_array_end; ++f) (*f)();
    auto& com1 = arch::com_port(0);
    com1.init(115200);
    console::add_driver(com1);
    arch::idt_init_early();
    u64 boot_cr3 = arch::read_cr3();

    // The boot loader's information, read through the boot window (first GiB).
    WindowPhys boot_window(arch::IMAGE_VIRT_BASE, 1 * GiB);
    if (auto r = parse_bootinfo(magic, info, boot_window, g_bootinfo, g_diags); !r)
        panic("unusable boot information (magic %#x): %s", magic, errno_name(r.error()));
    StrView loader(g_bootinfo.loader_name);
    StrView cmdline = cmdline_cook(StrView(g_bootinfo.cmdline), loader);
    parse_cmdline(cmdline, g_options, g_diags);
    apply_console_options(g_options);

    printk("pvisor 0.1 (x86_64) booting via %s (loader: %s)\n",
           g_bootinfo.protocol == BootProtocol::multiboot2 ? "Multiboot2" : "Multiboot1",
           g_bootinfo.loader_name[0] ? g_bootinfo.loader_name : "unknown");
    printk("Command line: %.*s\n", static_cast<int>(cmdline.len), cmdline.ptr);
    print_diagnostics(g_diags);

    phase("console, command line");
    build_memory_map();
    print_memory_map();
    arch::mm::init_paging(g_memmap, g_ram_end);
    phase("page tables");
    auto wx = arch::paging::hv_tables().check_wx();
    if (wx.violations)
        panic("W^X: %lu mappings writable and executable, first at %#lx", wx.violations, wx.first_bad_va);
    arch::mm::init_allocators(g_memmap);
    phase("frame allocator, heap");

    arch::smp::set_boot_page_tables(boot_cr3);
    arch::apic::init_bsp();
    arch::smp::init_bsp();
    phase("APIC, CPU tables");
    if (!arch::time::calibrate_tsc()) panic("cannot calibrate the TSC against the PIT");
    phase("TSC calibration");
    pv_info("TSC: %lu.%03lu MHz\n", arch::time::tsc_khz() / 1000, arch::time::tsc_khz() % 1000);

    WindowPhys direct(arch::DIRECTMAP_VIRT_START, align_up(max(g_ram_end, 4 * GiB), 2 * MiB));
    Diagnostics acpi_diags;
    if (auto r = acpi_parse(direct, g_bootinfo.rsdp_len ? g_bootinfo.rsdp : nullptr, g_bootinfo.rsdp_len,
                            g_acpi, acpi_diags);
        !r) {
        pv_warn("ACPI: %s; running without it (one CPU, no power-off)\n", errno_name(r.error()));
    }
    for (usize i = 0; i < acpi_diags.count(); ++i) pv_warn("ACPI: %s\n", acpi_diags.message(i));
    arch::power_init(g_acpi);
    for (usize i = 0; i < g_acpi.ioapic_count && i < arch::apic::MAX_IOAPICS; ++i)
        arch::apic::ioapic_init(static_cast<unsigned>(i), g_acpi.ioapics[i].address, g_acpi.ioapics[i].gsi_base);

    phase("ACPI, I/O APIC");
    arch::apic::timer_calibrate();
    arch::apic::timer_init_cpu();
    check_timer();
    phase("APIC timer");

    unsigned limit = g_options.nosmp ? 1 : static_cast<unsigned>(min<u64>(g_options.maxcpus, arch::MAX_CPUS));
    unsigned cpus = arch::smp::start_aps(g_acpi, limit);
    phase("AP start-up");
    printk("Brought up %u CPUs\n", cpus);
    if (cpus > 1) {
        unsigned answered = arch::smp::ping_all();
        pv_info("IPI: %u of %u other CPUs answered\n", answered, cpus - 1);
        if (answered != cpus - 1) panic("IPI: only %u of %u CPUs answered", answered, cpus - 1);
    }
    run_selftest(g_options.selftest);
    printk("W^X: checked %lu mappings, none writable and executable\n",
           arch::paging::hv_tables().check_wx().mappings);

    phase("IPI, W^X check");
    print_phases();
    auto fp = arch::mm::footprint();
    u64 ready_ns = arch::time::since_boot_ns();
    u64 total = fp.image_bytes + fp.pagetable_bytes + fp.frametable_bytes + fp.heap_bytes;
    printk("Ready in %lu.%03lu ms (TSC %lu MHz); footprint %lu KiB\n", ready_ns / 1000000, (ready_ns / 1000) % 1000,
           arch::time::tsc_khz() / 1000, total / KiB);
    pv_info("  image %lu KiB, page tables %lu KiB, frame table %lu KiB, heap %lu KiB; %lu of %lu MiB free\n",
            fp.image_bytes / KiB, fp.pagetable_bytes / KiB, fp.frametable_bytes / KiB, fp.heap_bytes / KiB,
            fp.free_ram / MiB, fp.total_ram / MiB);

    for (usize i = 0; i < g_bootinfo.module_count; ++i) {
        const BootModule& m = g_bootinfo.modules[i];
        pv_info("Module %zu: %#lx-%#lx (%lu KiB) '%s'\n", i, m.start, m.end, m.size() / KiB, m.cmdline);
    }
    if (g_bootinfo.module_count == 0) {
        printk("No domain 0 kernel given: nothing to run\n");
        nothing_to_run();
    }
    start_dom0();
}
