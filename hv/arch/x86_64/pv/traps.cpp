// Exceptions from 64-bit PV guests, delivered to the handlers the guest registered with
// set_trap_table, through a bounce frame with Xen's exact layout (create_bounce_frame in
// xen/arch/x86/x86_64/entry.S):
//
//   low:  RCX, R11, [error code], RIP, CS | saved_upcall_mask << 32, RFLAGS, RSP, SS  :high
//
// on the current guest stack when guest kernel mode was interrupted (its CS.RPL shown as 0), else
// on the kernel stack from stack_switch after switching to kernel mode; RSP rounded down to 16.
// The handler runs with the flat kernel selectors; TF, NT, RF, VM and AC are cleared, and the
// event mask is set when the trap-table entry asks for it (flag bit 2).
#include <arch/cpu.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "lib/format.hpp"

namespace pv::arch::pv {
namespace {

constexpr u64 RF_TF = 1u << 8, RF_IF = 1u << 9, RF_NT = 1u << 14, RF_RF = 1u << 16, RF_VM = 1u << 17, RF_AC = 1u << 18;
constexpr u8 TI_MASK_EVENTS = 4;

}  // namespace

// Builds the bounce frame and points the guest at `handler`.  false: the frame could not be
// written (the caller crashes the domain).
bool bounce(PvVcpu& v, TrapFrame& f, u64 handler, bool has_error_code, u64 error_code, bool mask_events) {
    u64 sp;
    u64 cs = f.cs;
    if (v.kernel_mode) {
        sp = f.rsp;
        cs &= ~u64{3};  // the guest sees its kernel as ring 0
    } else {
        // User mode interrupted: the frame goes on the kernel stack, in kernel mode.
        sp = v.kernel_sp;
        toggle_guest_mode(v);
    }
    sp &= ~u64{15};
    u8 saved_mask = v.vcpu_info ? v.vcpu_info->evtchn_upcall_mask : 1;
    // IF as the upcall mask says; the virtual IOPL too under architectural_iopl (Xen's
    // pv_create_exception_frame).
    u64 rflags = (f.rflags & ~(RF_IF | (3u << 12))) | (saved_mask ? 0 : RF_IF);
    if (architectural_iopl(*v.domain)) rflags |= u64{v.iopl} << 12;
    u64 frame[8];
    unsigned n = 0;
    frame[n++] = f.rcx;
    frame[n++] = f.r11;
    if (has_error_code) frame[n++] = error_code;
    frame[n++] = f.rip;
    frame[n++] = cs | (u64{saved_mask} << 32);
    frame[n++] = rflags;
    frame[n++] = f.rsp;
    frame[n++] = f.ss;
    sp -= n * sizeof(u64);
    if (!copy_to_guest(sp, frame, n * sizeof(u64))) return false;
    if (mask_events && v.vcpu_info) v.vcpu_info->evtchn_upcall_mask = 1;
    f.rip = handler;
    f.cs = FLAT_KERNEL_CS64;
    f.ss = FLAT_KERNEL_SS64;
    f.rsp = sp;
    f.rflags = (f.rflags & ~(RF_TF | RF_NT | RF_RF | RF_VM | RF_AC)) | RF_IF;
    return true;
}

void toggle_guest_mode(PvVcpu& v) {
    v.kernel_mode = !v.kernel_mode;
    asm volatile("swapgs" : : : "memory");  // GS_BASE <-> the other mode's base
    write_cr3(v.kernel_mode ? v.kernel_cr3 : v.user_cr3);
    if (v.kernel_mode) vcpu_runstate_catch_up(v);
}

namespace {

void deliver(PvVcpu& v, TrapFrame& f, unsigned vector, bool has_error_code, u64 error_code, u64 cr2) {
    const trap_info_t& t = v.traps[vector & 255];
    if (!t.address) {
        char why[120];
        if (vector == VEC_PF)
            format(why, sizeof why, "exception 14 (page fault at %#lx, error code %#lx) with no handler in the trap table",
                   cr2, error_code);
        else
            format(why, sizeof why, "exception %u with no handler in the trap table", vector);
        domain_crash(*v.domain, f, why);
    }
    if (vector == VEC_PF && v.vcpu_info) v.vcpu_info->arch.cr2 = cr2;
    if (!bounce(v, f, t.address, has_error_code, error_code, t.flags & TI_MASK_EVENTS))
        domain_crash(*v.domain, f, "fault writing the exception frame to the guest stack");
}

}  // namespace

void inject_exception(PvVcpu& v, TrapFrame& f, unsigned vector, bool has_error_code, u64 error_code) {
    deliver(v, f, vector, has_error_code, error_code, vector == VEC_PF ? read_cr2() : 0);
}

void inject_page_fault(PvVcpu& v, TrapFrame& f, u64 error_code, u64 cr2) {
    // The hardware saw ring 3; the guest's error code says which virtual mode it was in.
    u64 ec = v.kernel_mode ? error_code & ~u64{4} : error_code | 4;
    deliver(v, f, VEC_PF, true, ec, cr2);
}

void guest_trap(TrapFrame& f) {
    PvVcpu* v = current();
    if (!v) fatal_trap(f);
    switch (f.vector) {
    case VEC_BP:
    case VEC_OF:
    case 0x80: {
        // Raised by the guest itself (int3, into, int $0x80 through DPL-3 gates): allowed only
        // if its trap-table entry's DPL admits the current virtual ring, else #GP as on Xen.
        unsigned vec = static_cast<unsigned>(f.vector);
        unsigned ring = v->kernel_mode ? 1 : 3;
        if (v->traps[vec].address && (v->traps[vec].flags & 3) < ring) {
            f.rip -= vec == 0x80 ? 2 : 1;  // the #GP points at the instruction, not after it
            inject_exception(*v, f, VEC_GP, true, (u64{vec} << 3) | 2);
            return;
        }
        inject_exception(*v, f, vec, false, 0);
        return;
    }
    case VEC_PF: {
        u64 cr2 = read_cr2();
        if (ldt_fault(f, cr2, true)) return;
        if (emulate_pt_write(*v, f, cr2)) return;
        inject_page_fault(*v, f, f.error_code, cr2);
        return;
    }
    case VEC_GP:
        if (f.error_code == 0) {
            if (emulate_privileged(*v, f, false)) return;
        } else if ((f.error_code & 3) == 2) {
            // `int n` through a DPL-0 IDT gate: allowed if the guest's own trap-table entry
            // grants the current virtual ring (kernel counts as ring 1 for the DPL check).
            unsigned vec = static_cast<unsigned>(f.error_code >> 3) & 255;
            const trap_info_t& t = v->traps[vec];
            unsigned ring = v->kernel_mode ? 1 : 3;
            if (t.address && (t.flags & 3) >= ring) {
                f.rip += 2;  // past `int n`: the handler returns after it
                inject_exception(*v, f, vec, false, 0);
                return;
            }
        }
        inject_exception(*v, f, VEC_GP, true, f.error_code);
        return;
    case VEC_NM:
        // Lazy FPU as Xen: the FPU is always the guest's here; the fault only reflects the
        // guest's own CR0.TS, which the delivery clears.
        asm volatile("clts");
        if (v->virtual_ts) {
            v->virtual_ts = false;
            inject_exception(*v, f, VEC_NM, false, 0);
        }
        return;
    case VEC_UD:
        if (emulate_privileged(*v, f, true)) return;
        inject_exception(*v, f, VEC_UD, false, 0);
        return;
    case VEC_DF:
    case VEC_MC:
    case VEC_NMI:
        fatal_trap(f);
    case VEC_TS: case VEC_NP: case VEC_SS: case VEC_AC:
        inject_exception(*v, f, static_cast<unsigned>(f.vector), true, f.error_code);
        return;
    default:
        inject_exception(*v, f, static_cast<unsigned>(f.vector), false, 0);
        return;
    }
}

}  // namespace pv::arch::pv

// SYSENTER from the guest (pv_entry.S built the frame with RIP 0, CS 3, RSP 0): the sysenter
// callback, as a bounce with no error code (events masked if registered with
// CALLBACKF_mask_events); without one, #GP(0) through the trap table, reporting that same null
// RIP (Xen's sysenter_entry).  From guest kernel mode the bounce lands at the null RSP, as on Xen.
extern "C" void pv_sysenter(pv::arch::TrapFrame* f) {
    using namespace pv::arch::pv;
    PvVcpu* v = current();
    if (!v->sysenter_callback) inject_exception(*v, *f, pv::arch::VEC_GP, true, 0);
    else if (!bounce(*v, *f, v->sysenter_callback, false, 0, v->sysenter_mask_events))
        domain_crash(*v->domain, *f, "fault writing the sysenter frame to the guest stack");
    exit_to_guest(*f);
}
