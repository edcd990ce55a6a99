// fifotest: a PV64 domain-0 kernel checking the FIFO event-channel ABI as Linux uses it
// (EVTCHNOP_init_control, expand_array, set_priority; Xen's common/event_fifo.c).  It runs with
// dom0_max_vcpus=2 (vCPU 1 stays down: its control block and queues are still written) and
// passes on Xen 4.17 (ctest xen-fifotest); pvisor must print the same lines (pvisor-fifotest,
// fifotest-differential).
//
// The order matters, each phase building on the last:
//   2level  before the switch: expand_array and set_priority refused, SCHEDOP_poll on ports
//           that are not in use, the 2-level port limit, a masked pending event left behind
//   init    init_control's errors, then vCPU 0's and vCPU 1's control blocks in one page
//   switch  expand_array's errors and first page; the 2-level event is queued then
//   order   events by priority, then arrival; one upcall for all
//   mask    MASKED events pend without a queue; unmask (guest clears MASKED, EVTCHNOP_unmask)
//   virq    VIRQ_TIMER through FIFO, by SCHEDOP_block and by SCHEDOP_poll
//   loopback, move, reuse, domu (a domU of this kernel, role=domu, on FIFO too: an event each
//           way, then its destruction returns every frame; domu.hpp), limit, frames (held typed writable until reset), reset (back to
//           2-level, and FIFO again with the same pages)
//
// Events are masked (evtchn_upcall_mask) except in let_events_in(); the upcall (entry.S,
// fifo_upcall) consumes the queues as Linux's FIFO handler does and logs the ports it handled.
#include <initializer_list>

#include "guest/fifotest/domu.hpp"
#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"
#include "guest/lib/time.hpp"
#include "guest/lib/xen.hpp"
#include "lib/format.hpp"

extern "C" {
void fifo_event_entry();
void fifo_upcall();
}

