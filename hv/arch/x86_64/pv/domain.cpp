// The life of a PV domain: creation (domain 0 at boot, domUs by XEN_DOMCTL_createdomain),
// pausing, shutdown and crash, and destruction (Xen's common/domain.c).
//
// Lifetime.  A domain is reachable by id through the domain table from domain_create until
// domain_kill takes it out; lookups take no reference (Xen's RCU read side), so every use of a
// looked-up domain must end before its CPU next enables interrupts: hypercalls and interrupt
// handlers run with interrupts off, and a CPU in guest mode or idle holds nothing.  domain_kill
// therefore frees a domain only after it left the table *and* every other CPU took an IPI (a
// grace period).  Before that, nothing else may still point at it: its vCPUs are off every CPU
// and out of the scheduler, their timers dead, its event channels closed (peers keep unbound
// ends), its frames handed back to the MMU engine (mmu_relinquish), which keeps frames another
// domain still maps alive by their reference counts, not by the domain.
//
// Pausing.  PvDomain::pause_count (Xen's d->pause_count) stops every vCPU (vcpu_runnable looks
// at it); domain_pause waits until each vCPU is off its CPU with its context saved, as Xen's
// domain_pause does, so the caller may then change vCPU state.  The controller's count
// (pausedomain, and 1 from createdomain until the first unpausedomain) holds one such pause.  A
// shutdown pauses each vCPU by its own count instead (Xen's vcpu_pause_nosync).
#include <arch/apic.hpp>
#include <arch/cpu.hpp>
#include <arch/mm.hpp>
#include <arch/percpu.hpp>
#include <arch/power.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/evtchn.hpp"
#include "core/heap.hpp"
#include "core/panic.hpp"
#include "lib/string.hpp"

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
    print_gprs(f);
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

// ---- Creation ----

bool vcpu_create(PvDomain& d, unsigned id);
long vcpu_set_gdt_frames(PvVcpu& v, const xen_ulong_t* list, u64 entries);  // mmu.cpp
bool mmu_set_root(PvVcpu& v, u64 mfn, bool user);                            // mmu.cpp
void events_destroy_domain(PvDomain& d);                                     // events.cpp

namespace {

// Every other CPU has been seen with interrupts on since the call: none still uses a pointer it
// looked up before (see the top of the file).  Spins with interrupts off, as the caller is in a
// hypercall; the others answer from guest mode or their idle loop.
void grace_period() {
    unsigned n = smp::online_cpus(), self = this_cpu_id();
    if (n < 2) return;
    u64 before[MAX_CPUS];
    for (unsigned i = 0; i < n; ++i) before[i] = smp::cpu(i).ipi_calls;
    apic::send_ipi_all_but_self(VEC_IPI_CALL);
    for (unsigned i = 0; i < n; ++i)
        while (i != self && smp::cpu(i).ipi_calls == before[i]) cpu_relax();
}

// A vCPU of a dying domain lets go of everything: its timers (waiting for a handler running
// elsewhere), the references its roots, GDT and registered vcpu_info hold.  Its LDT window
// references went when it left its CPU (ldt_switch/context switch).
void vcpu_teardown(PvVcpu& v) {
    v.periodic_period = 0;  // its handler re-arms nothing now
    time::timer_kill(v.singleshot_timer);
    time::timer_kill(v.periodic_timer);
    time::timer_kill(v.poll_timer);
    if (v.ldt_shadow.mapped()) pv_warn("d%u v%u: LDT references left at teardown\n", v.domain->id, v.id);
    if (v.user_cr3) (void)mmu_set_root(v, 0, true);
    if (v.kernel_cr3) (void)mmu_set_root(v, 0, false);
    if (v.gdt_nr_frames) (void)vcpu_set_gdt_frames(v, nullptr, 0);
    {
        IrqSpinGuard g(v.state_lock);  // never runnable again, whatever pauses come and go
        v.down = true;
        v.initialised = false;
    }
    PvDomain& d = *v.domain;
    vcpu_info_t* legacy = v.id < XEN_LEGACY_MAX_VCPUS && d.shared_info ? &d.shared_info->vcpu_info[v.id] : nullptr;
    if (v.vcpu_info && v.vcpu_info != legacy) mmu_put_writable(virt_to_phys(v.vcpu_info) >> PAGE_SHIFT);
    v.vcpu_info = nullptr;
}

// The last step of destruction (or of a failed creation): out of the table, a grace period,
// then the structures go.  Nothing runs or waits for d any more.
void domain_free(PvDomain* d) {
    domid_t id = d->id;
    domain_remove(*d);
    grace_period();
    for (unsigned i = 0; i < PvDomain::MAX_VCPUS; ++i) {
        if (PvVcpu* v = d->vcpu[i]) {
            sched_remove_vcpu(*v);
            heap_delete(hv_heap(), v);
            d->vcpu[i] = nullptr;
        }
    }
    sched_remove_domain(*d);
    if (d->evtchn) heap_delete(hv_heap(), d->evtchn);
    physdev_free_domain(*d);
    gnttab_domain_free(*d);
    if (d->p2m) hv_heap().free(d->p2m);
    memory_map_free(*d);
    heap_delete(hv_heap(), d);
    // The free-frame count (also sysctl physinfo's free_pages): what a leak would show first.
    pv_info("Domain %u destroyed: %lu frames free\n", id, mm::frames().free_frames());
}

// Tears down what a domain holds (it must not run): event channels, vCPU state, memory.  False
// when the memory part stopped early (call again).
bool domain_release(PvDomain& d, bool first) {
    if (first) {
        if (d.evtchn) events_destroy_domain(d);
        physdev_destroy_domain(d);  // its lines were unbound with its ports; the rest goes
        gnttab_domain_release(d);  // its mappings of others' grants, then its table frames
        for (unsigned i = 0; i < PvDomain::MAX_VCPUS; ++i)
            if (d.vcpu[i]) vcpu_teardown(*d.vcpu[i]);
        // From here no frame joins d; if it has any, the last one's put calls domain_drained
        // (perhaps inside mmu_relinquish, perhaps much later: domain 0 may still map some).
        SpinGuard g(d.page_alloc_lock);
        d.is_dying = true;
        // shared_info and the grant-table frames are not in nr_pages
        d.expect_drain = d.nr_pages > 0 || d.shared_info_mfn != 0 || d.gnttab_frames_left != 0;
    }
    return mmu_relinquish(d);
}

constexpr u8 KILL_DONE = 1, DRAINED = 2;

// Dead domains whose last frame went after destroydomain finished, to be freed by domain_reap.
std::atomic<PvDomain*> g_reap{nullptr};

// The memory side's hook: d's last charged frame is gone.  It may come from deep inside another
// domain's hypercall, which may hold pointers to other domains, so the grace period (and the
// free) waits for domain_reap.
void domain_drained(PvDomain& d) {
    if (!(d.teardown.fetch_or(DRAINED) & KILL_DONE)) return;  // domain_kill will free it
    PvDomain* head = g_reap.load();
    do {
        d.reap_next = head;
    } while (!g_reap.compare_exchange_weak(head, &d));
}

// destroydomain is done with d: it goes now, or when its last frame does (until then it stays
// in the table as dying, its id taken, as Xen keeps it while pages of it are referenced).
void domain_finish(PvDomain& d) {
    if (!d.expect_drain || (d.teardown.fetch_or(KILL_DONE) & DRAINED)) domain_free(&d);
}

}  // namespace

