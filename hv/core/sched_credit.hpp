// The credit scheduler (Xen's "credit1", common/sched/credit.c in Xen 4.17), arch-neutral and
// time-explicit: every call that depends on time takes `now` in nanoseconds, nothing touches
// hardware, and what Xen does by raising SCHEDULE_SOFTIRQ on other CPUs comes back to the caller
// as a CpuMask of pCPUs to poke.  The arch owns timers, IPIs, context switches and runstates.
//
// Entities
// --------
// A CreditUnit per vCPU (the arch embeds it in its vCPU), a CreditDomain per domain, one run
// queue per pCPU.  A unit belongs to exactly one pCPU at a time (cpu()); it is runnable when the
// arch has woken it (awake), the scheduler has not parked it (cap exceeded) and it is not waiting
// to be migrated.  Invariant: a runnable unit is either on its pCPU's run queue or that pCPU's
// current unit; a unit that is not runnable is on no queue.
//
// Credits
// -------
// Every accounting period (tslice, 30 ms by default) account() hands out 10 credits per ms per
// pCPU, split among the *active* domains in proportion to weight x active units.  The running unit
// burns 10 credits per ms it runs.  A unit with credit >= 0 has priority UNDER, below 0 OVER; a
// unit woken from blocking with UNDER is boosted to BOOST until the next tick finds it running.
// A unit whose credit climbs past one period's worth stops being active (it is not using its
// share) and keeps half; the next tick that finds it running makes it active again.  A capped
// domain earns at most cap% of a pCPU per period; a unit that falls more than its share of the cap
// below zero is parked (taken off the queues) until its credit is positive again.
//
// Choosing
// --------
// Run queues are ordered by priority, FIFO within one; priorities change at accounting, and each
// pCPU re-sorts its queue at its next tick.  do_schedule() takes the head; if the head is OVER
// (or there is none) it first tries to steal a higher-priority unit from a busy peer's queue
// (load balancing), soft affinity first, then hard.  A wake-up queues the unit on its own pCPU and
// "tickles": the pCPU itself if idle or preempted by a higher priority, otherwise an idle pCPU
// the unit may run on, which will then steal it.  A unit that keeps running while work waits on
// its queue and an idle pCPU exists is sent there at a tick.  Ratelimit: a unit that has run for
// less than ratelimit_us keeps its pCPU unless it blocked or yielded.
//
// Locking
// -------
// The scheduler holds the locks itself; the arch calls every function with no scheduler lock
// held.  Each pCPU has a run-queue lock (Xen's schedule lock): it protects that pCPU's queue and
// current unit, and everything about the units assigned to it (a unit's cpu changes only with
// both the old and the new pCPU locked).  One global lock (Xen's private lock) protects the
// accounting state: totals, active lists, domain parameters.  Order: global first, then one run
// queue; two run queues only in index order, or by try-lock (load balancing).
// do_schedule(cpu), tick(cpu) and on_timer(cpu) must run on `cpu` itself (or, in tests, never
// concurrently for one cpu): they read that pCPU's current unit, which only do_schedule changes.
//
// The arch's side of a context switch
// -----------------------------------
// do_schedule() returns the unit to run (nullptr: idle) and the time to call it again.  When the
// previous unit's state is saved (immediately if it is the same unit: then nothing), the arch
// calls context_saved(prev): until then prev may be on a queue but no other pCPU will take it, and
// a migration requested while it was running (affinity change, load balance) happens only then.
#pragma once
#include <atomic>

#include "core/xen_ctl.hpp"
#include "lib/bitmap.hpp"
#include "lib/list.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

