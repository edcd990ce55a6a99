// Exception and interrupt dispatch.  The hypervisor takes no exception of its own on purpose:
// each one is fatal and is reported with everything needed to debug it.  Guest exceptions will
// be routed from here to the PV trap-bounce code.
#include <arch/apic.hpp>
#include <arch/cpu.hpp>
#include <arch/percpu.hpp>
#include <arch/smp.hpp>
#include <arch/symbols.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include <arch/traps.hpp>

#include "core/console.hpp"
#include "core/panic.hpp"

extern "C" char return_to_guest_iret[], pv_sysenter_flags_saved[];

namespace pv::arch {
namespace {

IrqHandler g_irq_handlers[256];

const char* vector_name(u64 v) {
    static const char* const names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                        "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "(15)",
                                        "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
    return v < array_size(names) ? names[v] : v < 32 ? "(reserved)" : "IRQ";
}

void print_pf_error(u64 ec) {
    printk("Page fault error code %#lx: %s, %s, %s%s%s\n", ec, ec & 1 ? "protection" : "not-present",
           ec & 2 ? "write" : "read", ec & 4 ? "user" : "supervisor", ec & 8 ? ", reserved bit" : "",
           ec & 16 ? ", instruction fetch" : "");
}

}  // namespace

void set_irq_handler(u8 vector, IrqHandler h) { g_irq_handlers[vector] = h; }

namespace {
void print_frame(u64 addr) {
    u64 off = 0;
    if (const char* name = symbol_for(addr, &off)) printk("   [<%016lx>] %s+%#lx\n", addr, name, off);
    else printk("   [<%016lx>]\n", addr);
}
}  // namespace

void print_backtrace(u64 rbp, u64 rip) {
    // Only follow frames inside this CPU's stack block: a corrupt chain ends the walk instead of
    // faulting inside the fault handler.
    u64 block = reinterpret_cast<u64>(cpu_info()) + sizeof(CpuInfo) - STACK_BLOCK_SIZE;
    printk("Backtrace:\n");
    print_frame(rip);
    for (unsigned depth = 0; depth < 32; ++depth) {
        if (rbp < block || rbp + 16 > block + STACK_BLOCK_SIZE || (rbp & 7)) break;
        auto* fp = reinterpret_cast<const u64*>(rbp);
        u64 ret = fp[1];
        if (ret < IMAGE_VIRT_BASE) break;
        print_frame(ret);
        if (fp[0] <= rbp) break;  // frames must move up the stack
        rbp = fp[0];
    }
}

void print_gprs(const TrapFrame& f) {
    printk("rax: %016lx   rbx: %016lx   rcx: %016lx\n", f.rax, f.rbx, f.rcx);
    printk("rdx: %016lx   rsi: %016lx   rdi: %016lx\n", f.rdx, f.rsi, f.rdi);
    printk("rbp: %016lx   r8:  %016lx   r9:  %016lx\n", f.rbp, f.r8, f.r9);
    printk("r10: %016lx   r11: %016lx   r12: %016lx\n", f.r10, f.r11, f.r12);
    printk("r13: %016lx   r14: %016lx   r15: %016lx\n", f.r13, f.r14, f.r15);
}

[[noreturn]] void fatal_trap(const TrapFrame& f) {
    console::force_unlock();
    unsigned cpu = this_cpu_id();
    printk("FATAL TRAP: vector %lu (%s), error code %#06lx, on CPU %u\n", f.vector, vector_name(f.vector),
           f.error_code, cpu);
    printk("RIP:    %04lx:[<%016lx>]   RFLAGS: %016lx\n", f.cs, f.rip, f.rflags);
    print_gprs(f);
    printk("RSP:    %04lx:%016lx\n", f.ss, f.rsp);
    printk("CR0: %016lx   CR2: %016lx\n", read_cr0(), read_cr2());
    printk("CR3: %016lx   CR4: %016lx\n", read_cr3(), read_cr4());
    if (f.vector == VEC_PF) {
        print_pf_error(f.error_code);
        printk("Faulting linear address: %#018lx\n", read_cr2());
    } else {
        printk("Faulting linear address: %#018lx (RIP)\n", f.rip);
    }
    print_backtrace(f.rbp, f.rip);
    panic("FATAL TRAP: vector %lu (%s) at %#lx on CPU %u", f.vector, vector_name(f.vector), f.rip, cpu);
}

namespace {

void handle_interrupt(TrapFrame& f) {
    if (IrqHandler h = g_irq_handlers[f.vector]) {
        h(f);
    } else if (f.vector != VEC_SPURIOUS) {
        pv_warn("unexpected interrupt vector %#lx on CPU %u\n", f.vector, this_cpu_id());
    }
    if (f.vector != VEC_SPURIOUS) apic::eoi();
}

// An exception the hypervisor took itself: only a few are expected, the rest are fatal.
void handle_hypervisor_exception(TrapFrame& f) {
    // A guest's data breakpoint hit while the hypervisor copies guest memory: not ours to take.
    if (f.vector == VEC_DB && pv::current()) {
        asm volatile("mov %0, %%db6" : : "r"(0xffff0ff0ul));
        // A guest's TF survives SYSENTER: the entry single-steps until the guest's RFLAGS are
        // on the stack (they keep TF for the guest), then no more.
        if (f.rip == reinterpret_cast<u64>(pv_sysenter_flags_saved)) f.rflags &= ~u64{1u << 8};
        return;
    }
    // A descriptor load on a guest's behalf (a selector from its LDT) maps the LDT page.
    if (f.vector == VEC_PF && pv::ldt_fault(f, read_cr2(), false)) return;
    // A fault while touching guest memory or loading a guest selector on a guest's behalf
    // resumes at its fixup.
    if (f.vector == VEC_PF || f.vector == VEC_GP || f.vector == VEC_NP || f.vector == VEC_SS) {
        if (u64 fixup = pv::exception_fixup(f.rip)) {
            f.rip = fixup;
            return;
        }
    }
    // The return to a guest refused its selectors (HYPERVISOR_iret takes any CS and SS): Xen
    // bounces to the failsafe callback, which pvisor does not have yet; the domain dies, not
    // the machine.
    if (f.rip == reinterpret_cast<u64>(return_to_guest_iret) && pv::current() && (f.rsp & 7) == 0) {
        const auto* g = reinterpret_cast<const TrapFrame*>(f.rsp - offsetof(TrapFrame, rip));
        if ((g->cs & 3) == 3) pv::domain_crash(*pv::current()->domain, *g, "the guest's selectors were refused on return");
    }
    fatal_trap(f);
}

}  // namespace

extern "C" void trap_dispatch(TrapFrame* f) {
    if (f->vector == VEC_NMI && panic_in_progress()) smp::stop_this_cpu();  // another CPU panicked
    bool from_guest = (f->cs & 3) == 3;
    if (from_guest && (f->vector < VEC_FIRST_IRQ || f->vector == 0x80)) {
        pv::guest_trap(*f);  // int $0x80 too: straight to the guest's own table
    } else if (f->vector >= VEC_FIRST_IRQ) {
        handle_interrupt(*f);
    } else {
        handle_hypervisor_exception(*f);
    }
    // Every return to a guest passes here or through pv_syscall: a reschedule if one is due,
    // then an unmasked pending upcall enters the guest's event callback first.
    if (from_guest && pv::current()) pv::exit_to_guest(*f);
}

}  // namespace pv::arch
