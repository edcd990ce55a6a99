// Hypercall dispatch for 64-bit PV guests.  One declarative table maps Xen's hypercall numbers
// (public/xen.h) to handlers; each handler gets the guest's argument registers (RDI, RSI, RDX,
// R10, R8) and returns the value for RAX — a result or -errno.  Unknown numbers get -ENOSYS.
#include <arch/cpu.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/percpu.hpp>
#include <arch/serial.hpp>
#include <arch/time.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/cmdline.hpp"
#include "core/serial_input.hpp"
#include "core/console.hpp"
#include "core/heap.hpp"
#include "lib/string.hpp"

#include <xen/arch-x86/xen-mca.h>
#include <xen/callback.h>
#include <xen/features.h>
#include <xen/physdev.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>

namespace pv::arch::pv {

namespace {

using Handler = long (*)(PvVcpu& v, const HypercallArgs& a);

constexpr long err(Errno e) { return -static_cast<long>(e); }

// console_io: CONSOLEIO_write prints the guest's bytes on the hypervisor console (domain 0;
// other domains get their own console rings in a later issue).
long do_console_io(PvVcpu& v, const HypercallArgs& a) {
    if (a.a1 != CONSOLEIO_write && a.a1 != CONSOLEIO_read) return err(XEN_ENOSYS);
    if (!v.domain->privileged) return err(XEN_EPERM);
    if (a.a1 == CONSOLEIO_read) {
        // Serial input switched to domain 0 (console_input.cpp), up to count bytes.  count is
        // an unsigned int; above INT_MAX it could not be told from an errno: -E2BIG, as Xen.
        u32 count = static_cast<u32>(a.a2);
        if (count > 0x7fffffffu) return err(XEN_E2BIG);
        char buf[SerialInput::RING_SIZE];
        u64 want = min<u64>(count, sizeof buf);
        usize n = console_input_read(buf, want);
        if (n && !copy_to_guest(a.a3, buf, n)) return err(XEN_EFAULT);
        return static_cast<long>(n);
    }
    u64 count = a.a2, ptr = a.a3;  // no cap: the copy faults (-EFAULT) where the guest's memory ends
    char buf[128];
    u64 done = 0;
    while (done < count) {
        u64 n = min<u64>(count - done, sizeof buf);
        if (!copy_from_guest(buf, ptr + done, n)) return err(XEN_EFAULT);
        console::write_guest(buf, n);
        done += n;
    }
    return 0;
}

long do_xen_version(PvVcpu& v, const HypercallArgs& a) {
    switch (a.a1) {
    case XENVER_version:
        return (4 << 16) | 17;  // the interface pvisor implements: Xen 4.17
    case XENVER_extraversion: {
        xen_extraversion_t ev = {};
        str_copy(ev, "-pvisor", sizeof ev);
        return copy_to_guest(a.a2, ev, sizeof ev) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_compile_info: {
        xen_compile_info_t ci = {};
        str_copy(ci.compiler, "g++", sizeof ci.compiler);
        str_copy(ci.compile_by, "pvisor", sizeof ci.compile_by);
        str_copy(ci.compile_domain, "pvisor", sizeof ci.compile_domain);
        str_copy(ci.compile_date, __DATE__, sizeof ci.compile_date);
        return copy_to_guest(a.a2, &ci, sizeof ci) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_capabilities: {
        xen_capabilities_info_t caps = {};
        str_copy(caps, "xen-3.0-x86_64", sizeof caps);
        return copy_to_guest(a.a2, caps, sizeof caps) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_changeset: {
        xen_changeset_info_t cs = {};
        str_copy(cs, "pvisor", sizeof cs);
        return copy_to_guest(a.a2, cs, sizeof cs) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_platform_parameters: {
        xen_platform_parameters_t pp;
        pp.virt_start = HYPERVISOR_VIRT_START;
        return put_guest(a.a2, pp) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_pagesize:
        return PAGE_SIZE;
    case XENVER_guest_handle: {
        xen_domain_handle_t h = {};
        return copy_to_guest(a.a2, h, sizeof h) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_commandline: {
        // The whole buffer to domain 0; to others Xen's XSM default denies it: "<denied>".
        xen_commandline_t line = {};
        str_copy(line, v.domain->privileged ? boot_options().saved_cmdline : "<denied>", sizeof line);
        const usize n = v.domain->privileged ? sizeof line : str_len(line) + 1;
        return copy_to_guest(a.a2, line, n) ? 0 : err(XEN_EFAULT);
    }
    case XENVER_get_features: {
        xen_feature_info_t fi;
        if (!get_guest(fi, a.a2)) return err(XEN_EFAULT);
        if (fi.submap_idx >= XENFEAT_NR_SUBMAPS) return err(XEN_EINVAL);
        // What Xen 4.17 reports to a 64-bit PV guest (Linux panics without 5 and 7); dom0 for
        // the hardware domain.
        fi.submap = (1u << XENFEAT_mmu_pt_update_preserve_ad) | (1u << XENFEAT_highmem_assist) |
                    (1u << XENFEAT_gnttab_map_avail_bits) | (1u << XENFEAT_memory_op_vnode_supported) |
                    (1u << XENFEAT_direct_mapped);
        if (v.domain->privileged) fi.submap |= 1u << XENFEAT_dom0;
        return put_guest(a.a2, fi) ? 0 : err(XEN_EFAULT);
    }
    default:
        return err(XEN_ENOSYS);
    }
}

// sched_op: the command is an int, as in Xen (the upper half of the register is ignored).
long do_sched_op(PvVcpu& v, const HypercallArgs& a) {
    switch (static_cast<int>(a.a1)) {
    case SCHEDOP_yield:
        vcpu_yield(v);
        return 0;
    case SCHEDOP_block:
        vcpu_block(v);
        return 0;
    case SCHEDOP_shutdown: {
        sched_shutdown_t s;
        if (!get_guest(s, a.a2)) return err(XEN_EFAULT);
        domain_shutdown(*v.domain, s.reason & 0xff);  // Xen keeps the reason as a u8
        return 0;  // the vCPU is paused: the guest sees this only if the domain is resumed
    }
    case SCHEDOP_shutdown_code: {
        sched_shutdown_t s;
        if (!get_guest(s, a.a2)) return err(XEN_EFAULT);
        if (v.domain->shutdown_code == PvDomain::NO_SHUTDOWN_CODE) v.domain->shutdown_code = static_cast<u8>(s.reason);
        return 0;
    }
    case SCHEDOP_poll: {
        sched_poll_t p;
        if (!get_guest(p, a.a2)) return err(XEN_EFAULT);
        u64 ports;
        mem_copy(&ports, &p.ports, sizeof ports);
        return vcpu_poll(v, ports, p.nr_ports, p.timeout);
    }
    case SCHEDOP_remote_shutdown: {
        sched_remote_shutdown_t s;
        if (!get_guest(s, a.a2)) return err(XEN_EFAULT);
        PvDomain* d = domain_find(s.domain_id);
        if (!d) return err(XEN_ESRCH);
        // Xen's XSM_DM_PRIV: a control domain (or the target's device model), not the target.
        if (!v.domain->privileged) return err(XEN_EPERM);
        domain_shutdown(*d, s.reason & 0xff);
        return 0;
    }
    default:
        return err(XEN_ENOSYS);
    }
}

// set_timer_op: the single-shot timer at an absolute system time (0: stop).
long do_set_timer_op(PvVcpu& v, const HypercallArgs& a) { return vcpu_set_timer_op(v, static_cast<i64>(a.a1)); }

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

// memory_op(cmd, arg): the command is the low MEMOP_CMD_MASK bits; the bits above carry the
// extent to resume from in a continuation of the reservation calls (memory.cpp), and must be
// zero for the common calls (-EINVAL, as Xen).  The x86 calls compare the whole command.
long do_memory_op(PvVcpu& v, const HypercallArgs& a) {
    const auto op = static_cast<unsigned>(a.a1 & MEMOP_CMD_MASK);
    const u64 start_extent = a.a1 >> MEMOP_EXTENT_SHIFT;
    switch (op) {
    case XENMEM_increase_reservation:
    case XENMEM_decrease_reservation:
    case XENMEM_populate_physmap:
        return memory_reservation_op(v, op, start_extent, a.a2);
    case XENMEM_maximum_ram_page:
        if (start_extent) return err(XEN_EINVAL);
        return static_cast<long>(mm::frames().nr_frames() - 1);
    case XENMEM_current_reservation:
    case XENMEM_maximum_reservation:
        if (start_extent) return err(XEN_EINVAL);
        return memory_reservation_query(v, op, a.a2);
    case XENMEM_exchange:
        if (start_extent) return err(XEN_EINVAL);
        return memory_exchange(v, a.a2);
    default:
        break;
    }
    switch (a.a1) {
    case XENMEM_add_to_physmap: {
        // For translated (HVM/PVH) guests only; a PV domain gets -EACCES once the target
        // domain is found, as Xen (a PV guest maps shared_info and grants by machine frame).
        xen_add_to_physmap_t x;
        if (!get_guest(x, a.a2)) return err(XEN_EFAULT);
        if (x.space == XENMAPSPACE_gmfn_foreign) return err(XEN_EINVAL);
        PvDomain* t = x.domid == DOMID_SELF ? v.domain : domain_find(x.domid);
        if (!t) return err(XEN_ESRCH);
        if (t != v.domain && !v.domain->privileged) return err(XEN_EPERM);
        return err(XEN_EACCES);
    }
    case XENMEM_machine_memory_map:
        return machine_memory_map(v, a.a2);
    case XENMEM_set_memory_map:
        return set_memory_map(v, a.a2);
    case XENMEM_memory_map:
        return memory_map(v, a.a2);
    case XENMEM_machphys_mfn_list: {
        // The first frame of each 2 MiB piece of the M2P, in order (x86_64/mm.c's
        // subarch_memory_op): tools map the table through them.
        xen_machphys_mfn_list_t l;
        if (!get_guest(l, a.a2)) return err(XEN_EFAULT);
        u64 list;
        mem_copy(&list, &l.extent_start, sizeof list);
        unsigned i = 0;
        for (; i != l.max_extents && i < m2p_nr_chunks(); ++i) {
            xen_pfn_t mfn = m2p_chunk_mfn(i);
            if (!put_guest(list + u64{i} * sizeof mfn, mfn)) return err(XEN_EFAULT);
        }
        l.nr_extents = i;
        return put_guest(a.a2, l) ? 0 : err(XEN_EFAULT);
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

// vcpu_op(cmd, vcpuid, arg): on any vCPU of the caller's domain, except where Xen insists on
// the caller itself (single-shot timers) or an offline vCPU (register_vcpu_info).
long do_vcpu_op(PvVcpu& self, const HypercallArgs& a) {
    PvDomain& d = *self.domain;
    if (a.a2 >= d.max_vcpus || !d.vcpu[a.a2]) return err(XEN_ENOENT);
    PvVcpu& v = *d.vcpu[a.a2];
    switch (static_cast<int>(a.a1)) {
    case VCPUOP_initialise: {
        auto* ctx = heap_new<vcpu_guest_context_t>(hv_heap());
        if (!ctx) return err(XEN_ENOMEM);
        long rc = get_guest(*ctx, a.a3) ? vcpu_initialise(v, *ctx) : err(XEN_EFAULT);
        heap_delete(hv_heap(), ctx);
        return rc;
    }
    case VCPUOP_up:
        return vcpu_up(v);
    case VCPUOP_down:
        return vcpu_down(self, v);
    case VCPUOP_is_up:
        return v.down ? 0 : 1;
    case VCPUOP_register_vcpu_info: {
        // Xen's map_vcpu_info, in its order of checks.
        vcpu_register_vcpu_info_t info;
        if (!get_guest(info, a.a3)) return err(XEN_EFAULT);
        if (info.offset > PAGE_SIZE - sizeof(vcpu_info_t)) return err(XEN_ENXIO);  // Xen 4.17's errno
        vcpu_info_t* legacy = v.id < XEN_LEGACY_MAX_VCPUS ? &d.shared_info->vcpu_info[v.id] : nullptr;
        if (v.vcpu_info != legacy) return err(XEN_EINVAL);  // once only
        if (&v != &self && !v.down) return err(XEN_EINVAL);
        // The page stays typed writable for good, so it can never become a page table.
        if (info.mfn >= mm::frames().nr_frames() || !mmu_get_writable(d, info.mfn)) return err(XEN_EINVAL);
        auto* nv = reinterpret_cast<vcpu_info_t*>(static_cast<u8*>(phys_to_virt(info.mfn << PAGE_SHIFT)) + info.offset);
        if (legacy) {
            mem_copy(nv, legacy, sizeof *nv);
        } else {
            mem_set(nv, 0, sizeof *nv);
            nv->evtchn_upcall_mask = 1;
        }
        v.vcpu_info = nv;
        // As Xen: everything may be pending, so nothing posted meanwhile is lost.
        __atomic_store_n(&nv->evtchn_pending_sel, ~xen_ulong_t{0}, __ATOMIC_SEQ_CST);
        if (!__atomic_exchange_n(&nv->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST)) vcpu_kick(v);
        return 0;
    }
    case VCPUOP_register_runstate_memory_area: {
        vcpu_register_runstate_memory_area_t area;
        if (!get_guest(area, a.a3)) return err(XEN_EFAULT);
        u64 va;
        mem_copy(&va, &area.addr, sizeof va);
        return vcpu_register_runstate_area(v, va);
    }
    case VCPUOP_get_runstate_info: {
        vcpu_runstate_info_t r = vcpu_runstate_get(v);
        return put_guest(a.a3, r) ? 0 : err(XEN_EFAULT);
    }
    case VCPUOP_set_periodic_timer: {
        vcpu_set_periodic_timer_t t;
        if (!get_guest(t, a.a3)) return err(XEN_EFAULT);
        if (t.period_ns == 0) return err(XEN_EINVAL);  // below Xen's 1 ms minimum
        return vcpu_set_periodic(v, t.period_ns);
    }
    case VCPUOP_stop_periodic_timer:
        return vcpu_set_periodic(v, 0);
    case VCPUOP_set_singleshot_timer: {
        if (&v != &self) return err(XEN_EINVAL);
        vcpu_set_singleshot_timer_t t;
        if (!get_guest(t, a.a3)) return err(XEN_EFAULT);
        // VCPU_SSHOTTMR_future "can be ignored by the hypervisor", and Xen 4.17 ignores it
        // (Linux set it on deadlines already past): a past deadline fires at once.
        vcpu_set_singleshot(v, t.timeout_abs_ns);
        return 0;
    }
    case VCPUOP_stop_singleshot_timer:
        if (&v != &self) return err(XEN_EINVAL);
        vcpu_stop_singleshot(v);
        return 0;
    default:
        return err(XEN_ENOSYS);
    }
}

// Debug registers: DR0-3 must hold guest addresses (a breakpoint on hypervisor memory would be
// a side channel and a way to trap the hypervisor); DR7 may not set GD (which would fault the
// hypervisor's own DR accesses) nor I/O breakpoints; the hardware gets the guest's values while
// it runs (one vCPU per CPU for now).
long do_set_debugreg(PvVcpu& v, const HypercallArgs& a) { return set_debugreg(v, a.a1, a.a2); }

}  // namespace

long set_debugreg(PvVcpu& v, u64 reg, u64 val) {
    switch (reg) {
    case 0: case 1: case 2: case 3:
        if (!guest_range_ok(val, 8) || !canonical(val)) return err(XEN_EPERM);
        v.debugreg[reg] = val;
        if (&v != current()) return 0;  // another vCPU's (setvcpucontext): loaded when it runs
        switch (reg) {
        case 0: asm volatile("mov %0, %%db0" : : "r"(val)); break;
        case 1: asm volatile("mov %0, %%db1" : : "r"(val)); break;
        case 2: asm volatile("mov %0, %%db2" : : "r"(val)); break;
        default: asm volatile("mov %0, %%db3" : : "r"(val)); break;
        }
        return 0;
    case 6:
        if (val >> 32) return err(XEN_EPERM);
        v.debugreg[6] = (val & 0xe00f) | 0xffff0ff0;  // the architecturally fixed bits
        return 0;
    case 7: {
        if (val >> 32) return err(XEN_EPERM);
        if (val & (1u << 13)) return err(XEN_EPERM);  // GD
        for (unsigned i = 0; i < 4; ++i)
            if (((val >> (16 + 4 * i)) & 3) == 2) return err(XEN_EPERM);  // I/O breakpoint
        v.debugreg[7] = (val & 0xffff27ff) | 0x400;
        u64 dr7 = v.debugreg[7];
        if (&v == current()) asm volatile("mov %0, %%db7" : : "r"(dr7));
        return 0;
    }
    default:
        return err(XEN_ENODEV);
    }
}

namespace {

long do_get_debugreg(PvVcpu& v, const HypercallArgs& a) {
    u64 reg = a.a1;
    if (reg > 7 || reg == 4 || reg == 5) return err(XEN_ENODEV);
    if (reg == 6 && !v.debugreg[6]) return 0xffff0ff0;
    if (reg == 7 && !v.debugreg[7]) return 0x400;
    return static_cast<long>(v.debugreg[reg]);
}

// set_trap_table: entries up to the first with address 0 (not vector 0: #DE is vector 0); a
// NULL list clears the table.  Handlers must be canonical.
long do_set_trap_table(PvVcpu& v, const HypercallArgs& a) {
    if (a.a1 == 0) {
        mem_set(v.traps, 0, sizeof v.traps);
        return 0;
    }
    for (unsigned i = 0; i < 256 + 1; ++i) {
        trap_info_t t;
        if (!get_guest(t, a.a1 + i * sizeof t)) return err(XEN_EFAULT);
        if (t.address == 0) return 0;
        if (!canonical(t.address)) return err(XEN_EINVAL);
        t.cs = FLAT_KERNEL_CS64;  // Xen's fixup_guest_code_selector: the guest gets its ring's CS
        v.traps[t.vector] = t;
    }
    return 0;  // a table without terminator: 256 entries were enough for every vector
}

long do_stack_switch(PvVcpu& v, const HypercallArgs& a) {
    v.kernel_ss = a.a1 | 3;
    v.kernel_sp = a.a2;
    return 0;
}

long do_fpu_taskswitch(PvVcpu& v, const HypercallArgs& a) {
    v.virtual_ts = a.a1 != 0;
    if (v.virtual_ts) write_cr0(read_cr0() | 8);
    else asm volatile("clts");
    return 0;
}

// Loads sel into GS; if the CPU refuses it, the flat user data selector and then the null
// selector instead (Xen's fixup, which also clears the base on CPUs that keep it for null).
void load_gs_or_null(u16 sel) {
    u32 s = sel;
    asm volatile("1: movl %k[sel], %%gs\n\t"
                 "jmp 3f\n"
                 "2: movl %k[flat], %%gs\n\t"
                 "xorl %k[sel], %k[sel]\n\t"
                 "jmp 1b\n"
                 "3:\n\t"
                 ".pushsection .ex_table, \"a\"\n\t"
                 ".balign 8\n\t"
                 ".quad 1b, 2b\n\t"
                 ".popsection"
                 : [sel] "+r"(s)
                 : [flat] "r"(u32{FLAT_USER_DS32})
                 : "memory");
}

// AMD CPUs (before Zen 2's NullSelectorClearsBase) keep the old base when the null selector is
// loaded; Xen loads a flat selector first there.
bool null_selector_keeps_base() {
    return cpu_vendor() == CpuVendor::amd && !(cpuid(0x80000000).eax >= 0x80000021 && (cpuid(0x80000021).eax & (1u << 6)));
}

long do_set_segment_base(PvVcpu& v, const HypercallArgs& a) {
    constexpr u32 MSR_FS = 0xc0000100, MSR_GS = 0xc0000101, MSR_SHADOW_GS = 0xc0000102;
    u64 base = a.a2;
    switch (a.a1) {
    case SEGBASE_FS:
        if (!canonical(base)) return err(XEN_EINVAL);
        v.fs_base = base;
        wrmsr(MSR_FS, base);
        return 0;
    case SEGBASE_GS_USER:
        if (!canonical(base)) return err(XEN_EINVAL);
        v.gs_base_user = base;
        wrmsr(MSR_SHADOW_GS, base);  // kernel mode: the user base waits in the shadow register
        return 0;
    case SEGBASE_GS_KERNEL:
        if (!canonical(base)) return err(XEN_EINVAL);
        v.gs_base_kernel = base;
        wrmsr(MSR_GS, base);
        return 0;
    case SEGBASE_GS_USER_SEL: {
        // The user GS selector, from the guest's GDT or LDT (a fault on an LDT page maps it on
        // the way): with the kernel's GS base swapped out meanwhile, the load sets the user base
        // from the descriptor.  Non-null selectors get RPL 3.  A selector the CPU refuses leaves
        // the null selector and the call still succeeds, as on Xen (Linux BUG()s on a failure;
        // a caller who cares re-reads %gs).
        auto sel = static_cast<u16>(base);
        asm volatile("swapgs" : : : "memory");
        if (sel > 3) sel |= 3;
        else if (null_selector_keeps_base()) load_gs_or_null(FLAT_USER_DS32);
        load_gs_or_null(sel);
        v.gs_base_user = rdmsr(MSR_GS);
        asm volatile("swapgs" : : : "memory");
        return 0;
    }
    default:
        return err(XEN_EINVAL);
    }
}

long do_callback_op(PvVcpu& v, const HypercallArgs& a) {
    if (a.a1 == CALLBACKOP_register) {
        callback_register_t cb;
        if (!get_guest(cb, a.a2)) return err(XEN_EFAULT);
        if (!canonical(cb.address)) return err(XEN_EINVAL);
        bool mask = cb.flags & CALLBACKF_mask_events;
        switch (cb.type) {
        case CALLBACKTYPE_event: v.event_callback = cb.address; return 0;
        case CALLBACKTYPE_failsafe:
            v.failsafe_callback = cb.address;
            v.failsafe_mask_events = mask;  // Xen's VGCF_failsafe_disables_events
            return 0;
        case CALLBACKTYPE_syscall:
            v.syscall_callback = cb.address;
            v.syscall_mask_events = mask;
            return 0;
        case CALLBACKTYPE_sysenter:
            v.sysenter_callback = cb.address;
            v.sysenter_mask_events = mask;
            return 0;
        case CALLBACKTYPE_syscall32:
        case CALLBACKTYPE_nmi:
            return 0;  // accepted; 32-bit user code and guest NMIs arrive with later issues
        default:
            return err(XEN_ENOSYS);
        }
    }
    if (a.a1 == CALLBACKOP_unregister) {
        callback_unregister_t cb;
        if (!get_guest(cb, a.a2)) return err(XEN_EFAULT);
        return cb.type == CALLBACKTYPE_nmi ? 0 : err(XEN_EINVAL);  // as Xen: only NMI may go
    }
    return err(XEN_ENOSYS);
}

long do_physdev_op(PvVcpu& v, const HypercallArgs& a) {
    if (a.a1 == PHYSDEVOP_set_iobitmap) {
        // The bitmap stays in guest memory, read at each I/O emulation (Xen keeps the handle).
        physdev_set_iobitmap_t p;
        if (!get_guest(p, a.a2)) return err(XEN_EFAULT);
        u64 bitmap;
        mem_copy(&bitmap, &p.bitmap, sizeof bitmap);
        if (!guest_array_ok(bitmap) || p.nr_ports > 65536) return err(XEN_EINVAL);
        v.iobmp = bitmap;
        v.iobmp_limit = p.nr_ports;
        return 0;
    }
    if (a.a1 == PHYSDEVOP_set_iopl) {
        physdev_set_iopl_t p;
        if (!get_guest(p, a.a2)) return err(XEN_EFAULT);
        if (p.iopl > 3) return err(XEN_EINVAL);
        v.iopl = p.iopl;
        return 0;
    }
    return do_physdev_pirq_op(v, a.a1, a.a2);
}

long do_multicall(PvVcpu& v, const HypercallArgs& a);

struct HypercallEntry {
    unsigned number;
    Handler pv64;
};

// The table: one row per implemented hypercall; a column per guest kind as they arrive.
constexpr HypercallEntry kHypercalls[] = {
    {__HYPERVISOR_console_io, do_console_io},
    {__HYPERVISOR_xen_version, do_xen_version},
    {__HYPERVISOR_sched_op, do_sched_op},
    {__HYPERVISOR_set_timer_op, do_set_timer_op},
    {__HYPERVISOR_vm_assist, do_vm_assist},
    {__HYPERVISOR_memory_op, do_memory_op},
    {__HYPERVISOR_set_trap_table, do_set_trap_table},
    {__HYPERVISOR_stack_switch, do_stack_switch},
    {__HYPERVISOR_fpu_taskswitch, do_fpu_taskswitch},
    {__HYPERVISOR_set_segment_base, do_set_segment_base},
    {__HYPERVISOR_callback_op, do_callback_op},
    {__HYPERVISOR_physdev_op, do_physdev_op},
    {__HYPERVISOR_vcpu_op, do_vcpu_op},
    {__HYPERVISOR_multicall, do_multicall},
    {__HYPERVISOR_set_debugreg, do_set_debugreg},
    {__HYPERVISOR_get_debugreg, do_get_debugreg},
    {__HYPERVISOR_mmu_update, do_mmu_update},
    {__HYPERVISOR_mmuext_op, do_mmuext_op},
    {__HYPERVISOR_update_va_mapping, do_update_va_mapping},
    {__HYPERVISOR_update_va_mapping_otherdomain, do_update_va_mapping_otherdomain},
    {__HYPERVISOR_set_gdt, do_set_gdt},
    {__HYPERVISOR_update_descriptor, do_update_descriptor},
    {__HYPERVISOR_event_channel_op, do_event_channel_op},
    {__HYPERVISOR_grant_table_op, do_grant_table_op},
    {__HYPERVISOR_domctl, do_domctl},
    {__HYPERVISOR_sysctl, do_sysctl},
    {__HYPERVISOR_platform_op, do_platform_op},
    {__HYPERVISOR_mca, do_mca},
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

void do_iret(PvVcpu& v, TrapFrame& f);

namespace {

// multicall (Xen's do_multicall): the entries run in order, each result written back to its
// entry.  A multicall inside a multicall is refused (-EINVAL, Xen's re-entry check).  An iret
// ends the batch (XSA-213): it replaced the guest's frame, so nothing after it may run; its
// result (the restored RAX) is written back as best it can be and becomes the multicall's,
// through Xen's `int rc`: truncated to 32 bits and sign-extended.  Only the start of the list is
// checked up front; a fault reading or writing an entry ends the batch with -EFAULT, the
// earlier results in place.  Between entries the multicall may be preempted: it continues from
// the next entry.  A sub-call that made a continuation left it in `call` (continuation.cpp):
// the entry goes back to the guest whole, arguments rewritten, and the multicall continues from
// that entry, which then resumes the sub-call.
long do_multicall(PvVcpu& v, const HypercallArgs& a) {
    if (v.hcall.mc_call) return err(XEN_EINVAL);
    u64 list = a.a1;
    auto nr = static_cast<u32>(a.a2);
    long rc = guest_array_ok(list) ? 0 : err(XEN_EFAULT);
    multicall_entry_t call;
    v.hcall.mc_call = &call;
    u32 i = 0;
    bool preempted = false;
    for (; rc == 0 && i < nr; ++i) {
        if (i && hypercall_preempt_check(v)) {
            preempted = true;
            break;
        }
        u64 at = list + u64{i} * sizeof call;
        if (!get_guest(call, at)) {
            rc = err(XEN_EFAULT);
            break;
        }
        u64 result_at = at + offsetof(multicall_entry_t, result);
        if (call.op == __HYPERVISOR_iret) {
            do_iret(v, *v.frame);
            call.result = v.frame->rax;
            (void)put_guest(result_at, call.result);
            rc = static_cast<int>(call.result);
            break;
        }
        call.result = static_cast<xen_ulong_t>(
            hypercall(v, call.op, HypercallArgs{call.args[0], call.args[1], call.args[2], call.args[3], call.args[4]}));
        if (!put_guest(result_at, call.result)) {
            rc = err(XEN_EFAULT);
            break;
        }
        if (v.hcall.preempted) {
            if (put_guest(at, call)) {
                preempted = true;
                break;
            }
            v.hcall.preempted = false;  // cancelled: the guest could not be told
            rc = err(XEN_EFAULT);
            break;
        }
    }
    v.hcall.mc_call = nullptr;
    if (preempted) return create_continuation(v, __HYPERVISOR_multicall, list + u64{i} * sizeof call, nr - i);
    return rc;
}

}  // namespace

}  // namespace pv::arch::pv

namespace pv::arch::pv {

// HYPERVISOR_iret: the guest's iret_context is on its stack (pushed by the iret stub); it
// replaces the whole return frame, so it is not an ordinary table entry.
void do_iret(PvVcpu& v, TrapFrame& f) {
    constexpr u64 RF_IF = 1u << 9, RF_IOPL = 3u << 12, RF_VM = 1u << 17;
    iret_context ctx;
    if (!get_guest(ctx, f.rsp)) domain_crash(*v.domain, f, "HYPERVISOR_iret: unreadable iret context");
    if ((ctx.cs & 3) == 3) {
        if (!v.user_cr3) domain_crash(*v.domain, f, "HYPERVISOR_iret to user mode without user page tables");
        toggle_guest_mode(v);
    }
    f.rip = ctx.rip;
    f.cs = ctx.cs | 3;
    if (architectural_iopl(*v.domain)) v.iopl = static_cast<unsigned>((ctx.rflags & RF_IOPL) >> 12);
    f.rflags = (ctx.rflags & ~(RF_IOPL | RF_VM)) | RF_IF;
    f.rsp = ctx.rsp;
    f.ss = ctx.ss | 3;
    if (ctx.flags & VGCF_in_syscall) {
        f.rcx = f.rip;  // return as SYSRET would
        f.r11 = f.rflags;
    } else {
        f.r11 = ctx.r11;
        f.rcx = ctx.rcx;
    }
    if (v.vcpu_info) v.vcpu_info->evtchn_upcall_mask = !(ctx.rflags & RF_IF);
    f.rax = ctx.rax;
}

}  // namespace pv::arch::pv

extern "C" void pv_syscall(pv::arch::TrapFrame* f) {
    using namespace pv::arch::pv;
    PvVcpu* v = current();
    if (!v->kernel_mode) {
        // SYSCALL from guest user mode: the guest kernel's syscall callback, or #UD without one.
        if (!v->syscall_callback) {
            f->rip -= 2;  // #UD at the SYSCALL itself, as Xen reports it
            inject_exception(*v, *f, pv::arch::VEC_UD, false, 0);
            return;
        }
        if (!bounce(*v, *f, v->syscall_callback, false, 0, v->syscall_mask_events))
            domain_crash(*v->domain, *f, "fault writing the syscall frame to the guest stack");
        f->rflags &= ~(pv::u64{1} << 10);  // DF clear, as the SYSCALL would have left it
        return;
    }
    // SYSCALL from guest kernel mode is a hypercall (at any RIP, as Xen does since XSA-466).
    if (f->rax == __HYPERVISOR_iret) {
        // Like every hypercall, iret leaves through the exit path: the events it may have just
        // unmasked are delivered at once (Xen's test_all_events), a due reschedule happens.
        do_iret(*v, *f);
        exit_to_guest(*f);
        return;
    }
    v->frame = f;
    v->hcall.preempted = false;
    pv::arch::pv::HypercallArgs a{f->rdi, f->rsi, f->rdx, f->r10, f->r8};
    long r = hypercall(*v, f->rax, a);
    f->rax = static_cast<pv::u64>(r);
    // A continuation (continuation.cpp) re-executes the SYSCALL, as Xen rewinds its trap-like
    // entry: RAX and the argument registers already hold the call as it is to continue.
    if (v->hcall.preempted) f->rip -= 2;
    exit_to_guest(*f);
}
