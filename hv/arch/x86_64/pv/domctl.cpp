// XEN_DOMCTL_*: the control interface a privileged domain builds and manages domains through
// (Xen 4.17's common/domctl.c and the x86 and scheduler parts it calls).
//
// The order of checks is Xen's, since a toolstack sees it: the argument copied in (-EFAULT),
// the interface version (-EACCES), the target domain (-ESRCH; getdomaininfo and createdomain
// name none), the caller's privilege (-EPERM, Xen's dummy XSM policy), then the operation.
// Operations are serialised by one lock, taken with a trylock: a caller that finds it busy
// re-executes the hypercall (a continuation), as Xen's domctl_lock_acquire does, so no CPU spins
// for it with interrupts off while the holder waits for other CPUs.  The domain is looked up
// under the lock, so it cannot be destroyed under the operation.  Unknown operations answer
// -EOPNOTSUPP: Xen passes them to the IOMMU code, which says so for a domain without an IOMMU.
#include <arch/layout.hpp>
#include <arch/mm.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/domctl_rules.hpp"
#include "core/evtchn.hpp"
#include "core/heap.hpp"
#include "core/xen_ctl.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {

long vcpu_set_gdt_frames(PvVcpu& v, const xen_ulong_t* list, u64 entries);  // mmu.cpp
bool mmu_set_root(PvVcpu& v, u64 mfn, bool user);                            // mmu.cpp

// getdomaininfo's record of d (also sysctl getdomaininfolist's).
void domain_info(const PvDomain& d, xen_domctl_getdomaininfo& info) {
    mem_set(&info, 0, sizeof info);
    domctl::DomainInfoFlags f;
    u64 cpu_time = 0;
    for (unsigned i = 0; i < d.max_vcpus; ++i) {
        const PvVcpu* v = d.vcpu[i];
        if (!v) continue;
        cpu_time += vcpu_runstate_get(*v).time[RUNSTATE_running];
        f.add_vcpu(i, {v->down, v->blocked.load(), v->is_running.load()});
    }
    info.domain = d.id;
    info.flags = f.flags({d.dying == PvDomain::Dying::dead, d.shut_down, d.controller_pause_count.load() > 0, false,
                          d.shutdown_code});
    info.tot_pages = d.nr_pages;
    info.max_pages = d.max_pages;
    info.shared_info_frame = d.shared_info_mfn;  // PV: the machine frame
    info.cpu_time = cpu_time;
    info.nr_online_vcpus = f.nr_online();
    info.max_vcpu_id = f.max_vcpu_id();
    info.ssidref = 0;  // Xen's dummy XSM policy reports none
    info.cpupool = 0;
    mem_copy(info.handle, d.handle, sizeof info.handle);
    info.arch_config.emulation_flags = d.privileged ? XEN_X86_EMU_PIT : 0;  // Xen gives the hardware domain a PIT
}

namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

Spinlock g_domctl_lock;
domctl::DomidAllocator g_domids;

// A guest handle's address (the 64-bit handles of the tools interfaces).
template <typename H> u64 handle_addr(const H& h) {
    u64 a;
    static_assert(sizeof h == sizeof a);
    mem_copy(&a, &h, sizeof a);
    return a;
}

bool online(const PvVcpu& v) { return !v.down; }

// ---- Domains ----

long createdomain(xen_domctl& op) {
    // The id first, as Xen: the rover moves even when the configuration is then refused.
    Result<domid_t> id = g_domids.allocate(op.domain, [](domid_t d) { return domain_find(d) == nullptr; });
    if (!id) return err(id.error());
    xen_domctl_createdomain& c = op.u.createdomain;
    domctl::CreateLimits lim{PvDomain::MAX_VCPUS};
    if (Result<void> r = domctl::check_createdomain(c, lim); !r) return err(r.error());
    DomainConfig config{*id, false, c.max_vcpus, 0, c.max_evtchn_port, true,
                        static_cast<u32>(c.max_grant_frames < 0 ? lim.default_grant_frames : c.max_grant_frames),
                        static_cast<u32>(c.max_maptrack_frames < 0 ? lim.default_maptrack_frames
                                                                   : c.max_maptrack_frames)};
    Result<PvDomain*> d = domain_create(config);
    if (!d) return err(d.error());
    (*d)->cdf_flags = c.flags;
    (*d)->ssidref = c.ssidref;
    mem_copy((*d)->handle, c.handle, sizeof c.handle);
    op.domain = *id;
    return 0;
}

