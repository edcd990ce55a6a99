// Hypercall continuations: mmu_update, mmuext_op and multicall take lists of any length, and Xen
// preempts them between items (a softirq pending, or an upcall deliverable) by rewriting the
// call's arguments and re-executing the SYSCALL.  Whether and where Xen preempts on its own
// depends on timing, so those runs only check results that are the same either way (the effect,
// *pdone, every multicall result) and report on an info line whether a continuation was seen
// (the argument registers, or a multicall entry, come back rewritten).  Where the place matters,
// the guest makes it certain: an upcall pending and unmasked as the call starts makes Xen
// preempt after the first item, deliver the upcall at the SYSCALL, and continue once the
// handler returns (trap_dispatch returns from an upcall with events masked).
//
// The lists live in one buffer of .bss pages; a page of it is unmapped to make an item fault
// part way through a list.
#include "guest/pvtest/pvtest.hpp"
#include "guest/pvtest/traps.hpp"

using namespace pvt;

namespace {

// The flag on a continued call's count (Xen's asm/mm.h; not in the public headers).
constexpr u32 MMU_UPDATE_PREEMPTED = 0x80000000u;

constexpr unsigned LIST_PAGES = 80;
alignas(4096) constinit u8 list_buf[LIST_PAGES * 4096];
alignas(4096) constinit char page_a[4096];
alignas(4096) constinit char page_b[4096];

auto* const updates = reinterpret_cast<mmu_update_t*>(list_buf);
auto* const ops = reinterpret_cast<mmuext_op_t*>(list_buf);
auto* const calls = reinterpret_cast<multicall_entry_t*>(list_buf);

// A hypercall whose argument registers come back as the hypervisor left them.
struct Call {
    u64 nr, a[5];
    long rc;
};
void run(Call& c) {
    register u64 r10 asm("r10") = c.a[3];
    register u64 r8 asm("r8") = c.a[4];
    u64 rax = c.nr;
    asm volatile("syscall"
                 : "+a"(rax), "+D"(c.a[0]), "+S"(c.a[1]), "+d"(c.a[2]), "+r"(r10), "+r"(r8)
                 :
                 : "rcx", "r11", "memory");
    c.a[3] = r10;
    c.a[4] = r8;
    c.rc = static_cast<long>(rax);
}

// The same, entered with an upcall pending and events unmasked at the SYSCALL itself; *at gets
// the SYSCALL's address.
void run_with_upcall_pending(Call& c, u64* at) {
    volatile vcpu_info_t& vi = g_shared->vcpu_info[0];
    vi.evtchn_upcall_pending = 1;
    register u64 r10 asm("r10") = c.a[3];
    register u64 r8 asm("r8") = c.a[4];
    u64 rax = c.nr;
    asm volatile("leaq 1f(%%rip), %%rcx\n\t"
                 "movq %%rcx, %[at]\n\t"
                 "movb $0, %[mask]\n"
                 "1: syscall"
                 : "+a"(rax), "+D"(c.a[0]), "+S"(c.a[1]), "+d"(c.a[2]), "+r"(r10), "+r"(r8), [at] "=m"(*at),
                   [mask] "=m"(*const_cast<u8*>(&vi.evtchn_upcall_mask))
                 :
                 : "rcx", "r11", "memory");
    vi.evtchn_upcall_mask = 1;
    vi.evtchn_upcall_pending = 0;
    c.a[3] = r10;
    c.a[4] = r8;
    c.rc = static_cast<long>(rax);
}

// The L1 entry of page_a and its value pointing at page_b's frame instead.
struct Remap {
    u64 maddr, to_a, to_b;
};
Remap remap_a() {
    Remap r{};
    r.to_a = l1e_of(va(page_a), &r.maddr);
    r.to_b = (r.to_a & ~PTE_ADDR) | (l1e_of(va(page_b)) & PTE_ADDR);
    return r;
}
void invlpg_a() { hc::mmuext1(MMUEXT_INVLPG_LOCAL, va(page_a)); }
// Puts page_a back on its own frame; what page_a showed before that.
char restore_a(const Remap& r) {
    invlpg_a();
    char seen = read_once(&page_a[0]);
    mmu_update_t u{r.maddr | MMU_NORMAL_PT_UPDATE, r.to_a};
    hc::mmu_update(&u, 1, nullptr, DOMID_SELF);
    invlpg_a();
    return seen;
}
// n updates of page_a's entry, alternating: the odd ones map page_b.
void fill_updates(const Remap& r, u64 n) {
    for (u64 k = 0; k < n; ++k) updates[k] = mmu_update_t{r.maddr | MMU_NORMAL_PT_UPDATE, (k & 1) ? r.to_b : r.to_a};
}

// Unmaps page p of the list buffer for the duration of one call.
struct Hole {
    u64 addr, l1e;
    long rc_unmap;
    explicit Hole(unsigned p) : addr(va(list_buf) + u64{p} * 4096), l1e(l1e_of(addr)) {
        rc_unmap = hc::update_va_mapping(addr, 0, UVMF_INVLPG | UVMF_LOCAL);
    }
    ~Hole() { hc::update_va_mapping(addr, l1e, UVMF_INVLPG | UVMF_LOCAL); }
};

const char* preempted_note(u64 count_reg) {
    return (count_reg & MMU_UPDATE_PREEMPTED) ? "continued at least once" : "not preempted";
}

void check_mmu_update_huge() {
    constexpr u64 N = 10000;  // odd last index: the last update maps page_b
    page_a[0] = 'a';
    page_b[0] = 'b';
    Remap r = remap_a();
    fill_updates(r, N);
    unsigned done = 0;
    Call c{__HYPERVISOR_mmu_update, {va(updates), N, va(&done), DOMID_SELF, 0}, 0};
    run(c);
    char seen = restore_a(r);
    info("mmu_update of %llu: %s (count register %#llx)", static_cast<unsigned long long>(N),
         preempted_note(c.a[1]), static_cast<unsigned long long>(c.a[1]));
    check("continuation.mmu_update_huge", c.rc == 0 && done == N && seen == 'b', "rc %ld, done %u, page shows '%c'",
          c.rc, done, seen);
}

void check_mmu_update_fault_partway() {
    // A count far beyond the list; the list's page 40 is unmapped, so request 40 * 256 faults.
    constexpr unsigned HOLE = 40;
    constexpr u64 FIRST_BAD = HOLE * 4096 / sizeof(mmu_update_t);
    page_a[0] = 'a';
    page_b[0] = 'b';
    Remap r = remap_a();
    fill_updates(r, FIRST_BAD);
    unsigned done = 0;
    long rc = 0, rc_unmap = 0;
    {
        Hole hole(HOLE);
        rc_unmap = hole.rc_unmap;
        rc = hc::mmu_update(updates, 0x7fffffffu, &done, DOMID_SELF);
    }
    char seen = restore_a(r);  // the last good request (odd) mapped page_b
    check("continuation.mmu_update_fault_partway",
          rc_unmap == 0 && rc == -XEN_EFAULT && done == FIRST_BAD && seen == 'b', "unmap %ld, rc %ld, done %u, page '%c'",
          rc_unmap, rc, done, seen);
}

void check_mmuext_op_huge() {
    constexpr u64 N = 5000;
    for (u64 k = 0; k < N; ++k) {
        ops[k] = mmuext_op_t{};
        ops[k].cmd = (k & 1) ? MMUEXT_INVLPG_LOCAL : MMUEXT_TLB_FLUSH_LOCAL;
        ops[k].arg1.linear_addr = va(page_a);
    }
    unsigned done = 0;
    Call c{__HYPERVISOR_mmuext_op, {va(ops), N, va(&done), DOMID_SELF, 0}, 0};
    run(c);
    info("mmuext_op of %llu: %s", static_cast<unsigned long long>(N), preempted_note(c.a[1]));
    check("continuation.mmuext_op_huge", c.rc == 0 && done == N, "rc %ld, done %u", c.rc, done);

    // An operation straddling into an unmapped page faults; those before it were done.
    constexpr unsigned HOLE = 20;
    constexpr u64 FIRST_BAD = HOLE * 4096 / sizeof(mmuext_op_t);
    done = 0;
    long rc = 0, rc_unmap = 0;
    {
        Hole hole(HOLE);
        rc_unmap = hole.rc_unmap;
        rc = hc::mmuext_op(ops, 0x7fffffffu, &done, DOMID_SELF);
    }
    check("continuation.mmuext_op_fault_partway", rc_unmap == 0 && rc == -XEN_EFAULT && done == FIRST_BAD,
          "unmap %ld, rc %ld, done %u (expected %llu)", rc_unmap, rc, done, static_cast<unsigned long long>(FIRST_BAD));
}

void fill_version_calls(u64 n) {
    for (u64 k = 0; k < n; ++k) {
        calls[k] = multicall_entry_t{};
        calls[k].op = __HYPERVISOR_xen_version;
        calls[k].args[0] = XENVER_version;
        calls[k].result = 0x5a5a;
    }
}

// The first of calls[0, n) whose result is not `want`, or n.
u64 first_result_not(u64 n, u64 want) {
    u64 k = 0;
    while (k < n && calls[k].result == want) ++k;
    return k;
}

void check_multicall_huge() {
    constexpr u64 N = 5000;
    auto version = static_cast<u64>(hc::xen_version(XENVER_version, nullptr));
    fill_version_calls(N);
    Call c{__HYPERVISOR_multicall, {va(calls), N, 0, 0, 0}, 0};
    run(c);
    u64 bad = first_result_not(N, version);
    info("multicall of %llu: %s (list register %#llx)", static_cast<unsigned long long>(N),
         c.a[0] != va(calls) ? "continued at least once" : "not preempted", static_cast<unsigned long long>(c.a[0]));
    check("continuation.multicall_huge", c.rc == 0 && bad == N, "rc %ld, first wrong result at %llu: %#lx", c.rc,
          static_cast<unsigned long long>(bad), bad < N ? calls[bad].result : 0);

    // The list runs into an unmapped page: -EFAULT; the entries before have their results, those
    // after were not touched.
    constexpr unsigned HOLE = 30;
    constexpr u64 FIRST_BAD = HOLE * 4096 / sizeof(multicall_entry_t);
    fill_version_calls(FIRST_BAD + 200);
    long rc = 0, rc_unmap = 0;
    {
        Hole hole(HOLE);
        rc_unmap = hole.rc_unmap;
        rc = hc::multicall(calls, 0xffffffffu);
    }
    u64 first_bad = first_result_not(FIRST_BAD + 200, version);
    bool after_untouched = true;
    for (u64 k = FIRST_BAD; k < FIRST_BAD + 200; ++k) after_untouched = after_untouched && calls[k].result == 0x5a5a;
    check("continuation.multicall_fault_partway",
          rc_unmap == 0 && rc == -XEN_EFAULT && first_bad == FIRST_BAD && after_untouched,
          "unmap %ld, rc %ld, first entry without its result %llu", rc_unmap, rc, static_cast<unsigned long long>(first_bad));
}

// An upcall pending from the start: the call is preempted after its first item, the upcall runs
// at the SYSCALL with the continued arguments in the registers, and the call then completes.
// Once in a while an interrupt lands between unmasking and the SYSCALL, and the upcall comes
// before the call (RCX still the SYSCALL's address, not the return address the SYSCALL left):
// then it is tried again.
bool upcall_at_continuation(Call& c, const Call& in, void (*setup)(), u64* at) {
    for (int attempt = 0; attempt < 4; ++attempt) {
        setup();
        c = in;
        traps_reset();
        run_with_upcall_pending(c, at);
        if (g_ntraps != 1 || g_traps[0].rcx != *at) return true;
    }
    return false;
}

// What the upcall runs work on (set up afresh for each attempt).
constexpr u64 UPCALL_N = 1000, UPCALL_M = 300;
constinit unsigned upcall_done;
constinit Remap upcall_remap;
constinit multicall_entry_t upcall_mc[2];

void setup_upcall_updates() {
    page_a[0] = 'a';
    page_b[0] = 'b';
    upcall_remap = remap_a();
    fill_updates(upcall_remap, UPCALL_N);
    upcall_done = 0;
}

void setup_upcall_multicall() {
    setup_upcall_updates();
    multicall_entry_t* mc = upcall_mc;
    mc[0] = multicall_entry_t{};
    mc[0].op = __HYPERVISOR_mmu_update;
    mc[0].args[0] = va(updates);
    mc[0].args[1] = UPCALL_M;
    mc[0].args[2] = va(&upcall_done);
    mc[0].args[3] = DOMID_SELF;
    mc[1] = multicall_entry_t{};
    mc[1].op = __HYPERVISOR_xen_version;
    mc[1].args[0] = XENVER_version;
}

void check_upcall_continuation() {
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = va(reinterpret_cast<const void*>(&trap_stub_event));
    if (!CHECK_EQ("continuation.register_event_callback", hc::callback_op(CALLBACKOP_register, &cb), 0)) return;

    constexpr u64 N = UPCALL_N;
    Call c{};
    u64 at = 0;
    bool ok = upcall_at_continuation(c, Call{__HYPERVISOR_mmu_update, {va(updates), N, va(&upcall_done), DOMID_SELF, 0}, 0},
                                     setup_upcall_updates, &at);
    char seen = restore_a(upcall_remap);
    const TrapRecord& t = g_traps[0];
    info("mmu_update with an upcall pending: %u upcall(s), at %#lx (syscall %#lx), rax %#lx rdi %#lx; count register %#lx",
         g_ntraps, t.rip, at, t.rax, t.rdi, c.a[1]);
    check("continuation.upcall_at_syscall",
          ok && g_ntraps == 1 && t.vector == VEC_EVENT && t.rip == at && t.rcx == at + 2,
          "%u traps, vector %#lx at %#lx", g_ntraps, t.vector, t.rip);
    // The continuation: RAX the hypercall again, the list advanced past the one request done.
    check("continuation.mmu_update_registers",
          t.rax == __HYPERVISOR_mmu_update && t.rdi == va(updates) + sizeof(mmu_update_t), "rax %#lx rdi %#lx", t.rax,
          t.rdi);
    u64 left = c.a[1] & ~u64{MMU_UPDATE_PREEMPTED};
    check("continuation.mmu_update_completes",
          c.rc == 0 && upcall_done == N && seen == 'b' && (c.a[1] & MMU_UPDATE_PREEMPTED) && left < N &&
              c.a[0] == va(updates) + (N - left) * sizeof(mmu_update_t),
          "rc %ld, done %u, page '%c', list %#lx count %#lx", c.rc, upcall_done, seen, c.a[0], c.a[1]);

    // Inside a multicall: the sub-call's continuation lands in its entry, and the multicall
    // continues from that entry.
    auto version = static_cast<u64>(hc::xen_version(XENVER_version, nullptr));
    constexpr u64 M = UPCALL_M;
    const multicall_entry_t* mc = upcall_mc;
    ok = upcall_at_continuation(c, Call{__HYPERVISOR_multicall, {va(mc), 2, 0, 0, 0}, 0}, setup_upcall_multicall, &at);
    seen = restore_a(upcall_remap);
    info("multicall with an upcall pending: %u upcall(s), rax %#lx rdi %#lx; entry 0 args %#lx %#lx", g_ntraps, t.rax,
         t.rdi, mc[0].args[0], mc[0].args[1]);
    check("continuation.multicall_registers", ok && g_ntraps == 1 && t.rax == __HYPERVISOR_multicall && t.rdi == va(mc),
          "%u traps, rax %#lx rdi %#lx", g_ntraps, t.rax, t.rdi);
    left = mc[0].args[1] & ~u64{MMU_UPDATE_PREEMPTED};
    check("continuation.multicall_nested",
          c.rc == 0 && mc[0].result == 0 && mc[1].result == version && upcall_done == M && seen == 'b' &&
              (mc[0].args[1] & MMU_UPDATE_PREEMPTED) && left < M &&
              mc[0].args[0] == va(updates) + (M - left) * sizeof(mmu_update_t) && mc[0].args[2] == va(&upcall_done),
          "rc %ld, results %ld %#lx, done %u, page '%c', entry 0 args %#lx %#lx", c.rc, static_cast<long>(mc[0].result),
          mc[1].result, upcall_done, seen, mc[0].args[0], mc[0].args[1]);
}

void check_argument_edges() {
    // A continued call reads the work done so far from *pdone and adds its own.
    page_a[0] = 'a';
    Remap r = remap_a();
    fill_updates(r, 3);
    unsigned done = 1000;
    long rc = hc::mmu_update(updates, 3 | MMU_UPDATE_PREEMPTED, &done, DOMID_SELF);
    restore_a(r);
    check("continuation.mmu_update_done_accumulates", rc == 0 && done == 1003, "rc %ld, done %u", rc, done);
    // The count is an unsigned int: the upper half of the register is ignored.
    done = 0;
    rc = hypercall(__HYPERVISOR_mmu_update, va(updates), (u64{1} << 32) | 2, va(&done), DOMID_SELF);
    restore_a(r);
    check("continuation.mmu_update_count_32bit", rc == 0 && done == 2, "rc %ld, done %u", rc, done);
    // *pdone is written without checking the write.
    rc = hypercall(__HYPERVISOR_mmu_update, va(updates), 2, HYPERVISOR_ADDRESS, DOMID_SELF);
    restore_a(r);
    CHECK_EQ("continuation.mmu_update_pdone_unwritable", rc, 0);
    // The list's start is checked before anything is done or written...
    done = 77;
    rc = hc::mmu_update(reinterpret_cast<const mmu_update_t*>(HYPERVISOR_ADDRESS), 1, &done, DOMID_SELF);
    check("continuation.mmu_update_list_in_xen_range", rc == -XEN_EFAULT && done == 77, "rc %ld, done %u", rc, done);
    done = 77;
    rc = hc::mmuext_op(reinterpret_cast<const mmuext_op_t*>(HYPERVISOR_ADDRESS), 1, &done, DOMID_SELF);
    check("continuation.mmuext_op_list_in_xen_range", rc == -XEN_EFAULT && done == 77, "rc %ld, done %u", rc, done);
    CHECK_EQ("continuation.multicall_list_in_xen_range",
             hc::multicall(reinterpret_cast<multicall_entry_t*>(HYPERVISOR_ADDRESS), 1), -XEN_EFAULT);
    // ...but only its start: a list in the guest's range with no count is fine.
    CHECK_EQ("continuation.multicall_count_32bit", hypercall(__HYPERVISOR_multicall, va(calls), u64{1} << 32), 0);
    // An unknown foreign domain: mmu_update still writes *pdone, mmuext_op does not.
    done = 77;
    rc = hc::mmu_update(updates, 1, &done, 1234);
    check("continuation.mmu_update_esrch_writes_done", rc == -XEN_ESRCH && done == 0, "rc %ld, done %u", rc, done);
    done = 77;
    rc = hc::mmuext_op(ops, 1, &done, 1234);
    check("continuation.mmuext_op_esrch_keeps_done", rc == -XEN_ESRCH && done == 77, "rc %ld, done %u", rc, done);
    // The round that only reports the result of an earlier one: no list, the count exactly
    // MMU_UPDATE_PREEMPTED, the result in the domain argument.
    CHECK_EQ("continuation.mmu_update_result_round", hc::mmu_update(nullptr, MMU_UPDATE_PREEMPTED, nullptr, 0x1234),
             0x1234);
    CHECK_EQ("continuation.mmuext_op_result_round", hc::mmuext_op(nullptr, MMU_UPDATE_PREEMPTED, nullptr, 0x4321),
             0x4321);
}

}  // namespace

void pvt::check_continuations() {
    check_argument_edges();
    check_mmu_update_huge();
    check_mmu_update_fault_partway();
    check_mmuext_op_huge();
    check_multicall_huge();
    check_upcall_continuation();
}
