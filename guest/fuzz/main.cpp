// fuzz: a PV hypercall fuzzer, run as domain 0 or as an unprivileged domU (issue 9).
//
// From the seed on its command line (`seed=N calls=N`, optional `trace=N`: print every call from
// index N on, and `target_mfns=A,B`: other domains' frames to aim at) it issues `calls` random
// hypercalls: every number 0..63 (but 23, HYPERVISOR_iret)
// and unknown ones, with random and adversarial arguments.  The sequence depends on the seed
// only, never on results, so a run replays exactly; the results go into a running checksum.
//
// What it must never do is end or wreck itself legitimately; every generator below is shaped
// by that rule:
//   * Pointers given to the hypervisor are of a few kinds only (ptr()): NULL, the hypervisor
//     range 0xffff800000000000-0xffff87ffffffffff, non-canonical, unmapped (low half, top GiB),
//     the "fill" page (random data, regenerated before every call; 8-aligned only) and its
//     unmapped guard page, or the read-only page tables.  None can make the hypervisor write to the fuzzer's own
//     memory except the fill page.
//   * Frame numbers and machine addresses in random data never name the fuzzer's own frames
//     (sanitize()); only the structured generators aim at its scratch frames: a scratch L1
//     (hooked into an unused slot of the bootstrap L2, so update_va_mapping can aim at the
//     2 MiB it maps, which nothing ever touches) and NSCRATCH scratch data frames.
//   * Lists the hypervisor walks (mmu_update, mmuext_op, multicall, set_gdt) are generated
//     whole in the "list" page, which an unmapped guard page follows, so a huge count faults
//     there instead of running into the kernel's memory.
//   * Never: SCHEDOP_shutdown, remote_shutdown or shutdown_code/watchdog on itself, iret,
//     set_trap_table with anything but a faulting pointer, callbacks other than its own,
//     MMUEXT_NEW_BASEPTR with a frame it owns, VCPUOP_down of vCPU 0, block or poll without a
//     timeout, the privileged operations that reconfigure the machine (platform_op, sysctl,
//     physdev, kexec, xenoprof, xenpmu, mca beyond read-only commands or a wrong interface
//     version, domctl on an existing domain), console writes of random bytes.
//
// Output: `fuzz: start`, `fuzz: info: ...`, a progress line every 10,000 calls with the call
// index and the running checksum, then `fuzz: verdict: PASS (<n> calls, checksum <x>)` and
// SCHEDOP_shutdown(poweroff).  An unexpected trap in the fuzzer prints the trap and the last
// call (index, number, arguments) and a FAIL verdict; so does a change to its own code pages
// (a sentinel word per page is compared after every call).
#include "guest/lib/builder/xen_tools.hpp"

#include <xen/kexec.h>
#include <xen/nmi.h>
#include <xen/arch-x86/xen-mca.h>
#include <xen/platform.h>

#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/console_ring.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"
#include "guest/lib/time.hpp"

using namespace pvg;

extern "C" {
void fuzz_trap_0();
void fuzz_trap_1();
void fuzz_trap_2();
void fuzz_trap_3();
void fuzz_trap_4();
void fuzz_trap_5();
void fuzz_trap_6();
void fuzz_trap_7();
void fuzz_trap_8();
void fuzz_trap_9();
void fuzz_trap_10();
void fuzz_trap_11();
void fuzz_trap_12();
void fuzz_trap_13();
void fuzz_trap_14();
void fuzz_trap_16();
void fuzz_trap_17();
void fuzz_trap_18();
void fuzz_trap_19();
void fuzz_event_entry();
void fuzz_syscall_entry();
void fuzz_failsafe_entry();
}

