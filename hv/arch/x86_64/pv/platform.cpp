// The platform hypercalls domain 0's kernel uses to learn about the physical CPUs (Xen 4.17's
// platform_hypercall.c and cpu/mcheck/mce.c), so Linux as domain 0 finds the machine as it does
// on Xen: its xen-pcpu driver syncs the CPU list (XENPF_get_cpuinfo) and binds VIRQ_PCPU_STATE;
// its mcelog driver reads the CPUs' identities (XEN_MC_physcpuinfo) and binds VIRQ_MCA.
//
//   platform_op: XENPF_get_cpuinfo; any other command -ENOSYS.
//   mca:         XEN_MC_physcpuinfo; XEN_MC_fetch, which never has telemetry (pvisor handles no
//                machine checks itself: XEN_MC_NODATA); any other command -EINVAL.
// Both check as Xen does: the argument (-EFAULT), the interface version (-EACCES), then the
// caller's privilege (-EPERM).  Every CPU is its own core of one package, as physinfo says.
#include <arch/cpu.hpp>
#include <arch/smp.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/acpi.hpp"
#include "lib/string.hpp"

#include <xen/arch-x86/xen-mca.h>
#include <xen/platform.h>

namespace pv::arch::pv {
namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

// The ACPI processor ids (the MADT's UIDs) by APIC id, for XENPF_get_cpuinfo.
const AcpiInfo* g_acpi = nullptr;

u32 acpi_id_of(u32 apic_id) {
    if (g_acpi)
        for (usize i = 0; i < g_acpi->cpu_count; ++i)
            if (g_acpi->cpus[i].apic_id == apic_id) return g_acpi->cpus[i].acpi_uid;
    return apic_id;
}

long get_cpuinfo(xenpf_pcpuinfo& info) {
    const unsigned cpus = smp::online_cpus();
    if (info.xen_cpuid >= cpus) {
        info.flags = XEN_PCPU_FLAGS_INVALID;
    } else {
        info.apic_id = smp::cpu(info.xen_cpuid).apic_id;
        info.acpi_id = acpi_id_of(info.apic_id);
        info.flags = XEN_PCPU_FLAGS_ONLINE;
    }
    info.max_present = cpus - 1;
    return 0;
}

// Xen's x86 vendor numbers (X86_VENDOR_*), as mc_vendor carries them.
u32 vendor_number() {
    switch (cpu_vendor()) {
    case CpuVendor::intel: return 1u << 0;
    case CpuVendor::amd: return 1u << 1;
    case CpuVendor::hygon: return 1u << 4;
    default: return 0;
    }
}

// One CPU's identity.  The CPUs are alike (pvisor runs on no mixed parts): the leaves are read
// on this CPU, the APIC id is each CPU's own.
void logical_cpu(unsigned cpu, xen_mc_logical_cpu_t& l) {
    mem_set(&l, 0, sizeof l);
    const unsigned cpus = smp::online_cpus();
    l.mc_cpunr = cpu;
    l.mc_coreid = static_cast<u16>(cpu);
    l.mc_apicid = smp::cpu(cpu).apic_id;
    l.mc_ncores = l.mc_ncores_active = cpus;
    l.mc_nthreads = 1;
    CpuidResult r0 = cpuid(0);
    l.mc_cpuid_level = static_cast<i32>(r0.eax);
    mem_copy(l.mc_vendorid + 0, &r0.ebx, 4);
    mem_copy(l.mc_vendorid + 4, &r0.edx, 4);
    mem_copy(l.mc_vendorid + 8, &r0.ecx, 4);
    l.mc_vendor = vendor_number();
    CpuidResult r1 = cpuid(1);
    u32 family = (r1.eax >> 8) & 0xf, model = (r1.eax >> 4) & 0xf;
    if (family == 0xf) family += (r1.eax >> 20) & 0xff;
    if (family >= 6) model += ((r1.eax >> 16) & 0xf) << 4;
    l.mc_family = family;
    l.mc_model = model;
    l.mc_step = r1.eax & 0xf;
    l.mc_cache_alignment = ((r1.ebx >> 8) & 0xff) * 8;
    l.mc_cpu_caps[0] = r1.edx;  // MC_CAPS_STD_EDX
    l.mc_cpu_caps[MC_CAPS_STD_ECX] = r1.ecx;
    const u32 max_ext = cpuid(0x80000000).eax;
    if (max_ext >= 0x80000001) {
        CpuidResult e1 = cpuid(0x80000001);
        l.mc_cpu_caps[MC_CAPS_AMD_EDX] = e1.edx;
        l.mc_cpu_caps[MC_CAPS_AMD_ECX] = e1.ecx;
    }
    if (max_ext >= 0x80000004)
        for (u32 i = 0; i < 3; ++i) {
            CpuidResult b = cpuid(0x80000002 + i);
            const u32 words[4] = {b.eax, b.ebx, b.ecx, b.edx};
            mem_copy(l.mc_brandid + 16 * i, words, 16);
        }
    if (max_ext >= 0x80000006) l.mc_cache_size = cpuid(0x80000006).ecx >> 16;  // KiB
    // The MCG_CAP the guest sees (pvisor's vMCE): pvisor does not drive the host's banks.
    l.mc_nmsrvals = 1;
    l.mc_msrvalues[0].reg = 0x179;
    l.mc_msrvalues[0].value = vmce_mcg_cap();
}

long physcpuinfo(xen_mc_physcpuinfo& p) {
    u32 n = smp::online_cpus();
    u64 buf;
    mem_copy(&buf, &p.info, sizeof buf);
    if (buf) {
        if (p.ncpus == 0) return err(XEN_EINVAL);  // Xen's `ncpus <= 0`
        if (p.ncpus < n) n = p.ncpus;
        for (u32 i = 0; i < n; ++i) {
            xen_mc_logical_cpu_t l;
            logical_cpu(i, l);
            if (!put_guest(buf + u64{i} * sizeof l, l)) return err(XEN_EFAULT);
        }
    }
    p.ncpus = n;
    return 0;
}

long fetch(xen_mc_fetch& f) {
    const u32 which = f.flags & (XEN_MC_NONURGENT | XEN_MC_URGENT);
    if (which != XEN_MC_NONURGENT && which != XEN_MC_URGENT) return err(XEN_EINVAL);
    if (f.flags & XEN_MC_ACK) return 1;  // nothing to acknowledge; the struct is not written back
    u64 data;
    mem_copy(&data, &f.data, sizeof data);
    if (!data) return err(XEN_EINVAL);
    f.flags = XEN_MC_OK | XEN_MC_NODATA;
    f.fetch_id = 0;
    return 0;
}

}  // namespace