Result<PvDomain*> domain_create(const DomainConfig& c) {
    if (c.max_vcpus > PvDomain::MAX_VCPUS || c.nr_vcpus > c.max_vcpus) return error(XEN_EINVAL);
    // Taken ids are refused before any frame names this one as owner (callers serialise).
    if (domain_find(c.id)) return error(XEN_EEXIST);
    auto* d = heap_new<PvDomain>(hv_heap());
    if (!d) return error(XEN_ENOMEM);
    d->id = c.id;
    d->privileged = c.privileged;
    d->max_vcpus = c.max_vcpus;
    mmu_on_drained(domain_drained);
    sched_add_domain(*d);
    if (c.start_paused) {
        d->controller_pause_count.store(1);
        d->pause_count.store(1);
    }
    // Shared info: one hypervisor page the guest maps by its machine address, owned by d.
    void* si = mm::alloc_pages(0);
    if (!si) {
        domain_free(d);
        return error(XEN_ENOMEM);
    }
    mem_set(si, 0, PAGE_SIZE);
    u64 si_mfn = virt_to_phys(si) >> PAGE_SHIFT;
    if (!mmu_assign(*d, si_mfn)) {
        mm::free_pages(si, 0);
        domain_free(d);
        return error(XEN_ENOMEM);
    }
    d->shared_info = static_cast<shared_info_t*>(si);
    d->shared_info_mfn = si_mfn;
    for (auto& v : d->shared_info->vcpu_info) v.evtchn_upcall_mask = 1;
    publish_wallclock(*d);
    d->evtchn = heap_new<EventChannels>(hv_heap(), c.id, c.max_evtchn_port);
    Result<void> r = d->evtchn ? gnttab_domain_init(*d, c.max_grant_frames, c.max_maptrack_frames)
                               : Result<void>(error(XEN_ENOMEM));
    if (r) r = domain_create_vcpus(*d, c.nr_vcpus);
    if (r && !domain_insert(*d)) r = error(XEN_EEXIST);
    if (!r) {
        for (bool first = true; !domain_release(*d, first); first = false) {}
        domain_finish(*d);
        return error(r.error());
    }
    d->state = DomainState::running;
    return d;
}

