// The attack suite's domU kernel (issue 9): one attack class per run, named by `attack=<class>`
// on its command line; guest/dom0test/attack.cpp builds one attacker after another beside a
// victim domU and judges each (guest/README.md, "The attack suite", lists the classes).
//
// An attack either expects refusals, each a check line named by the behaviour it expects (the
// attempt, then Xen's errno or grant status: `foreign_frames.map_victim_frame_EINVAL`), after
// which the domain powers off; or it expects the hypervisor to crash the attacker (its own
// domain only), in which case the kernel prints what it armed, tries, and if it is still alive
// afterwards says so and powers off, which domain 0 sees as a failure.
//
// What domain 0 tells the attacker (protocol.hpp) it writes into the attacker's console page
// before starting it.
#pragma once
#include "guest/attack/protocol.hpp"
#include "guest/lib/check.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"

namespace atk {

using namespace pvg;

// An address in Xen's own range (the direct map) and a non-canonical one.
inline constexpr u64 HYPERVISOR_ADDRESS = 0xffff830000000000ull;
inline constexpr u64 NONCANONICAL_ADDRESS = 0x0000800000000000ull;

inline const unsigned long* const m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);

// What domain 0 wrote for us (a copy, taken at start: main.cpp).
extern AttackParams g_params;
extern const start_info_t* g_si;
extern volatile shared_info_t* g_shared;

inline u64 va(const volatile void* p) { return reinterpret_cast<uptr>(p); }
inline u64 mfn_of_va(u64 v) { return reinterpret_cast<const xen_pfn_t*>(g_si->mfn_list)[(v - VIRT_BASE) >> PAGE_SHIFT]; }
inline u64 mfn_of(const volatile void* p) { return mfn_of_va(va(p)); }
inline u64 l4_mfn() { return mfn_of_va(g_si->pt_base); }

// The page table at `level` (4: the L4) on the walk to `addr`, by its mfn; 0 if not present.
u64 table_mfn(u64 addr, unsigned level);
// The L1 entry mapping `addr` and its machine address (0 if none).
u64 l1e_of(u64 addr, u64* maddr = nullptr);

// `name` + "_" + the errno's name: a check that `rc` is that -errno (or 0: "_ok").
bool expect_rc(const char* name, long rc, long expected);
// The same for a grant operation's status (GNTST_*).
bool expect_gnt(const char* name, i16 status, i16 expected);

// The attack classes (mmu.cpp, cpu.cpp, cross.cpp).  Each returns when its checks are done; the
// crash classes do not return when the hypervisor behaves.
void pt_writable_direct();
void pt_writable_linear();
void pt_writable_grant();
void foreign_frames();
void gdt_writable_alias();
void bad_descriptors();
void sysret_noncanonical();
void movss_debug();
void trap_handler_hv_range();
void vcpu_areas();
void bounce_stack_unmapped();
void bounce_stack_hv_range();
void grant_foreign();
void grant_copy();
void grant_unmap_stale();
void grant_held_at_death();
void memory_exchange();
void evtchn_foreign();
void control_ops();
void timer_flood();
void event_flood();

// cpu.cpp: installs the trap table and event callback every attack may need; 0 or -errno.
long install_traps();

// A trap the attack caused and recovered from (cpu.cpp): the handler records it and resumes at
// the point `guarded_call` saved.
struct TrapRecord {
    u64 count, vector, error, rip, cr2;
};
extern volatile TrapRecord g_trap;
extern volatile u64 g_upcalls;
// Runs fn(arg) with the handler armed: any trap ends it and returns 1, else 0.
extern "C" u64 guarded_call(void (*fn)(u64), u64 arg);

}  // namespace atk