// The first domain whose id is at least the one asked for (Xen's getdomaininfo walk).
long getdomaininfo(xen_domctl& op, PvDomain* d) {
    if (!d) {
        if (op.domain >= DOMID_FIRST_RESERVED) return err(XEN_EINVAL);
        d = domain_next(op.domain);
        if (!d) return err(XEN_ESRCH);
    }
    domain_info(*d, op.u.getdomaininfo);
    op.domain = op.u.getdomaininfo.domain;
    return 0;
}

// XEN_DOMCTL_max_vcpus: since 4.17's createdomain takes max_vcpus, only that number is accepted;
// the vCPUs are made here.
long max_vcpus(PvVcpu& self, xen_domctl& op, PvDomain& d) {
    if (&d == self.domain || op.u.max_vcpus.max != d.max_vcpus) return err(XEN_EINVAL);
    domain_pause(d);
    Result<void> r = domain_create_vcpus(d, d.max_vcpus);
    domain_unpause(d);
    return r ? 0 : err(XEN_ENOMEM);
}

// ---- vCPU contexts ----

// Xen's vcpu_reset for a PV vCPU: down, no context, no page tables or GDT.  d is paused.
void vcpu_reset(PvVcpu& v) {
    if (v.user_cr3) (void)mmu_set_root(v, 0, true);
    if (v.kernel_cr3) (void)mmu_set_root(v, 0, false);
    if (v.gdt_nr_frames) (void)vcpu_set_gdt_frames(v, nullptr, 0);
    IrqSpinGuard g(v.state_lock);
    v.down = true;
    v.initialised = false;
}

// XEN_DOMCTL_setvcpucontext: the context checked as VCPUOP_initialise's (arch_set_info_guest),
// replacing any earlier one; VGCF_online brings the vCPU up (it runs once the domain is
// unpaused), its absence takes it down.  A null handle resets the vCPU.
long setvcpucontext(PvVcpu& self, xen_domctl& op, PvDomain& d) {
    u32 id = op.u.vcpucontext.vcpu;
    if (&d == self.domain || id >= d.max_vcpus || !d.vcpu[id]) return err(XEN_EINVAL);
    PvVcpu& v = *d.vcpu[id];
    u64 ctxt = handle_addr(op.u.vcpucontext.ctxt);
    if (!ctxt) {
        domain_pause(d);
        vcpu_reset(v);
        domain_unpause(d);
        return 0;
    }
    auto* c = heap_new<vcpu_guest_context_t>(hv_heap());
    if (!c) return err(XEN_ENOMEM);
    long rc = get_guest(*c, ctxt) ? 0 : err(XEN_EFAULT);
    if (rc == 0) {
        domain_pause(d);
        if (v.initialised) vcpu_reset(v);
        rc = vcpu_initialise(v, *c);
        if (rc == 0) {
            IrqSpinGuard g(v.state_lock);
            v.down = !(c->flags & VGCF_online);
        }
        domain_unpause(d);  // wakes it if the domain runs and it is up
    }
    heap_delete(hv_heap(), c);
    return rc;
}

