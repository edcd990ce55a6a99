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
    printk("Guest state of domain %u, vCPU %u:\n", d.id, current() ? current()->id : 0);
    printk("RIP:    %04lx:[<%016lx>]   RFLAGS: %016lx   %s mode\n", f.cs, f.rip, f.rflags,
           current() && current()->kernel_mode ? "kernel" : "user");
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

[[noreturn]] void start_domain(PvDomain& d) {
    if (long rc = vcpu_up(*d.vcpu[0]); rc) panic("domain %u: vCPU 0 does not come up (%ld)", d.id, rc);
    sched_enter_cpu();
}

[[noreturn]] void domain_shutdown(PvDomain& d, unsigned reason) {
    d.state = DomainState::shut_down;
    d.shutdown_reason = static_cast<u8>(reason);
    if (d.shutdown_code == PvDomain::NO_SHUTDOWN_CODE) d.shutdown_code = static_cast<u8>(reason);
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