namespace {

constexpr unsigned NSCRATCH = 8;
constexpr u64 HV_START = 0xffff800000000000ull;
constexpr u64 HV_SIZE = 0x0000080000000000ull;

inline u64 va(const volatile void* p) { return reinterpret_cast<uptr>(p); }

// The list page, its guard, the fill page, its guard.
alignas(4096) constinit char g_area[4][4096];
char* const g_list = g_area[0];
char* const g_fill = g_area[2];
alignas(4096) constinit char g_shared_page[4096];

constinit const start_info_t* g_si = nullptr;
constinit volatile shared_info_t* g_shared = nullptr;
constinit u64 g_mfn_lo = 0, g_mfn_hi = 0;  // the range of the fuzzer's own frames
// Its own frames, sorted (a domU's are scattered, with other domains' frames between them).
constexpr u64 MAX_OWN_FRAMES = 32768;
constinit u64 g_own[MAX_OWN_FRAMES]{};
constinit u64 g_nown = 0;
// Other domains' frames to aim at (target_mfns= on the command line: a victim's).
constexpr unsigned MAX_TARGETS = 4;
constinit u64 g_targets[MAX_TARGETS]{};
constinit unsigned g_ntargets = 0;
constinit u64 g_scratch_l1 = 0;            // its mfn
constinit u64 g_scratch[NSCRATCH]{};       // data frames' mfns
constinit u64 g_window = 0;                // the VA the scratch L1 maps (2 MiB)
constinit u64 g_self_mfn = 0;              // some frame of the kernel image (for PTE values)

// splitmix64: the whole sequence comes from the seed.
constinit u64 g_rng = 0;
u64 rnd() {
    u64 z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
u64 below(u64 n) { return n ? rnd() % n : 0; }
bool chance(unsigned percent) { return below(100) < percent; }

// The call being issued, for the trap report.
struct Call {
    u64 nr, a[5];
};
constinit Call g_call{};
constinit u64 g_index = 0;
constinit u64 g_checksum = 0xcbf29ce484222325ull;
constinit u64 g_trace_from = ~0ull;

bool own_frame(u64 mfn) {
    if (mfn < g_mfn_lo || mfn > g_mfn_hi) return false;
    u64 lo = 0, hi = g_nown;
    while (lo < hi) {
        u64 mid = (lo + hi) / 2;
        if (g_own[mid] < mfn) lo = mid + 1;
        else hi = mid;
    }
    return lo < g_nown && g_own[lo] == mfn;
}

// A value that could name one of the fuzzer's frames (as an mfn, a maddr or a PTE, or in
// either 32-bit half) becomes a hypervisor-range address derived from it.
u64 sanitize(u64 v) {
    if (own_frame(v) || own_frame(v >> 12) || own_frame((v & PTE_ADDR) >> 12) || own_frame(v & 0xffffffff) ||
        own_frame((v & 0xffffffff) >> 12) || own_frame(v >> 32) || own_frame(v >> 44))
        return HV_START | (v & 0xffffffff0ull);
    return v;
}

// ---------------------------------------------------------------------------------------------
// Values.

enum PtrKind { P_NULL, P_HV, P_NONCANON, P_LOW, P_TOPGIB, P_FILL, P_FILL_EDGE, P_GUARD, P_PAGETABLE, P_WRAP, P_KINDS };

// A pointer the hypervisor may be handed: see the file comment.
u64 ptr_of(unsigned kind) {
    switch (kind) {
    case P_NULL: return 0;
    case P_HV: return HV_START + below(HV_SIZE);
    case P_NONCANON: return (chance(50) ? 0x0000800000000000ull : 0x8000000000000000ull) | (rnd() & 0x00007fffffffffffull);
    case P_LOW: return chance(30) ? below(0x10000) : (chance(50) ? 0x00007ffffffff000ull + below(4096) : below(1ull << 47));
    case P_TOPGIB: return 0xffffffffc0000000ull + below(1u << 30);
    // Into the fill page only 8-aligned: a struct read at an odd offset splices two words, and
    // the bytes of a hypervisor-range pointer shifted by two make a kernel address (a runstate
    // area registered that way had the hypervisor write over the fuzzer's code, seed 7).
    // Unaligned pointers are the other kinds.
    case P_FILL: return va(g_fill) + 8 * below(512);
    case P_FILL_EDGE: return va(g_fill) + 4096 - 8 * (1 + below(8));
    case P_GUARD: return va(g_area[3]) + below(4096);
    case P_PAGETABLE: return g_si->pt_base + below(4096);
    default: return chance(50) ? ~0ull - below(64) : 0xfffffffffffff000ull;
    }
}
u64 ptr() { return ptr_of(static_cast<unsigned>(below(P_KINDS))); }
// A pointer that always faults (no NULL, no fill, no page tables).
u64 bad_ptr() {
    static constexpr unsigned kinds[] = {P_HV, P_NONCANON, P_LOW, P_TOPGIB, P_GUARD, P_WRAP};
    return ptr_of(kinds[below(sizeof kinds / sizeof kinds[0])]);
}

// A domain id: self (0 or DOMID_SELF), a nonexistent one, a special one.
u64 domid() {
    switch (below(6)) {
    case 0: return 0;
    case 1: return DOMID_SELF;
    case 2: return 1 + below(0x7fef);
    case 3: return DOMID_FIRST_RESERVED + below(16);
    case 4: return 0xffff;
    default: return rnd() & 0xffff;
    }
}
// A domain id that is never the fuzzer (for what must not act on itself).
u64 other_domid() {
    u64 d;
    do d = domid(); while (d == 0 || d == DOMID_SELF);
    return d;
}

// A frame that is not the fuzzer's: another domain's (when it was given some), the hypervisor's
// first frames, one past the top of RAM, huge, random.
u64 foreign_mfn() {
    if (g_ntargets && chance(20)) return g_targets[below(g_ntargets)];
    switch (below(4)) {
    case 0: return sanitize(below(256));
    case 1: return sanitize(0x100000 + below(0x100000));
    case 2: return ~0ull - below(4);
    default: return sanitize(rnd() & ((1ull << 40) - 1));
    }
}
// A frame the structured generators aim at: mostly the scratch frames.
u64 target_mfn() {
    unsigned c = static_cast<unsigned>(below(10));
    if (c < 5) return g_scratch[below(NSCRATCH)];
    if (c < 7) return g_scratch_l1;
    return foreign_mfn();
}

// A scalar worth trying: small, boundary, a power of two +-1, random.
u64 scalar() {
    switch (below(8)) {
    case 0: return below(8);
    case 1: return below(256);
    case 2: return ~0ull - below(4);
    case 3: return 0x7fffffffull + below(3);
    case 4: return (1ull << below(64)) - below(2);
    case 5: return rnd() & 0xffffffff;
    default: return rnd();
    }
}
u64 count() {
    switch (below(6)) {
    case 0: return 0;
    case 1: return 1 + below(8);
    case 2: return below(600);
    case 3: return 0x80000000ull + below(4);
    case 4: return ~0u - below(4);
    default: return rnd();
    }
}

// A random PTE value: a frame (its own, a scratch one, foreign) with random flags.
u64 pte() {
    u64 mfn;
    switch (below(5)) {
    case 0: mfn = g_self_mfn + below(16); break;
    case 1: mfn = g_si->pt_base ? (reinterpret_cast<const xen_pfn_t*>(g_si->mfn_list)[(g_si->pt_base - VIRT_BASE) >> 12]) : 0; break;
    case 2: mfn = target_mfn(); break;
    default: mfn = foreign_mfn(); break;
    }
    u64 flags = chance(50) ? (rnd() & 0xfff) | (rnd() & 0xfff0000000000000ull) : (PTE_P | (chance(50) ? PTE_RW : 0) | PTE_A);
    if (chance(5)) return rnd();
    return ((mfn << 12) & PTE_ADDR) | flags;
}

// Regenerates the fill page: scalars, pointers, domain ids, all sanitized.
void refill() {
    auto* w = reinterpret_cast<u64*>(g_fill);
    for (unsigned i = 0; i < 512; ++i) {
        u64 v;
        switch (below(6)) {
        case 0: v = ptr(); break;
        case 1: v = domid() | (domid() << 16) | (scalar() << 32); break;
        case 2: v = below(64) | (below(64) << 32); break;
        default: v = scalar(); break;
        }
        w[i] = sanitize(v);
    }
}

// ---------------------------------------------------------------------------------------------
// Calls.

u64 system_time() {
    return g_shared ? vcpu_system_time_ns(g_shared->vcpu_info[0].time) : 0;
}

void set(Call& c, u64 nr, u64 a0 = 0, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0) {
    c.nr = nr;
    c.a[0] = a0;
    c.a[1] = a1;
    c.a[2] = a2;
    c.a[3] = a3;
    c.a[4] = a4;
}

// The addresses update_va_mapping may aim at: the scratch window, or where nothing is mapped.
u64 uvm_va() {
    if (chance(60)) return g_window + (below(512) << 12) + (chance(10) ? below(4096) : 0);
    // Not the guard pages: their L1 entries are the kernel's own.
    static constexpr unsigned kinds[] = {P_HV, P_NONCANON, P_LOW, P_TOPGIB, P_WRAP};
    return ptr_of(kinds[below(sizeof kinds / sizeof kinds[0])]);
}

void gen_mmu_update(Call& c, u8* list, unsigned max) {
    auto* r = reinterpret_cast<mmu_update_t*>(list);
    for (unsigned i = 0; i < max; ++i) {
        u64 cmd = chance(90) ? below(3) : below(8);
        if (cmd == MMU_MACHPHYS_UPDATE) {
            r[i].ptr = (target_mfn() << 12) | cmd;
            r[i].val = scalar();
        } else {
            u64 mfn = target_mfn();
            u64 off = chance(90) ? 8 * below(512) : below(4096);
            r[i].ptr = ((mfn << 12) + off) | cmd;
            r[i].val = pte();
        }
    }
    u64 n = chance(80) ? 1 + below(max) : count();
    set(c, __HYPERVISOR_mmu_update, va(list), n, chance(50) ? ptr() : 0, chance(80) ? DOMID_SELF : domid());
}

void gen_mmuext(Call& c, u8* list, unsigned max) {
    auto* o = reinterpret_cast<mmuext_op_t*>(list);
    for (unsigned i = 0; i < max; ++i) {
        unsigned cmd = static_cast<unsigned>(chance(95) ? below(22) : scalar());
        o[i].cmd = cmd;
        // NEW_BASEPTR switches the kernel's own page tables: only with frames it does not own.
        o[i].arg1.mfn = cmd == MMUEXT_NEW_BASEPTR ? foreign_mfn() : target_mfn();
        if (cmd == MMUEXT_SET_LDT || cmd == MMUEXT_INVLPG_LOCAL || cmd == MMUEXT_INVLPG_ALL || cmd == MMUEXT_INVLPG_MULTI)
            o[i].arg1.linear_addr = chance(50) ? uvm_va() : ptr();
        o[i].arg2.nr_ents = static_cast<unsigned>(chance(50) ? below(16) : scalar());
        if (cmd == MMUEXT_TLB_FLUSH_MULTI || cmd == MMUEXT_INVLPG_MULTI)
            o[i].arg2.vcpumask.p = reinterpret_cast<void*>(ptr());
        if (cmd == MMUEXT_COPY_PAGE) o[i].arg2.src_mfn = chance(50) ? target_mfn() : g_self_mfn + below(16);
    }
    u64 n = chance(80) ? 1 + below(max) : count();
    set(c, __HYPERVISOR_mmuext_op, va(list), n, chance(50) ? ptr() : 0, chance(80) ? DOMID_SELF : domid());
}

void gen(Call& c, bool in_multicall);

void gen_multicall(Call& c) {
    auto* e = reinterpret_cast<multicall_entry_t*>(g_list);
    constexpr unsigned N = 4096 / sizeof(multicall_entry_t);
    for (unsigned i = 0; i < N; ++i) {
        Call sub{};
        if (chance(5)) {
            // Nested, self-referencing.
            set(sub, __HYPERVISOR_multicall, chance(70) ? va(g_list) + 64 * below(N) : ptr(), count());
        } else {
            gen(sub, true);
        }
        e[i].op = sub.nr;
        e[i].result = rnd();
        for (unsigned k = 0; k < 5; ++k) e[i].args[k] = sub.a[k];
        e[i].args[5] = scalar();
    }
    u64 list = chance(85) ? va(g_list) : bad_ptr();
    set(c, __HYPERVISOR_multicall, list, chance(80) ? below(N + 1) : count());
}

// sysctl/domctl/platform_op/mca: a struct in the fill page with its command and version.
u64 control_struct(u32 cmd, u32 version, bool version_ok) {
    auto* w = reinterpret_cast<u32*>(g_fill);
    w[0] = cmd;
    w[1] = version_ok ? version : version ^ (1u + static_cast<u32>(below(0xffff)));
    return va(g_fill);
}

void gen(Call& c, bool mc) {
    u64 nr;
    do {
        nr = chance(97) ? below(64) : (chance(50) ? 64 + below(64) : rnd());
    } while (nr == __HYPERVISOR_iret);
    c = {};
    c.nr = nr;
    switch (nr) {
    case __HYPERVISOR_set_trap_table:
        set(c, nr, bad_ptr());
        break;
    case __HYPERVISOR_mmu_update:
        if (mc) set(c, nr, chance(50) ? va(g_fill) : bad_ptr(), count(), ptr(), domid());
        else gen_mmu_update(c, reinterpret_cast<u8*>(g_list), 4096 / sizeof(mmu_update_t));
        break;
    case __HYPERVISOR_set_gdt: {
        if (!mc) {
            auto* f = reinterpret_cast<u64*>(g_list);
            for (unsigned i = 0; i < 16; ++i) f[i] = chance(50) ? target_mfn() : foreign_mfn();
        }
        set(c, nr, mc ? ptr() : (chance(80) ? va(g_list) : ptr()), chance(60) ? below(16 * 512) : count());
        break;
    }
    case __HYPERVISOR_stack_switch:
        set(c, nr, chance(50) ? FLAT_KERNEL_SS : scalar(), chance(50) ? ptr() : scalar());
        break;
    case __HYPERVISOR_set_callbacks:
        set(c, nr, va(reinterpret_cast<const void*>(&fuzz_event_entry)), va(reinterpret_cast<const void*>(&fuzz_failsafe_entry)),
            chance(50) ? va(reinterpret_cast<const void*>(&fuzz_syscall_entry)) : 0);
        break;
    case __HYPERVISOR_fpu_taskswitch:
        set(c, nr, scalar());
        break;
    case __HYPERVISOR_sched_op_compat:
        // 0 yield; 1 block, 2 shutdown, 4 remote_shutdown never.
        set(c, nr, chance(50) ? SCHEDOP_yield : 5 + below(1000), scalar());
        break;
    case __HYPERVISOR_platform_op: {
        static constexpr u32 ro[] = {XENPF_read_memtype, XENPF_firmware_info, XENPF_get_cpuinfo,
                                     XENPF_get_cpu_version, XENPF_getidletime, XENPF_get_symbol};
        bool ok = chance(50);
        u32 cmd = ok ? ro[below(sizeof ro / sizeof ro[0])] : static_cast<u32>(below(80));
        set(c, nr, mc ? bad_ptr() : control_struct(cmd, XENPF_INTERFACE_VERSION, ok));
        break;
    }
    case __HYPERVISOR_set_debugreg: {
        u64 reg = chance(90) ? below(8) : scalar();
        u64 v = chance(50) ? ptr() : scalar();
        if (static_cast<u32>(reg) == 7) v &= ~0xffull;  // no breakpoint enabled (reg is an int)
        set(c, nr, reg, v);
        break;
    }
    case __HYPERVISOR_get_debugreg:
        set(c, nr, chance(90) ? below(9) : scalar());
        break;
    case __HYPERVISOR_update_descriptor:
        set(c, nr, chance(70) ? (target_mfn() << 12) + (chance(80) ? 8 * below(512) : below(4096)) : sanitize(scalar()),
            chance(50) ? scalar() : 0x00cf9a000000ffffull ^ (rnd() & 0x00f0ff0000000000ull));
        break;
    case __HYPERVISOR_memory_op:
        set(c, nr, chance(90) ? below(32) : (below(32) | (scalar() << 6)), ptr());
        break;
    case __HYPERVISOR_multicall:
        if (mc) set(c, nr, chance(70) ? va(g_list) : ptr(), count());
        else gen_multicall(c);
        break;
    case __HYPERVISOR_update_va_mapping:
        set(c, nr, uvm_va(), pte(), chance(70) ? below(8) : (ptr() | below(8)));
        break;
    case __HYPERVISOR_set_timer_op:
        set(c, nr, chance(50) ? system_time() + below(1000000) : scalar());
        break;
    case __HYPERVISOR_event_channel_op_compat:
    case __HYPERVISOR_event_channel_op:
    case __HYPERVISOR_grant_table_op:
    case __HYPERVISOR_hvm_op:
    case __HYPERVISOR_xsm_op:
    case __HYPERVISOR_tmem_op:
    case __HYPERVISOR_argo_op:
    case __HYPERVISOR_hypfs_op:
        if (nr == __HYPERVISOR_event_channel_op_compat && !mc) reinterpret_cast<u32*>(g_fill)[0] = static_cast<u32>(below(16));
        set(c, nr, chance(80) ? below(32) : scalar(), ptr(), count(), ptr(), count());
        if (nr == __HYPERVISOR_event_channel_op_compat) c.a[0] = ptr();
        break;
    case __HYPERVISOR_xen_version:
        set(c, nr, chance(80) ? below(24) : scalar(), ptr());
        break;
    case __HYPERVISOR_console_io: {
        // Writes only from pointers that fault at once, or nothing: random bytes on the
        // console would break the log's lines.
        u64 cmd = chance(80) ? below(3) : scalar();
        if (static_cast<u32>(cmd) == CONSOLEIO_write)
            set(c, nr, cmd, chance(20) ? 0 : count(), chance(20) ? va(g_fill) : bad_ptr());
        else set(c, nr, cmd, count(), ptr());
        if (static_cast<u32>(cmd) == CONSOLEIO_write && c.a[2] == va(g_fill)) c.a[1] = 0;
        break;
    }
    case __HYPERVISOR_physdev_op_compat:
    case __HYPERVISOR_physdev_op: {
        static constexpr u32 ok[] = {PHYSDEVOP_eoi, PHYSDEVOP_irq_status_query, PHYSDEVOP_set_iopl,
                                     PHYSDEVOP_set_iobitmap, PHYSDEVOP_get_free_pirq};
        u32 cmd = chance(60) ? ok[below(sizeof ok / sizeof ok[0])] : static_cast<u32>(below(40));
        bool safe = cmd >= 32;
        for (u32 k : ok) safe |= k == cmd;
        if (nr == __HYPERVISOR_physdev_op_compat) {
            if (!safe || mc) set(c, nr, bad_ptr());
            else {
                reinterpret_cast<u32*>(g_fill)[0] = cmd;
                set(c, nr, va(g_fill));
            }
        } else {
            set(c, nr, cmd, safe ? ptr() : bad_ptr());
        }
        break;
    }
    case __HYPERVISOR_vm_assist:
        set(c, nr, chance(80) ? below(2) : scalar(), chance(80) ? below(8) : scalar());
        break;
    case __HYPERVISOR_update_va_mapping_otherdomain:
        set(c, nr, uvm_va(), pte(), chance(70) ? below(8) : (ptr() | below(8)), domid());
        break;
    case __HYPERVISOR_vcpu_op: {
        // Both are 32-bit for the hypervisor: compare truncated.
        u64 cmd = chance(90) ? below(16) : scalar();
        u64 vcpu = chance(70) ? 0 : (chance(50) ? 1 + below(4) : scalar());
        if (static_cast<u32>(cmd) == VCPUOP_down && static_cast<u32>(vcpu) == 0) vcpu = 1 + below(100);
        set(c, nr, cmd, vcpu, ptr());
        break;
    }
    case __HYPERVISOR_set_segment_base:
        set(c, nr, chance(80) ? below(4) : scalar(), chance(50) ? ptr() : scalar());
        break;
    case __HYPERVISOR_mmuext_op:
        if (mc) set(c, nr, chance(50) ? va(g_fill) : bad_ptr(), count(), ptr(), domid());
        else gen_mmuext(c, reinterpret_cast<u8*>(g_list), 4096 / sizeof(mmuext_op_t));
        break;
    case __HYPERVISOR_nmi_op:
        if (!mc && chance(50)) {
            auto* cb = reinterpret_cast<xennmi_callback_t*>(g_list);
            cb->handler_address = va(reinterpret_cast<const void*>(&fuzz_trap_2));
            cb->pad = 0;
            set(c, nr, XENNMI_register_callback, va(cb));
        } else {
            set(c, nr, chance(50) ? XENNMI_register_callback : 2 + below(100), bad_ptr());
        }
        break;
    case __HYPERVISOR_sched_op: {
        u64 cmd = chance(90) ? below(10) : scalar();
        switch (static_cast<u32>(cmd)) {  // an int for the hypervisor
        case SCHEDOP_shutdown:
        case SCHEDOP_shutdown_code:
        case SCHEDOP_watchdog:
            set(c, nr, cmd, bad_ptr());
            break;
        case SCHEDOP_remote_shutdown: {
            auto* r = reinterpret_cast<sched_remote_shutdown_t*>(g_fill);
            r->domain_id = static_cast<domid_t>(other_domid());
            r->reason = static_cast<unsigned>(below(8));
            set(c, nr, cmd, mc ? bad_ptr() : va(r));
            break;
        }
        case SCHEDOP_block:
            // Bounded: the caller arms a timer first (run()); not inside a multicall.
            set(c, nr, mc ? SCHEDOP_yield : cmd, ptr());
            break;
        case SCHEDOP_poll: {
            if (mc) {
                set(c, nr, cmd, bad_ptr());
                break;
            }
            auto* p = reinterpret_cast<sched_poll_t*>(g_list);
            p->ports.p = reinterpret_cast<evtchn_port_t*>(chance(80) ? va(g_fill) : ptr());
            p->nr_ports = static_cast<unsigned>(chance(80) ? below(8) : count());
            p->timeout = system_time() + 1 + below(200000);
            set(c, nr, cmd, va(p));
            break;
        }
        case SCHEDOP_pin_override: {
            if (!mc) {
                auto* p = reinterpret_cast<sched_pin_override_t*>(g_fill);
                p->pcpu = chance(50) ? -1 : static_cast<i32>(scalar());
            }
            set(c, nr, cmd, mc ? bad_ptr() : va(g_fill));
            break;
        }
        default:
            set(c, nr, cmd, ptr());
            break;
        }
        break;
    }
    case __HYPERVISOR_callback_op: {
        u64 cmd = chance(80) ? CALLBACKOP_register : (chance(50) ? CALLBACKOP_unregister : scalar());
        if (mc || !chance(70) || static_cast<u32>(cmd) != CALLBACKOP_register) {
            set(c, nr, cmd, bad_ptr());
            break;
        }
        auto* r = reinterpret_cast<callback_register_t*>(g_list);
        r->type = static_cast<u16>(chance(90) ? below(8) : scalar());
        r->flags = static_cast<u16>(rnd() & 1);
        const void* h = reinterpret_cast<const void*>(&fuzz_syscall_entry);
        if (r->type == CALLBACKTYPE_event) h = reinterpret_cast<const void*>(&fuzz_event_entry);
        if (r->type == CALLBACKTYPE_failsafe) h = reinterpret_cast<const void*>(&fuzz_failsafe_entry);
        if (r->type == CALLBACKTYPE_nmi) h = reinterpret_cast<const void*>(&fuzz_trap_2);
        r->address = va(h);
        set(c, nr, cmd, va(r));
        break;
    }
    case __HYPERVISOR_xenoprof_op:
        set(c, nr, chance(50) ? 0 : 64 + below(1000), bad_ptr());
        break;
    case __HYPERVISOR_sysctl: {
        static constexpr u32 ro[] = {XEN_SYSCTL_physinfo, XEN_SYSCTL_sched_id, XEN_SYSCTL_getdomaininfolist,
                                     XEN_SYSCTL_getcpuinfo, XEN_SYSCTL_availheap, XEN_SYSCTL_cputopoinfo,
                                     XEN_SYSCTL_numainfo, XEN_SYSCTL_pcitopoinfo};
        bool ok = chance(50);
        u32 cmd = ok ? ro[below(sizeof ro / sizeof ro[0])] : static_cast<u32>(below(40));
        set(c, nr, mc ? bad_ptr() : control_struct(cmd, XEN_SYSCTL_INTERFACE_VERSION, ok));
        break;
    }
    case __HYPERVISOR_domctl:
    case __HYPERVISOR_arch_1: {  // paging_domctl_cont takes a domctl too
        bool ok = chance(60);
        u32 cmd = static_cast<u32>(below(100));
        if (ok && cmd == XEN_DOMCTL_createdomain) cmd = XEN_DOMCTL_getdomaininfo;
        u64 p = mc ? bad_ptr() : control_struct(cmd, XEN_DOMCTL_INTERFACE_VERSION, ok);
        if (!mc) reinterpret_cast<u16*>(g_fill)[4] = static_cast<u16>(other_domid());
        set(c, nr, p);
        break;
    }
    case __HYPERVISOR_kexec_op:
        set(c, nr, chance(50) ? below(8) : 64 + below(1000), bad_ptr());
        break;
    case __HYPERVISOR_xenpmu_op: {
        u64 cmd = chance(50) ? (chance(50) ? 0 : 2) : below(16);  // XENPMU_mode_get, feature_get
        set(c, nr, cmd, cmd == 0 || cmd == 2 || cmd >= 8 ? ptr() : bad_ptr());
        break;
    }
    case __HYPERVISOR_dm_op:
        set(c, nr, domid(), count(), ptr());
        break;
    case __HYPERVISOR_arch_0:  // mca: never with the right interface version
        set(c, nr, mc ? bad_ptr() : control_struct(static_cast<u32>(below(16)), XEN_MCA_INTERFACE_VERSION, false));
        break;
    default:  // unknown or unused numbers
        set(c, nr, scalar(), ptr(), scalar(), ptr(), scalar());
        break;
    }
}

void print_call(const char* what, u64 index, const Call& c) {
    print("fuzz: %s call %llu: nr=%llu args=%#llx %#llx %#llx %#llx %#llx\n", what,
          static_cast<unsigned long long>(index), static_cast<unsigned long long>(c.nr),
          static_cast<unsigned long long>(c.a[0]), static_cast<unsigned long long>(c.a[1]),
          static_cast<unsigned long long>(c.a[2]), static_cast<unsigned long long>(c.a[3]),
          static_cast<unsigned long long>(c.a[4]));
}

long issue(const Call& c) {
    bool page = c.nr < 64 && (g_index & 1);
    if (page)
        return hypercall<Via::Page>(static_cast<unsigned>(c.nr), c.a[0], c.a[1], c.a[2], c.a[3], c.a[4]);
    register u64 r10 asm("r10") = c.a[3];
    register u64 r8 asm("r8") = c.a[4];
    u64 rax = c.nr, a1 = c.a[0], a2 = c.a[1], a3 = c.a[2];
    asm volatile("syscall" : "+a"(rax), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8) : : "rcx", "r11", "memory");
    return static_cast<long>(rax);
}

// Before SCHEDOP_block: VIRQ_TIMER bound (again, if a random EVTCHNOP_close or reset undid it)
// and unmasked, and a timer a little ahead, so the block ends.
constinit evtchn_port_t g_timer_port = 0;
void arm_timer() {
    evtchn_bind_virq_t b{};
    b.virq = VIRQ_TIMER;
    b.vcpu = 0;
    if (hc::event_channel_op(EVTCHNOP_bind_virq, &b) == 0) g_timer_port = b.port;
    evtchn_unmask_t u{};
    u.port = g_timer_port;
    hc::event_channel_op(EVTCHNOP_unmask, &u);
    hypercall(__HYPERVISOR_set_timer_op, system_time() + 1 + below(100000));
}

// The kernel's own code must stay as loaded: one sentinel word per page of .text and .rodata
// (the first non-zero one) is compared after every call, so a hypervisor that writes a frame it
// should not (or frees one still mapped) is caught at the call that did it.
constexpr unsigned MAX_CODE_PAGES = 64;
constinit const u64* g_sentinel[MAX_CODE_PAGES]{};
constinit u64 g_sentinel_val[MAX_CODE_PAGES]{};
constinit unsigned g_nsentinels = 0;
extern "C" const char fuzz_rodata_end[];
void take_sentinels() {
    for (u64 page = VIRT_BASE; page + 4096 <= (va(fuzz_rodata_end) & ~4095ull) && g_nsentinels < MAX_CODE_PAGES;
         page += 4096) {
        const auto* w = reinterpret_cast<const u64*>(page);
        for (unsigned i = 0; i < 512; ++i)
            if (w[i]) {
                g_sentinel[g_nsentinels] = &w[i];
                g_sentinel_val[g_nsentinels++] = w[i];
                break;
            }
    }
}
void check_sentinels() {
    for (unsigned i = 0; i < g_nsentinels; ++i)
        if (*g_sentinel[i] != g_sentinel_val[i]) {
            console_flush();
            print("\nfuzz: FAULT: the kernel's page at %#llx changed (word at %#llx: %#llx, was %#llx)\n",
                  static_cast<unsigned long long>(va(g_sentinel[i]) & ~4095ull),
                  static_cast<unsigned long long>(va(g_sentinel[i])),
                  static_cast<unsigned long long>(*g_sentinel[i]), static_cast<unsigned long long>(g_sentinel_val[i]));
            print_call("last", g_index, g_call);
            print("fuzz: verdict: FAIL (kernel memory changed by call %llu)\n", static_cast<unsigned long long>(g_index));
            shutdown(SHUTDOWN_poweroff);
        }
}

void mask_events() {
    if (g_shared) g_shared->vcpu_info[0].evtchn_upcall_mask = 1;
}

[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char* fmt, ...) {
    print("fuzz: error: ");
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
    print("\nfuzz: verdict: FAIL (setup)\n");
    shutdown(SHUTDOWN_poweroff);
}

// The L1 entry slot of the bootstrap tables that maps `addr`'s 2 MiB: walks L4 -> L3 -> L2 and
// returns the L2 table (virtual) and its mfn, or null.
const u64* table_of(u64 mfn) {
    const auto* m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);
    u64 pfn = m2p[mfn];
    if (pfn >= g_si->nr_pages) return nullptr;
    return reinterpret_cast<const u64*>(VIRT_BASE + (pfn << 12));
}