namespace pv::sched {

inline constexpr unsigned MAX_PCPUS = 64;
using CpuMask = Bitmap<MAX_PCPUS>;
inline constexpr u64 NEVER = ~u64{0};

// Priorities, higher runs first (Xen's CSCHED_PRI_*).
namespace pri {
inline constexpr int BOOST = 0;   // woken from blocking
inline constexpr int UNDER = -1;  // has credit
inline constexpr int OVER = -2;   // out of credit
inline constexpr int IDLE = -64;  // the idle loop
}  // namespace pri

inline constexpr u32 DEFAULT_WEIGHT = 256;
inline constexpr u32 DEFAULT_TSLICE_MS = 30;
inline constexpr u32 DEFAULT_RATELIMIT_US = 1000;  // Xen's sched_ratelimit_us
inline constexpr u32 TICKS_PER_TSLICE = 3;
inline constexpr u32 CREDITS_PER_MSEC = 10;

struct RunqTag;
struct ActiveUnitTag;
struct DomUnitTag;
struct ActiveDomTag;
struct AllDomTag;

class CreditScheduler;
class CreditDomain;

class CreditUnit : public ListLink<RunqTag>, public ListLink<ActiveUnitTag>, public ListLink<DomUnitTag> {
public:
    CreditUnit() = default;

    // For the arch (and tests): read-only views of the scheduler's state.
    CreditDomain* domain() const { return dom_; }
    unsigned vcpu_id() const { return vcpu_id_; }
    unsigned cpu() const { return cpu_.load(std::memory_order_acquire); }
    int priority() const { return pri_.load(std::memory_order_relaxed); }
    int credit() const { return credit_.load(std::memory_order_relaxed); }
    bool awake() const { return awake_; }
    // Parked by its domain's cap: awake but held off the CPUs (Xen pauses it; a runstate shows
    // it as offline there).
    bool parked() const { return flags_.load(std::memory_order_relaxed) & PARKED; }
    bool queued() const { return ListLink<RunqTag>::linked(); }
    bool active() const { return ListLink<ActiveUnitTag>::linked(); }
    const CpuMask& hard_affinity() const { return hard_; }
    const CpuMask& soft_affinity() const { return soft_; }

private:
    friend class CreditScheduler;
    static constexpr u32 PARKED = 1, YIELD = 2, MIGRATING = 4, PINNED = 8;

    bool has_flag(u32 f) const { return flags_.load(std::memory_order_relaxed) & f; }
    void set_flag(u32 f) { flags_.fetch_or(f, std::memory_order_relaxed); }
    void clear_flag(u32 f) { flags_.fetch_and(~f, std::memory_order_relaxed); }
    bool runnable() const { return awake_ && !has_flag(PARKED | MIGRATING); }

    CreditDomain* dom_ = nullptr;
    unsigned vcpu_id_ = 0;
    std::atomic<unsigned> cpu_{0};
    std::atomic<int> pri_{pri::UNDER};
    std::atomic<int> credit_{0};
    std::atomic<u32> flags_{0};
    // Burning (the unit's own pCPU only): credit is charged from start_time_, and the part of a
    // credit not yet charged is kept in residual_ (ns x CREDITS_PER_MSEC).
    u64 start_time_ = 0;
    u64 residual_ = 0;
    u64 running_since_ = 0;    // when it last started running (for the ratelimit)
    u64 last_sched_time_ = 0;  // when it last stopped (for the migration delay)
    // Under the run-queue lock of cpu_.
    bool awake_ = false;
    bool is_running_ = false;  // chosen on cpu_ and its context not yet saved
    CpuMask hard_;
    CpuMask soft_;
};

class CreditDomain : public ListLink<ActiveDomTag>, public ListLink<AllDomTag> {
public:
    CreditDomain() = default;
    domid_t id() const { return id_; }
    u32 weight() const { return weight_; }
    u32 cap() const { return cap_; }
    u32 nr_units() const { return nr_units_; }
    u32 active_units() const { return active_unit_count_; }

private:
    friend class CreditScheduler;
    domid_t id_ = 0;
    u32 weight_ = DEFAULT_WEIGHT;
    u32 cap_ = 0;  // percent of one pCPU; 0: none
    u32 nr_units_ = 0;
    u32 active_unit_count_ = 0;
    List<CreditUnit, ActiveUnitTag> active_;
    List<CreditUnit, DomUnitTag> units_;
};

// What a pCPU runs next.
struct Decision {
    CreditUnit* next = nullptr;  // nullptr: idle
    CreditUnit* prev = nullptr;  // what ran before; if != next, call context_saved(*prev) once saved
    u64 deadline = NEVER;        // call do_schedule again by then (end of the slice)
    bool migrated = false;       // next was stolen from another pCPU's queue
};

class CreditScheduler {
public:
    // The global parameters at boot (Xen's sched_credit_tslice_ms, sched_ratelimit_us,
    // vcpu_migration_delay), sanitised as Xen does: a bad tslice becomes the default, a ratelimit
    // longer than the tslice becomes the tslice, a bad migration delay 0.
    static xen_sysctl_credit_schedule default_params();
    CreditScheduler(unsigned nr_cpus, u64 now, const xen_sysctl_credit_schedule& boot = default_params());
    CreditScheduler(const CreditScheduler&) = delete;
    CreditScheduler& operator=(const CreditScheduler&) = delete;

