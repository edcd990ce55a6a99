// Time as a PV vCPU sees it, its timers, and blocking (Xen's common/sched/core.c timer and
// poll parts, x86/time.c's update_vcpu_system_time, and the runstate of common/sched):
//
// * vcpu_info.time: system time (ns since boot) = system_time + ((TSC - tsc_timestamp) << shift
//   * mul >> 32), under a version counter that is odd while an update is in progress.  Refreshed
//   when the vCPU starts and each time it resumes after blocking, as Xen does when it schedules
//   a vCPU in.
// * Three timers per vCPU: the single-shot timer (set_timer_op, VCPUOP_set_singleshot_timer) and
//   the periodic timer (100 Hz from creation, as Xen gives every PV vCPU, until the guest stops
//   it) both raise VIRQ_TIMER; the poll timer ends a SCHEDOP_poll.  As in Xen, the periodic timer
//   only runs while its vCPU does: a vCPU blocked with nothing but the periodic timer sleeps until
//   something else wakes it, then gets the tick it missed at once.
// * Blocking: SCHEDOP_block enables events and waits until one needs delivery (pending and
//   unmasked); SCHEDOP_poll waits, events masked or not, until a polled port is pending, any
//   upcall is raised, or the timeout passes.  A blocked vCPU leaves its CPU to the scheduler
//   (sched.cpp) until a timer, an event (vcpu_kick) or a polled port wakes it.
// * Runstate: time spent running, runnable, blocked and offline, kept here and copied to the
//   guest's registered area (with XEN_RUNSTATE_UPDATE set around the copy when the guest asked
//   for VMASST_TYPE_runstate_update_flag).  The area is a guest virtual address, reachable only
//   through the kernel's page tables: a copy due while the guest is in user mode waits for its
//   next entry to kernel mode, as Xen defers it.
#include <arch/cpu.hpp>
#include <arch/time.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"

#include <xen/sched.h>

