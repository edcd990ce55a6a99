// Hypercalls of a 64-bit PV guest kernel.
//
// Convention (public/arch-x86/xen-x86_64.h): RAX = hypercall number, arguments in RDI, RSI,
// RDX, R10, R8, result in RAX (a negative Xen errno on failure).  Two ways in, both tested:
//   Via::Syscall  a `syscall` instruction wherever the caller is.  Xen treats SYSCALL from guest
//                 kernel mode as a hypercall at any RIP (Linux relies on it since XSA-466).
//   Via::Page     a call into the hypercall page the builder filled (HYPERCALL_PAGE note): stub
//                 i at offset 32*i saves RCX/R11, loads i into EAX and executes `syscall`.
// The argument registers are declared clobbered: Xen's debug builds overwrite the ones a
// hypercall used before returning, and SYSCALL itself overwrites RCX and R11.
#pragma once
#include "guest/lib/entry_state.hpp"
#include "guest/lib/types.hpp"
#include "guest/lib/xen.hpp"

namespace pvg {

enum class Via { Syscall, Page };

inline u64 arg(const volatile void* p) { return reinterpret_cast<uptr>(p); }

template <Via via = Via::Syscall>
inline long hypercall(unsigned nr, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
    register u64 r10 asm("r10") = a4;
    register u64 r8 asm("r8") = a5;
    u64 rax = nr;
    if constexpr (via == Via::Syscall) {
        asm volatile("syscall"
                     : "+a"(rax), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
                     :
                     : "rcx", "r11", "memory");
    } else {
        const char* stub = hypercall_page + 32 * nr;
        asm volatile("call *%[stub]"
                     : "+a"(rax), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
                     : [stub] "r"(stub)
                     : "rcx", "r11", "memory");
    }
    return static_cast<long>(rax);
}

// ---------------------------------------------------------------------------------------------
// Typed wrappers, one per hypercall, in hypercall-number order.  Arguments as in public/xen.h.
// They live in their own namespace because several share their name with a Xen struct
// (struct mmu_update, struct mmuext_op, struct physdev_op).
namespace hc {

template <Via via = Via::Syscall> inline long set_trap_table(const trap_info_t* table) {
    return hypercall<via>(__HYPERVISOR_set_trap_table, arg(table));
}
template <Via via = Via::Syscall>
inline long mmu_update(const mmu_update_t* reqs, unsigned count, unsigned* done, domid_t dom) {
    return hypercall<via>(__HYPERVISOR_mmu_update, arg(reqs), count, arg(done), dom);
}
template <Via via = Via::Syscall> inline long set_gdt(const xen_ulong_t* frames, unsigned entries) {
    return hypercall<via>(__HYPERVISOR_set_gdt, arg(frames), entries);
}
template <Via via = Via::Syscall> inline long stack_switch(u64 ss, u64 sp) {
    return hypercall<via>(__HYPERVISOR_stack_switch, ss, sp);
}
template <Via via = Via::Syscall> inline long fpu_taskswitch(int set) {
    return hypercall<via>(__HYPERVISOR_fpu_taskswitch, static_cast<u64>(set));
}
template <Via via = Via::Syscall> inline long set_debugreg(int reg, u64 value) {
    return hypercall<via>(__HYPERVISOR_set_debugreg, static_cast<u64>(reg), value);
}
// Returns the register's value; Xen has no way to report an error distinct from a value here
// other than a negative errno for a bad register number.
template <Via via = Via::Syscall> inline long get_debugreg(int reg) {
    return hypercall<via>(__HYPERVISOR_get_debugreg, static_cast<u64>(reg));
}
// maddr: the machine address of an 8-byte descriptor slot; desc: the descriptor.
template <Via via = Via::Syscall> inline long update_descriptor(u64 maddr, u64 desc) {
    return hypercall<via>(__HYPERVISOR_update_descriptor, maddr, desc);
}
template <Via via = Via::Syscall> inline long memory_op(unsigned cmd, void* a) {
    return hypercall<via>(__HYPERVISOR_memory_op, cmd, arg(a));
}
template <Via via = Via::Syscall> inline long multicall(multicall_entry_t* calls, unsigned n) {
    return hypercall<via>(__HYPERVISOR_multicall, arg(calls), n);
}
template <Via via = Via::Syscall> inline long update_va_mapping(u64 va, u64 pte, u64 flags) {
    return hypercall<via>(__HYPERVISOR_update_va_mapping, va, pte, flags);
}
template <Via via = Via::Syscall> inline long xen_version(int cmd, void* a) {
    return hypercall<via>(__HYPERVISOR_xen_version, static_cast<u64>(cmd), arg(a));
}
template <Via via = Via::Syscall> inline long console_io(int cmd, unsigned count, const char* buf) {
    return hypercall<via>(__HYPERVISOR_console_io, static_cast<u64>(cmd), count, arg(buf));
}
template <Via via = Via::Syscall> inline long vm_assist(unsigned cmd, unsigned type) {
    return hypercall<via>(__HYPERVISOR_vm_assist, cmd, type);
}
template <Via via = Via::Syscall> inline long vcpu_op(int cmd, unsigned vcpu, void* a) {
    return hypercall<via>(__HYPERVISOR_vcpu_op, static_cast<u64>(cmd), vcpu, arg(a));
}
template <Via via = Via::Syscall> inline long set_segment_base(unsigned which, u64 base) {
    return hypercall<via>(__HYPERVISOR_set_segment_base, which, base);
}
template <Via via = Via::Syscall>
inline long mmuext_op(const mmuext_op_t* ops, unsigned count, unsigned* done, domid_t dom) {
    return hypercall<via>(__HYPERVISOR_mmuext_op, arg(ops), count, arg(done), dom);
}
// One mmuext_op on the caller's own tables; arg1 is the MFN or linear address the command takes
// (the two share arg1's union).
inline long mmuext1(unsigned cmd, u64 arg1) {
    mmuext_op_t op{};
    op.cmd = cmd;
    op.arg1.mfn = arg1;
    return mmuext_op(&op, 1, nullptr, DOMID_SELF);
}
// One mmu_update request on the caller's own tables.
inline long mmu_update1(u64 ptr, u64 val) {
    mmu_update_t u{};
    u.ptr = ptr;
    u.val = val;
    return mmu_update(&u, 1, nullptr, DOMID_SELF);
}
template <Via via = Via::Syscall> inline long sched_op(int cmd, void* a) {
    return hypercall<via>(__HYPERVISOR_sched_op, static_cast<u64>(cmd), arg(a));
}
template <Via via = Via::Syscall> inline long callback_op(int cmd, const void* a) {
    return hypercall<via>(__HYPERVISOR_callback_op, static_cast<u64>(cmd), arg(a));
}
template <Via via = Via::Syscall> inline long grant_table_op(unsigned cmd, void* uop, unsigned count) {
    return hypercall<via>(__HYPERVISOR_grant_table_op, cmd, arg(uop), count);
}
template <Via via = Via::Syscall> inline long event_channel_op(int cmd, void* a) {
    return hypercall<via>(__HYPERVISOR_event_channel_op, static_cast<u64>(cmd), arg(a));
}
template <Via via = Via::Syscall> inline long physdev_op(int cmd, void* a) {
    return hypercall<via>(__HYPERVISOR_physdev_op, static_cast<u64>(cmd), arg(a));
}

// One GNTTABOP_copy: src and dst are grant references or frame numbers as flags say
// (GNTCOPY_source_gref, GNTCOPY_dest_gref).  Its status (GNTST_*), or -1000 when the hypercall
// itself failed.
i16 grant_copy1(u16 flags, domid_t sdom, u64 src, u16 soff, domid_t ddom, u64 dst, u16 doff, u16 len);

}  // namespace hc

// HYPERVISOR_iret: returns to the context described by `ctx` and never comes back here.  The
// hypercall pops a struct iret_context from the guest stack, so the stack is moved onto ctx.
namespace hc {
[[noreturn]] void iret(const iret_context& ctx);
}

// SCHEDOP_shutdown with the given SHUTDOWN_* reason.  Does not return when the hypervisor
// honours it; if it does return, the domain is stuck here.
[[noreturn]] void shutdown(unsigned reason);

}  // namespace pvg
