// bench: the PV benchmark kernel (guest/bench).  It runs unmodified as domain 0 of pvisor and
// of Xen 4.17 and times the hypervisor's paths in TSC ticks; under QEMU with -icount shift=0 a
// tick is one guest instruction (or a nanosecond of halted time), so the figures are path
// lengths that can be compared between the two hypervisors.
//
// Each metric runs a warm-up, then N timed iterations, and prints one line (bench/run.py parses
// it; the order of the fields is fixed):
//     bench: <metric> median=<ticks> min=<ticks> max=<ticks> iters=<N>
//     bench: <metric> n/a (<why>)                 a metric this kernel cannot measure (yet)
//     bench: <metric> error (<detail>)            a hypercall refused what the metric needs
// framed by `bench: start` and `bench: done (<k> metrics)`; `bench: info:` lines are context.
//
// The files: main.cpp (setup, the hypercall metrics, reporting), mmu.cpp (page-table metrics),
// user.cpp (user mode: syscall and page-fault round trips), events.cpp (event channels, the
// second vCPU), domains.cpp (metrics with a second domain, and the partner domU this same
// kernel becomes when it is not domain 0), entry.S (the trap and callback entries, the
// user-mode loops).
#pragma once
#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"

namespace bench {

using namespace pvg;

constexpr u64 PTE_TABLE = PTE_P | PTE_RW | PTE_US | PTE_A;          // an upper-level entry
constexpr u64 PTE_DATA = PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;   // a user data page

// Pseudo-physical frames the kernel never touches, mapped by the page-table metrics (the
// domain must have at least MIN_PAGES: dom0_mem=64M gives 16384).
constexpr u64 POOL_TREE = 8192;    // 2048 frames: the L1s of the pinned tree
constexpr u64 POOL_UPD_A = 10240;  // 512 frames: mmu_update's first mapping
constexpr u64 POOL_UPD_B = 10752;  // 512 frames: and its second
constexpr u64 POOL_UVM = 11264;    // 1 frame: update_va_mapping's other mapping
constexpr u64 MIN_PAGES = 12288;

inline constinit const start_info_t* g_si = nullptr;
inline constinit volatile shared_info_t* g_shared = nullptr;

inline u64 va(const volatile void* p) { return reinterpret_cast<uptr>(p); }
inline u64 mfn_of_pfn(u64 pfn) { return reinterpret_cast<const xen_pfn_t*>(g_si->mfn_list)[pfn]; }
// For addresses in the bootstrap region (the image and its .bss), mapped from pfn 0 at VIRT_BASE.
inline u64 mfn_of(const volatile void* p) { return mfn_of_pfn((va(p) - VIRT_BASE) >> PAGE_SHIFT); }
inline u64 maddr_of(const volatile void* p) { return (mfn_of(p) << PAGE_SHIFT) | (va(p) & 4095); }

inline u64 rdtsc() {
    u32 lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return (u64{hi} << 32) | lo;
}

// The bootstrap L1 entry that maps `addr` (a kernel address), or null when the walk fails.
const u64* l1e_ptr(u64 addr);
// Remaps a page of the bootstrap region read-only (page tables must have no writable mapping);
// the result of update_va_mapping.
long make_readonly(const volatile void* page);

// One metric's timed samples.  `run` collects them; `report` prints the metric's line.
constexpr unsigned MAX_SAMPLES = 4096;
struct Samples {
    u64 v[MAX_SAMPLES];
    unsigned n;
};
extern Samples g_samples;
void report(const char* metric, Samples& s);
// The same for n samples at v (sorted in place).
void report(const char* metric, u64* v, unsigned n);
void report_error(const char* metric, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Times `iters` calls of body() after `warmup` untimed ones.  body() returns false on a failure
// (already reported), which ends the metric.
template <typename F> bool run(const char* metric, unsigned warmup, unsigned iters, F body) {
    for (unsigned i = 0; i < warmup; ++i)
        if (!body()) return false;
    g_samples.n = 0;
    for (unsigned i = 0; i < iters && i < MAX_SAMPLES; ++i) {
        u64 t0 = rdtsc();
        bool ok = body();
        u64 t1 = rdtsc();
        if (!ok) return false;
        g_samples.v[g_samples.n++] = t1 - t0;
    }
    report(metric, g_samples);
    return true;
}

// Sets up the kernel's traps and callbacks and maps shared info (main.cpp; both modes).
void setup();

// The groups, in the order main.cpp runs them.
void bench_mmu();     // mmu.cpp
void bench_user();    // user.cpp
void bench_events();  // events.cpp: event send -> upcall, then the vCPU ping-pong
// domains.cpp: footprint, then with `initrd` (this kernel's own ELF) as the partner domU the
// interdomain ping-pong, grant map+unmap and copy, domain create -> first instruction ->
// destroy.  two_cpus: only the ping-pong, the partner on another physical CPU than ours.
void bench_domains(const u8* initrd, usize size, bool two_cpus);
// domains.cpp: this kernel as a domU (not the initial domain), as its command line says.
[[noreturn]] void partner_main();

// Event plumbing (events.cpp).  The upcall handler counts, per vCPU, the events of the one port
// listen_on() names; block_until_event() blocks (SCHEDOP_block, which unmasks events) until
// that count moves past `before`.
long send(evtchn_port_t port);
void listen_on(unsigned vcpu, evtchn_port_t port);
u64 events_taken(unsigned vcpu);
void block_until_event(unsigned vcpu, u64 before);

}  // namespace bench
