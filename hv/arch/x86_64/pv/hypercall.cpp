// Hypercall dispatch for 64-bit PV guests.  One declarative table maps Xen's hypercall numbers
// (public/xen.h) to handlers; each handler gets the guest's argument registers (RDI, RSI, RDX,
// R10, R8) and returns the value for RAX — a result or -errno.  Unknown numbers get -ENOSYS.
#include <arch/cpu.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/percpu.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "lib/string.hpp"

#include <xen/features.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/version.h>

namespace pv::arch::pv {

struct HypercallArgs {
    u64 a1, a2, a3, a4, a5;
};

namespace {

using Handler = long (*)(PvVcpu& v, const HypercallArgs& a);

constexpr long err(Errno e) { return -static_cast<long>(e); }

// console_io: CONSOLEIO_write prints the guest's bytes on the hypervisor console (domain 0;
// other domains get their own console rings in a later issue).
long do_console_io(PvVcpu& v, const HypercallArgs& a) {
    if (a.a1 != CONSOLEIO_write) return err(XEN_ENOSYS);
    if (!v.domain->privileged) return err(XEN_EPERM);
    u64 count = a.a2, ptr = a.a3;
    if (count > (1u << 20)) return err(XEN_EINVAL);
    char buf[128];
    u64 done = 0;
    while (done < count) {
        u64 n = min<u64>(count - done, sizeof buf);
        if (!copy_from_guest(buf, ptr + done, n)) return err(XEN_EFAULT);
        console::write(buf, n);
        done += n;
    }
    return 0;
}

long do_xen_version(PvVcpu&, const HypercallArgs& a) {
    switch (a.a1) {
    case XENVER_version:
        return (4 << 16) | 17;  // the interface pvisor implements: Xen 4.17
    case XENVER_extraversion: {
        xen_extraversion_t ev = {};
        str_copy(ev, "-pvisor", sizeof ev);
        return copy_to_guest(a.a2, ev, sizeof ev) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_get_features: {
        xen_feature_info_t fi;
        if (!get_guest(fi, a.a2)) return err(XEN_EFAULT);
        if (fi.submap_idx != 0) {
            fi.submap = 0;
        } else {
            // What Xen reports to a 64-bit PV dom0 (Linux panics without 5 and 7).
            fi.submap = (1u << XENFEAT_writable_descriptor_tables) | (1u << XENFEAT_mmu_pt_update_preserve_ad) |
                        (1u << XENFEAT_gnttab_map_avail_bits) | (1u << XENFEAT_highmem_assist);
        }
        return put_guest(a.a2, fi) ? 0 : err(XEN_EFAULT);
    }
    default:
        return err(XEN_ENOSYS);
    }
}

long do_sched_op(PvVcpu& v, const HypercallArgs& a) {
    switch (a.a1) {
    case SCHEDOP_yield:
        return 0;
    case SCHEDOP_shutdown: {
        sched_shutdown_t s;
        if (!get_guest(s, a.a2)) return err(XEN_EFAULT);
        domain_shutdown(*v.domain, s.reason);
    }
    default:
        return err(XEN_ENOSYS);
    }
}

long do_vm_assist(PvVcpu& v, const HypercallArgs& a) {
    // Xen's 64-bit PV mask: writable_pagetables, pae_extended_cr3, m2p_strict, architectural_iopl,
    // runstate_update_flag.
    constexpr unsigned long allowed = (1ul << VMASST_TYPE_writable_pagetables) | (1ul << VMASST_TYPE_pae_extended_cr3) |
                                      (1ul << VMASST_TYPE_m2p_strict) | (1ul << VMASST_TYPE_architectural_iopl) |
                                      (1ul << VMASST_TYPE_runstate_update_flag);
    if (a.a2 >= 64 || !((allowed >> a.a2) & 1)) return err(XEN_EINVAL);
    if (a.a1 == VMASST_CMD_enable) v.domain->vm_assist |= 1ul << a.a2;
    else if (a.a1 == VMASST_CMD_disable) v.domain->vm_assist &= ~(1ul << a.a2);
    else return err(XEN_ENOSYS);
    return 0;
}

long do_memory_op(PvVcpu& v, const HypercallArgs& a) {
    switch (a.a1) {
    case XENMEM_maximum_ram_page:
        return static_cast<long>(mm::frames().nr_frames() - 1);
    case XENMEM_current_reservation:
    case XENMEM_maximum_reservation: {
        domid_t id;
        if (!get_guest(id, a.a2)) return err(XEN_EFAULT);
        if (id != DOMID_SELF && id != v.domain->id) return err(XEN_ESRCH);
        return static_cast<long>(a.a1 == XENMEM_current_reservation ? v.domain->nr_pages : v.domain->max_pages);
    }
    case XENMEM_machphys_mapping: {
        xen_machphys_mapping_t m;
        m.v_start = MACH2PHYS_VIRT_START;
        m.v_end = MACH2PHYS_VIRT_START + mm::frames().nr_frames() * sizeof(u64);
        m.max_mfn = mm::frames().nr_frames() - 1;
        return put_guest(a.a2, m) ? 0 : err(XEN_EFAULT);
    }
    default:
        return err(XEN_ENOSYS);
    }
}

struct HypercallEntry {
    unsigned number;
    Handler pv64;
};

// The table: one row per implemented hypercall; a column per guest kind as they arrive.
constexpr HypercallEntry kHypercalls[] = {
    {__HYPERVISOR_console_io, do_console_io},
    {__HYPERVISOR_xen_version, do_xen_version},
    {__HYPERVISOR_sched_op, do_sched_op},
    {__HYPERVISOR_vm_assist, do_vm_assist},
    {__HYPERVISOR_memory_op, do_memory_op},
};

constexpr unsigned NR_HYPERCALLS = 64;
struct Table {
    Handler pv64[NR_HYPERCALLS] = {};
};
constexpr Table make_table() {
    Table t;
    for (const auto& e : kHypercalls) t.pv64[e.number] = e.pv64;
    return t;
}
constexpr Table kTable = make_table();

}  // namespace

long hypercall(PvVcpu& v, u64 nr, const HypercallArgs& a) {
    if (nr >= NR_HYPERCALLS || !kTable.pv64[nr]) return err(XEN_ENOSYS);
    return kTable.pv64[nr](v, a);
}

}  // namespace pv::arch::pv

extern "C" void pv_syscall(pv::arch::TrapFrame* f) {
    using namespace pv::arch::pv;
    PvVcpu* v = current();
    // SYSCALL from guest kernel mode is a hypercall (at any RIP, as Xen does since XSA-466).
    pv::arch::pv::HypercallArgs a{f->rdi, f->rsi, f->rdx, f->r10, f->r8};
    f->rax = static_cast<pv::u64>(hypercall(*v, f->rax, a));
}