namespace pv::arch::pv {
namespace {

constexpr u64 MS = 1'000'000;
// Xen's STIME_DELTA_MAX: the longest period a periodic timer may have.
constexpr u64 STIME_DELTA_MAX = (u64{1} << 62) - 1;

bool events_need_delivery(const PvVcpu& v) {
    const vcpu_info_t* vi = v.vcpu_info;
    return vi && vi->evtchn_upcall_pending && !vi->evtchn_upcall_mask;
}

void send_timer_event(PvVcpu& v) { send_virq(v, VIRQ_TIMER); }

// Xen's vcpu_periodic_timer_work: the tick if one is due, then the timer for the next.
void periodic_work(PvVcpu& v) {
    if (!v.periodic_period) return;
    u64 now = time::since_boot_ns();
    u64 next = v.periodic_last_event + v.periodic_period;
    if (now >= next) {
        send_timer_event(v);
        v.periodic_last_event = now;
        next = now + v.periodic_period;
    }
    time::timer_set(v.periodic_timer, next);
}

void unblock(PvVcpu& v) {
    if (v.blocked.exchange(false, std::memory_order_acq_rel)) vcpu_wake(v);
}

void copy_runstate(PvVcpu& v) {
    if (!v.runstate_guest) return;
    if (!v.kernel_mode) {
        v.runstate_update_pending = true;
        return;
    }
    v.runstate_update_pending = false;
    bool flag = v.domain->vm_assist & (1ul << VMASST_TYPE_runstate_update_flag);
    u64 entry_at = v.runstate_guest + offsetof(vcpu_runstate_info_t, state_entry_time);
    // Failures are ignored, as Xen ignores them: the area is the guest's to keep mapped.
    if (flag) (void)put_guest(entry_at, v.runstate.state_entry_time | XEN_RUNSTATE_UPDATE);
    asm volatile("" : : : "memory");
    (void)put_guest(v.runstate_guest, v.runstate);
    asm volatile("" : : : "memory");
    if (flag) (void)put_guest(entry_at, v.runstate.state_entry_time);
}

void runstate_change(PvVcpu& v, int state, u64 now) {
    vcpu_runstate_info_t& r = v.runstate;
    if (now > r.state_entry_time) r.time[r.state] += now - r.state_entry_time;
    r.state = state;
    r.state_entry_time = now;
    copy_runstate(v);
}

}  // namespace

namespace {

// The TSC's scale in vcpu_time_info's terms, from the calibrated rate (fixed after boot, so
// computed once, not at every switch-in): shift the tick rate into (1, 2] GHz, then mul is the
// 32.32 fixed-point ns per shifted tick (Xen's set_time_scale).
struct TimeScale {
    u32 mul = 0;
    i8 shift = 0;
};
const TimeScale& tsc_scale() {
    static TimeScale scale;
    if (scale.mul) return scale;
    u64 tps = time::tsc_khz() * 1000;
    if (!tps) return scale;
    int shift = 0;
    while (tps > 2'000'000'000ull) {
        tps >>= 1;
        --shift;
    }
    while (tps <= 1'000'000'000ull) {
        tps <<= 1;
        ++shift;
    }
    scale.shift = static_cast<i8>(shift);
    scale.mul = static_cast<u32>((1'000'000'000ull << 32) / tps);
    return scale;
}

}  // namespace

void publish_time(PvVcpu& v) {
    const TimeScale& scale = tsc_scale();
    if (!v.vcpu_info || !scale.mul) return;
    auto& t = v.vcpu_info->time;
    t.version = t.version + 1;  // odd: update in progress
    asm volatile("" : : : "memory");
    t.tsc_timestamp = rdtsc();
    t.system_time = time::since_boot_ns();
    t.tsc_to_system_mul = scale.mul;
    t.tsc_shift = scale.shift;
    t.flags = 0;
    asm volatile("" : : : "memory");
    t.version = t.version + 1;
}

void publish_wallclock(PvDomain& d) {
    if (!d.shared_info) return;
    // The time of day when system time was 0, moved by the toolstack's settimeoffset.
    u64 boot = time::wallclock_at_boot_s() + static_cast<u64>(d.time_offset);
    shared_info_t& si = *d.shared_info;
    si.wc_version = si.wc_version + 1;
    asm volatile("" : : : "memory");
    si.wc_sec = static_cast<u32>(boot);
    si.wc_sec_hi = static_cast<u32>(boot >> 32);
    si.wc_nsec = 0;
    asm volatile("" : : : "memory");
    si.wc_version = si.wc_version + 1;
}

void vcpu_time_init(PvVcpu& v) {
    v.singleshot_timer.init([](Timer&, void* data) { send_timer_event(*static_cast<PvVcpu*>(data)); }, &v);
    v.periodic_timer.init([](Timer&, void* data) { periodic_work(*static_cast<PvVcpu*>(data)); }, &v);
    v.poll_timer.init(
        [](Timer&, void* data) {
            auto& pv = *static_cast<PvVcpu*>(data);
            if (pv.polling.exchange(false)) unblock(pv);
        },
        &v);
    v.periodic_period = 10 * MS;  // "PV guests by default have a 100Hz ticker"
    v.runstate = {};
    v.runstate.state = RUNSTATE_offline;
    v.runstate.state_entry_time = time::since_boot_ns();
}

long vcpu_set_timer_op(PvVcpu& v, i64 timeout) {
    i64 now = static_cast<i64>(time::since_boot_ns());
    i64 offset = timeout - now;
    if (timeout == 0) {
        time::timer_stop(v.singleshot_timer);
    } else if (timeout < 0 || (offset > 0 && (offset >> 50) != 0)) {
        // As Xen: a deadline wrapped negative or more than ~13 days ahead is a guest's jiffies
        // arithmetic gone wrong; an event in 100 ms serves it without burning the CPU.
        time::timer_set(v.singleshot_timer, static_cast<u64>(now) + 100 * MS);
    } else {
        time::timer_set(v.singleshot_timer, static_cast<u64>(timeout));
    }
    return 0;
}

long vcpu_set_periodic(PvVcpu& v, u64 period_ns) {
    if (period_ns && (period_ns < MS || period_ns > STIME_DELTA_MAX)) return -static_cast<long>(XEN_EINVAL);
    time::timer_stop(v.periodic_timer);
    v.periodic_period = period_ns;
    // Xen applies a new period when the vCPU is next scheduled: now, for the caller itself.
    if (current() == &v) periodic_work(v);
    return 0;
}

void vcpu_set_singleshot(PvVcpu& v, u64 when_ns) { time::timer_set(v.singleshot_timer, when_ns); }
void vcpu_stop_singleshot(PvVcpu& v) { time::timer_stop(v.singleshot_timer); }

// The vCPU leaves its CPU (sched.cpp, on its page tables still): its runstate says why, and its
// periodic timer stops until it runs again.
void vcpu_switch_out_time(PvVcpu& v, u64 now) {
    int state = v.blocked.load() ? RUNSTATE_blocked : vcpu_runnable(v) ? RUNSTATE_runnable : RUNSTATE_offline;
    runstate_change(v, state, now);
    time::timer_stop(v.periodic_timer);
}

// The vCPU is back on a CPU (on its own page tables): running, a fresh time base, and the
// periodic tick it missed, if any.
void vcpu_switch_in_time(PvVcpu& v, u64 now) {
    runstate_change(v, RUNSTATE_running, now);
    publish_time(v);
    periodic_work(v);
}

void vcpu_block(PvVcpu& v) {
    if (v.vcpu_info) v.vcpu_info->evtchn_upcall_mask = 0;
    v.blocked.store(true, std::memory_order_seq_cst);
    // Look for events after saying we block: a wake-up in between is not lost.
    if (events_need_delivery(v)) {
        unblock(v);
        return;
    }
    vcpu_sleep(v);  // the scheduler switches away on the way out of the hypercall
}

long vcpu_poll(PvVcpu& v, u64 ports, u32 nr_ports, u64 timeout) {
    if (nr_ports > 128) return -static_cast<long>(XEN_EINVAL);  // Xen's "fairly arbitrary limit"
    // Xen's guest_handle_okay: the start of the array must be a guest address.
    if (!guest_range_ok(ports, 1)) return -static_cast<long>(XEN_EFAULT);
    time::timer_stop(v.poll_timer);  // a previous poll's, which must not end this one
    v.blocked.store(true, std::memory_order_seq_cst);
    v.poll_port = -1;
    v.polling.store(true, std::memory_order_seq_cst);
    long rc = 0;
    evtchn_port_t port = 0;
    if (events_need_delivery(v)) goto out;
    for (u32 i = 0; i < nr_ports; ++i) {
        if (!get_guest(port, ports + u64{i} * sizeof port)) {
            rc = -static_cast<long>(XEN_EFAULT);
            goto out;
        }
        rc = evtchn_port_poll(*v.domain, port);
        if (rc) {
            if (rc > 0) rc = 0;
            goto out;
        }
    }
    if (nr_ports == 1) v.poll_port = port;
    if (timeout) time::timer_set(v.poll_timer, timeout);
    vcpu_sleep(v);  // woken by a polled port, any upcall, or the timeout
    return 0;
out:
    v.polling.store(false);
    v.poll_port = 0;
    unblock(v);
    return rc;
}

// Xen's vcpu_kick: a blocked vCPU wakes (a poller too, whatever it polls); one running on
// another CPU is interrupted so it sees the upcall now.
void vcpu_kick(PvVcpu& v) {
    v.polling.store(false);
    unblock(v);
    vcpu_notify(v);
}

void vcpu_wake_pollers(PvDomain& d, evtchn_port_t port) {
    for (unsigned i = 0; i < d.max_vcpus; ++i) {
        PvVcpu* v = d.vcpu[i];
        if (!v || !v->polling.load()) continue;
        if (v->poll_port >= 0 && static_cast<evtchn_port_t>(v->poll_port) != port) continue;
        if (v->polling.exchange(false)) unblock(*v);
    }
}

vcpu_runstate_info_t vcpu_runstate_get(const PvVcpu& v) {
    vcpu_runstate_info_t r = v.runstate;
    u64 now = time::since_boot_ns();
    if (now > r.state_entry_time) r.time[r.state] += now - r.state_entry_time;
    return r;
}

long vcpu_register_runstate_area(PvVcpu& v, u64 guest_va) {
    if (!guest_range_ok(guest_va, 1)) return -static_cast<long>(XEN_EFAULT);
    v.runstate_guest = guest_va;
    copy_runstate(v);  // the vCPU is the caller, so current: its runstate as kept
    return 0;
}

void vcpu_runstate_catch_up(PvVcpu& v) {
    if (v.runstate_update_pending && v.kernel_mode) copy_runstate(v);
}

}  // namespace pv::arch::pv