    unsigned nr_cpus() const { return nr_cpus_; }

    // Domains.  remove_domain: it must have no units left.
    void add_domain(CreditDomain& d, domid_t id);
    void remove_domain(CreditDomain& d);
    // Units.  A new unit is asleep with full affinity, on the pCPU pick_cpu chooses starting from
    // `cpu`; the arch wakes it when its vCPU becomes runnable.  remove_unit: it must be asleep
    // and not running (context saved).
    void insert_unit(CreditUnit& u, CreditDomain& d, unsigned vcpu_id, unsigned cpu);
    void remove_unit(CreditUnit& u);

    // The vCPU became runnable (unblocked, unpaused, brought up).  Boosts it if it was UNDER.
    [[nodiscard]] CpuMask wake(CreditUnit& u, u64 now);
    // The vCPU is no longer runnable (blocked, paused, down).
    [[nodiscard]] CpuMask sleep(CreditUnit& u);
    // SCHEDOP_yield: the next do_schedule on its pCPU lets others of equal priority go first.
    // Returns the pCPU to poke (the unit's, if running).
    [[nodiscard]] CpuMask yield(CreditUnit& u);

    [[nodiscard]] Decision do_schedule(unsigned cpu, u64 now);
    [[nodiscard]] CpuMask context_saved(CreditUnit& u, u64 now);

    // Timers.  tick(cpu) every tick period while cpu runs a unit (next_tick); account() every
    // tslice on the master pCPU (next_accounting).  on_timer does whichever is due on cpu and
    // adds cpu itself to the pokes when its slice is over; next_event(cpu) is when to call it
    // again.
    [[nodiscard]] CpuMask tick(unsigned cpu, u64 now);
    [[nodiscard]] CpuMask account(u64 now);
    [[nodiscard]] CpuMask on_timer(unsigned cpu, u64 now);
    u64 next_event(unsigned cpu) const;
    u64 next_tick(unsigned cpu) const { return cpus_[cpu].tick_due; }
    u64 next_accounting() const { return acct_due_.load(std::memory_order_relaxed); }
    unsigned master_cpu() const { return MASTER; }

    // XEN_DOMCTL_scheduler_op for credit: getinfo/putinfo with Xen's semantics (putinfo ignores
    // weight 0 and cap 0xffff, accepts anything else); other commands -EINVAL.
    [[nodiscard]] Result<void> adjust(CreditDomain& d, u32 cmd, xen_domctl_sched_credit& p);
    // Set both parameters with the range checks the toolstack applies before that domctl
    // (libxl): weight 1..65535, cap 0..100 x the domain's vCPUs; -EINVAL otherwise.
    [[nodiscard]] Result<void> set_params(CreditDomain& d, u32 weight, u32 cap);
    // XEN_SYSCTL_scheduler_op for credit: tslice_ms, ratelimit_us, vcpu_migr_delay_us.
    [[nodiscard]] Result<void> adjust_global(u32 cmd, xen_sysctl_credit_schedule& p);
    // Hard affinity (nullptr: unchanged; must intersect the online pCPUs, else -EINVAL) and soft
    // affinity (nullptr: unchanged).  A unit queued or running where it may no longer run moves.
    [[nodiscard]] Result<CpuMask> set_affinity(CreditUnit& u, const CpuMask* hard, const CpuMask* soft,
                                               u64 now);