void platform_init(const AcpiInfo& acpi) { g_acpi = &acpi; }

long do_platform_op(PvVcpu& v, const HypercallArgs& a) {
    xen_platform_op_t op;
    if (!get_guest(op, a.a1)) return err(XEN_EFAULT);
    if (op.interface_version != XENPF_INTERFACE_VERSION) return err(XEN_EACCES);
    if (!v.domain->privileged) return err(XEN_EPERM);
    switch (op.cmd) {
    case XENPF_get_cpuinfo: {
        long rc = get_cpuinfo(op.u.pcpu_info);
        if (!copy_to_guest(a.a1 + offsetof(xen_platform_op_t, u), &op.u.pcpu_info, sizeof op.u.pcpu_info))
            return err(XEN_EFAULT);
        return rc;
    }
    default:
        return err(XEN_ENOSYS);
    }
}

long do_mca(PvVcpu& v, const HypercallArgs& a) {
    if (!v.domain->privileged) return err(XEN_EPERM);  // Xen's xsm_do_mca comes first
    xen_mc_t op;
    if (!get_guest(op, a.a1)) return err(XEN_EFAULT);
    if (op.interface_version != XEN_MCA_INTERFACE_VERSION) return err(XEN_EACCES);
    long rc;
    switch (op.cmd) {
    case XEN_MC_physcpuinfo: rc = physcpuinfo(op.u.mc_physcpuinfo); break;
    case XEN_MC_fetch:
        rc = fetch(op.u.mc_fetch);
        if (rc == 1) return 0;
        break;
    default: return err(XEN_EINVAL);
    }
    if (rc == 0 && !put_guest(a.a1, op)) return err(XEN_EFAULT);
    return rc;
}

}  // namespace pv::arch::pv
