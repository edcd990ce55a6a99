// The hypervisor's debug keys (Xen's keyhandler.c): with serial input switched to the
// hypervisor (Ctrl-A three times), each key below prints a report on the console.  One
// declarative table; 'h' lists it.
//
// Handlers run in the serial interrupt on the boot CPU with interrupts off, so a domain found
// in the table cannot be freed under them: destruction waits for a grace period in which every
// other CPU has had interrupts on (domain.cpp).  What they print about vCPUs running on other
// CPUs is a racy snapshot, as in Xen.
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/heap.hpp"

#include <arch/mm.hpp>
#include <arch/power.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>
#include <arch/traps.hpp>

namespace pv::arch::pv {

namespace {

struct Key {
    char key;
    const char* desc;
    void (*fn)(char key, TrapFrame& f);
};

void show_help(char, TrapFrame&);
void dump_domains(char, TrapFrame&);
void dump_memory(char, TrapFrame&);
void dump_runqueues(char, TrapFrame&);
void dump_dom0_registers(char, TrapFrame&);
void reboot_machine(char, TrapFrame&);

constexpr Key KEYS[] = {
    {'0', "dump Dom0 registers", dump_dom0_registers},
    {'R', "reboot machine", reboot_machine},
    {'h', "show this message", show_help},
    {'m', "memory info", dump_memory},
    {'q', "dump domain (and guest debug) info", dump_domains},
    {'r', "dump run queues", dump_runqueues},
};

void show_help(char, TrapFrame&) {
    for (const Key& k : KEYS) printk(" key '%c' (ascii '%02x') => %s\n", k.key, k.key, k.desc);
}

// The live domain after d in id order, or nullptr.
PvDomain* next_domain(const PvDomain& d) {
    return d.id + 1u < DOMID_FIRST_RESERVED ? domain_next(static_cast<domid_t>(d.id + 1)) : nullptr;
}

const char* state_name(const PvDomain& d) {
    if (d.dying != PvDomain::Dying::alive) return "dying";
    switch (d.state) {
    case DomainState::building: return "building";
    case DomainState::running: return d.pause_count.load() ? "paused" : "running";
    case DomainState::shut_down: return "shutdown";
    case DomainState::crashed: return "crashed";
    }
    return "?";
}

const char* vcpu_state(const PvVcpu& v) {
    if (v.is_running.load()) return "running";
    if (v.down) return "down";
    if (v.blocked.load()) return v.polling.load() ? "polling" : "blocked";
    return "runnable";
}

void dump_domains(char, TrapFrame&) {
    printk("'q' pressed -> dumping domain info (now = %lu ns)\n", time::since_boot_ns());
    for (PvDomain* d = domain_next(0); d; d = next_domain(*d)) {
        printk("General information for domain %u:\n", d->id);
        printk("    state=%s privileged=%d nr_pages=%lu max_pages=%lu shutdown_code=%d pause_count=%u\n",
               state_name(*d), d->privileged, d->nr_pages, d->max_pages,
               d->shutdown_code == PvDomain::NO_SHUTDOWN_CODE ? -1 : static_cast<int>(d->shutdown_code),
               d->pause_count.load());
        printk("    vm_assist=%08lx weight=%u cap=%u max_vcpus=%u\n", d->vm_assist, d->sdom.weight(), d->sdom.cap(),
               d->max_vcpus);
        printk("VCPU information and callbacks for domain %u:\n", d->id);
        for (unsigned i = 0; i < d->max_vcpus; ++i) {
            const PvVcpu* v = d->vcpu[i];
            if (!v) continue;
            const vcpu_info_t* vi = v->vcpu_info;
            printk("    VCPU%u: CPU%u [%s] pause=%u upcall_pend=%02x upcall_mask=%02x credit=%d pri=%d\n", v->id,
                   v->processor, vcpu_state(*v), v->pause_count, vi ? vi->evtchn_upcall_pending : 0,
                   vi ? vi->evtchn_upcall_mask : 0, v->unit.credit(), v->unit.priority());
            printk("    callbacks: event %#lx failsafe %#lx syscall %#lx\n", v->event_callback, v->failsafe_callback,
                   v->syscall_callback);
        }
    }
}

void dump_memory(char, TrapFrame&) {
    printk("'m' pressed -> dumping memory info\n");
    const auto& frames = mm::frames();
    printk("Physical memory information:\n");
    printk("    frames: %lu total, %lu free (%lu KiB)\n", frames.nr_frames(), frames.free_frames(),
           frames.free_frames() * (PAGE_SIZE / 1024));
    HeapStats h = hv_heap().stats();
    printk("    hypervisor heap: %zu bytes in %zu allocations, %zu pages held\n", h.bytes_in_use, h.live_allocations,
           h.pages_held);
    for (PvDomain* d = domain_next(0); d; d = next_domain(*d))
        printk("    d%u: %lu pages (%lu KiB), max %lu\n", d->id, d->nr_pages, d->nr_pages * (PAGE_SIZE / 1024),
               d->max_pages);
}

void dump_runqueues(char, TrapFrame&) {
    printk("'r' pressed -> dumping run queues (scheduler: credit)\n");
    for (unsigned cpu = 0; cpu < smp::online_cpus(); ++cpu) {
        PvVcpu* cur = nullptr;
        printk("CPU[%02u]", cpu);
        for (PvDomain* d = domain_next(0); d; d = next_domain(*d))
            for (unsigned i = 0; i < d->max_vcpus; ++i)
                if (PvVcpu* v = d->vcpu[i]; v && v->is_running.load() && v->processor == cpu) cur = v;
        if (cur) printk(" current=d%uv%u", cur->domain->id, cur->id);
        else printk(" current=idle");
        printk("\n");
        unsigned n = 0;
        for (PvDomain* d = domain_next(0); d; d = next_domain(*d))
            for (unsigned i = 0; i < d->max_vcpus; ++i) {
                const PvVcpu* v = d->vcpu[i];
                if (!v || !v->unit.queued() || v->unit.cpu() != cpu) continue;
                printk("  RUNQ %u: d%uv%u pri=%d credit=%d\n", n++, d->id, v->id, v->unit.priority(), v->unit.credit());
            }
    }
}

void print_regs(const TrapFrame& r) {
    printk("RIP:    %04lx:[<%016lx>]   RFLAGS: %016lx\n", r.cs, r.rip, r.rflags);
    print_gprs(r);
    printk("RSP:    %04lx:%016lx\n", r.ss, r.rsp);
}

void dump_dom0_registers(char, TrapFrame& f) {
    printk("'0' pressed -> dumping Dom0's registers\n");
    PvDomain* d0 = domain_find(0);
    if (!d0) return;
    for (unsigned i = 0; i < d0->max_vcpus; ++i) {
        const PvVcpu* v = d0->vcpu[i];
        if (!v) continue;
        printk("*** Dumping Dom0 vcpu#%u state: ***\n", v->id);
        if (v == current() && (f.cs & 3) != 0) {
            print_regs(f);  // the interrupt came from this vCPU: its live registers
        } else if (v->is_running.load()) {
            printk("    running on CPU%u; registers as of its last exit:\n", v->processor);
            print_regs(v->frame ? *v->frame : v->regs);
        } else {
            print_regs(v->regs);
        }
    }
}

void reboot_machine(char, TrapFrame&) {
    printk("'R' pressed -> rebooting machine\n");
    arch::reboot();
}

}  // namespace

void handle_debug_key(char key, TrapFrame& f) {
    for (const Key& k : KEYS)
        if (k.key == key) {
            if (key == 'h') printk("'h' pressed -> showing installed handlers\n");
            k.fn(key, f);
            return;
        }
    printk("'%c' (ascii '%02x') has no handler: 'h' lists the keys\n", key >= 0x20 && key < 0x7f ? key : '?',
           static_cast<unsigned char>(key));
}

}  // namespace pv::arch::pv
