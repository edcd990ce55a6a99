// 64-bit paravirtualized domains: the state pvisor keeps for a PV domain and its vCPUs, and the
// entry points of the PV machinery (domain building, hypercalls, guest exceptions).
#pragma once
#include <arch/traps.hpp>

#include <atomic>

#include "core/machine_map.hpp"
#include "core/sched_credit.hpp"
#include "core/timer.hpp"
#include "lib/spinlock.hpp"
#include "core/pv_ldt.hpp"
#include "core/xen_abi.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

#include <xen/event_channel.h>
#include <xen/vcpu.h>
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

struct PvVcpu;
// The credit scheduler's unit of a vCPU, knowing its vCPU.
struct VcpuUnit : sched::CreditUnit {
    PvVcpu* vcpu = nullptr;
};

// The hypercall a vCPU is in (continuation.cpp): Xen's hcall_preempted and multicall state.
struct HypercallState {
    bool preempted = false;                // a continuation was made: the SYSCALL runs again
    multicall_entry_t* mc_call = nullptr;  // in a multicall: the entry running (a sub-call's
                                           // continuation rewrites its arguments)
    unsigned irq_budget = 0;               // preemption checks left before the next APIC poll
};

// The CPU-side state of a 64-bit PV vCPU (Xen's struct pv_vcpu).
struct PvDomain;
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
    bool syscall_mask_events = false, sysenter_mask_events = false, failsafe_mask_events = false;
    vcpu_info_t* vcpu_info = nullptr;  // in the domain's shared_info page for now
    u64 fs_base = 0, gs_base_kernel = 0, gs_base_user = 0;
    unsigned iopl = 0;  // virtual IOPL (PHYSDEVOP_set_iopl)
    u64 iobmp = 0;          // PHYSDEVOP_set_iobitmap: the guest's I/O bitmap (a kernel address)
    u32 iobmp_limit = 0;    // and how many ports it covers
    bool virtual_ts = false;  // CR0.TS as the guest sees it (fpu_taskswitch)
    u64 cr4_own = 0;          // the CR4 bits the guest controls (CR4_GUEST_MASK), as it set them
    u64 gdt_frames[14] = {};      // set_gdt: the guest's descriptor frames (0: none)
    unsigned gdt_nr_frames = 0;
    u64 gdt_entries = 0;
    u64 ldt_base = 0;             // MMUEXT_SET_LDT: the guest's linear base and entry count
    u64 ldt_ents = 0;
    ldt::Shadow ldt_shadow;       // the frames mapped so far into this CPU's LDT window
    u64 debugreg[8] = {};        // DR0-3, DR6, DR7 as the guest set them
    TrapFrame* frame = nullptr;  // the guest's registers during a hypercall (top of the stack)
    HypercallState hcall;

    // Time, timers and blocking (vcpu_time.cpp).
    Timer singleshot_timer;           // set_timer_op / VCPUOP_set_singleshot_timer
    Timer periodic_timer;             // VCPUOP_set_periodic_timer (100 Hz by default, as Xen)
    Timer poll_timer;                 // SCHEDOP_poll's timeout
    u64 periodic_period = 0;          // ns; 0: no periodic timer
    u64 periodic_last_event = 0;
    std::atomic<bool> blocked{false};  // SCHEDOP_block/poll: waiting for an event
    std::atomic<bool> polling{false};  // SCHEDOP_poll: waiting for poll_port (or any, if -1)
    i64 poll_port = 0;
    vcpu_runstate_info_t runstate{};  // RUNSTATE_*, as the hypervisor keeps it
    u64 runstate_guest = 0;           // guest address of its runstate copy (0: none)
    bool runstate_update_pending = false;  // the copy waits for guest kernel mode

    // Scheduling (sched.cpp).  Runnable = up, not blocked, not paused; the credit scheduler is
    // told each time that changes (under state_lock).
    VcpuUnit unit;
    Spinlock state_lock;
    bool down = true;              // not brought up yet, or VCPUOP_down (Xen's _VPF_down)
    bool initialised = false;      // has a context (Xen's is_initialised)
    u32 pause_count = 0;           // this vCPU's own pauses (its domain's shutdown); under state_lock
    bool sched_awake = false;      // what the scheduler was last told
    std::atomic<bool> is_running{false};  // on a CPU (its state in the CPU, not here)
    std::atomic<int> sched_in{0};  // switched in and the scheduler not yet told its context is saved
    unsigned processor = 0;        // the pCPU it runs or last ran on
    // The state a context switch saves and restores besides regs (Xen's save_segments and
    // the FPU): the guest's data segment selectors and its FPU/SSE state (FXSAVE format).
    u16 ds = 0, es = 0, fs = 0, gs = 0;
    u64 switches = 0;              // times switched in (sched.cpp: is the CPU's copy current?)
    alignas(16) u8 fpu[512] = {};
    // Xen's fpu_initialised: fpu holds state the guest gave (setvcpucontext with VGCF_i387_valid)
    // or left (it has run); getvcpucontext says VGCF_i387_valid only then.
    bool fpu_initialised = false;
};

