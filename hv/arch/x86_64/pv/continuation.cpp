// Hypercall continuations, as Xen makes them (hypercall_create_continuation in
// xen/arch/x86/hypercall.c, the rewind in pv/hypercall.c, multicall.c).
//
// A hypercall runs with interrupts off (SFMASK clears IF on SYSCALL), so one that works through
// a guest-supplied list (mmu_update, mmuext_op, multicall) must not run to the end of an
// arbitrarily long list.  Between two items it asks hypercall_preempt_check(); on yes it records
// how far it got by rewriting its own arguments (list pointer advanced, count reduced, for the
// MMU calls MMU_UPDATE_PREEMPTED and the work done so far in *pdone) and returns.  The guest's
// RIP goes back over the 2-byte SYSCALL and RAX holds the hypercall number again, so returning
// to the guest takes the pending interrupt (IF is on in guest mode) or delivers the pending
// upcall, and then the guest re-executes the SYSCALL and the call carries on where it stopped.
// Nothing is kept in the hypervisor between the rounds: the guest's registers are the state,
// and a guest that changes them meanwhile only changes its own request.
//
// Inside a multicall the continuation goes into the multicall entry instead of the registers:
// the entry's arguments are rewritten and copied back to the guest's list, and the multicall
// itself continues from that entry (do_multicall in hypercall.cpp).
//
// When to preempt.  Xen preempts when a softirq is pending on the CPU or an upcall is deliverable
// to the vCPU.  pvisor has no softirqs while interrupts are off: the work they stand for arrives
// as an interrupt left waiting in the local APIC's IRR.  So a check is: the vCPU's upcall pending
// and unmasked (two bytes of its vcpu_info, every time, as Xen), or an interrupt requested in the
// IRR, polled every IRQ_POLL_INTERVAL checks (7 APIC register reads; each item costs far more
// than a check, so 64 items bound the interrupt latency to a few microseconds of work on
// hardware, less than one timer tick under emulation).
#include <arch/apic.hpp>

#include "arch/x86_64/pv/pv.hpp"

namespace pv::arch::pv {
namespace {

constexpr unsigned IRQ_POLL_INTERVAL = 64;

}  // namespace

bool hypercall_preempt_check(PvVcpu& v) {
    if (const vcpu_info_t* vi = v.vcpu_info) {
        if (__atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_RELAXED) &&
            !__atomic_load_n(&vi->evtchn_upcall_mask, __ATOMIC_RELAXED))
            return true;
    }
    if (resched_pending()) return true;  // another vCPU is due on this CPU
    if (v.hcall.irq_budget) {
        --v.hcall.irq_budget;
        return false;
    }
    v.hcall.irq_budget = IRQ_POLL_INTERVAL - 1;
    return apic::interrupt_pending();
}

long create_continuation_array(PvVcpu& v, unsigned op, const u64* args, unsigned nr_args) {
    v.hcall.preempted = true;
    if (multicall_entry_t* call = v.hcall.mc_call) {
        for (unsigned i = 0; i < nr_args && i < 6; ++i) call->args[i] = args[i];
        return op;
    }
    TrapFrame& f = *v.frame;
    u64* regs[6] = {&f.rdi, &f.rsi, &f.rdx, &f.r10, &f.r8, &f.r9};
    for (unsigned i = 0; i < nr_args && i < 6; ++i) *regs[i] = args[i];
    f.rax = op;  // pv_syscall moves RIP back over the SYSCALL
    return op;
}

}  // namespace pv::arch::pv