// Xen's arch_get_info_guest for a 64-bit PV vCPU (the domain is paused).
void get_context(const PvVcpu& v, vcpu_guest_context_t& c) {
    mem_set(&c, 0, sizeof c);
    mem_copy(&c.fpu_ctxt, v.fpu, sizeof c.fpu_ctxt);
    c.flags = (v.fpu_initialised ? VGCF_i387_valid : 0) | (v.kernel_mode ? VGCF_in_kernel : 0) |
              (v.down ? 0 : VGCF_online) | (v.failsafe_mask_events ? VGCF_failsafe_disables_events : 0) |
              (v.syscall_mask_events ? VGCF_syscall_disables_events : 0);
    const TrapFrame& f = v.regs;
    cpu_user_regs_t& r = c.user_regs;
    r.rax = f.rax, r.rbx = f.rbx, r.rcx = f.rcx, r.rdx = f.rdx, r.rsi = f.rsi, r.rdi = f.rdi;
    r.rbp = f.rbp, r.rsp = f.rsp, r.r8 = f.r8, r.r9 = f.r9, r.r10 = f.r10, r.r11 = f.r11;
    r.r12 = f.r12, r.r13 = f.r13, r.r14 = f.r14, r.r15 = f.r15;
    r.rip = f.rip;
    r.cs = static_cast<u16>(f.cs);
    r.ss = static_cast<u16>(f.ss);
    r.rflags = f.rflags | (u64{v.iopl} << 12);
    r.ds = v.ds, r.es = v.es, r.fs = v.fs, r.gs = v.gs;
    mem_copy(c.trap_ctxt, v.traps, sizeof c.trap_ctxt);
    c.ldt_base = v.ldt_base;
    c.ldt_ents = v.ldt_ents;
    for (unsigned i = 0; i < v.gdt_nr_frames; ++i) c.gdt_frames[i] = v.gdt_frames[i];
    c.gdt_ents = v.gdt_entries;
    c.kernel_ss = v.kernel_ss;
    c.kernel_sp = v.kernel_sp;
    c.ctrlreg[0] = guest_cr0(v);
    c.ctrlreg[4] = guest_cr4(v);
    c.ctrlreg[3] = xen_pfn_to_cr3(v.kernel_cr3 >> PAGE_SHIFT);
    c.ctrlreg[1] = xen_pfn_to_cr3(v.user_cr3 >> PAGE_SHIFT);
    for (unsigned i = 0; i < 8; ++i) c.debugreg[i] = v.debugreg[i];
    if (!c.debugreg[6]) c.debugreg[6] = 0xffff0ff0;
    if (!c.debugreg[7]) c.debugreg[7] = 0x400;
    c.event_callback_eip = v.event_callback;
    c.failsafe_callback_eip = v.failsafe_callback;
    c.syscall_callback_eip = v.syscall_callback;
    c.vm_assist = v.domain->vm_assist;
    c.fs_base = v.fs_base;
    c.gs_base_kernel = v.gs_base_kernel;
    c.gs_base_user = v.gs_base_user;
}

long getvcpucontext(PvVcpu& self, xen_domctl& op, PvDomain& d) {
    u32 id = op.u.vcpucontext.vcpu;
    if (id >= d.max_vcpus || !d.vcpu[id] || d.vcpu[id] == &self) return err(XEN_EINVAL);
    PvVcpu& v = *d.vcpu[id];
    if (!v.initialised) return err(XEN_ENODATA);
    auto* c = heap_new<vcpu_guest_context_t>(hv_heap());
    if (!c) return err(XEN_ENOMEM);
    // Xen pauses just the vCPU; pausing its domain is the same for a vCPU of another domain,
    // and the caller's own other vCPUs are paused the same way.
    bool other = &d != self.domain;
    if (other) domain_pause(d);
    get_context(v, *c);
    if (other) domain_unpause(d);
    long rc = copy_to_guest(handle_addr(op.u.vcpucontext.ctxt), c, sizeof *c) ? 0 : err(XEN_EFAULT);
    heap_delete(hv_heap(), c);
    return rc;
}

long getvcpuinfo(xen_domctl& op, PvDomain& d) {
    auto& i = op.u.getvcpuinfo;
    if (i.vcpu >= d.max_vcpus) return err(XEN_EINVAL);
    PvVcpu* v = d.vcpu[i.vcpu];
    if (!v) return err(XEN_ESRCH);
    i.online = online(*v);
    i.blocked = v->blocked.load();
    i.running = v->is_running.load();
    i.cpu_time = vcpu_runstate_get(*v).time[RUNSTATE_running];
    i.cpu = v->processor;
    return 0;
}

// XEN_DOMCTL_hypercall_init: the hypercall page written into one of d's frames, which must be
// d's (-EINVAL) and able to take a writable type (-EPERM: a page table or descriptor frame).
long hypercall_init(xen_domctl& op, PvDomain& d) {
    u64 mfn = op.u.hypercall_init.gmfn;  // PV: the machine frame
    if (mfn >= mm::frames().nr_frames() || !mmu_owned_by(d, mfn)) return err(XEN_EINVAL);
    if (!mmu_get_writable(d, mfn)) return err(XEN_EPERM);
    fill_hypercall_page(static_cast<u8*>(phys_to_virt(mfn << PAGE_SHIFT)));
    mmu_put_writable(mfn);
    return 0;
}

// ---- Scheduling ----