namespace {

using namespace pvg;

constexpr event_word_t PENDING = 1u << EVTCHN_FIFO_PENDING, MASKED = 1u << EVTCHN_FIFO_MASKED,
                       LINKED = 1u << EVTCHN_FIFO_LINKED;
constexpr u32 DEFAULT_READY = 1u << EVTCHN_FIFO_PRIORITY_DEFAULT;
constexpr u32 CB1_OFFSET = 2048;         // vCPU 1's control block, in vCPU 0's page
constexpr evtchn_port_t FREE_PORT = 60;  // valid (the first bucket) and never bound
constexpr evtchn_port_t NO_PORT = 5000;  // never valid here (the limit checks stop at 4104)
constexpr u64 NOT_A_FRAME = 0xfffffffffull;

const start_info_t* g_si;
volatile shared_info_t* g_shared;
alignas(4096) constinit char shared_info_page[4096];
alignas(4096) constinit u8 control_page[4096];
alignas(4096) constinit event_word_t event_array[4096 / sizeof(event_word_t)];
constexpr evtchn_port_t ARRAY_PORTS = sizeof(event_array) / sizeof(event_word_t);

u64 va(const volatile void* p) { return reinterpret_cast<uptr>(p); }
// For addresses in the bootstrap region (the image and its .bss), mapped from pfn 0 at VIRT_BASE.
u64 mfn_of(const volatile void* p) {
    return reinterpret_cast<const xen_pfn_t*>(g_si->mfn_list)[(va(p) - VIRT_BASE) >> PAGE_SHIFT];
}
volatile evtchn_fifo_control_block_t* cb(unsigned v) {
    return reinterpret_cast<volatile evtchn_fifo_control_block_t*>(control_page + (v ? CB1_OFFSET : 0));
}
volatile vcpu_info_t& vi(unsigned v) { return g_shared->vcpu_info[v]; }
event_word_t word(evtchn_port_t p) { return __atomic_load_n(&event_array[p], __ATOMIC_SEQ_CST); }
void set_word_bits(evtchn_port_t p, event_word_t b) { __atomic_fetch_or(&event_array[p], b, __ATOMIC_SEQ_CST); }
void clear_word_bits(evtchn_port_t p, event_word_t b) { __atomic_fetch_and(&event_array[p], ~b, __ATOMIC_SEQ_CST); }
u64 now_ns() { return vcpu_system_time_ns(vi(0).time); }

// ---- The upcall: Linux's __evtchn_fifo_handle_events on vCPU 0 ----

constexpr unsigned LOG_MAX = 32;
volatile evtchn_port_t g_log[LOG_MAX];
volatile unsigned g_nlog = 0;
volatile unsigned g_upcalls = 0;
evtchn_port_t g_head[EVTCHN_FIFO_MAX_QUEUES];  // the consumer's copy of each queue's head

// One event off queue prio (Linux's consume_one_event): HEAD is read only when the copy is 0;
// the port is unlinked (LINKED and LINK cleared at once, LINK becoming the next head) and
// handled if pending and unmasked.  A queue whose next head is 0 is done.
void consume_one(unsigned prio, u32& ready) {
    evtchn_port_t port = g_head[prio];
    if (!port) port = __atomic_load_n(&cb(0)->head[prio], __ATOMIC_SEQ_CST);
    if (!port || port >= ARRAY_PORTS) {
        ready &= ~(1u << prio);
        g_head[prio] = 0;
        return;
    }
    event_word_t old = word(port);
    while (!__atomic_compare_exchange_n(&event_array[port], &old, old & ~(LINKED | EVTCHN_FIFO_LINK_MASK), false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    g_head[prio] = old & EVTCHN_FIFO_LINK_MASK;
    if (!g_head[prio]) ready &= ~(1u << prio);
    if (!(old & MASKED) && (__atomic_fetch_and(&event_array[port], ~PENDING, __ATOMIC_SEQ_CST) & PENDING) &&
        g_nlog < LOG_MAX) {
        g_log[g_nlog] = port;
        g_nlog = g_nlog + 1;
    }
}

}  // namespace

extern "C" void fifo_upcall() {
    g_upcalls = g_upcalls + 1;
    vi(0).evtchn_upcall_pending = 0;
    u32 ready = __atomic_exchange_n(&cb(0)->ready, 0u, __ATOMIC_SEQ_CST);
    while (ready) consume_one(static_cast<unsigned>(__builtin_ctz(ready)), ready);
}

namespace {

// Lets a pending upcall in, as Linux's xen_force_evtchn_callback: events unmasked, then any
// hypercall (the way back to the guest delivers the upcall); the upcall returns with them
// masked, and they are masked again in any case.
void let_events_in() {
    vi(0).evtchn_upcall_mask = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    hc::xen_version(XENVER_version, nullptr);
    vi(0).evtchn_upcall_mask = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
void clear_log() { g_nlog = 0; }
bool log_is(std::initializer_list<evtchn_port_t> want) {
    if (g_nlog != want.size()) return false;
    unsigned i = 0;
    for (evtchn_port_t p : want)
        if (g_log[i++] != p) return false;
    return true;
}
// The log for a failure's detail.
const char* log_text() {
    static char buf[160];
    usize n = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < g_nlog && n + 12 < sizeof buf; ++i)
        n += static_cast<usize>(pv::format(buf + n, sizeof buf - n, "%s%u", i ? "," : "", g_log[i]));
    return buf;
}

// ---- Hypercalls ----

long init_control(u64 gfn, u32 offset, u32 vcpu, u32* link_bits = nullptr) {
    evtchn_init_control_t a{};
    a.control_gfn = gfn;
    a.offset = offset;
    a.vcpu = vcpu;
    long rc = hc::event_channel_op(EVTCHNOP_init_control, &a);
    if (link_bits) *link_bits = a.link_bits;
    return rc;
}
long expand(u64 gfn) {
    evtchn_expand_array_t a{};
    a.array_gfn = gfn;
    return hc::event_channel_op(EVTCHNOP_expand_array, &a);
}
// An EVTCHNOP_* whose argument is a port and perhaps one more field (set by `more`).
template <typename Arg, typename More> long port_op(int cmd, evtchn_port_t port, More more) {
    Arg a{};
    a.port = port;
    more(a);
    return hc::event_channel_op(cmd, &a);
}
template <typename Arg> long port_op(int cmd, evtchn_port_t port) {
    return port_op<Arg>(cmd, port, [](Arg&) {});
}
long set_priority(evtchn_port_t port, u32 priority) {
    return port_op<evtchn_set_priority_t>(EVTCHNOP_set_priority, port,
                                          [priority](evtchn_set_priority_t& a) { a.priority = priority; });
}
long bind_vcpu(evtchn_port_t port, unsigned v) {
    return port_op<evtchn_bind_vcpu_t>(EVTCHNOP_bind_vcpu, port, [v](evtchn_bind_vcpu_t& a) { a.vcpu = v; });
}
long send(evtchn_port_t port) { return port_op<evtchn_send_t>(EVTCHNOP_send, port); }
long close(evtchn_port_t port) { return port_op<evtchn_close_t>(EVTCHNOP_close, port); }
long unmask(evtchn_port_t port) { return port_op<evtchn_unmask_t>(EVTCHNOP_unmask, port); }
// A new IPI port for vCPU v, or the negative errno.
long bind_ipi(unsigned v) {
    evtchn_bind_ipi_t a{};
    a.vcpu = v;
    long rc = hc::event_channel_op(EVTCHNOP_bind_ipi, &a);
    return rc ? rc : a.port;
}
long reset_self() {
    evtchn_reset_t a{};
    a.dom = DOMID_SELF;
    return hc::event_channel_op(EVTCHNOP_reset, &a);
}
// SCHEDOP_poll on one port, giving up after timeout_ns.
long poll(evtchn_port_t port, u64 timeout_ns) {
    evtchn_port_t ports[1] = {port};
    sched_poll_t p{};
    set_xen_guest_handle(p.ports, ports);
    p.nr_ports = 1;
    p.timeout = now_ns() + timeout_ns;
    return hc::sched_op(SCHEDOP_poll, &p);
}
long singleshot_in(u64 ns) {
    vcpu_set_singleshot_timer_t t{};
    t.timeout_abs_ns = now_ns() + ns;
    return hc::vcpu_op(VCPUOP_set_singleshot_timer, 0, &t);
}
bool pending_2l(evtchn_port_t p) { return g_shared->evtchn_pending[p / 64] & (1ull << (p % 64)); }

constexpr u64 MS = 1000000;

// ---- The checks ----

// Before the switch.  Returns the port left pending (masked) in shared_info.
evtchn_port_t check_2level() {
    CHECK_EQ("2level.expand_array", expand(mfn_of(event_array)), -XEN_EOPNOTSUPP);
    // The 2-level limit: ports 1-4095, whatever domain 0's own limit.
    long last = 0, rc;
    while ((rc = bind_ipi(0)) > 0) last = rc;
    CHECK_EQ("2level.port_limit_errno", rc, -XEN_ENOSPC);
    CHECK_EQ("2level.port_limit", last, 4095);
    CHECK_EQ("2level.reset", reset_self(), 0);
    long p = bind_ipi(0);
    CHECK_EQ("2level.reset_closed_all", p, 1);
    evtchn_port_t port = static_cast<evtchn_port_t>(p);
    CHECK_EQ("2level.set_priority", set_priority(port, 3), -XEN_ENOSYS);
    CHECK_EQ("2level.set_priority_not_valid", set_priority(NO_PORT, 3), -XEN_EINVAL);
    CHECK_EQ("2level.poll_reserved_port", poll(0, 10 * MS), -XEN_EINVAL);
    CHECK_EQ("2level.poll_free_port", poll(FREE_PORT, 10 * MS), -XEN_EINVAL);
    // Masked in shared_info, so the send raises no upcall: the switch must carry it over.
    __atomic_fetch_or(&g_shared->evtchn_mask[0], 1ull << port, __ATOMIC_SEQ_CST);
    CHECK_EQ("2level.send", send(port), 0);
    CHECK("2level.pending", pending_2l(port));
    vi(0).evtchn_upcall_pending = 0;
    return port;
}

void check_init() {
    u64 cp = mfn_of(control_page);
    CHECK_EQ("init.no_such_vcpu", init_control(cp, 0, 2), -XEN_ENOENT);
    CHECK_EQ("init.vcpu_far_beyond", init_control(cp, 0, 4096), -XEN_ENOENT);
    CHECK_EQ("init.crosses_page", init_control(cp, 4096 - 64, 0), -XEN_EINVAL);
    CHECK_EQ("init.unaligned", init_control(cp, 4, 0), -XEN_EINVAL);
    CHECK_EQ("init.not_a_frame", init_control(NOT_A_FRAME, 0, 0), -XEN_EINVAL);
    u64 l4 = mfn_of(reinterpret_cast<const void*>(g_si->pt_base));
    CHECK_EQ("init.page_table_frame", init_control(l4, 0, 0), -XEN_EINVAL);
    CHECK_EQ("init.still_2level", expand(mfn_of(event_array)), -XEN_EOPNOTSUPP);
    u32 bits = 0;
    CHECK_EQ("init.vcpu0", init_control(cp, 0, 0, &bits), 0);
    CHECK_EQ("init.link_bits", bits, EVTCHN_FIFO_LINK_BITS);
    CHECK_EQ("init.twice", init_control(cp, 0, 0), -XEN_EINVAL);
    CHECK_EQ("init.twice_elsewhere", init_control(mfn_of(event_array), 0, 0), -XEN_EINVAL);
    CHECK_EQ("init.vcpu1_same_page", init_control(cp, CB1_OFFSET, 1), 0);
}

void check_switch(evtchn_port_t carried) {
    CHECK_EQ("switch.set_priority_free_port", set_priority(FREE_PORT, 3), -XEN_EACCES);
    CHECK_EQ("switch.set_priority_too_low", set_priority(carried, EVTCHN_FIFO_PRIORITY_MIN + 1), -XEN_EINVAL);
    CHECK_EQ("switch.set_priority_not_valid", set_priority(NO_PORT, 1), -XEN_EINVAL);
    CHECK("switch.nothing_queued_without_array", cb(0)->ready == 0 && vi(0).evtchn_upcall_pending == 0);
    CHECK_EQ("switch.expand_not_a_frame", expand(NOT_A_FRAME), -XEN_EINVAL);
    CHECK_EQ("switch.expand", expand(mfn_of(event_array)), 0);
    // The 2-level pending event is queued now, with the default priority.
    check("switch.carried_event_queued",
          word(carried) == (PENDING | LINKED) && cb(0)->head[EVTCHN_FIFO_PRIORITY_DEFAULT] == carried &&
              cb(0)->ready == DEFAULT_READY && vi(0).evtchn_upcall_pending == 1,
          "word %#x head %u ready %#x upcall %u", word(carried), cb(0)->head[EVTCHN_FIFO_PRIORITY_DEFAULT],
          cb(0)->ready, vi(0).evtchn_upcall_pending);
    clear_log();
    let_events_in();
    check("switch.carried_event_delivered", log_is({carried}) && g_upcalls == 1, "log %s, %u upcalls", log_text(),
          g_upcalls);
}

void check_order() {
    long a = bind_ipi(0), b = bind_ipi(0), hi = bind_ipi(0), lo = bind_ipi(0);
    CHECK("order.bind", a > 0 && b > 0 && hi > 0 && lo > 0);
    CHECK_EQ("order.set_priority_high", set_priority(static_cast<evtchn_port_t>(hi), 2), 0);
    CHECK_EQ("order.set_priority_low", set_priority(static_cast<evtchn_port_t>(lo), 12), 0);
    clear_log();
    unsigned upcalls = g_upcalls;
    for (long p : {lo, a, b, hi, a}) send(static_cast<evtchn_port_t>(p));
    check("order.ready_bits", cb(0)->ready == ((1u << 2) | DEFAULT_READY | (1u << 12)), "ready %#x", cb(0)->ready);
    check("order.linked_in_arrival_order", (word(static_cast<evtchn_port_t>(a)) & EVTCHN_FIFO_LINK_MASK) == b,
          "word %#x", word(static_cast<evtchn_port_t>(a)));
    let_events_in();
    check("order.by_priority_then_arrival",
          log_is({static_cast<evtchn_port_t>(hi), static_cast<evtchn_port_t>(a), static_cast<evtchn_port_t>(b),
                  static_cast<evtchn_port_t>(lo)}),
          "log %s", log_text());
    CHECK_EQ("order.one_upcall", g_upcalls - upcalls, 1);
    CHECK_EQ("order.set_priority_max", set_priority(static_cast<evtchn_port_t>(lo), EVTCHN_FIFO_PRIORITY_MAX), 0);
    clear_log();
    send(static_cast<evtchn_port_t>(a));
    send(static_cast<evtchn_port_t>(lo));
    let_events_in();
    check("order.new_priority_applies",
          log_is({static_cast<evtchn_port_t>(lo), static_cast<evtchn_port_t>(a)}), "log %s", log_text());
}

void check_mask() {
    evtchn_port_t p = static_cast<evtchn_port_t>(bind_ipi(0)), q = static_cast<evtchn_port_t>(bind_ipi(0));
    set_word_bits(p, MASKED);
    clear_log();
    CHECK_EQ("mask.send", send(p), 0);
    check("mask.pending_not_linked", word(p) == (PENDING | MASKED), "word %#x", word(p));
    CHECK("mask.no_upcall_pending", vi(0).evtchn_upcall_pending == 0);
    // SCHEDOP_poll sees a pending port, masked or not.
    u64 t0 = now_ns();
    long rc = poll(p, 1000 * MS);
    check("mask.poll_sees_it", rc == 0 && now_ns() - t0 < 500 * MS, "rc %ld after %llu ns", rc,
          static_cast<unsigned long long>(now_ns() - t0));
    // Linux's unmask: clear MASKED, then have the hypervisor raise what is pending.
    clear_word_bits(p, MASKED);
    CHECK_EQ("mask.unmask", unmask(p), 0);
    check("mask.unmask_links", word(p) == (PENDING | LINKED), "word %#x", word(p));
    let_events_in();
    check("mask.unmask_delivers", log_is({p}), "log %s", log_text());
    // EVTCHNOP_unmask clears MASKED itself; with nothing pending nothing is queued.
    set_word_bits(q, MASKED);
    CHECK_EQ("mask.unmask_idle", unmask(q), 0);
    check("mask.unmask_clears_masked", word(q) == 0, "word %#x", word(q));
    CHECK_EQ("mask.unmask_free_port", unmask(FREE_PORT), 0);
    CHECK_EQ("mask.unmask_not_valid", unmask(NO_PORT), -XEN_EINVAL);
    CHECK_EQ("mask.poll_free_port", poll(FREE_PORT, 10 * MS), -XEN_EINVAL);
}

evtchn_port_t check_virq() {
    evtchn_bind_virq_t bv{};
    bv.virq = VIRQ_TIMER;
    bv.vcpu = 0;
    CHECK_EQ("virq.bind_timer", hc::event_channel_op(EVTCHNOP_bind_virq, &bv), 0);
    evtchn_port_t t = bv.port;
    clear_log();
    CHECK_EQ("virq.singleshot", singleshot_in(2 * MS), 0);
    for (unsigned i = 0; i < 100 && !g_nlog; ++i) hc::sched_op(SCHEDOP_block, nullptr);
    vi(0).evtchn_upcall_mask = 1;
    check("virq.timer_by_block", log_is({t}), "log %s", log_text());
    // SCHEDOP_poll on a FIFO port: the timer's event ends it and stays queued.
    clear_log();
    CHECK_EQ("virq.singleshot_again", singleshot_in(2 * MS), 0);
    u64 t0 = now_ns();
    long rc = poll(t, 1000 * MS);
    check("virq.poll_returns", rc == 0 && now_ns() - t0 < 500 * MS, "rc %ld after %llu ns", rc,
          static_cast<unsigned long long>(now_ns() - t0));
    check("virq.poll_leaves_it_queued", word(t) == (PENDING | LINKED), "word %#x", word(t));
    let_events_in();
    check("virq.poll_then_delivered", log_is({t}), "log %s", log_text());
    return t;
}

void check_loopback_and_move() {
    evtchn_alloc_unbound_t au{};
    au.dom = DOMID_SELF;
    au.remote_dom = DOMID_SELF;
    CHECK_EQ("loopback.alloc_unbound", hc::event_channel_op(EVTCHNOP_alloc_unbound, &au), 0);
    evtchn_bind_interdomain_t bi{};
    bi.remote_dom = DOMID_SELF;
    bi.remote_port = au.port;
    CHECK_EQ("loopback.bind", hc::event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0);
    evtchn_port_t u = au.port, l = bi.local_port;
    clear_log();
    let_events_in();
    check("loopback.bind_raises_local_port", log_is({l}), "log %s", log_text());
    clear_log();
    send(l);
    let_events_in();
    send(u);
    let_events_in();
    check("loopback.both_ways", log_is({u, l}), "log %s", log_text());

    // To vCPU 1 (down, but its control block and upcall flag are written).
    CHECK_EQ("move.bind_vcpu1", bind_vcpu(u, 1), 0);
    vi(1).evtchn_upcall_pending = 0;
    clear_log();
    send(l);
    check("move.on_vcpu1_queue",
          cb(1)->head[EVTCHN_FIFO_PRIORITY_DEFAULT] == u && cb(1)->ready == DEFAULT_READY && word(u) == (PENDING | LINKED),
          "head %u ready %#x word %#x", cb(1)->head[EVTCHN_FIFO_PRIORITY_DEFAULT], cb(1)->ready, word(u));
    CHECK("move.vcpu1_upcall_pending", vi(1).evtchn_upcall_pending == 1);
    CHECK("move.not_on_vcpu0", cb(0)->ready == 0 && vi(0).evtchn_upcall_pending == 0);
    // vCPU 1's "kernel" takes it (its queue's next head is 0), then the port comes back.
    __atomic_store_n(&event_array[u], 0u, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cb(1)->ready, 0u, __ATOMIC_SEQ_CST);
    vi(1).evtchn_upcall_pending = 0;
    CHECK_EQ("move.bind_vcpu0", bind_vcpu(u, 0), 0);
    send(l);
    let_events_in();
    check("move.back_on_vcpu0", log_is({u}) && cb(1)->ready == 0, "log %s, vCPU 1 ready %#x", log_text(),
          cb(1)->ready);
}

void check_reuse() {
    long c = bind_ipi(0);
    send(static_cast<evtchn_port_t>(c));  // linked, and the upcall waits (events masked)
    CHECK_EQ("reuse.close_linked", close(static_cast<evtchn_port_t>(c)), 0);
    check("reuse.close_clears_pending_only", word(static_cast<evtchn_port_t>(c)) == LINKED, "word %#x",
          word(static_cast<evtchn_port_t>(c)));
    long n = bind_ipi(0);
    CHECK_EQ("reuse.linked_port_skipped", n, c + 1);
    clear_log();
    let_events_in();
    check("reuse.closed_event_dropped", g_nlog == 0, "log %s", log_text());
    CHECK_EQ("reuse.close_other", close(static_cast<evtchn_port_t>(n)), 0);
    CHECK_EQ("reuse.port_back_once_unlinked", bind_ipi(0), c);
}

// A domU (domu.hpp) on FIFO, bound to domain 0's FIFO: our event reaches its queue, its answer
// ours.
void check_domu() {
    fifot::Domu d;
    if (!fifot::domu_start(g_si, d)) return;
    evtchn_bind_interdomain_t bi{};
    bi.remote_dom = d.id;
    bi.remote_port = d.port;
    CHECK_EQ("domu.bind", hc::event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0);
    evtchn_port_t l = bi.local_port;
    clear_log();
    let_events_in();
    check("domu.bind_raises_local_port", log_is({l}), "log %s", log_text());
    clear_log();
    CHECK_EQ("domu.send", send(l), 0);
    u64 t0 = now_ns();
    long rc = poll(l, 2000 * MS);
    check("domu.answer_polled", rc == 0 && now_ns() - t0 < 1500 * MS, "rc %ld after %llu ns", rc,
          static_cast<unsigned long long>(now_ns() - t0));
    let_events_in();
    check("domu.answer_delivered", log_is({l}), "log %s", log_text());
    fifot::domu_finish(d);
    // Its death left our port unbound, waiting for it again.
    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = l;
    CHECK_EQ("domu.local_port_status", hc::event_channel_op(EVTCHNOP_status, &st), 0);
    CHECK_EQ("domu.local_port_unbound", st.status, EVTCHNSTAT_unbound);
    CHECK_EQ("domu.close", close(l), 0);
}

void check_limit() {
    // Domain 0's limit under FIFO is the ABI's, so ports go past 4095; events there wait for an
    // event-array page that never comes.
    long last = 0, rc;
    while ((rc = bind_ipi(0)) > 0 && rc < 4096 + 8) last = rc;
    CHECK_EQ("limit.fifo_past_4095", last, 4096 + 7);
    CHECK_EQ("limit.send_without_page", send(4096), 0);
    CHECK_EQ("limit.poll_without_page", poll(4096, 10 * MS), 0);
    CHECK_EQ("limit.set_priority_without_page", set_priority(4096, 1), 0);
}

// Maps one page of the image read-only or writable again (a page table must have no writable
// mapping).
long map_page(const volatile void* p, bool writable) {
    u64 pte = (mfn_of(p) << PAGE_SHIFT) | PTE_P | PTE_A | PTE_D | (writable ? PTE_RW : 0);
    return hc::update_va_mapping(va(p), pte, UVMF_INVLPG | UVMF_LOCAL);
}
long pin_l1(const volatile void* p) { return hc::mmuext1(MMUEXT_PIN_L1_TABLE, mfn_of(p)); }

// The hypervisor holds the control-block and event-array frames typed writable while FIFO uses
// them, so they cannot become page tables; reset lets go.  (Zeroed, a page is a valid L1.)
void check_frames_then_reset() {
    for (auto& b : control_page) b = 0;
    CHECK_EQ("frames.remap_readonly", map_page(control_page, false), 0);
    CHECK_EQ("frames.control_page_held", pin_l1(control_page), -XEN_EINVAL);
    CHECK_EQ("frames.remap_writable", map_page(control_page, true), 0);
    CHECK_EQ("reset.fifo", reset_self(), 0);
    for (auto& b : control_page) b = 0;
    for (auto& w : event_array) w = 0;
    CHECK_EQ("frames.remap_readonly_after_reset", map_page(control_page, false) | map_page(event_array, false), 0);
    CHECK_EQ("frames.control_page_released", pin_l1(control_page), 0);
    CHECK_EQ("frames.array_page_released", pin_l1(event_array), 0);
    CHECK_EQ("frames.unpin", hc::mmuext1(MMUEXT_UNPIN_TABLE, mfn_of(control_page)) |
                                 hc::mmuext1(MMUEXT_UNPIN_TABLE, mfn_of(event_array)),
             0);
    CHECK_EQ("frames.remap_writable_after_reset", map_page(control_page, true) | map_page(event_array, true), 0);
}

void check_reset(evtchn_port_t carried) {
    check_frames_then_reset();
    CHECK_EQ("reset.expand_refused", expand(mfn_of(event_array)), -XEN_EOPNOTSUPP);
    long p = bind_ipi(0);
    CHECK_EQ("reset.all_closed", p, 1);
    CHECK_EQ("reset.set_priority_2level", set_priority(static_cast<evtchn_port_t>(p), 3), -XEN_ENOSYS);
    CHECK_EQ("reset.ports_4096_gone", send(4096), -XEN_EINVAL);
    // 2-level delivery again: port 1 is still masked in shared_info (masks are the guest's).
    __atomic_fetch_and(&g_shared->evtchn_pending[0], ~(1ull << p), __ATOMIC_SEQ_CST);
    CHECK_EQ("reset.send_2level", send(static_cast<evtchn_port_t>(p)), 0);
    CHECK("reset.pending_2level", pending_2l(static_cast<evtchn_port_t>(p)) && word(carried) == 0);
    vi(0).evtchn_upcall_pending = 0;
    // FIFO again, in the same frames: the first time's references are gone, new ones taken.
    for (auto& b : control_page) b = 0;
    for (auto& w : event_array) w = 0;
    for (auto& h : g_head) h = 0;
    CHECK_EQ("reset.init_again", init_control(mfn_of(control_page), 0, 0), 0);
    CHECK_EQ("reset.expand_again", expand(mfn_of(event_array)), 0);
    clear_log();
    let_events_in();
    check("reset.pending_carried_again", log_is({static_cast<evtchn_port_t>(p)}), "log %s", log_text());
    CHECK_EQ("reset.final", reset_self(), 0);
}

// role=domu: the domU of check_domu.  It switches to FIFO, offers domain 0 a port, waits for
// its event and answers; poweroff when all went as expected, crash otherwise (domain 0 checks
// the shutdown code).
[[noreturn]] void run_domu() {
    bool ok = init_control(mfn_of(control_page), 0, 0) == 0 && expand(mfn_of(event_array)) == 0;
    evtchn_alloc_unbound_t au{};
    au.dom = DOMID_SELF;
    au.remote_dom = 0;
    ok = ok && hc::event_channel_op(EVTCHNOP_alloc_unbound, &au) == 0;
    clear_log();
    for (unsigned i = 0; ok && i < 1000 && !g_nlog; ++i) hc::sched_op(SCHEDOP_block, nullptr);
    vi(0).evtchn_upcall_mask = 1;
    ok = ok && log_is({au.port}) && send(au.port) == 0;
    shutdown(ok ? SHUTDOWN_poweroff : SHUTDOWN_crash);
}

void setup() {
    u64 pte = (g_si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    if (long rc = hc::update_va_mapping(va(shared_info_page), pte, UVMF_INVLPG | UVMF_LOCAL)) {
        print("fifotest: setup error (mapping shared info: %ld)\n", rc);
        shutdown(SHUTDOWN_crash);
    }
    g_shared = reinterpret_cast<volatile shared_info_t*>(shared_info_page);
    vi(0).evtchn_upcall_mask = 1;
    // The periodic timer would raise VIRQ_TIMER into the order checks once bound.
    long t = hc::vcpu_op(VCPUOP_stop_periodic_timer, 0, nullptr);
    callback_register_t event_cb{};
    event_cb.type = CALLBACKTYPE_event;
    event_cb.address = va(reinterpret_cast<const void*>(&fifo_event_entry));
    long e = hc::callback_op(CALLBACKOP_register, &event_cb);
    if (t || e) {
        print("fifotest: setup error (stop_periodic_timer %ld, event callback %ld)\n", t, e);
        shutdown(SHUTDOWN_crash);
    }
    vi(0).evtchn_upcall_pending = 0;
}

}  // namespace

extern "C" [[noreturn]] void guest_main(start_info_t* si) {
    g_si = si;
    setup();
    const char* cmdline = reinterpret_cast<const char*>(si->cmd_line);
    if (cmdline_value(pv::StrView(cmdline, pv::str_nlen(cmdline, MAX_GUEST_CMDLINE)), "role").equals("domu"))
        run_domu();
    set_report_prefix("fifotest");
    print("fifotest: start\n");
    evtchn_port_t carried = check_2level();
    check_init();
    check_switch(carried);
    check_order();
    check_mask();
    check_virq();
    check_loopback_and_move();
    check_reuse();
    check_domu();
    check_limit();
    check_reset(carried);
    finish();
}
