// Event-channel metrics: an event sent to this vCPU and taken as an upcall (EVTCHNOP_send, the
// upcall on the way out of the hypercall, the handler, HYPERVISOR_iret), and the vCPU-to-vCPU
// ping-pong: vCPU 0 and vCPU 1 on one physical CPU, each blocked in SCHEDOP_block until the
// other's IPI event channel wakes it.  One round trip is two context switches, two sends, two
// blocks and two upcalls.
//
// The upcall handler (bench_event_upcall) works as Linux's 2-level one: it clears the vCPU's
// upcall_pending, takes its pending_sel, and clears the pending bits of the ports bound to it
// (the words are shared between vCPUs, the selectors are not).  domains.cpp counts its
// interdomain events through the same handler (listen_on, events_taken, block_until_event).
#include "guest/bench/bench.hpp"

extern "C" {
void bench_event_entry();
void bench_vcpu1_entry();
void bench_event_upcall(pvg::u64 rsp);
void bench_vcpu1_main();
alignas(16) constinit pvg::u8 bench_vcpu1_stack[16384];
}

namespace bench {
namespace {

constexpr unsigned BITS = sizeof(xen_ulong_t) * 8;

constinit volatile u64 g_events[2];       // events taken, per vCPU
constinit xen_ulong_t g_port_bits[2];     // the ports bound to each vCPU (all below BITS)
constinit evtchn_port_t g_port[2];        // vCPU n's IPI port
constinit volatile bool g_v1_ready = false;
constinit volatile bool g_v1_stop = false;

bool bind_ipi(unsigned vcpu, const char* metric) {
    evtchn_bind_ipi_t b{};
    b.vcpu = vcpu;
    long rc = hc::event_channel_op(EVTCHNOP_bind_ipi, &b);
    if (rc == 0 && b.port < BITS) {
        g_port[vcpu] = b.port;
        listen_on(vcpu, b.port);
        return true;
    }
    report_error(metric, "bind_ipi for vCPU %u: %ld, port %u", vcpu, rc, b.port);
    return false;
}

void bench_send_upcall() {
    if (!bind_ipi(0, "evtchn_send_upcall")) return;
    run("evtchn_send_upcall", 100, 1000, [] {
        u64 before = g_events[0];
        g_shared->vcpu_info[0].evtchn_upcall_mask = 0;
        long rc = send(g_port[0]);
        if (rc == 0 && g_events[0] == before + 1) return true;
        g_shared->vcpu_info[0].evtchn_upcall_mask = 1;
        report_error("evtchn_send_upcall", "send %ld, %llu upcalls", rc,
                     static_cast<unsigned long long>(g_events[0] - before));
        return false;
    });
}

// vCPU 0 waits for vCPU 1 by yielding the CPU to it (bounded).
template <typename F> bool yield_until(F cond) {
    for (unsigned i = 0; i < 100000; ++i) {
        if (cond()) return true;
        hc::sched_op(SCHEDOP_yield, nullptr);
    }
    return cond();
}

bool start_vcpu1() {
    if (!bind_ipi(1, "vcpu_switch_pingpong")) return false;
    static vcpu_guest_context_t ctx;
    ctx = {};
    ctx.flags = VGCF_in_kernel;
    ctx.user_regs.rip = va(reinterpret_cast<void*>(bench_vcpu1_entry));
    ctx.user_regs.rsp = va(bench_vcpu1_stack + sizeof bench_vcpu1_stack);
    ctx.user_regs.cs = FLAT_KERNEL_CS;
    ctx.user_regs.ss = FLAT_KERNEL_SS;
    ctx.user_regs.rflags = 0x200;
    ctx.kernel_ss = FLAT_KERNEL_SS;
    ctx.kernel_sp = ctx.user_regs.rsp;
    ctx.ctrlreg[3] = xen_pfn_to_cr3(mfn_of(reinterpret_cast<const void*>(g_si->pt_base)));
    ctx.event_callback_eip = va(reinterpret_cast<void*>(bench_event_entry));
    long init = hc::vcpu_op(VCPUOP_initialise, 1, &ctx);
    long timer = init ? 0 : hc::vcpu_op(VCPUOP_stop_periodic_timer, 1, nullptr);
    long up = init ? 0 : hc::vcpu_op(VCPUOP_up, 1, nullptr);
    if (init || up) {
        report_error("vcpu_switch_pingpong", "vCPU 1: initialise %ld, up %ld (dom0_max_vcpus=2?)", init, up);
        return false;
    }
    if (timer) print("bench: info: stop_periodic_timer on vCPU 1: %ld\n", timer);
    if (!yield_until([] { return g_v1_ready; })) {
        report_error("vcpu_switch_pingpong", "vCPU 1 did not start");
        return false;
    }
    return true;
}

void bench_pingpong() {
    if (!start_vcpu1()) return;
    run("vcpu_switch_pingpong", 50, 500, [] {
        u64 before = g_events[0];
        long rc = send(g_port[1]);
        if (rc) {
            report_error("vcpu_switch_pingpong", "send %ld", rc);
            return false;
        }
        block_until_event(0, before);
        return true;
    });
    g_v1_stop = true;
    send(g_port[1]);
    if (!yield_until([] { return hc::vcpu_op(VCPUOP_is_up, 1, nullptr) == 0; }))
        print("bench: info: vCPU 1 did not go down\n");
}

}  // namespace

long send(evtchn_port_t port) {
    evtchn_send_t s{};
    s.port = port;
    return hc::event_channel_op(EVTCHNOP_send, &s);
}

void listen_on(unsigned vcpu, evtchn_port_t port) { g_port_bits[vcpu] = xen_ulong_t{1} << port; }

u64 events_taken(unsigned vcpu) { return g_events[vcpu]; }

void block_until_event(unsigned vcpu, u64 before) {
    while (g_events[vcpu] == before) hc::sched_op(SCHEDOP_block, nullptr);
}

void bench_events() {
    bench_send_upcall();
    bench_pingpong();
}

}  // namespace bench

using namespace bench;

extern "C" void bench_event_upcall(u64 rsp) {
    unsigned cpu = rsp >= va(bench_vcpu1_stack) && rsp < va(bench_vcpu1_stack + sizeof bench_vcpu1_stack);
    volatile vcpu_info_t& vi = g_shared->vcpu_info[cpu];
    vi.evtchn_upcall_pending = 0;
    xen_ulong_t sel = __atomic_exchange_n(&vi.evtchn_pending_sel, xen_ulong_t{0}, __ATOMIC_SEQ_CST);
    // Every port of ours is in word 0.
    if (sel & 1) {
        xen_ulong_t bits = g_shared->evtchn_pending[0] & ~g_shared->evtchn_mask[0] & g_port_bits[cpu];
        if (bits) {
            __atomic_and_fetch(&g_shared->evtchn_pending[0], ~bits, __ATOMIC_SEQ_CST);
            g_events[cpu] = g_events[cpu] + 1;
        }
    }
}

// vCPU 1: blocks until vCPU 0's event, answers with one, until told to stop.
extern "C" void bench_vcpu1_main() {
    g_shared->vcpu_info[1].evtchn_upcall_mask = 1;
    g_v1_ready = true;
    for (;;) {
        block_until_event(1, g_events[1]);
        if (g_v1_stop) hc::vcpu_op(VCPUOP_down, 1, nullptr);
        else send(g_port[0]);
    }
}