// A guest xenctl_bitmap to a CPU mask (Xen's xenctl_bitmap_to_bitmap over nr_cpu_ids bits).
Result<sched::CpuMask> read_cpumap(const xenctl_bitmap& b, unsigned nbits) {
    u32 n = domctl::xenctl_copy_bytes(b.nr_bits, nbits);
    u8 bytes[sched::MAX_PCPUS / 8] = {};
    if (n && !copy_from_guest(bytes, handle_addr(b.bitmap), n)) return error(XEN_EFAULT);
    return domctl::cpumask_from_bytes<sched::MAX_PCPUS>(bytes, n, b.nr_bits, nbits);
}

// And back: the mask's bytes, zeroes for the rest of the guest's map.
Result<void> write_cpumap(const xenctl_bitmap& b, const sched::CpuMask& m, unsigned nbits) {
    u32 n = domctl::xenctl_copy_bytes(b.nr_bits, nbits), total = domctl::xenctl_guest_bytes(b.nr_bits);
    u8 bytes[sched::MAX_PCPUS / 8] = {};
    domctl::cpumask_to_bytes(m, bytes, n, nbits);
    u64 at = handle_addr(b.bitmap);
    if (n && !copy_to_guest(at, bytes, n)) return error(XEN_EFAULT);
    const u8 zeroes[64] = {};
    for (u32 i = n; i < total;) {
        u32 chunk = total - i < sizeof zeroes ? total - i : static_cast<u32>(sizeof zeroes);
        if (!copy_to_guest(at + i, zeroes, chunk)) return error(XEN_EFAULT);
        i += chunk;
    }
    return ok();
}

// Xen's vcpu_affinity_domctl: set reports back what the scheduler will use (hard: the new hard
// affinity within the online CPUs; soft: also within the hard one); a soft affinity refused
// after a hard one was set puts the old hard one back.
long vcpuaffinity(xen_domctl& op, PvDomain& d) {
    auto& a = op.u.vcpuaffinity;
    if (a.vcpu >= d.max_vcpus) return err(XEN_EINVAL);
    PvVcpu* v = d.vcpu[a.vcpu];
    if (!v) return err(XEN_ESRCH);
    bool hard = a.flags & XEN_VCPUAFFINITY_HARD, soft = a.flags & XEN_VCPUAFFINITY_SOFT;
    if (a.flags == 0 || (hard && !handle_addr(a.cpumap_hard.bitmap)) || (soft && !handle_addr(a.cpumap_soft.bitmap)))
        return err(XEN_EINVAL);
    unsigned nbits = sched_nr_cpus();
    sched::CpuMask online_cpus;
    for (unsigned c = 0; c < nbits; ++c) online_cpus.set(c);
    if (op.cmd == XEN_DOMCTL_getvcpuaffinity) {
        Result<void> r = ok();
        if (hard) r = write_cpumap(a.cpumap_hard, sched_hard_affinity(*v), nbits);
        if (soft) r = write_cpumap(a.cpumap_soft, sched_soft_affinity(*v), nbits);
        return r ? 0 : err(r.error());
    }
    sched::CpuMask old_hard = sched_hard_affinity(*v);
    Result<void> r = ok();
    if (hard) {
        Result<sched::CpuMask> m = read_cpumap(a.cpumap_hard, nbits);
        r = m ? sched_set_affinity(*v, &*m, nullptr) : Result<void>(error(m.error()));
        if (!r) return err(r.error());
        r = write_cpumap(a.cpumap_hard, online_cpus & sched_hard_affinity(*v), nbits);
    }
    if (soft) {
        Result<sched::CpuMask> m = read_cpumap(a.cpumap_soft, nbits);
        r = m ? sched_set_affinity(*v, nullptr, &*m) : Result<void>(error(m.error()));
        if (!r) {
            if (hard) (void)sched_set_affinity(*v, &old_hard, nullptr);
            return err(r.error());
        }
        r = write_cpumap(a.cpumap_soft, *m & online_cpus & sched_hard_affinity(*v), nbits);
    }
    return r ? 0 : err(r.error());
}

// Xen's sched_adjust: the scheduler named must be the domain's; then the credit scheduler's
// getinfo/putinfo (anything else -EINVAL there).
long scheduler_op(xen_domctl& op, PvDomain& d) {
    auto& s = op.u.scheduler_op;
    if (s.sched_id != XEN_SCHEDULER_CREDIT) return err(XEN_EINVAL);
    switch (s.cmd) {
    case XEN_DOMCTL_SCHEDOP_putinfo:
    case XEN_DOMCTL_SCHEDOP_getinfo:
    case XEN_DOMCTL_SCHEDOP_putvcpuinfo:
    case XEN_DOMCTL_SCHEDOP_getvcpuinfo:
        break;
    default:
        return err(XEN_EINVAL);
    }
    Result<void> r = sched_adjust(d, s.cmd, s.u.credit);
    return r ? 0 : err(r.error());
}

