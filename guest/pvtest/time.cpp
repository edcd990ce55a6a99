// Time, timers and blocking: vcpu_info.time and the wallclock, VIRQ_TIMER from the default
// periodic timer, VCPUOP periodic and single-shot timers, set_timer_op, SCHEDOP_poll and
// SCHEDOP_block, and the runstate area.
//
// Events stay masked (evtchn_upcall_mask = 1) except inside SCHEDOP_block, which unmasks them:
// the checks read the pending bits of shared_info themselves.  An upcall that SCHEDOP_block lets
// through is recorded by trap_dispatch (VEC_EVENT) and returns with events masked again.
// Durations are measured with the guest's own clock (vcpu_info.time and the TSC), with margins
// for QEMU's emulation: a timeout is checked to have passed, and an event to come well before a
// much later timeout.
#include "guest/pvtest/pvtest.hpp"
#include "guest/pvtest/traps.hpp"

namespace pvt {
namespace {

constexpr u64 MS = 1'000'000;

u64 now_ns() { return system_time_ns(); }

void spin_for(u64 ns) {
    u64 end = now_ns() + ns;
    while (now_ns() < end) asm volatile("pause");
}

bool pending(evtchn_port_t p);

// Spins (events masked, so nothing blocks) until port p is pending or `limit` ns passed.
bool spin_until_pending(evtchn_port_t p, u64 limit) {
    u64 end = now_ns() + limit;
    while (!pending(p) && now_ns() < end) asm volatile("pause");
    return pending(p);
}

constexpr unsigned BITS = sizeof(xen_ulong_t) * 8;

bool pending(evtchn_port_t p) { return (g_shared->evtchn_pending[p / BITS] >> (p % BITS)) & 1; }
void clear_pending(evtchn_port_t p) {
    __atomic_and_fetch(&g_shared->evtchn_pending[p / BITS], ~(xen_ulong_t{1} << (p % BITS)), __ATOMIC_SEQ_CST);
}
// Forgets every event so far: the pending bits of our ports, the selector and the upcall flag.
void clear_events(evtchn_port_t a, evtchn_port_t b) {
    clear_pending(a);
    clear_pending(b);
    g_shared->vcpu_info[0].evtchn_pending_sel = 0;
    g_shared->vcpu_info[0].evtchn_upcall_pending = 0;
}

long poll(const evtchn_port_t* ports, unsigned nr, u64 timeout) {
    sched_poll_t p{};
    set_xen_guest_handle(p.ports, const_cast<evtchn_port_t*>(ports));
    p.nr_ports = nr;
    p.timeout = timeout;
    return hc::sched_op(SCHEDOP_poll, &p);
}

long set_timer_op(u64 timeout) { return hypercall(__HYPERVISOR_set_timer_op, timeout); }

vcpu_runstate_info_t g_runstate;

unsigned upcalls() {
    unsigned n = 0;
    for (unsigned i = 0; i < g_ntraps && i < MAX_TRAP_RECORDS; ++i)
        if (g_traps[i].vector == VEC_EVENT) ++n;
    return n;
}

void check_clock() {
    volatile vcpu_time_info_t& t = g_shared->vcpu_info[0].time;
    info("vcpu_info.time: version %u system_time %lu mul %#x shift %d", t.version, t.system_time,
         t.tsc_to_system_mul, t.tsc_shift);
    CHECK("time.vcpu_time_published", (t.version & 1) == 0 && t.version != 0 && t.tsc_to_system_mul != 0);
    u64 a = now_ns();
    spin_for(MS);
    u64 b = now_ns();
    check("time.system_time_advances", b > a, "%lu then %lu", a, b);
    u64 wc = g_shared->wc_sec | (u64{g_shared->wc_sec_hi} << 32);
    info("wallclock at boot: %lu s (version %u)", wc, g_shared->wc_version);
    // After 2020-01-01 and before 2200: the RTC's date, not zero or garbage.
    check("time.wallclock", (g_shared->wc_version & 1) == 0 && wc > 1577836800 && wc < 7258118400,
          "wc_sec %lu", wc);
}

void check_timers(evtchn_port_t timer) {
    evtchn_port_t ports[1] = {timer};

    // Every PV vCPU starts with a 100 Hz periodic timer, which ticks while the vCPU runs...
    clear_events(timer, timer);
    CHECK("time.default_periodic_tick", spin_until_pending(timer, 500 * MS));
    // ...and not while it is blocked: the vCPU sleeps until something else wakes it (here the
    // poll's timeout), and gets the tick it missed as it resumes.
    clear_events(timer, timer);
    u64 t0 = now_ns();
    long rc = poll(ports, 1, t0 + 50 * MS);
    u64 dt = now_ns() - t0;
    check("time.periodic_sleeps_while_blocked", rc == 0 && dt >= 49 * MS && pending(timer),
          "rc %ld after %lu ns pending %d", rc, dt, pending(timer));

    CHECK_EQ("time.stop_periodic", hc::vcpu_op(VCPUOP_stop_periodic_timer, 0, nullptr), 0);
    clear_events(timer, timer);
    spin_for(30 * MS);
    CHECK("time.stopped_periodic_is_quiet", !pending(timer));
    t0 = now_ns();
    rc = poll(ports, 1, t0 + 30 * MS);
    dt = now_ns() - t0;
    check("time.poll_times_out_quietly", rc == 0 && !pending(timer) && dt >= 29 * MS,
          "rc %ld pending %d after %lu ns", rc, pending(timer), dt);

    vcpu_set_periodic_timer_t per{};
    per.period_ns = MS / 2;
    CHECK_EQ("time.periodic_under_1ms", hc::vcpu_op(VCPUOP_set_periodic_timer, 0, &per), -XEN_EINVAL);
    per.period_ns = 0;
    CHECK_EQ("time.periodic_zero", hc::vcpu_op(VCPUOP_set_periodic_timer, 0, &per), -XEN_EINVAL);
    per.period_ns = 2 * MS;
    CHECK_EQ("time.set_periodic", hc::vcpu_op(VCPUOP_set_periodic_timer, 0, &per), 0);
    // Three ticks in a row: two periods or more between the first and the last.
    unsigned ticks = 0;
    u64 first = 0;
    for (int i = 0; i < 3; ++i) {
        clear_events(timer, timer);
        if (spin_until_pending(timer, 500 * MS)) ++ticks;
        if (i == 0) first = now_ns();
    }
    dt = now_ns() - first;
    check("time.periodic_ticks", ticks == 3 && dt >= 3 * MS, "%u ticks, %lu ns from the first to the last",
          ticks, dt);
    CHECK_EQ("time.stop_periodic_again", hc::vcpu_op(VCPUOP_stop_periodic_timer, 0, nullptr), 0);

    // set_timer_op: the single-shot timer at an absolute system time.
    clear_events(timer, timer);
    t0 = now_ns();
    CHECK_EQ("time.set_timer_op", set_timer_op(t0 + 5 * MS), 0);
    rc = poll(ports, 1, t0 + 500 * MS);
    dt = now_ns() - t0;
    check("time.set_timer_op_fires", rc == 0 && pending(timer) && dt >= 5 * MS && dt < 400 * MS,
          "rc %ld pending %d after %lu ns", rc, pending(timer), dt);

    clear_events(timer, timer);
    t0 = now_ns();
    CHECK_EQ("time.set_timer_op_rearm", set_timer_op(t0 + 50 * MS), 0);
    CHECK_EQ("time.set_timer_op_zero", set_timer_op(0), 0);
    rc = poll(ports, 1, t0 + 100 * MS);
    check("time.set_timer_op_zero_stops", rc == 0 && !pending(timer), "rc %ld pending %d", rc, pending(timer));

    // A deadline ~26 days ahead is taken for a guest's overflow: Xen fires it in 100 ms.
    clear_events(timer, timer);
    t0 = now_ns();
    CHECK_EQ("time.set_timer_op_huge", set_timer_op(t0 + (u64{1} << 51)), 0);
    rc = poll(ports, 1, t0 + 2000 * MS);
    dt = now_ns() - t0;
    check("time.set_timer_op_huge_is_100ms", rc == 0 && pending(timer) && dt >= 95 * MS && dt < 1500 * MS,
          "rc %ld pending %d after %lu ns", rc, pending(timer), dt);
    // A deadline in the past fires at once.
    clear_events(timer, timer);
    CHECK_EQ("time.set_timer_op_past", set_timer_op(1), 0);
    rc = poll(ports, 1, now_ns() + 500 * MS);
    check("time.set_timer_op_past_fires", rc == 0 && pending(timer), "rc %ld pending %d", rc, pending(timer));

    // VCPUOP single-shot timer.
    // VCPU_SSHOTTMR_future asks for -ETIME on a past deadline, but "can be ignored by the
    // hypervisor", and Xen 4.17 ignores it: the timer fires at once.
    vcpu_set_singleshot_timer_t ss{};
    clear_events(timer, timer);
    ss.timeout_abs_ns = now_ns() - MS;
    ss.flags = VCPU_SSHOTTMR_future;
    CHECK_EQ("time.singleshot_future_flag_ignored", hc::vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0);
    rc = poll(ports, 1, now_ns() + 500 * MS);
    check("time.singleshot_past_fires", rc == 0 && pending(timer), "rc %ld pending %d", rc, pending(timer));
    clear_events(timer, timer);
    t0 = now_ns();
    ss.timeout_abs_ns = t0 + 3 * MS;
    ss.flags = VCPU_SSHOTTMR_future;
    CHECK_EQ("time.singleshot_set", hc::vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0);
    rc = poll(ports, 1, t0 + 500 * MS);
    dt = now_ns() - t0;
    check("time.singleshot_fires", rc == 0 && pending(timer) && dt >= 3 * MS && dt < 400 * MS,
          "rc %ld pending %d after %lu ns", rc, pending(timer), dt);
    clear_events(timer, timer);
    t0 = now_ns();
    ss.timeout_abs_ns = t0 + 50 * MS;  // far enough that QEMU's pace cannot let it fire first
    ss.flags = 0;
    CHECK_EQ("time.singleshot_rearm", hc::vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0);
    CHECK_EQ("time.singleshot_stop", hc::vcpu_op(VCPUOP_stop_singleshot_timer, 0, nullptr), 0);
    rc = poll(ports, 1, t0 + 100 * MS);
    check("time.singleshot_stopped", rc == 0 && !pending(timer), "rc %ld pending %d", rc, pending(timer));
    // Single-shot timers are the caller's own business (vCPU 1 exists, down: dom0_max_vcpus=2).
    CHECK_EQ("time.singleshot_other_vcpu", hc::vcpu_op(VCPUOP_stop_singleshot_timer, 1, nullptr), -XEN_EINVAL);
}

void check_poll(evtchn_port_t timer, evtchn_port_t ipi) {
    evtchn_port_t ports[2] = {ipi, timer};
    CHECK_EQ("time.poll_too_many_ports", poll(ports, 129, 0), -XEN_EINVAL);
    sched_poll_t p{};
    set_xen_guest_handle(p.ports, reinterpret_cast<evtchn_port_t*>(HYPERVISOR_ADDRESS));
    p.nr_ports = 1;
    CHECK_EQ("time.poll_ports_in_hypervisor", hc::sched_op(SCHEDOP_poll, &p), -XEN_EFAULT);
    set_xen_guest_handle(p.ports, reinterpret_cast<evtchn_port_t*>(UNMAPPED_ADDRESS));
    CHECK_EQ("time.poll_ports_unmapped", hc::sched_op(SCHEDOP_poll, &p), -XEN_EFAULT);
    CHECK_EQ("time.poll_args_unmapped", hc::sched_op(SCHEDOP_poll, reinterpret_cast<void*>(UNMAPPED_ADDRESS)),
             -XEN_EFAULT);
    evtchn_port_t bad[1] = {4000};  // below the 2-level limit, but no such port
    CHECK_EQ("time.poll_invalid_port", poll(bad, 1, 0), -XEN_EINVAL);

    // A pending port ends the poll at once; the order of the list does not matter.
    clear_events(timer, ipi);
    evtchn_send_t send{};
    send.port = ipi;
    CHECK_EQ("time.send_ipi", hc::event_channel_op(EVTCHNOP_send, &send), 0);
    u64 t0 = now_ns();
    long rc = poll(ports, 2, t0 + 1000 * MS);
    u64 dt = now_ns() - t0;
    check("time.poll_pending_returns", rc == 0 && dt < 500 * MS, "rc %ld after %lu ns", rc, dt);
    CHECK("time.poll_leaves_pending", pending(ipi));

    // No ports: only the timeout (or an event delivery) ends it.
    clear_events(timer, ipi);
    t0 = now_ns();
    rc = poll(ports, 0, t0 + 10 * MS);
    dt = now_ns() - t0;
    check("time.poll_no_ports_times_out", rc == 0 && dt >= 9 * MS, "rc %ld after %lu ns", rc, dt);
}

void check_block_and_runstate(evtchn_port_t timer, evtchn_port_t ipi) {
    // The runstate area: the vCPU running, and time accounted.
    CHECK_EQ("time.runstate_area_in_hypervisor",
             hc::vcpu_op(VCPUOP_register_runstate_memory_area, 0,
                         [] {
                             static vcpu_register_runstate_memory_area_t a{};
                             a.addr.v = reinterpret_cast<vcpu_runstate_info_t*>(HYPERVISOR_ADDRESS);
                             return &a;
                         }()),
             -XEN_EFAULT);
    vcpu_register_runstate_memory_area_t area{};
    area.addr.v = &g_runstate;
    CHECK_EQ("time.runstate_register", hc::vcpu_op(VCPUOP_register_runstate_memory_area, 0, &area), 0);
    check("time.runstate_running", g_runstate.state == RUNSTATE_running && g_runstate.time[RUNSTATE_running] > 0,
          "state %d running %lu ns", g_runstate.state, g_runstate.time[RUNSTATE_running]);
    vcpu_runstate_info_t info_now{};
    CHECK_EQ("time.get_runstate_info", hc::vcpu_op(VCPUOP_get_runstate_info, 0, &info_now), 0);
    CHECK("time.get_runstate_info_running", info_now.state == RUNSTATE_running &&
                                                info_now.time[RUNSTATE_running] >= g_runstate.time[RUNSTATE_running]);
    u64 blocked_before = g_runstate.time[RUNSTATE_blocked];

    // SCHEDOP_block with an event pending: returns at once, events enabled, so the upcall runs.
    clear_events(timer, ipi);
    evtchn_send_t send{};
    send.port = ipi;
    CHECK_EQ("time.block_send_ipi", hc::event_channel_op(EVTCHNOP_send, &send), 0);
    traps_reset();
    u64 t0 = now_ns();
    long rc = hc::sched_op(SCHEDOP_block, nullptr);
    u64 dt = now_ns() - t0;
    check("time.block_with_event_pending", rc == 0 && dt < 500 * MS, "rc %ld after %lu ns", rc, dt);
    CHECK_EQ("time.block_delivers_upcall", upcalls(), 1);
    CHECK_EQ("time.block_upcall_masks_again", vcpu0_upcall_mask(), 1);

    // HYPERVISOR_iret that unmasks events with one pending: the upcall comes at once, at the
    // address the iret returns to (Xen checks for events on every way out of a hypercall).
    clear_events(timer, ipi);
    CHECK_EQ("time.iret_send_ipi", hc::event_channel_op(EVTCHNOP_send, &send), 0);
    traps_reset();
    g_unmask_on_return = true;
    u64 after_int3 = 0;
    asm volatile("int3\n\t"
                 "1: lea 1b(%%rip), %0"
                 : "=r"(after_int3)
                 :
                 : "memory");
    const TrapRecord* ev = g_ntraps >= 2 ? &g_traps[1] : nullptr;
    check("time.iret_delivers_pending_upcall",
          g_ntraps == 2 && g_traps[0].vector == 3 && ev->vector == VEC_EVENT && ev->rip == after_int3,
          "%u traps, second vector %#llx rip %#llx, expected rip %#llx", g_ntraps,
          ev ? static_cast<unsigned long long>(ev->vector) : 0ull, ev ? static_cast<unsigned long long>(ev->rip) : 0ull,
          static_cast<unsigned long long>(after_int3));
    CHECK_EQ("time.iret_upcall_masks_again", vcpu0_upcall_mask(), 1);

    // SCHEDOP_block until the single-shot timer fires.
    clear_events(timer, ipi);
    traps_reset();
    t0 = now_ns();
    CHECK_EQ("time.block_timer_set", set_timer_op(t0 + 10 * MS), 0);
    rc = hc::sched_op(SCHEDOP_block, nullptr);
    dt = now_ns() - t0;
    check("time.block_wakes_on_timer", rc == 0 && dt >= 10 * MS && dt < 1000 * MS && pending(timer),
          "rc %ld after %lu ns pending %d", rc, dt, pending(timer));
    CHECK_EQ("time.block_timer_upcall", upcalls(), 1);
    u64 blocked = g_runstate.time[RUNSTATE_blocked] - blocked_before;
    check("time.runstate_counts_blocked", g_runstate.state == RUNSTATE_running && blocked >= 9 * MS && blocked <= dt,
          "state %d blocked for %lu ns of %lu", g_runstate.state, blocked, dt);
    check("time.runstate_entry_time", g_runstate.state_entry_time >= t0 && g_runstate.state_entry_time <= now_ns(),
          "entry %lu, block began %lu", g_runstate.state_entry_time, t0);
    clear_events(timer, ipi);
}

}  // namespace

void check_time() {
    if (!g_shared) {
        CHECK("time.shared_info_mapped", false);
        return;
    }
    check_clock();
    evtchn_bind_virq_t bv{};
    bv.virq = VIRQ_TIMER;
    bv.vcpu = 0;
    CHECK_EQ("time.bind_virq_timer", hc::event_channel_op(EVTCHNOP_bind_virq, &bv), 0);
    evtchn_bind_ipi_t bi{};
    bi.vcpu = 0;
    CHECK_EQ("time.bind_ipi", hc::event_channel_op(EVTCHNOP_bind_ipi, &bi), 0);
    evtchn_port_t timer = bv.port, ipi = bi.port;
    check_timers(timer);
    check_poll(timer, ipi);
    check_block_and_runstate(timer, ipi);
    evtchn_close_t cl{};
    cl.port = timer;
    CHECK_EQ("time.close_virq_timer", hc::event_channel_op(EVTCHNOP_close, &cl), 0);
    cl.port = ipi;
    CHECK_EQ("time.close_ipi", hc::event_channel_op(EVTCHNOP_close, &cl), 0);
}

}  // namespace pvt
