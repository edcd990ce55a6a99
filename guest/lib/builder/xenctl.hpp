// The control-domain hypercalls the builder needs (domctl, sysctl, and the foreign forms of
// memory_op, mmu_update, mmuext_op and event_channel_op), each wrapped so that a failure adds a
// message naming the operation and Xen's errno to a Diagnostics and returns that errno.
// Guest-only: these are real hypercalls.
#pragma once
#include "guest/lib/builder/xen_tools.hpp"
#include "core/diagnostics.hpp"
#include "lib/result.hpp"

namespace pvb {

using pv::Diagnostics;
using pv::Result;
using pv::u16;
using pv::u32;
using pv::u64;

// Turns a hypercall's return value into a Result: negative values become the errno, with
// "<what> failed: -13 (EACCES)" in `diags`.
Result<long> hypercall_result(long rc, const char* what, Diagnostics& diags);

// XEN_DOMCTL_*: fills cmd, interface_version and domain, issues the call.
Result<void> domctl(xen_domctl& op, u32 cmd, domid_t dom, Diagnostics& diags);
Result<void> sysctl(xen_sysctl& op, u32 cmd, Diagnostics& diags);
const char* domctl_name(u32 cmd);

// What getdomaininfo says about one domain.  ESRCH when `dom` does not exist: Xen 4.17 answers
// with the next domain by id, which is checked here.
Result<xen_domctl_getdomaininfo> domain_info(domid_t dom, Diagnostics& diags);

// sysctl physinfo's free_pages: the hypervisor's free memory, in pages.
Result<u64> free_pages(Diagnostics& diags);

// XEN_DOMCTL_getvcpuinfo for one vCPU: online, blocked, running, cpu_time (ns), cpu.
Result<xen_domctl_getvcpuinfo> vcpu_info(domid_t dom, u32 vcpu, Diagnostics& diags);

// XEN_DOMCTL_setvcpuaffinity, hard affinity only: the vCPU may run on the pCPUs of `cpus`
// (bit n: pCPU n).
Result<void> set_hard_affinity(domid_t dom, u32 vcpu, u64 cpus, Diagnostics& diags);

// XEN_DOMCTL_scheduler_op putinfo for the credit scheduler: weight (1..65535) and cap (percent
// of one pCPU, 0 = none).
Result<void> set_credit(domid_t dom, u16 weight, u16 cap, Diagnostics& diags);

}  // namespace pvb