    // The unit cpu runs (nullptr: idle), e.g. for the arch's runstate bookkeeping.
    CreditUnit* current(unsigned cpu) const { return cpus_[cpu].curr; }
    bool is_idler(unsigned cpu) const { return idlers_.test(cpu); }
    usize queue_length(unsigned cpu) const { return cpus_[cpu].runq.size(); }
    // Checks every invariant above under all locks; the first violated one, or nullptr.
    const char* audit();

private:
    static constexpr unsigned MASTER = 0;
    enum class Step { soft, hard };
    static constexpr Step BALANCE_STEPS[] = {Step::soft, Step::hard};

    struct PCpu {
        Spinlock lock;
        List<CreditUnit, RunqTag> runq;
        std::atomic<u32> nr_runnable{0};  // queued + current (Xen's nr_runnable)
        CreditUnit* curr = nullptr;
        u32 runq_sort_last = 0;
        unsigned last_tickle = 0;
        u64 tick_due = NEVER;
        u64 slice_end = NEVER;
    };

    // Xen's idlers cpumask: set and cleared atomically without locks, read as a snapshot.
    class AtomicMask {
    public:
        void set(unsigned c) { w_[c / 64].fetch_or(u64{1} << (c % 64), std::memory_order_relaxed); }
        void clear(unsigned c) { w_[c / 64].fetch_and(~(u64{1} << (c % 64)), std::memory_order_relaxed); }
        bool test(unsigned c) const { return (w_[c / 64].load(std::memory_order_relaxed) >> (c % 64)) & 1; }
        CpuMask snapshot() const;

    private:
        std::atomic<u64> w_[BitmapView::words_for(MAX_PCPUS)] = {};
    };

    class UnitLock;

    // Run queues (run-queue lock held).
    void runq_insert(CreditUnit& u);  // Xen's __runq_insert: no count
    void runq_insert_counted(CreditUnit& u);
    void runq_remove_counted(CreditUnit& u);
    void runq_sort(unsigned cpu);
    bool runq_idle(unsigned cpu) const { return cpus_[cpu].runq.empty(); }

    void burn_credits(CreditUnit& u, u64 now);
    bool has_soft_affinity(const CreditUnit& u) const;
    CpuMask balance_mask(const CreditUnit& u, Step s) const;
    unsigned pick_cpu(const CreditUnit& u) const;
    CpuMask tickle(CreditUnit& u);
    CpuMask wake_locked(CreditUnit& u, bool may_boost);
    CpuMask suspend_locked(CreditUnit& u);
    CreditUnit* load_balance(unsigned cpu, CreditUnit* head, int pri, u64 now, bool* stolen);
    CreditUnit* steal(unsigned peer, unsigned cpu, int pri, Step s, u64 now);
    CpuMask migrate(CreditUnit& u);
    void apply_params(CreditDomain& d, u32 weight, u32 cap);  // global lock held
    void set_tslice(u32 tslice_ms);                           // global lock held

    // Accounting (global lock held).
    void acct_start(CreditUnit& u);
    void acct_stop(CreditUnit& u);

    unsigned nr_cpus_;
    CpuMask online_;
    PCpu cpus_[MAX_PCPUS];
    AtomicMask idlers_;
    std::atomic<unsigned> balance_bias_{0};
    std::atomic<u32> runq_sort_{0};
    std::atomic<u64> acct_due_;

    Spinlock lock_;  // the global (accounting) lock
    List<CreditDomain, AllDomTag> domains_;
    List<CreditDomain, ActiveDomTag> active_domains_;
    u32 weight_ = 0;  // sum of weight x active units over active domains
    u32 credit_ = 0;  // credits handed out per period: credits_per_tslice x pCPUs
    i32 credit_balance_ = 0;
    u32 credits_per_tslice_ = 0;
    // Written under the global lock, read by the pCPUs without it.
    std::atomic<u64> tick_period_{0}, tslice_{0}, ratelimit_{0}, migr_delay_{0};
};

}  // namespace pv::sched
