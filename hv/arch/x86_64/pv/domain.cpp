// Running, stopping and crashing PV domains, and exceptions that arrive from guest mode.
#include <arch/cpu.hpp>
#include <arch/percpu.hpp>
#include <arch/power.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/panic.hpp"

#include <xen/sched.h>

extern "C" [[noreturn]] void pv_enter_guest(const pv::arch::TrapFrame* frame);

namespace pv::arch::pv {
namespace {

PvVcpu* g_current[MAX_CPUS];

const char* shutdown_name(unsigned reason) {
    switch (reason) {
    case SHUTDOWN_poweroff: return "poweroff";
    case SHUTDOWN_reboot: return "reboot";
    case SHUTDOWN_suspend: return "suspend";
    case SHUTDOWN_crash: return "crash";
    case SHUTDOWN_watchdog: return "watchdog";
    case SHUTDOWN_soft_reset: return "soft_reset";
    default: return "unknown";
    }
}

void print_guest_state(const PvDomain& d, const TrapFrame& f) {
    printk("Guest state of domain %u, vCPU 0:\n", d.id);
    printk("RIP:    %04lx:[<%016lx>]   RFLAGS: %016lx   %s mode\n", f.cs, f.rip, f.rflags,
           d.vcpu0.kernel_mode ? "kernel" : "user");
    printk("rax: %016lx   rbx: %016lx   rcx: %016lx\n", f.rax, f.rbx, f.rcx);
    printk("rdx: %016lx   rsi: %016lx   rdi: %016lx\n", f.rdx, f.rsi, f.rdi);
    printk("rbp: %016lx   r8:  %016lx   r9:  %016lx\n", f.rbp, f.r8, f.r9);
    printk("r10: %016lx   r11: %016lx   r12: %016lx\n", f.r10, f.r11, f.r12);
    printk("r13: %016lx   r14: %016lx   r15: %016lx\n", f.r13, f.r14, f.r15);
    printk("RSP:    %04lx:%016lx   CR3: %016lx\n", f.ss, f.rsp, read_cr3());
    printk("Guest stack:\n");
    for (unsigned row = 0; row < 4; ++row) {
        u64 w[4];
        if (!copy_from_guest(w, f.rsp + row * sizeof w, sizeof w)) {
            printk("  (unreadable at %#lx)\n", f.rsp + row * sizeof w);
            break;
        }
        printk("  %016lx %016lx %016lx %016lx\n", w[0], w[1], w[2], w[3]);
    }
}

[[noreturn]] void end_machine(unsigned reason) {
    if (reason == SHUTDOWN_reboot) {
        printk("Rebooting\n");
        arch::reboot();
    }
    if (reason == SHUTDOWN_crash && g_noreboot) {
        printk("Halting ('noreboot' specified)\n");
        arch_halt_system(false);
    }
    printk("Powering off\n");
    arch::power_off();
}

}  // namespace

PvVcpu* current() { return g_current[this_cpu_id()]; }

// vcpu_time_info: system time = system_time + ((tsc - tsc_timestamp) scaled by mul/shift), as
// Xen's set_time_scale computes the scale: shift so the tick rate lies in (0.5, 1] GHz-multiple
// range, then mul = 10^9 * 2^32 / rate.  Updated at start here; kept current with the
// scheduler's time work (issue 4).
void publish_time(vcpu_info_t& vi) {
    u64 hz = time::tsc_khz() * 1000;
    if (!hz) return;
    int shift = 0;
    u64 tps = hz;
    while (tps > 2'000'000'000ull) {
        tps >>= 1;
        --shift;
    }
    while (tps <= 1'000'000'000ull) {
        tps <<= 1;
        ++shift;
    }
    auto& t = vi.time;
    t.version = t.version + 1;  // odd: update in progress
    asm volatile("" : : : "memory");
    t.tsc_timestamp = rdtsc();
    t.system_time = time::since_boot_ns();
    t.tsc_to_system_mul = static_cast<u32>((1'000'000'000ull << 32) / tps);
    t.tsc_shift = static_cast<i8>(shift);
    t.flags = 0;
    asm volatile("" : : : "memory");
    t.version = t.version + 1;
}

[[noreturn]] void start_domain(PvDomain& d) {
    unsigned cpu = this_cpu_id();
    g_current[cpu] = &d.vcpu0;
    publish_time(*d.vcpu0.vcpu_info);
    install_syscall_stub(cpu, smp::cpu(cpu).stack_block);
    write_cr3(d.vcpu0.kernel_cr3);
    pv_enter_guest(&d.vcpu0.regs);
}

[[noreturn]] void domain_shutdown(PvDomain& d, unsigned reason) {
    d.state = DomainState::shut_down;
    d.shutdown_reason = static_cast<u8>(reason);
    printk("Domain %u shut down: %s (reason %u)\n", d.id, shutdown_name(reason), reason);
    // Domain 0 is the machine: its end is the machine's end.
    end_machine(reason);
}

[[noreturn]] void domain_crash(PvDomain& d, const TrapFrame& f, const char* why) {
    d.state = DomainState::crashed;
    printk("Domain %u crashed: %s\n", d.id, why);
    print_guest_state(d, f);
    end_machine(SHUTDOWN_crash);
}

}  // namespace pv::arch::pv