void setup() {
    const auto* p2m = reinterpret_cast<const xen_pfn_t*>(g_si->mfn_list);
    u64 n = g_si->nr_pages;
    if (n < 4096) fail("%lu pages: run with dom0_mem of at least 16M", g_si->nr_pages);
    if (n > MAX_OWN_FRAMES) fail("%lu pages: at most %lu", n, MAX_OWN_FRAMES);
    g_mfn_lo = ~0ull;
    for (u64 i = 0; i < n; ++i) {
        if (p2m[i] < g_mfn_lo) g_mfn_lo = p2m[i];
        if (p2m[i] > g_mfn_hi) g_mfn_hi = p2m[i];
        g_own[i] = p2m[i];
    }
    // Shell sort (gaps 3k+1): a few passes over at most MAX_OWN_FRAMES frames.
    g_nown = n;
    u64 gap = 1;
    while (gap < n / 3) gap = 3 * gap + 1;
    for (; gap; gap /= 3)
        for (u64 i = gap; i < n; ++i)
            for (u64 j = i; j >= gap && g_own[j - gap] > g_own[j]; j -= gap) {
                u64 t = g_own[j];
                g_own[j] = g_own[j - gap];
                g_own[j - gap] = t;
            }
    g_self_mfn = p2m[0];
    g_scratch_l1 = p2m[n - 1];
    for (unsigned i = 0; i < NSCRATCH; ++i) g_scratch[i] = p2m[n - 2 - i];

    // shared_info, for vcpu_info (time, the event mask).
    u64 spte = (g_si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    long rc = hc::update_va_mapping(va(g_shared_page), spte, UVMF_INVLPG | UVMF_LOCAL);
    if (rc) fail("mapping shared_info: %ld", rc);
    g_shared = reinterpret_cast<volatile shared_info_t*>(g_shared_page);

    // The guard pages after the list and fill pages.
    for (unsigned g = 1; g < 4; g += 2)
        if ((rc = hc::update_va_mapping(va(g_area[g]), 0, UVMF_INVLPG | UVMF_LOCAL)))
            fail("unmapping a guard page: %ld", rc);

    // Nothing may be mapped where the "unmapped" pointers go: the low half and the top GiB.
    const u64* l4 = reinterpret_cast<const u64*>(g_si->pt_base);
    for (unsigned i = 0; i < 256; ++i)
        if (l4[i] & PTE_P) fail("L4 slot %u is present: the low half is not empty", i);
    if (!(l4[511] & PTE_P)) fail("L4 slot 511 not present");
    const u64* l3 = table_of((l4[511] & PTE_ADDR) >> 12);
    if (!l3 || (l3[511] & PTE_P) || !(l3[510] & PTE_P)) fail("unexpected L3 for the top GiB");
    u64 l2_mfn = (l3[510] & PTE_ADDR) >> 12;
    const u64* l2 = table_of(l2_mfn);
    if (!l2) fail("bootstrap L2 not found");

    // The scratch L1, cleared and hooked into the first free L2 slot from 256 (512 MiB) on.
    unsigned slot = 256;
    while (slot < 511 && (l2[slot] & PTE_P)) ++slot;
    if (slot == 511) fail("no free L2 slot for the scratch L1");
    mmuext_op_t op{};
    op.cmd = MMUEXT_CLEAR_PAGE;
    op.arg1.mfn = g_scratch_l1;
    if ((rc = hc::mmuext_op(&op, 1, nullptr, DOMID_SELF))) fail("clearing the scratch L1: %ld", rc);
    mmu_update_t u{};
    u.ptr = (l2_mfn << 12) + 8 * slot;
    u.val = (g_scratch_l1 << 12) | PTE_P | PTE_RW | PTE_US | PTE_A;
    if ((rc = hc::mmu_update(&u, 1, nullptr, DOMID_SELF))) fail("hooking the scratch L1: %ld", rc);
    g_window = VIRT_BASE + (u64{slot} << 21);

    // Traps: every vector the fuzzer could cause lands in fuzz_trap.
    static trap_info_t traps[21]{};
    void (*const stubs[])() = {fuzz_trap_0, fuzz_trap_1, fuzz_trap_2, fuzz_trap_3, fuzz_trap_4, fuzz_trap_5,
                               fuzz_trap_6, fuzz_trap_7, fuzz_trap_8, fuzz_trap_9, fuzz_trap_10, fuzz_trap_11,
                               fuzz_trap_12, fuzz_trap_13, fuzz_trap_14, nullptr, fuzz_trap_16, fuzz_trap_17,
                               fuzz_trap_18, fuzz_trap_19};
    unsigned t = 0;
    for (unsigned v = 0; v < 20; ++v) {
        if (!stubs[v]) continue;
        traps[t].vector = static_cast<u8>(v);
        traps[t].flags = v == 3 ? 3 : 0;  // int3 allowed from any ring
        traps[t].cs = FLAT_KERNEL_CS;
        traps[t].address = va(reinterpret_cast<const void*>(stubs[v]));
        ++t;
    }
    if ((rc = hc::set_trap_table(traps))) fail("set_trap_table: %ld", rc);
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = va(reinterpret_cast<const void*>(&fuzz_event_entry));
    if ((rc = hc::callback_op(CALLBACKOP_register, &cb))) fail("event callback: %ld", rc);
    cb.type = CALLBACKTYPE_failsafe;
    cb.address = va(reinterpret_cast<const void*>(&fuzz_failsafe_entry));
    if ((rc = hc::callback_op(CALLBACKOP_register, &cb))) fail("failsafe callback: %ld", rc);
    cb.type = CALLBACKTYPE_syscall;
    cb.address = va(reinterpret_cast<const void*>(&fuzz_syscall_entry));
    if ((rc = hc::callback_op(CALLBACKOP_register, &cb))) fail("syscall callback: %ld", rc);

    print("fuzz: info: %lu pages, own frames %#llx-%#llx, scratch L1 %#llx at %#llx, pt_base %#lx\n",
          g_si->nr_pages, static_cast<unsigned long long>(g_mfn_lo), static_cast<unsigned long long>(g_mfn_hi),
          static_cast<unsigned long long>(g_scratch_l1), static_cast<unsigned long long>(g_window), g_si->pt_base);
}

u64 parse_u64(pv::StrView s, u64 fallback) {
    if (s.empty()) return fallback;
    u64 v = 0;
    for (usize i = 0; i < s.len; ++i) {
        char ch = s.ptr[i];
        if (ch < '0' || ch > '9') return fallback;
        v = v * 10 + static_cast<u64>(ch - '0');
    }
    return v;
}

}  // namespace