// ---- The dispatcher ----

struct Call {
    long rc = 0;
    bool copyback = false;
};

Call dispatch(PvVcpu& self, xen_domctl& op, PvDomain* d) {
    switch (op.cmd) {
    case XEN_DOMCTL_createdomain: {
        long rc = createdomain(op);
        return {rc, rc == 0};
    }
    case XEN_DOMCTL_getdomaininfo: {
        long rc = getdomaininfo(op, d);
        return {rc, rc == 0};
    }
    case XEN_DOMCTL_destroydomain:
        return {domain_kill(self, *d)};
    case XEN_DOMCTL_pausedomain:
        return {d == self.domain ? err(XEN_EINVAL) : domain_pause_by_controller(*d)};
    case XEN_DOMCTL_unpausedomain:
        return {domain_unpause_by_controller(*d)};
    case XEN_DOMCTL_max_mem:
        // No check against the current allocation: a domain above its new maximum may only
        // shrink (Xen's "ratchet").
        d->max_pages = domctl::max_pages_from_kb(op.u.max_mem.max_memkb);
        return {};
    case XEN_DOMCTL_max_vcpus:
        return {max_vcpus(self, op, *d)};
    case XEN_DOMCTL_setvcpucontext:
        return {setvcpucontext(self, op, *d)};
    case XEN_DOMCTL_getvcpucontext:
        return {getvcpucontext(self, op, *d)};
    case XEN_DOMCTL_getvcpuinfo: {
        long rc = getvcpuinfo(op, *d);
        return {rc, rc == 0};
    }
    case XEN_DOMCTL_hypercall_init:
        return {hypercall_init(op, *d)};
    case XEN_DOMCTL_setvcpuaffinity:
    case XEN_DOMCTL_getvcpuaffinity:
        return {vcpuaffinity(op, *d)};
    case XEN_DOMCTL_scheduler_op:
        return {scheduler_op(op, *d), true};  // copied back even when refused, as Xen
    case XEN_DOMCTL_settimeoffset:
        d->time_offset = op.u.settimeoffset.time_offset_seconds;
        publish_wallclock(*d);
        return {};
    case XEN_DOMCTL_set_address_size:
        // 64-bit PV only: 32 would switch to compat mode, which pvisor does not have.
        if (op.u.address_size.size == 64) return {};
        return {op.u.address_size.size == 32 ? err(XEN_EOPNOTSUPP) : err(XEN_EINVAL)};
    case XEN_DOMCTL_get_address_size:
        op.u.address_size.size = 64;
        return {0, true};
    default:
        return {err(XEN_EOPNOTSUPP)};
    }
}

}  // namespace

void domctl_reap() {
    if (!g_domctl_lock.try_lock()) return;  // the holder reaps
    domain_reap();
    g_domctl_lock.unlock();
}

long do_domctl(PvVcpu& v, const HypercallArgs& a) {
    if (!g_domctl_lock.try_lock()) return create_continuation(v, __HYPERVISOR_domctl, a.a1);
    domain_reap();
    Call call;
    xen_domctl op;
    if (!get_guest(op, a.a1)) {
        call.rc = err(XEN_EFAULT);
    } else if (op.interface_version != XEN_DOMCTL_INTERFACE_VERSION) {
        call.rc = err(XEN_EACCES);
    } else {
        PvDomain* d = op.cmd == XEN_DOMCTL_createdomain ? nullptr : domain_find(op.domain);
        bool needs_domain = op.cmd != XEN_DOMCTL_createdomain && op.cmd != XEN_DOMCTL_getdomaininfo;
        if (needs_domain && !d) call.rc = err(XEN_ESRCH);
        else if (!v.domain->privileged) call.rc = err(XEN_EPERM);
        else call = dispatch(v, op, d);
        if (call.rc == 1 && op.cmd == XEN_DOMCTL_destroydomain) {  // preempted: again later
            g_domctl_lock.unlock();
            return create_continuation(v, __HYPERVISOR_domctl, a.a1);
        }
        if (call.copyback && !put_guest(a.a1, op)) call.rc = err(XEN_EFAULT);
    }
    g_domctl_lock.unlock();
    return call.rc;
}

}  // namespace pv::arch::pv
