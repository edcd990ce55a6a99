// pvtest's shared state and helpers: what the boot-contract checks learn (start_info, the p2m)
// and the page-table walking every later group needs.  main.cpp fills the state in; the check
// groups in the other files use it.
#pragma once
#include "guest/lib/check.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"
#include "guest/lib/time.hpp"

namespace pvt {

using namespace pvg;

// An address inside Xen's own range (the direct map), never accessible to a guest.
constexpr u64 HYPERVISOR_ADDRESS = 0xffff830000000000ull;
// A canonical guest address below everything the builder maps.
constexpr u64 UNMAPPED_ADDRESS = 0x1000;
constexpr u64 NONCANONICAL_ADDRESS = 0x0000800000000000ull;

inline const unsigned long* const m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);

// Set by the boot-contract checks, used by the later ones.
inline constinit const start_info_t* g_si = nullptr;
inline constinit const xen_pfn_t* g_p2m = nullptr;
inline constinit u64 g_nr_pages = 0;
inline constinit bool g_page_filled = false;
// Where check_shared_info mapped the shared info page (null until then).
inline constinit volatile shared_info_t* g_shared = nullptr;

inline u64 va(const volatile void* p) { return reinterpret_cast<uptr>(p); }
inline u64 pfn_of(const volatile void* p) { return (va(p) - VIRT_BASE) >> PAGE_SHIFT; }
inline u64 mfn_of(const volatile void* p) { return g_p2m[pfn_of(p)]; }
inline u64 maddr_of(const volatile void* p) { return (mfn_of(p) << PAGE_SHIFT) | (va(p) & 4095); }
inline u64 kernel_l4_mfn() { return g_p2m[(g_si->pt_base - VIRT_BASE) >> PAGE_SHIFT]; }

template <typename T> T read_once(const T* p) { return *static_cast<const volatile T*>(p); }

// The page-table walk over the bootstrap tables (main.cpp).  The guest sees machine frame
// numbers in its page tables; a frame of the bootstrap region is readable at
// VIRT_BASE + (its pseudo-physical frame << 12), found via the M2P.
const u64* table_va(u64 entry);
// The L1 entry mapping `addr` in the bootstrap page tables, or 0 if the walk fails; with
// l1e_maddr, also the entry's machine address.
u64 l1e_of(u64 addr, u64* l1e_maddr = nullptr);
// Where that L1 entry can be read (read-only mapped, as all bootstrap page tables), or null.
u64* l1e_ptr(u64 addr);

// Remaps one page of the bootstrap region read-only or read-write (update_va_mapping with the
// current L1 entry's other bits); the hypercall's result.
long remap_page(const volatile void* page, bool writable);

// System time (ns since the hypervisor booted) from vCPU 0's vcpu_info.time and the TSC, as a
// PV kernel computes it (shared info must be mapped).
inline u64 system_time_ns() { return vcpu_system_time_ns(g_shared->vcpu_info[0].time); }

// vCPU 0's arch.cr2, as Xen writes it on delivering a #PF (0 while shared info is unmapped).
inline u64 vcpu0_cr2() { return g_shared ? g_shared->vcpu_info[0].arch.cr2 : 0; }
inline u8 vcpu0_upcall_mask() { return g_shared ? g_shared->vcpu_info[0].evtchn_upcall_mask : 0xff; }

// The check groups beyond main.cpp's, in the order guest_main runs them.
void check_hostile();            // hostile.cpp: refused or odd hypercall arguments
void check_descriptor_tables();  // desc.cpp: update_descriptor, set_gdt, selectors
void check_trap_kinds();         // cpu.cpp: the generic trap table, softints, #GP for int n
void check_priv_ops();           // cpu.cpp: privileged-instruction emulation
void check_fpu();                // cpu.cpp: virtual CR0.TS and #NM
void check_multicall_iret();     // hostile.cpp: an iret inside a multicall
void check_continuations();      // continuation.cpp: long lists, preempted and continued
void check_writable_pagetables();  // ptwr.cpp: emulated writes to read-only L1 pages
void check_user_mode();          // user.cpp: user page tables, syscall callback, user traps
void check_time();               // time.cpp: vCPU time, timers, SCHEDOP_poll/block, runstate
void check_vcpus();              // vcpus.cpp: a second vCPU, up/down, the failsafe callback
void check_reservations();       // memory.cpp: decrease/increase_reservation, populate_physmap
void check_grant_tables();       // grant.cpp: grant table v1 on domain 0's own grants

}  // namespace pvt
