// createdomain's checks and getdomaininfo's flags, as Xen 4.17 computes them (see the header).
#include "core/domctl_rules.hpp"

namespace pv::domctl {

Result<void> check_createdomain(xen_domctl_createdomain& c, const CreateLimits& lim) {
    const bool hvm = c.flags & XEN_DOMCTL_CDF_hvm, hap = c.flags & XEN_DOMCTL_CDF_hap;
    // common/domain.c sanitise_domain_config.
    constexpr u32 known = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap | XEN_DOMCTL_CDF_s3_integrity |
                          XEN_DOMCTL_CDF_oos_off | XEN_DOMCTL_CDF_xs_domain | XEN_DOMCTL_CDF_iommu |
                          XEN_DOMCTL_CDF_nested_virt | XEN_DOMCTL_CDF_vpmu;
    if (c.flags & ~known) return error(XEN_EINVAL);
    if (c.grant_opts & ~u32{XEN_DOMCTL_GRANT_version_mask}) return error(XEN_EINVAL);
    if (c.max_vcpus < 1) return error(XEN_EINVAL);
    if (hap && !hvm) return error(XEN_EINVAL);
    // No IOMMU: XEN_DOMCTL_CDF_iommu is refused as by a Xen with the IOMMU disabled, and options
    // without it are refused anyway.
    if (c.flags & XEN_DOMCTL_CDF_iommu) return error(XEN_EINVAL);
    if (c.iommu_opts) return error(XEN_EINVAL);
    if (c.flags & XEN_DOMCTL_CDF_vpmu) return error(XEN_EINVAL);  // vPMU off, Xen's default
    // x86's arch_sanitise_domain_config: no HVM here (as a Xen without VT-x/SVM).
    if (hvm) return error(XEN_EINVAL);
    if (c.max_vcpus > lim.max_vcpus) return error(XEN_EINVAL);
    if ((c.flags & XEN_DOMCTL_CDF_nested_virt) && !hap) return error(XEN_EINVAL);
    if (c.vmtrace_size) return error(XEN_EINVAL);  // no processor trace for PV
    if (c.arch.misc_flags & ~u32{XEN_X86_MSR_RELAXED}) return error(XEN_EINVAL);
    c.flags |= XEN_DOMCTL_CDF_oos_off;  // only meaningful for HVM: set for PV, as Xen does
    // domain_create: the scheduler's cpupool (only pool 0 exists), x86's emulation flags (a PV
    // domain may ask for the PIT only), then the grant table.
    if (c.cpupool_id != 0) return error(XEN_ESRCH);
    if (c.arch.emulation_flags & ~u32{XEN_X86_EMU_ALL}) return error(XEN_EINVAL);
    if (c.arch.emulation_flags != 0 && c.arch.emulation_flags != XEN_X86_EMU_PIT) return error(XEN_EOPNOTSUPP);
    u32 version = c.grant_opts & XEN_DOMCTL_GRANT_version_mask;
    if (version == 0 || version > lim.max_grant_version) return error(XEN_EINVAL);
    // Negative limits mean the hypervisor's defaults (grant_table_init takes them by value: the
    // request is not rewritten).
    i32 grant_frames = c.max_grant_frames < 0 ? lim.default_grant_frames : c.max_grant_frames;
    // grant_table_init: at least INITIAL_NR_GRANT_FRAMES, at most the hypervisor's limits.
    i32 maptrack_frames = c.max_maptrack_frames < 0 ? lim.default_maptrack_frames : c.max_maptrack_frames;
    if (grant_frames < 1 || grant_frames > lim.default_grant_frames) return error(XEN_EINVAL);
    if (maptrack_frames > lim.default_maptrack_frames) return error(XEN_EINVAL);
    return ok();
}

// Xen's getdomaininfo: blocked only if every online vCPU is, running if any is.
void DomainInfoFlags::add_vcpu(unsigned id, const VcpuInfoState& v) {
    max_vcpu_id_ = id;
    if (v.down) return;
    if (!v.blocked) all_blocked_ = false;
    if (v.running) any_running_ = true;
    ++nr_online_;
}

u32 DomainInfoFlags::flags(const DomainInfoState& d) const {
    u32 f = 0;
    if (nr_online_) f = (all_blocked_ ? XEN_DOMINF_blocked : 0) | (any_running_ ? XEN_DOMINF_running : 0);
    if (d.dead) f |= XEN_DOMINF_dying;
    if (d.shut_down) f |= XEN_DOMINF_shutdown;
    if (d.paused_by_controller) f |= XEN_DOMINF_paused;
    if (d.hvm) f |= XEN_DOMINF_hvm_guest;
    // Xen shifts its unsigned shutdown code whole: a domain without one (~0u) shows all of
    // bits 16-31 set, not just the 8-bit code field.
    f |= d.shutdown_code << XEN_DOMINF_shutdownshift;
    return f;
}

}  // namespace pv::domctl
