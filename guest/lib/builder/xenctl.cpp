#include "guest/lib/builder/xenctl.hpp"

#include "guest/lib/hypercall.hpp"
#include "lib/format.hpp"
#include "lib/string.hpp"

namespace pvb {

using namespace pv;  // NOLINT

Result<long> hypercall_result(long rc, const char* what, Diagnostics& diags) {
    if (rc >= 0) return rc;
    diags.error("%s failed: %ld (%s)", what, rc, errno_name(static_cast<int>(-rc)));
    return error(static_cast<Errno>(-rc));
}

const char* domctl_name(u32 cmd) {
    switch (cmd) {
    case XEN_DOMCTL_createdomain: return "XEN_DOMCTL_createdomain";
    case XEN_DOMCTL_destroydomain: return "XEN_DOMCTL_destroydomain";
    case XEN_DOMCTL_pausedomain: return "XEN_DOMCTL_pausedomain";
    case XEN_DOMCTL_unpausedomain: return "XEN_DOMCTL_unpausedomain";
    case XEN_DOMCTL_getdomaininfo: return "XEN_DOMCTL_getdomaininfo";
    case XEN_DOMCTL_max_mem: return "XEN_DOMCTL_max_mem";
    case XEN_DOMCTL_setvcpucontext: return "XEN_DOMCTL_setvcpucontext";
    case XEN_DOMCTL_max_vcpus: return "XEN_DOMCTL_max_vcpus";
    case XEN_DOMCTL_hypercall_init: return "XEN_DOMCTL_hypercall_init";
    case XEN_DOMCTL_set_address_size: return "XEN_DOMCTL_set_address_size";
    case XEN_DOMCTL_getvcpuinfo: return "XEN_DOMCTL_getvcpuinfo";
    case XEN_DOMCTL_setvcpuaffinity: return "XEN_DOMCTL_setvcpuaffinity";
    case XEN_DOMCTL_scheduler_op: return "XEN_DOMCTL_scheduler_op";
    default: return "XEN_DOMCTL_?";
    }
}

Result<void> domctl(xen_domctl& op, u32 cmd, domid_t dom, Diagnostics& diags) {
    op.cmd = cmd;
    op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    op.domain = dom;
    char what[64];
    format(what, sizeof(what), "%s(d%u)", domctl_name(cmd), dom);
    Result<long> r = hypercall_result(pvg::hypercall(__HYPERVISOR_domctl, pvg::arg(&op)), what, diags);
    if (!r) return error(r.error());
    return ok();
}

Result<void> sysctl(xen_sysctl& op, u32 cmd, Diagnostics& diags) {
    op.cmd = cmd;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    Result<long> r = hypercall_result(pvg::hypercall(__HYPERVISOR_sysctl, pvg::arg(&op)),
                                      cmd == XEN_SYSCTL_physinfo ? "XEN_SYSCTL_physinfo" : "XEN_SYSCTL_?", diags);
    if (!r) return error(r.error());
    return ok();
}

Result<xen_domctl_getdomaininfo> domain_info(domid_t dom, Diagnostics& diags) {
    xen_domctl op{};
    Result<void> r = domctl(op, XEN_DOMCTL_getdomaininfo, dom, diags);
    if (!r) return error(r.error());
    if (op.u.getdomaininfo.domain != dom) return error(XEN_ESRCH);
    return op.u.getdomaininfo;
}

Result<u64> free_pages(Diagnostics& diags) {
    xen_sysctl op{};
    Result<void> r = sysctl(op, XEN_SYSCTL_physinfo, diags);
    if (!r) return error(r.error());
    return u64{op.u.physinfo.free_pages};
}

Result<xen_domctl_getvcpuinfo> vcpu_info(domid_t dom, u32 vcpu, Diagnostics& diags) {
    xen_domctl op{};
    op.u.getvcpuinfo.vcpu = vcpu;
    Result<void> r = domctl(op, XEN_DOMCTL_getvcpuinfo, dom, diags);
    if (!r) return error(r.error());
    return op.u.getvcpuinfo;
}

Result<void> set_hard_affinity(domid_t dom, u32 vcpu, u64 cpus, Diagnostics& diags) {
    u8 map[sizeof cpus];  // Xen writes the affinity it applied back into it
    for (usize i = 0; i < sizeof map; ++i) map[i] = static_cast<u8>(cpus >> (8 * i));
    xen_domctl op{};
    op.u.vcpuaffinity.vcpu = vcpu;
    op.u.vcpuaffinity.flags = XEN_VCPUAFFINITY_HARD;
    set_xen_guest_handle(op.u.vcpuaffinity.cpumap_hard.bitmap, map);
    op.u.vcpuaffinity.cpumap_hard.nr_bits = 8 * sizeof map;
    return domctl(op, XEN_DOMCTL_setvcpuaffinity, dom, diags);
}

Result<void> set_credit(domid_t dom, u16 weight, u16 cap, Diagnostics& diags) {
    xen_domctl op{};
    op.u.scheduler_op.sched_id = XEN_SCHEDULER_CREDIT;
    op.u.scheduler_op.cmd = XEN_DOMCTL_SCHEDOP_putinfo;
    op.u.scheduler_op.u.credit.weight = weight;
    op.u.scheduler_op.u.credit.cap = cap;
    return domctl(op, XEN_DOMCTL_scheduler_op, dom, diags);
}

}  // namespace pvb