// The end of .rodata (approximately: the last object there), for take_sentinels.
extern "C" __attribute__((used)) const char fuzz_rodata_end[1] = {1};

// Called by entry.S for every trap.  Returns for those the fuzzer may cause; else reports.
// frame: r10 r9 r8 rdx rsi rdi rax, vector, rcx, r11, error, rip, cs, rflags, rsp, ss.
extern "C" void fuzz_trap(const u64* frame) {
    u64 vector = frame[7], error = frame[10], rip = frame[11];
    if (vector == 1 || vector == 2 || vector == 3) return;
    if (vector == 7) {  // #NM after fpu_taskswitch(1)
        hc::fpu_taskswitch(0);
        return;
    }
    console_flush();
    print("\nfuzz: FAULT: vector %#llx error %#llx rip %#llx cr2 %#lx\n", static_cast<unsigned long long>(vector),
          static_cast<unsigned long long>(error), static_cast<unsigned long long>(rip),
          g_shared ? static_cast<unsigned long>(g_shared->vcpu_info[0].arch.cr2) : 0ul);
    if (rip >= VIRT_BASE && rip < va(__image_end)) {
        const auto* b = reinterpret_cast<const u8*>(rip);
        print("fuzz: code at rip: %02x %02x %02x %02x %02x %02x %02x %02x\n", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    }
    print("fuzz: registers: rax %#llx rcx %#llx rdx %#llx rsp %#llx cs %#llx ss %#llx rflags %#llx\n",
          static_cast<unsigned long long>(frame[6]), static_cast<unsigned long long>(frame[8]),
          static_cast<unsigned long long>(frame[3]), static_cast<unsigned long long>(frame[14]),
          static_cast<unsigned long long>(frame[12]), static_cast<unsigned long long>(frame[15]),
          static_cast<unsigned long long>(frame[13]));
    print_call("last", g_index, g_call);
    print("fuzz: verdict: FAIL (fault in call %llu)\n", static_cast<unsigned long long>(g_index));
    shutdown(SHUTDOWN_poweroff);
}

extern "C" [[noreturn]] void guest_main(start_info_t* si) {
    g_si = si;
    // As a domU (dom0test mode=fuzz) the report goes into the console ring (a domU may not
    // write to Xen's console); domain 0 reads it after the run.
    if (!(si->flags & SIF_INITDOMAIN)) use_console_ring(si, true);
    print("fuzz: start\n");
    pv::StrView cmd(reinterpret_cast<const char*>(si->cmd_line));
    u64 seed = parse_u64(cmdline_value(cmd, "seed"), 1);
    u64 calls = parse_u64(cmdline_value(cmd, "calls"), 100000);
    g_trace_from = parse_u64(cmdline_value(cmd, "trace"), ~0ull);
    pv::StrView targets = cmdline_value(cmd, "target_mfns");
    for (usize pos = 0; pos < targets.len && g_ntargets < MAX_TARGETS;) {
        usize end = targets.find(',', pos);
        if (!pv::parse_u64(targets.substr(pos, end - pos), &g_targets[g_ntargets])) break;
        ++g_ntargets;
        pos = end + 1;
    }
    g_rng = seed;
    setup();
    take_sentinels();
    print("fuzz: info: %u code pages watched\n", g_nsentinels);
    print("fuzz: info: seed %llu, %llu calls\n", static_cast<unsigned long long>(seed),
          static_cast<unsigned long long>(calls));

    u64 ok = 0;
    for (g_index = 0; g_index < calls; ++g_index) {
        refill();
        gen(g_call, false);
        if (g_index >= g_trace_from) {
            print_call("trace", g_index, g_call);
            if (g_call.nr == __HYPERVISOR_multicall && g_call.a[0] == va(g_list)) {
                const auto* e = reinterpret_cast<const multicall_entry_t*>(g_list);
                for (unsigned i = 0; i < 4096 / sizeof *e; ++i)
                    print("fuzz: trace   entry %u: op=%lu args=%#lx %#lx %#lx %#lx %#lx %#lx\n", i, e[i].op, e[i].args[0],
                          e[i].args[1], e[i].args[2], e[i].args[3], e[i].args[4], e[i].args[5]);
            }
        }
        if (g_call.nr == __HYPERVISOR_sched_op && static_cast<u32>(g_call.a[0]) == SCHEDOP_block) arm_timer();
        long rc = issue(g_call);
        mask_events();
        check_sentinels();
        if (rc >= 0) ++ok;
        g_checksum = (g_checksum ^ static_cast<u64>(rc)) * 0x100000001b3ull;
        if ((g_index + 1) % 10000 == 0)
            print("fuzz: progress %llu calls, checksum %016llx, %llu succeeded\n",
                  static_cast<unsigned long long>(g_index + 1), static_cast<unsigned long long>(g_checksum),
                  static_cast<unsigned long long>(ok));
    }
    hc::fpu_taskswitch(0);
    print("fuzz: verdict: PASS (%llu calls, checksum %016llx)\n", static_cast<unsigned long long>(calls),
          static_cast<unsigned long long>(g_checksum));
    shutdown(SHUTDOWN_poweroff);
}