enum class DomainState : u8 { building, running, shut_down, crashed };

}  // namespace pv::arch::pv
namespace pv {
class EventChannels;
struct AcpiInfo;
struct BootInfo;
}
struct xen_domctl_getdomaininfo;  // core/xen_ctl.hpp
namespace pv::arch::pv {

struct PvDomain {
    domid_t id = 0;
    bool privileged = false;
    std::atomic<u64> mcg_status{0};  // the virtual MCG_STATUS (emulate.cpp's vMCE)
    DomainState state = DomainState::building;
    u8 shutdown_reason = 0;
    // The reason reported: the first one set, by SCHEDOP_shutdown_code or the shutdown itself
    // (Xen's shutdown_code; NO_SHUTDOWN_CODE until set).
    static constexpr u32 NO_SHUTDOWN_CODE = ~u32{0};
    u32 shutdown_code = NO_SHUTDOWN_CODE;
    // Life under the control interface (domain.cpp; Xen's struct domain fields of those names).
    Spinlock shutdown_lock;
    bool shutting_down = false;            // its vCPUs are paused for the shutdown
    bool shut_down = false;                // ... and that is final (XEN_DOMINF_shutdown)
    enum class Dying : u8 { alive, dying, dead };
    Dying dying = Dying::alive;            // destroydomain's progress
    std::atomic<u32> pause_count{0};       // domain_pause()s in force: no vCPU runs
    std::atomic<u32> controller_pause_count{0};  // pausedomain's count (1 from createdomain); changed under the domctl lock
    bool creation_finished = false;        // the controller's count first went to 0
    u32 cdf_flags = 0;                     // createdomain's XEN_DOMCTL_CDF_*
    u32 ssidref = 0;
    xen_domain_handle_t handle = {};
    i64 time_offset = 0;                   // settimeoffset: seconds added to the wallclock
    // The end of destruction: domain_kill is done with it (1) and its last frame went (2), in
    // either order; whoever completes the pair frees it.  expect_drain: frames were charged
    // when it started dying, so the drained hook will come.
    std::atomic<u8> teardown{0};
    bool expect_drain = false;
    PvDomain* reap_next = nullptr;  // on the list of drained domains waiting to be freed
    u64 nr_pages = 0;   // frames charged to the domain (Xen's tot_pages; memory.cpp)
    u64 max_pages = 0;
    // Guards nr_pages, max_pages and is_dying (Xen's page_alloc_lock); once is_dying is set
    // (by mmu_relinquish) no frame joins the domain any more.  relinquish_next: where
    // mmu_relinquish's sweep of the frame table resumes; frames_lo/hi: the lowest and highest
    // MFN mmu_assign ever gave the domain, the only span the sweep needs to cover.
    Spinlock page_alloc_lock;
    bool is_dying = false;
    u64 relinquish_next = 0;
    std::atomic<u64> frames_lo{~u64{0}}, frames_hi{0};
    u64* p2m = nullptr;  // the hypervisor's own record: pfn -> mfn (the guest keeps its own copy)
    shared_info_t* shared_info = nullptr;
    u64 shared_info_mfn = 0;
    unsigned long vm_assist = 0;
    EventChannels* evtchn = nullptr;  // core/evtchn.hpp
    struct DomainPirqs* pirqs = nullptr;  // its physical IRQs (physdev.cpp), from the first map
    bool pirqs_closed = false;            // dying: no pirq is mapped any more (physdev.cpp)
    struct DomainGrants* grants = nullptr;  // its grant table and maptrack (grant.cpp)
    // Grant-table frames lent to the dying domain and not freed yet (not in nr_pages, like
    // shared_info); set when its table is released, under page_alloc_lock.
    u32 gnttab_frames_left = 0;
    // The pseudo-physical memory map a toolstack gave it (XENMEM_set_memory_map, memory_map.cpp:
    // nr_e820 entries of Xen's struct e820entry, from the heap); none until then.
    Spinlock e820_lock;
    ::pv::E820Out* e820 = nullptr;
    u32 nr_e820 = 0;
    static constexpr unsigned MAX_VCPUS = 128;  // Xen's HVM_MAX_VCPUS bound, as for PV (the VIRQ table's rows)
    unsigned max_vcpus = 0;
    PvVcpu* vcpu[MAX_VCPUS] = {};  // vcpu[0 .. max_vcpus) exist
    sched::CreditDomain sdom;
};

// Creating, pausing, shutting down and destroying domains (domain.cpp).  domain_create makes an
// empty domain (shared_info, event channels, the scheduler's record, nr_vcpus vCPUs) and enters
// it in the table; domctl createdomain gives nr_vcpus 0 (XEN_DOMCTL_max_vcpus makes them).
struct DomainConfig {
    domid_t id;
    bool privileged;
    unsigned max_vcpus;
    unsigned nr_vcpus;          // created now
    evtchn_port_t max_evtchn_port;
    bool start_paused;          // held by the controller's pause until unpausedomain
    u32 max_grant_frames = 64;        // Xen's defaults (gnttab_max_frames, gnttab_max_maptrack_frames)
    u32 max_maptrack_frames = 1024;
};
Result<PvDomain*> domain_create(const DomainConfig& c);
// Creates vCPUs [0, n) that do not exist yet (XEN_DOMCTL_max_vcpus).
Result<void> domain_create_vcpus(PvDomain& d, unsigned n);
// Xen's domain_pause (no vCPU of d runs when it returns: each is asleep and its context saved)
// and domain_unpause.  Never on the caller's own domain.
void domain_pause(PvDomain& d);
void domain_unpause(PvDomain& d);
// pausedomain / unpausedomain: the controller's count (Xen's _by_systemcontroller).
long domain_pause_by_controller(PvDomain& d);
long domain_unpause_by_controller(PvDomain& d);
// destroydomain (Xen's domain_kill): 0 when d is gone; -EINVAL for the caller's own domain;
// 1 when preempted (call again, from a continuation).
long domain_kill(PvVcpu& caller, PvDomain& d);
// Frees the dead domains whose last frame went since (under the domctl lock: one grace period
// at a time, and never inside the memory path that dropped the frame).
void domain_reap();
// The global VIRQ_DOM_EXC to domain 0 (a domain shut down or died).
void send_dom_exc();
// Returns every frame of a dying domain's (no vCPU of d runs, its vCPUs' page-table, GDT and
// vcpu_info references are already dropped): true when done, false when it stopped early to let
// the caller preempt (called again until true).  Every frame mmu_assign gave d goes back to the
// allocator, including its shared_info page, now or at the last put of a reference held
// elsewhere (a foreign mapping).  The memory part of domain destruction (mmu.cpp/memory.cpp).
bool mmu_relinquish(PvDomain& d);
// getdomaininfo's record of d (domctl.cpp).
void domain_info(const PvDomain& d, xen_domctl_getdomaininfo& info);
// Drops the writable type reference mmu_get_writable took.
void mmu_put_writable(u64 mfn);

// The domain table (domain_table.cpp): domains by id, from creation to destruction.
bool domain_insert(PvDomain& d);  // false: the id is taken or reserved
void domain_remove(PvDomain& d);
PvDomain* domain_find(domid_t id);
PvDomain* domain_next(domid_t first);

inline bool architectural_iopl(const PvDomain& d) { return d.vm_assist & (1ul << VMASST_TYPE_architectural_iopl); }
// The ring the guest kernel counts as for IOPL checks: 1, or 0 under architectural_iopl.
inline unsigned virtual_cpl(const PvVcpu& v) { return !v.kernel_mode ? 3 : architectural_iopl(*v.domain) ? 0 : 1; }
// CR0 and CR4 as the vCPU sees them (MOV from CR, getvcpucontext's ctrlreg[0] and [4], as Xen):
// the real CR0 with the vCPU's virtual TS; of CR4, PAE, OSFXSR and OSXMMEXCPT (emulate.cpp).
u64 guest_cr0(const PvVcpu& v);
u64 guest_cr4(const PvVcpu& v);
// CPUID leaf/sub as a PV guest sees it (cpuid.cpp).
void pv_cpuid(u32 leaf, u32 sub, CpuidResult& r);
// This CPU's features in Xen's featureset order (the FEATURESET_* words, unfiltered), the first
// n words: what Xen's physinfo reports as hw_cap (its boot CPU's x86_capability).
void host_featureset(u32* out, unsigned n);
// The bits of a CR4 value a PV guest may set (the rest of what it writes is dropped, as Xen's
// pv_fixup_guest_cr4 does), and loading the CR4 the hardware runs v with (one CR4 read, a write
// only when TSD changes).
u64 cr4_guest_bits(u64 cr4);
void load_guest_cr4(const PvVcpu& v);

// Builds domain 0 from the kernel (and optional initrd) boot modules, as Xen's dom0 builder
// lays it out (xen-pv-abi.md §1).  Errors are reported on the console; false means no domain.
struct Dom0Input {
    const u8* kernel;
    usize kernel_len;
    const u8* initrd;  // nullptr: none
    usize initrd_len;
    const char* cmdline;
    u64 mem_bytes;  // dom0_mem, resolved
    unsigned nr_vcpus;  // dom0_max_vcpus, resolved (vCPU 0 up, the others down)
};
PvDomain* build_dom0(const Dom0Input& in);

// Runs vCPU 0 of the domain on this CPU; never returns.
[[noreturn]] void start_domain(PvDomain& d);

// The global, read-only machine-to-phys table guests see at MACH2PHYS_VIRT_START.
void m2p_init(u64 max_mfn);
void m2p_set(u64 mfn, u64 pfn);
u64 m2p_l3_table();  // physical address of the L3 shared by every guest's slot 256
// The M2P is built of 2 MiB pieces of contiguous frames: how many, and piece i's first frame.
u64 m2p_nr_chunks();
u64 m2p_chunk_mfn(u64 index);

void install_syscall_stub(unsigned cpu, u64 stack_block);

// The PV MMU (mmu.cpp): frames are assigned to a domain before its tables are validated.
Result<void> mmu_assign(PvDomain& d, u64 mfn);
// Widens d's frames_lo/hi to cover mfn, a frame given to d other than by mmu_assign (the grant
// table's own frames).
void mmu_cover_frame(PvDomain& d, u64 mfn);
// Pins the L4 and makes it the vCPU's root (holding the references a root holds).
Result<void> mmu_pin_root(PvDomain& d, u64 l4_mfn);
// The hypervisor's L4 slots (256-271, with the M2P in 256) for a guest L4.
void fill_hypervisor_l4_slots(u64* l4);
// d gives up frame mfn (decrease_reservation): EINVAL when it is not d's.
Result<void> mmu_release(PvDomain& d, u64 mfn);
// XENMEM_exchange's input frames (PvMmu::take_away): d gives up mfn if only its allocation
// reference holds it (EINVAL otherwise); then mmu_put_taken frees it or mmu_give_back returns it.
Result<void> mmu_take_away(PvDomain& d, u64 mfn);
void mmu_give_back(u64 mfn);
void mmu_put_taken(u64 mfn);
// release() on every frame of d's among machine frames [first, first + nr) (mmu_relinquish's
// sweep, in chunks); the frame table's size.
void mmu_release_range(PvDomain& d, u64 first, u64 nr);
u64 mmu_nr_frames();

// memory_op's command word (Xen's xen/hypercall.h, guest-visible through continuations yet not
// in the public headers): the command in the low bits, the extent a continuation resumes from
// above them.
inline constexpr unsigned MEMOP_EXTENT_SHIFT = 6;
inline constexpr u64 MEMOP_CMD_MASK = (u64{1} << MEMOP_EXTENT_SHIFT) - 1;
// A domain's memory (memory.cpp).  XENMEM_increase/decrease_reservation and populate_physmap
// (op, the start extent from the command's upper bits, the guest's xen_memory_reservation), and
// current/maximum_reservation.
long memory_reservation_op(PvVcpu& v, unsigned op, u64 start_extent, u64 arg);
long memory_reservation_query(PvVcpu& v, unsigned op, u64 arg);
long memory_exchange(PvVcpu& v, u64 arg);
// The last reference to a frame of owner's went (the MMU environment's free_frame).
void memory_frame_freed(u64 mfn, Owner owner);
// After mmu_relinquish (declared above, with domain.cpp's contract) d's frames may still be
// referenced elsewhere (domain 0's foreign mappings): they stay charged to d (nr_pages > 0) and
// name its Owner, so d must stay in the domain table, its domid taken, until nr_pages is 0.  The
// put of its last frame, counting its shared_info page (uncharged, but owned and named by the
// domain too; shared_info_mfn becomes 0 when it goes), calls the hook given here (on whichever
// CPU drops it, no lock held), where the domain's record may go.  A domain has nothing left
// when nr_pages == 0 && shared_info_mfn == 0 && gnttab_frames_left == 0.
void mmu_on_drained(void (*hook)(PvDomain&));
struct HypercallArgs {
    u64 a1, a2, a3, a4, a5;
};
// Hypercall continuations (continuation.cpp; Xen's hypercall_create_continuation).  A long
// hypercall polls hypercall_preempt_check between items (never before the first, so each round
// makes progress) and, when it says yes, rewrites its own arguments with create_continuation
// and returns what that returns: the guest re-executes the call, with the new arguments, once
// the pending interrupt or event has been dealt with.
bool hypercall_preempt_check(PvVcpu& v);
long create_continuation_array(PvVcpu& v, unsigned op, const u64* args, unsigned nr_args);
template <typename... Args> long create_continuation(PvVcpu& v, unsigned op, Args... args) {
    const u64 values[] = {static_cast<u64>(args)...};
    return create_continuation_array(v, op, values, sizeof...(Args));
}
long do_mmu_update(PvVcpu& v, const HypercallArgs& a);
long do_mmuext_op(PvVcpu& v, const HypercallArgs& a);
long do_update_va_mapping(PvVcpu& v, const HypercallArgs& a);
long do_update_va_mapping_otherdomain(PvVcpu& v, const HypercallArgs& a);
long do_set_gdt(PvVcpu& v, const HypercallArgs& a);
long do_event_channel_op(PvVcpu& v, const HypercallArgs& a);
long do_domctl(PvVcpu& v, const HypercallArgs& a);   // domctl.cpp
long do_grant_table_op(PvVcpu& v, const HypercallArgs& a);  // grant.cpp
// A domain's grant table (grant.cpp): made with the domain (ENOMEM); at death its mappings of
// others' grants and then its table frames released (before relinquish); freed with the record.
Result<void> gnttab_domain_init(PvDomain& d, u32 max_grant_frames, u32 max_maptrack_frames);
void gnttab_domain_release(PvDomain& d);
void gnttab_domain_free(PvDomain& d);
// Whether mfn is one of d's grant-table frames (lent, not charged; never given back by
// decrease_reservation).
bool gnttab_is_table_frame(PvDomain& d, u64 mfn);
long do_sysctl(PvVcpu& v, const HypercallArgs& a);   // sysctl.cpp
long do_platform_op(PvVcpu& v, const HypercallArgs& a);  // platform.cpp
long do_mca(PvVcpu& v, const HypercallArgs& a);          // platform.cpp
void domctl_reap();  // domain_reap under the domctl lock, unless it is busy (domctl.cpp)
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
bool mmu_get_writable(PvDomain& d, u64 mfn);
bool mmu_is_l1_table(const PvDomain& d, u64 mfn);
bool mmu_write_entry(PvDomain& d, u64 table_mfn, unsigned index, u64 val);
// Carries out a guest kernel's write to one of its read-only L1 tables (writable_pagetables);
// true when done and the guest may resume after the instruction.
bool emulate_pt_write(PvVcpu& v, TrapFrame& f, u64 cr2);
long do_update_descriptor(PvVcpu& v, const HypercallArgs& a);
// A #PF at cr2 in this CPU's LDT window for the running vCPU (an implicit descriptor access, not
// a user access): maps the guest's LDT page there (Xen's handle_ldt_mapping_fault).  From guest
// mode it always returns true: mapped (retry), or the fault went to the guest as #PF at the LDT
// linear address or #GP(selector) if that is not canonical.  From hypervisor mode it returns
// false when the page cannot be mapped (the caller's fixup or fatal path decides).
bool ldt_fault(TrapFrame& f, u64 cr2, bool guest_mode);
// Drops the LDT window's mappings and frame references (Xen's pv_destroy_ldt).
void destroy_ldt(PvVcpu& v);
// Maps v's GDT frames into this CPU's GDT window (the rest: the zero page).
void map_guest_gdt(PvVcpu& v);

// Called from trap_dispatch for an exception or interrupt that arrived from guest mode.
void guest_trap(TrapFrame& f);
// Delivers exception `vector` to the guest's handler from its trap table, as a bounce frame on
// the guest kernel stack (xen-pv-abi.md §2.4).  Crashes the domain when there is no handler or
// the frame cannot be written.
void inject_exception(PvVcpu& v, TrapFrame& f, unsigned vector, bool has_error_code, u64 error_code);
// #PF for the guest with the given error code (its U bit set from the virtual mode) and CR2.
void inject_page_fault(PvVcpu& v, TrapFrame& f, u64 error_code, u64 cr2);
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

// vCPU time, timers and blocking (vcpu_time.cpp).  System time is nanoseconds since boot
// (Xen's NOW()).
void vcpu_time_init(PvVcpu& v);       // at creation: timers, 100 Hz periodic, runstate offline
void publish_time(PvVcpu& v);         // vcpu_info.time from the TSC's current scale
void publish_wallclock(PvDomain& d);  // shared_info's wallclock (wc_*)
long vcpu_set_timer_op(PvVcpu& v, i64 timeout);
long vcpu_set_periodic(PvVcpu& v, u64 period_ns);  // 0: stop
void vcpu_set_singleshot(PvVcpu& v, u64 when_ns);
void vcpu_stop_singleshot(PvVcpu& v);
// SCHEDOP_block: events enabled, then wait until one needs delivery.
void vcpu_block(PvVcpu& v);
// SCHEDOP_poll (the sched_poll_t read from the guest): 0 or -errno.
long vcpu_poll(PvVcpu& v, u64 ports, u32 nr_ports, u64 timeout);
// A vCPU's evtchn_upcall_pending went 0 -> 1 (Xen's vcpu_kick), or port became pending.
void vcpu_kick(PvVcpu& v);
void vcpu_wake_pollers(PvDomain& d, evtchn_port_t port);
// The runstate as VCPUOP_get_runstate_info reports it; a new guest runstate area.
vcpu_runstate_info_t vcpu_runstate_get(const PvVcpu& v);
long vcpu_register_runstate_area(PvVcpu& v, u64 guest_va);
// On entry to guest kernel mode: a runstate copy deferred while the guest was in user mode.
void vcpu_runstate_catch_up(PvVcpu& v);
// Event channels (events.cpp): raise a VIRQ at a vCPU of the domain; is port pending (1), not
// (0), or not a valid port (-EINVAL)?
void send_virq(PvVcpu& v, u32 virq);
// XENMEM_machine_memory_map (machine_map.cpp): the firmware map with domain 0's denied MMIO,
// set up once at boot.
void machine_map_init(const ::pv::BootInfo& bi, const ::pv::AcpiInfo& acpi);
// The MADT's processor ids for XENPF_get_cpuinfo (platform.cpp); acpi must outlive the calls.
void platform_init(const ::pv::AcpiInfo& acpi);
// The non-RAM frames domain 0 may map read-only only: the HPET (machine_map.cpp).
bool machine_map_read_only(u64 mfn);
// MCG_CAP as the vMCE answers it (emulate.cpp).
u64 vmce_mcg_cap();
long machine_memory_map(PvVcpu& v, u64 arg);
// Whether machine frame mfn is MMIO domain 0 may not map (what machine_map_init denied).
bool machine_map_denied(u64 mfn);
// XENMEM_set_memory_map and XENMEM_memory_map (memory_map.cpp): a domain's pseudo-physical map,
// as its toolstack sets it (libxl: one RAM entry up to maxmem); memory_map_free at destruction.
long set_memory_map(PvVcpu& v, u64 arg);
long memory_map(PvVcpu& v, u64 arg);
void memory_map_free(PvDomain& d);
// Serial input (console_input.cpp): COM1's receive interrupt on `irq` (0: none), Ctrl-<switch>
// x3 switching between the hypervisor's debug keys and domain 0, which gets the input from
// now if to_dom0; console_input_read: domain 0's characters (CONSOLEIO_read).
void console_input_init(const ::pv::AcpiInfo& acpi, u8 irq, char switch_char, bool to_dom0);
usize console_input_read(char* buf, usize max);
// Physical IRQs (physdev.cpp): the GSIs (ISA IRQ 0's and COM1's serial_irq's are the
// hypervisor's) at boot; PHYSDEVOP_map_pirq, unmap_pirq, setup_gsi, irq_status_query, eoi,
// pirq_eoi_gmfn_v2 and alloc_irq_vector (-ENOSYS for other commands); EVTCHNOP_bind_pirq's
// checks, bind and unbind (events.cpp's Env, with d's event-channel lock held); at domain
// destruction, after its event channels are closed (lines and EOI page released, no mapping
// from then on), and when its record is freed (the table's memory).
void physdev_init(const ::pv::AcpiInfo& acpi, u8 serial_irq);
long do_physdev_pirq_op(PvVcpu& v, u64 cmd, u64 arg);
Result<void> physdev_pirq_check(PvDomain& d, u32 pirq);
Result<void> physdev_pirq_bind(PvDomain& d, u32 pirq, evtchn_port_t port);
void physdev_pirq_unbind(PvDomain& d, u32 pirq);
void physdev_destroy_domain(PvDomain& d);
void physdev_free_domain(PvDomain& d);
long evtchn_port_poll(PvDomain& d, evtchn_port_t port);

// vCPUs and scheduling (vcpu.cpp, sched.cpp).
// Creates vCPU id of d (down, no context); false when out of memory.
bool vcpu_create(PvDomain& d, unsigned id);
// Makes the scheduler see v's runnability: after v went up/down, was (un)blocked or (un)paused.
void vcpu_wake(PvVcpu& v);
void vcpu_sleep(PvVcpu& v);
bool vcpu_runnable(const PvVcpu& v);
// The scheduler: init once with the CPUs it may use; each CPU then enters its idle loop, which
// runs whatever the scheduler chooses.
void sched_init(unsigned nr_cpus);
void sched_add_domain(PvDomain& d);
[[noreturn]] void sched_enter_cpu();
bool sched_ready();
// The control interface's view of the scheduler: credit parameters (XEN_DOMCTL_scheduler_op),
// vCPU affinity, the pCPUs it schedules.
Result<void> sched_adjust(PvDomain& d, u32 cmd, xen_domctl_sched_credit& p);
// XEN_SYSCTL_scheduler_op's credit part: the global tslice, ratelimit and migration delay.
Result<void> sched_adjust_global(u32 cmd, xen_sysctl_credit_schedule& p);
Result<void> sched_set_affinity(PvVcpu& v, const sched::CpuMask* hard, const sched::CpuMask* soft);
const sched::CpuMask& sched_hard_affinity(const PvVcpu& v);
const sched::CpuMask& sched_soft_affinity(const PvVcpu& v);
unsigned sched_nr_cpus();
// Leaves the current vCPU (paused, never to run again) for whatever the scheduler picks, on a
// fresh stack: nothing of the paths that led here resumes.
[[noreturn]] void sched_abandon_current();
// Waits until v is off every CPU with its context saved (after it stopped being runnable).
void sched_wait_descheduled(PvVcpu& v);
// Destruction: v (asleep, context saved) leaves the scheduler; then its domain does.
void sched_remove_vcpu(PvVcpu& v);
void sched_remove_domain(PvDomain& d);
// Asks this CPU to reschedule on its way back to the guest (Xen's SCHEDULE_SOFTIRQ).
void raise_schedule();
bool resched_pending();
// The way back to a guest from any entry (hypercall, exception, interrupt): reschedule if asked,
// then deliver a pending upcall.  f is the frame at the top of this CPU's stack.
void exit_to_guest(TrapFrame& f);
// SCHEDOP_yield.
void vcpu_yield(PvVcpu& v);
// Makes another CPU notice an upcall for the vCPU it runs (an IPI), or wakes v if blocked.
void vcpu_notify(PvVcpu& v);
// VCPUOP_initialise with a vcpu_guest_context from the guest, VCPUOP_up, VCPUOP_down.
long vcpu_initialise(PvVcpu& target, const vcpu_guest_context_t& ctx);
long vcpu_up(PvVcpu& target);
long vcpu_down(PvVcpu& caller, PvVcpu& target);

// Shuts a domain down with a reason (Xen's domain_shutdown): for domain 0 this ends the machine
// (power off, reboot, or halt); any other domain's vCPUs are paused, it is marked shut down with
// the first reason given, and domain 0 gets VIRQ_DOM_EXC.
void domain_shutdown(PvDomain& d, unsigned reason);
// The current vCPU's domain crashed: reported and shut down with SHUTDOWN_crash; this CPU never
// returns to the guest.
[[noreturn]] void domain_crash(PvDomain& d, const TrapFrame& f, const char* why);
// The hypercall page (xen-pv-abi.md §1.6) written into one page.
void fill_hypercall_page(u8* page);

}  // namespace pv::arch::pv
