// The life of a PV vCPU: creation (down, without a context), VCPUOP_initialise with a context
// checked as Xen's arch_set_info_guest checks a 64-bit PV one, VCPUOP_up and VCPUOP_down.
#include <arch/cpu.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/heap.hpp"
#include "lib/string.hpp"

#include <xen/sched.h>

namespace pv::arch::pv {

void sched_add_vcpu(PvVcpu& v);                    // sched.cpp
bool mmu_set_root(PvVcpu& v, u64 mfn, bool user);  // mmu.cpp
long vcpu_set_gdt_frames(PvVcpu& v, const xen_ulong_t* list, u64 entries);

namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

// The FPU state of a vCPU that has none yet: FNINIT's control word, MXCSR's reset value.
void init_fpu(PvVcpu& v) {
    mem_set(v.fpu, 0, sizeof v.fpu);
    v.fpu[0] = 0x7f;  // FCW 0x037f
    v.fpu[1] = 0x03;
    u32 mxcsr = 0x1f80;
    mem_copy(v.fpu + 24, &mxcsr, sizeof mxcsr);
}

}  // namespace

bool vcpu_create(PvDomain& d, unsigned id) {
    if (id >= PvDomain::MAX_VCPUS || d.vcpu[id]) return false;
    auto* v = heap_new<PvVcpu>(hv_heap());
    if (!v) return false;
    v->id = id;
    v->domain = &d;
    v->vcpu_info = id < XEN_LEGACY_MAX_VCPUS && d.shared_info ? &d.shared_info->vcpu_info[id] : nullptr;
    init_fpu(*v);
    vcpu_time_init(*v);
    d.vcpu[id] = v;
    if (id >= d.max_vcpus) d.max_vcpus = id + 1;
    sched_add_vcpu(*v);
    return true;
}

long vcpu_initialise(PvVcpu& v, const vcpu_guest_context_t& c) {
    if (!v.vcpu_info) return err(XEN_EINVAL);
    if (v.initialised) return err(XEN_EEXIST);
    // Every address the context names must be canonical.
    const cpu_user_regs_t& r = c.user_regs;
    bool ok = canonical(r.rip) && canonical(r.rsp) && canonical(c.kernel_sp) && canonical(c.fs_base) &&
              canonical(c.gs_base_kernel) && canonical(c.gs_base_user) && canonical(c.event_callback_eip) &&
              canonical(c.failsafe_callback_eip) && canonical(c.syscall_callback_eip) &&
              (!c.ldt_ents || canonical(c.ldt_base));
    for (const trap_info_t& t : c.trap_ctxt) ok &= canonical(t.address);
    if (!ok) return err(XEN_EINVAL);
    if ((c.ldt_base & (PAGE_SIZE - 1)) || c.ldt_ents > 8192) return err(XEN_EINVAL);
    if (c.gdt_ents > 14 * 512) return err(XEN_EINVAL);
    for (unsigned i = 0; i < 8; ++i)
        if (i != 4 && i != 5 && set_debugreg(v, i, c.debugreg[i]) != 0) return err(XEN_EINVAL);

    // The page tables: the kernel root (CR3) and the user root (CR1 on x86-64), validated L4s.
    u64 kernel_mfn = xen_cr3_to_pfn(c.ctrlreg[3]), user_mfn = xen_cr3_to_pfn(c.ctrlreg[1]);
    if (!mmu_set_root(v, kernel_mfn, false)) return err(XEN_EINVAL);
    if (user_mfn && !mmu_set_root(v, user_mfn, true)) {
        mmu_set_root(v, 0, false);
        return err(XEN_EINVAL);
    }
    if (c.gdt_ents) {
        if (long rc = vcpu_set_gdt_frames(v, c.gdt_frames, c.gdt_ents); rc) {
            mmu_set_root(v, 0, true);
            mmu_set_root(v, 0, false);
            return rc;
        }
    }

    v.regs = TrapFrame{};
    v.regs.rax = r.rax, v.regs.rbx = r.rbx, v.regs.rcx = r.rcx, v.regs.rdx = r.rdx;
    v.regs.rsi = r.rsi, v.regs.rdi = r.rdi, v.regs.rbp = r.rbp, v.regs.rsp = r.rsp;
    v.regs.r8 = r.r8, v.regs.r9 = r.r9, v.regs.r10 = r.r10, v.regs.r11 = r.r11;
    v.regs.r12 = r.r12, v.regs.r13 = r.r13, v.regs.r14 = r.r14, v.regs.r15 = r.r15;
    v.regs.rip = r.rip;
    v.regs.cs = r.cs | 3;  // the guest kernel runs in ring 3
    v.regs.ss = r.ss | 3;
    constexpr u64 RF_IF = 1u << 9, RF_IOPL = 3u << 12;
    v.iopl = static_cast<unsigned>((r.rflags & RF_IOPL) >> 12);
    v.regs.rflags = (r.rflags & ~RF_IOPL) | RF_IF;
    v.ds = r.ds, v.es = r.es, v.fs = r.fs, v.gs = r.gs;
    v.kernel_mode = c.flags & VGCF_in_kernel;
    v.failsafe_mask_events = c.flags & VGCF_failsafe_disables_events;
    v.syscall_mask_events = c.flags & VGCF_syscall_disables_events;
    if (c.flags & VGCF_i387_valid) mem_copy(v.fpu, &c.fpu_ctxt, sizeof v.fpu);
    else init_fpu(v);
    v.fpu_initialised = c.flags & VGCF_i387_valid;
    v.cr4_own = cr4_guest_bits(c.ctrlreg[4]);
    mem_copy(v.traps, c.trap_ctxt, sizeof v.traps);
    v.ldt_base = c.ldt_base;
    v.ldt_ents = c.ldt_ents;
    v.kernel_ss = c.kernel_ss | 3;
    v.kernel_sp = c.kernel_sp;
    v.event_callback = c.event_callback_eip;
    v.failsafe_callback = c.failsafe_callback_eip;
    v.syscall_callback = c.syscall_callback_eip;
    v.fs_base = c.fs_base;
    v.gs_base_kernel = c.gs_base_kernel;
    v.gs_base_user = c.gs_base_user;
    v.initialised = true;
    return 0;
}

long vcpu_up(PvVcpu& v) {
    {
        IrqSpinGuard g(v.state_lock);
        if (!v.initialised) return err(XEN_EINVAL);
        if (!v.down) return 0;
        v.down = false;
    }
    vcpu_wake(v);
    return 0;
}

long vcpu_down(PvVcpu& caller, PvVcpu& v) {
    PvDomain& d = *v.domain;
    bool others_up = false;
    for (unsigned i = 0; i < d.max_vcpus; ++i)
        if (d.vcpu[i] && d.vcpu[i] != &v && !d.vcpu[i]->down) others_up = true;
    if (!others_up) domain_shutdown(d, SHUTDOWN_poweroff);  // the last vCPU going down
    {
        IrqSpinGuard g(v.state_lock);
        v.down = true;
    }
    vcpu_sleep(v);
    (void)caller;
    return 0;
}

}  // namespace pv::arch::pv