Result<void> domain_create_vcpus(PvDomain& d, unsigned n) {
    if (n > d.max_vcpus) return error(XEN_EINVAL);
    for (unsigned i = 0; i < n; ++i)
        if (!d.vcpu[i] && !vcpu_create(d, i)) return error(XEN_ENOMEM);
    return ok();
}

void domain_reap() {
    for (PvDomain* d = g_reap.exchange(nullptr); d;) {
        PvDomain* next = d->reap_next;
        domain_free(d);
        d = next;
    }
}

// ---- Pausing ----

void domain_pause(PvDomain& d) {
    d.pause_count.fetch_add(1, std::memory_order_seq_cst);
    for (PvVcpu* v : d.vcpu)
        if (v) vcpu_sleep(*v);
    for (PvVcpu* v : d.vcpu)
        if (v) sched_wait_descheduled(*v);
}

void domain_unpause(PvDomain& d) {
    if (d.pause_count.fetch_sub(1, std::memory_order_seq_cst) != 1) return;
    for (PvVcpu* v : d.vcpu)
        if (v) vcpu_wake(*v);
}

// Xen limits the controller's count to 255 so a toolstack cannot overflow the pause count.
long domain_pause_by_controller(PvDomain& d) {
    u32 n = d.controller_pause_count.load();
    if (n + 1 > 255) return -static_cast<long>(XEN_EOVERFLOW);
    d.controller_pause_count.store(n + 1);
    domain_pause(d);
    return 0;
}

long domain_unpause_by_controller(PvDomain& d) {
    u32 n = d.controller_pause_count.load();
    if (n == 0) return -static_cast<long>(XEN_EINVAL);
    d.controller_pause_count.store(n - 1);
    if (n == 1) d.creation_finished = true;
    domain_unpause(d);
    return 0;
}

// ---- Shutdown and crash ----

void send_dom_exc() {
    PvDomain* d0 = domain_find(0);
    if (d0 && d0->vcpu[0]) send_virq(*d0->vcpu[0], VIRQ_DOM_EXC);
}

void domain_shutdown(PvDomain& d, unsigned reason) {
    if (d.id == 0) {
        // Domain 0 is the machine: its end is the machine's end.
        d.state = DomainState::shut_down;
        d.shutdown_reason = static_cast<u8>(reason);
        if (d.shutdown_code == PvDomain::NO_SHUTDOWN_CODE) d.shutdown_code = reason & 0xff;
        printk("Domain %u shut down: %s (reason %u)\n", d.id, shutdown_name(reason), reason);
        end_machine(reason);
    }
    {
        IrqSpinGuard g(d.shutdown_lock);
        if (d.shutdown_code == PvDomain::NO_SHUTDOWN_CODE) d.shutdown_code = reason & 0xff;
        if (d.shutting_down) return;
        d.shutting_down = true;
        d.shutdown_reason = static_cast<u8>(reason);
        d.state = reason == SHUTDOWN_crash ? DomainState::crashed : DomainState::shut_down;
    }
    // Every vCPU paused on its own count; none defers a shutdown here, so it is final at once.
    for (PvVcpu* v : d.vcpu) {
        if (!v) continue;
        {
            IrqSpinGuard g(v->state_lock);
            ++v->pause_count;
        }
        vcpu_sleep(*v);
    }
    d.shut_down = true;
    pv_info("Domain %u shut down: %s (code %u)\n", d.id, shutdown_name(reason), d.shutdown_code);
    send_dom_exc();
}

[[noreturn]] void domain_crash(PvDomain& d, const TrapFrame& f, const char* why) {
    if (d.id == 0) {
        d.state = DomainState::crashed;
        printk("Domain %u crashed: %s\n", d.id, why);
        print_guest_state(d, f);
        end_machine(SHUTDOWN_crash);
    }
    bool first;
    {
        IrqSpinGuard g(d.shutdown_lock);
        first = !d.shutting_down;
    }
    if (first) {  // as Xen: nothing more is said about a domain already shutting down
        printk("Domain %u crashed: %s\n", d.id, why);
        print_guest_state(d, f);
    }
    domain_shutdown(d, SHUTDOWN_crash);
    sched_abandon_current();
}

// ---- Destruction ----

long domain_kill(PvVcpu& caller, PvDomain& d) {
    if (&d == caller.domain) return -static_cast<long>(XEN_EINVAL);
    bool first = d.dying == PvDomain::Dying::alive;
    if (first) {
        domain_pause(d);
        d.dying = PvDomain::Dying::dying;
    }
    if (d.dying == PvDomain::Dying::dying) {
        if (!domain_release(d, first)) return 1;
        d.dying = PvDomain::Dying::dead;
        send_dom_exc();
        domain_finish(d);  // d may be gone after this
    }
    return 0;
}

}  // namespace pv::arch::pv
