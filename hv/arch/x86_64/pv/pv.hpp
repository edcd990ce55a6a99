// 64-bit paravirtualized domains: the state pvisor keeps for a PV domain and its vCPUs, and the
// entry points of the PV machinery (domain building, hypercalls, guest exceptions).
#pragma once
#include <arch/traps.hpp>

#include "core/xen_abi.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

#include <xen/xen.h>

namespace pv::arch::pv {

// A 48-bit canonical address (what RIP, bases and handlers must be).
inline bool canonical(u64 a) { return (static_cast<i64>(a << 16) >> 16) == static_cast<i64>(a); }

// General register n (x86 encoding: 0 rax .. 15 r15) of a saved frame, for the decoders.
inline u64& gpr(TrapFrame& f, unsigned reg) {
    u64* regs[16] = {&f.rax, &f.rcx, &f.rdx, &f.rbx, &f.rsp, &f.rbp, &f.rsi, &f.rdi,
                     &f.r8,  &f.r9,  &f.r10, &f.r11, &f.r12, &f.r13, &f.r14, &f.r15};
    return *regs[reg & 15];
}

// The CPU-side state of a 64-bit PV vCPU (Xen's struct pv_vcpu).
struct PvVcpu {
    unsigned id = 0;
    struct PvDomain* domain = nullptr;
    TrapFrame regs{};             // the guest's registers while it is not on a CPU
    u64 kernel_cr3 = 0;           // physical address of the kernel L4
    u64 user_cr3 = 0;             // physical address of the user L4 (0: none)
    bool kernel_mode = true;
    u64 kernel_ss = 0, kernel_sp = 0;
    trap_info_t traps[256] = {};
    u64 event_callback = 0, failsafe_callback = 0, syscall_callback = 0, sysenter_callback = 0;
    bool syscall_mask_events = false, sysenter_mask_events = false;
    vcpu_info_t* vcpu_info = nullptr;  // in the domain's shared_info page for now
    u64 fs_base = 0, gs_base_kernel = 0, gs_base_user = 0;
    unsigned iopl = 0;  // virtual IOPL (PHYSDEVOP_set_iopl)
    bool virtual_ts = false;  // CR0.TS as the guest sees it (fpu_taskswitch)
    u64 gdt_frames[14] = {};      // set_gdt: the guest's descriptor frames (0: none)
    unsigned gdt_nr_frames = 0;
    u64 gdt_entries = 0;
    u64 debugreg[8] = {};        // DR0-3, DR6, DR7 as the guest set them
    TrapFrame* frame = nullptr;  // the guest's registers during a hypercall (top of the stack)
    bool returned_via_iret = false;  // set by HYPERVISOR_iret: the frame is the guest's new state
};

enum class DomainState : u8 { building, running, shut_down, crashed };

}  // namespace pv::arch::pv
namespace pv {
class EventChannels;
}
namespace pv::arch::pv {

struct PvDomain {
    domid_t id = 0;
    bool privileged = false;
    DomainState state = DomainState::building;
    u8 shutdown_reason = 0;
    u64 nr_pages = 0;
    u64 max_pages = 0;
    u64* p2m = nullptr;  // the hypervisor's own record: pfn -> mfn (the guest keeps its own copy)
    shared_info_t* shared_info = nullptr;
    u64 shared_info_mfn = 0;
    unsigned long vm_assist = 0;
    EventChannels* evtchn = nullptr;  // core/evtchn.hpp
    PvVcpu vcpu0;
};

// Builds domain 0 from the kernel (and optional initrd) boot modules, as Xen's dom0 builder
// lays it out (xen-pv-abi.md §1).  Errors are reported on the console; false means no domain.
struct Dom0Input {
    const u8* kernel;
    usize kernel_len;
    const u8* initrd;  // nullptr: none
    usize initrd_len;
    const char* cmdline;
    u64 mem_bytes;  // dom0_mem, resolved
};
PvDomain* build_dom0(const Dom0Input& in);

// Runs vCPU 0 of the domain on this CPU; never returns.
[[noreturn]] void start_domain(PvDomain& d);

// The global, read-only machine-to-phys table guests see at MACH2PHYS_VIRT_START.
void m2p_init(u64 max_mfn);
void m2p_set(u64 mfn, u64 pfn);
u64 m2p_l3_table();  // physical address of the L3 shared by every guest's slot 256

void install_syscall_stub(unsigned cpu, u64 stack_block);

// The PV MMU (mmu.cpp): frames are assigned to a domain before its tables are validated.
Result<void> mmu_assign(PvDomain& d, u64 mfn);
// Pins the L4 and makes it the vCPU's root (holding the references a root holds).
Result<void> mmu_pin_root(PvDomain& d, u64 l4_mfn);
// The hypervisor's L4 slots (256-271, with the M2P in 256) for a guest L4.
void fill_hypervisor_l4_slots(u64* l4);
struct HypercallArgs {
    u64 a1, a2, a3, a4, a5;
};
long do_mmu_update(PvVcpu& v, const HypercallArgs& a);
long do_mmuext_op(PvVcpu& v, const HypercallArgs& a);
long do_update_va_mapping(PvVcpu& v, const HypercallArgs& a);
long do_set_gdt(PvVcpu& v, const HypercallArgs& a);
long do_event_channel_op(PvVcpu& v, const HypercallArgs& a);
// Makes the domain's event channels reachable by domid (events.cpp).
void events_register_domain(PvDomain& d);
// On the way back to the guest: enter its event callback if an upcall is pending and unmasked.
void deliver_upcall(PvVcpu& v, TrapFrame& f);
// set_debugreg's checks and effect, shared with MOV to DRn emulation: 0 or -errno.
long set_debugreg(PvVcpu& v, u64 reg, u64 val);
// NEW_BASEPTR for the kernel root (MOV to CR3 emulation): false when refused.
bool mmu_new_baseptr(PvVcpu& v, u64 mfn);
// For writable page tables (ptwr.cpp): the L1 slot mapping va in the kernel tables, an entry's
// current value, whether a frame is an L1 table of d's, and a validated entry write.
bool mmu_l1_slot(const PvVcpu& v, u64 va, u64* l1_mfn, unsigned* index);
u64 mmu_entry(u64 table_mfn, unsigned index);
bool mmu_owned_by(const PvDomain& d, u64 mfn);
bool mmu_is_l1_table(const PvDomain& d, u64 mfn);
bool mmu_write_entry(PvDomain& d, u64 table_mfn, unsigned index, u64 val);
// Carries out a guest kernel's write to one of its read-only L1 tables (writable_pagetables);
// true when done and the guest may resume after the instruction.
bool emulate_pt_write(PvVcpu& v, TrapFrame& f, u64 cr2);
long do_update_descriptor(PvVcpu& v, const HypercallArgs& a);

// Called from trap_dispatch for an exception or interrupt that arrived from guest mode.
void guest_trap(TrapFrame& f);
// Delivers exception `vector` to the guest's handler from its trap table, as a bounce frame on
// the guest kernel stack (xen-pv-abi.md §2.4).  Crashes the domain when there is no handler or
// the frame cannot be written.
void inject_exception(PvVcpu& v, TrapFrame& f, unsigned vector, bool has_error_code, u64 error_code);
// Switches the vCPU between guest kernel and user mode: page tables and GS bases (Xen's
// toggle_guest_mode).
void toggle_guest_mode(PvVcpu& v);
// The bounce frame itself (traps.cpp); false when it could not be written.
bool bounce(PvVcpu& v, TrapFrame& f, u64 handler, bool has_error_code, u64 error_code, bool mask_events);
// Emulates the privileged instruction at the guest's RIP after #GP(0) (or the forced-emulation
// CPUID after #UD); true when done (RIP advanced).
bool emulate_privileged(PvVcpu& v, TrapFrame& f, bool from_ud);
// The domain running on this CPU (one vCPU per CPU for now).
PvVcpu* current();

// Ends a domain; for domain 0 this ends the machine (power off, reboot, or halt).
[[noreturn]] void domain_shutdown(PvDomain& d, unsigned reason);
[[noreturn]] void domain_crash(PvDomain& d, const TrapFrame& f, const char* why);

}  // namespace pv::arch::pv
