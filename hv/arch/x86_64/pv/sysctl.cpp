// XEN_SYSCTL_*: the machine-wide part of the control interface (Xen 4.17's common/sysctl.c):
// physinfo, getdomaininfolist, sched_id.  Checks in Xen's order: the argument (-EFAULT), the
// interface version (-EACCES), the caller's privilege (-EPERM); operations are serialised by a
// lock taken with a trylock (busy: the hypercall is re-executed).  Unknown operations: -ENOSYS
// (x86's arch_do_sysctl).
#include <arch/mm.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/xen_ctl.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

Spinlock g_sysctl_lock;

// The machine as Xen reports it: one node, every CPU its own core of one package (no topology
// yet), the frame allocator's totals (free_pages comes back exactly when a domain's frames do).
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
    case XEN_SYSCTL_physinfo:
        physinfo(op.u.physinfo);
        break;
    case XEN_SYSCTL_getdomaininfolist:
        rc = getdomaininfolist(op);
        break;
    case XEN_SYSCTL_sched_id:
        op.u.sched_id.sched_id = XEN_SCHEDULER_CREDIT;
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
