// XEN_SYSCTL_*: the machine-wide part of the control interface (Xen 4.17's common/sysctl.c):
// readconsole, physinfo, getdomaininfolist, sched_id, scheduler_op (the credit scheduler's global
// parameters of cpupool 0, the only pool).  Checks in Xen's order: the argument (-EFAULT), the
// interface version (-EACCES), the caller's privilege (-EPERM); operations are serialised by a
// lock taken with a trylock (busy: the hypercall is re-executed).  Unknown operations: -ENOSYS
// (x86's arch_do_sysctl).
#include <arch/mm.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/xen_ctl.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

Spinlock g_sysctl_lock;

// The machine as Xen reports it: one node, every CPU its own core of one package (no topology
// yet), the frame allocator's totals (free_pages comes back exactly when a domain's frames do),
// and hw_cap: the CPU's feature words in Xen's featureset order.
void physinfo(xen_sysctl_physinfo& pi) {
    mem_set(&pi, 0, sizeof pi);
    unsigned cpus = smp::online_cpus();
    pi.threads_per_core = 1;
    pi.cores_per_socket = cpus;
    pi.nr_cpus = cpus;
    pi.max_cpu_id = cpus - 1;
    pi.nr_nodes = 1;
    pi.max_node_id = 63;  // Xen's MAX_NUMNODES - 1 on x86
    pi.cpu_khz = static_cast<u32>(time::tsc_khz());
    pi.capabilities = XEN_SYSCTL_PHYSCAP_pv;
    pi.total_pages = mm::ram_pages();  // RAM, not the frame table's span (which has holes)
    pi.free_pages = mm::frames().free_frames();
    pi.scrub_pages = 0;
    pi.outstanding_pages = 0;
    pi.max_mfn = mm::frames().nr_frames() - 1;
    host_featureset(pi.hw_cap, sizeof(pi.hw_cap) / sizeof(pi.hw_cap[0]));
}

// getdomaininfolist: from first_domain on, at most max_domains entries, in id order.
long getdomaininfolist(xen_sysctl& op) {
    auto& l = op.u.getdomaininfolist;
    u64 buffer;
    mem_copy(&buffer, &l.buffer, sizeof buffer);
    u32 n = 0;
    for (PvDomain* d = l.first_domain < DOMID_FIRST_RESERVED ? domain_next(l.first_domain) : nullptr;
         d && n != l.max_domains; d = d->id + 1u < DOMID_FIRST_RESERVED ? domain_next(static_cast<domid_t>(d->id + 1)) : nullptr) {
        xen_domctl_getdomaininfo info;
        domain_info(*d, info);
        if (!put_guest(buffer + u64{n} * sizeof info, info)) return err(XEN_EFAULT);
        ++n;
    }
    l.num_domains = n;
    return 0;
}

// Xen's sched_adjust_global: getinfo/putinfo only (-EINVAL), pool 0 only (-ESRCH for any
// other id), the pool's scheduler named (-EINVAL), then the credit scheduler's own checks.
long scheduler_op(xen_sysctl_scheduler_op& s) {
    if (s.cmd != XEN_SYSCTL_SCHEDOP_putinfo && s.cmd != XEN_SYSCTL_SCHEDOP_getinfo) return err(XEN_EINVAL);
    if (s.cpupool_id != 0) return err(XEN_ESRCH);
    if (s.sched_id != XEN_SCHEDULER_CREDIT) return err(XEN_EINVAL);
    Result<void> r = sched_adjust_global(s.cmd, s.u.sched_credit);
    return r ? 0 : err(r.error());
}

// readconsole: the console ring through a bounce buffer (the ring is read under the console
// lock, the guest written after), at most the ring's size a call, as Xen can copy no more; the
// read position moves (clear) only once the copy succeeded.
long readconsole(xen_sysctl_readconsole& r) {
    static char bounce[::pv::console::RING_SIZE];  // under g_sysctl_lock
    u64 buffer;
    mem_copy(&buffer, &r.buffer, sizeof buffer);
    const usize max = r.count < sizeof bounce ? r.count : sizeof bounce;
    u64 next = 0;
    const usize n = ::pv::console::read_ring_from(r.index, r.incremental, bounce, max, &next);
    if (n && !copy_to_guest(buffer, bounce, n)) return err(XEN_EFAULT);
    if (r.clear) ::pv::console::clear_ring(next);
    r.count = static_cast<u32>(n);
    r.index = static_cast<u32>(next);
    return 0;
}

}  // namespace

long do_sysctl(PvVcpu& v, const HypercallArgs& a) {
    xen_sysctl op;
    if (!get_guest(op, a.a1)) return err(XEN_EFAULT);
    if (op.interface_version != XEN_SYSCTL_INTERFACE_VERSION) return err(XEN_EACCES);
    if (!v.domain->privileged) return err(XEN_EPERM);
    domctl_reap();  // dead domains drained since go first, so free_pages counts their structures
    if (!g_sysctl_lock.try_lock()) return create_continuation(v, __HYPERVISOR_sysctl, a.a1);
    long rc = 0;
    bool copyback = true;  // on success
    switch (op.cmd) {
    case XEN_SYSCTL_readconsole:
        rc = readconsole(op.u.readconsole);
        break;
    case XEN_SYSCTL_physinfo:
        physinfo(op.u.physinfo);
        break;
    case XEN_SYSCTL_getdomaininfolist:
        rc = getdomaininfolist(op);
        break;
    case XEN_SYSCTL_sched_id:
        op.u.sched_id.sched_id = XEN_SCHEDULER_CREDIT;
        break;
    case XEN_SYSCTL_scheduler_op:
        rc = scheduler_op(op.u.scheduler_op);
        break;
    default:
        rc = err(XEN_ENOSYS);
        copyback = false;
        break;
    }
    g_sysctl_lock.unlock();
    if (rc == 0 && copyback && !put_guest(a.a1, op)) rc = err(XEN_EFAULT);
    return rc;
}

}  // namespace pv::arch::pv
