// The credit scheduler; the design and the locking rules are atop sched_credit.hpp.
#include "core/sched_credit.hpp"

namespace pv::sched {

namespace {

constexpr u64 US = 1000;
constexpr u64 MS = 1000 * US;
// Never program a slice shorter than this (Xen's CSCHED_MIN_TIMER, the minimum ratelimit).
constexpr u64 MIN_TIMER = XEN_SYSCTL_SCHED_RATELIMIT_MIN * US;
// Soft affinity first, then hard (Xen's affinity balance steps).

inline u32 relaxed_load(const std::atomic<u32>& a) { return a.load(std::memory_order_relaxed); }

// The next set bit after `from`, wrapping around; MAX_PCPUS when the mask is empty (Xen's
// cpumask_cycle).
unsigned cycle(unsigned from, const CpuMask& m) {
    usize n = m.find_next_set(from + 1);
    if (n >= MAX_PCPUS) n = m.find_next_set(0);
    return static_cast<unsigned>(n);
}

// Ceiling division, as the accounting rounds every share up.
u64 div_up(u64 a, u64 b) { return (a + b - 1) / b; }

}  // namespace

CpuMask CreditScheduler::AtomicMask::snapshot() const {
    CpuMask m;
    for (unsigned c = 0; c < MAX_PCPUS; ++c)
        if (test(c)) m.set(c);
    return m;
}

// Locks the run queue a unit belongs to.  The unit's cpu may change until that lock is held (a
// peer stealing it holds both queues' locks), so look again after taking it, as Xen's
// unit_schedule_lock does.
class CreditScheduler::UnitLock {
public:
    UnitLock(CreditScheduler& s, const CreditUnit& u) : s_(s) {
        for (;;) {
            cpu_ = u.cpu();
            s_.cpus_[cpu_].lock.lock();
            if (u.cpu() == cpu_) return;
            s_.cpus_[cpu_].lock.unlock();
        }
    }
    ~UnitLock() { s_.cpus_[cpu_].lock.unlock(); }
    UnitLock(const UnitLock&) = delete;
    UnitLock& operator=(const UnitLock&) = delete;
    unsigned cpu() const { return cpu_; }

private:
    CreditScheduler& s_;
    unsigned cpu_;
};

xen_sysctl_credit_schedule CreditScheduler::default_params() {
    xen_sysctl_credit_schedule p{};
    p.tslice_ms = DEFAULT_TSLICE_MS;
    p.ratelimit_us = DEFAULT_RATELIMIT_US;
    p.vcpu_migr_delay_us = 0;
    return p;
}

CreditScheduler::CreditScheduler(unsigned nr_cpus, u64 now, const xen_sysctl_credit_schedule& boot)
    : nr_cpus_(min(nr_cpus, MAX_PCPUS)) {
    u32 tslice_ms = boot.tslice_ms;
    if (tslice_ms > XEN_SYSCTL_CSCHED_TSLICE_MAX || tslice_ms < XEN_SYSCTL_CSCHED_TSLICE_MIN)
        tslice_ms = DEFAULT_TSLICE_MS;
    for (unsigned c = 0; c < nr_cpus_; ++c) {
        online_.set(c);
        idlers_.set(c);  // every pCPU starts idle
    }
    SpinGuard g(lock_);
    set_tslice(tslice_ms);
    u64 ratelimit = u64{boot.ratelimit_us} * US;
    ratelimit_.store(ratelimit > tslice_.load() ? tslice_.load() : ratelimit);
    const bool delay_ok = boot.vcpu_migr_delay_us <= XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US;
    migr_delay_.store(delay_ok ? u64{boot.vcpu_migr_delay_us} * US : 0);
    acct_due_.store(now + tslice_.load());
}

void CreditScheduler::set_tslice(u32 tslice_ms) {
    u32 ticks = tslice_ms < TICKS_PER_TSLICE ? 1 : TICKS_PER_TSLICE;
    tslice_.store(u64{tslice_ms} * MS);
    tick_period_.store(u64{tslice_ms} * MS / ticks);
    credits_per_tslice_ = CREDITS_PER_MSEC * tslice_ms;
    credit_ = credits_per_tslice_ * nr_cpus_;
}

// ---------------------------------------------------------------------------------------------
// Domains and units

void CreditScheduler::add_domain(CreditDomain& d, domid_t id) {
    d.id_ = id;
    d.weight_ = DEFAULT_WEIGHT;
    d.cap_ = 0;
    SpinGuard g(lock_);
    domains_.push_back(d);
}

void CreditScheduler::remove_domain(CreditDomain& d) {
    SpinGuard g(lock_);
    List<CreditDomain, ActiveDomTag>::remove(d);
    List<CreditDomain, AllDomTag>::remove(d);
}

void CreditScheduler::insert_unit(CreditUnit& u, CreditDomain& d, unsigned vcpu_id, unsigned cpu) {
    u.dom_ = &d;
    u.vcpu_id_ = vcpu_id;
    u.pri_.store(pri::UNDER);
    u.credit_.store(0);
    u.flags_.store(0);
    u.residual_ = 0;
    u.awake_ = false;
    u.is_running_ = false;
    u.hard_ = online_;
    u.soft_ = online_;
    u.cpu_.store(cpu < nr_cpus_ ? cpu : 0);
    {
        // Nobody else can see the unit yet: its cpu may change under the old queue's lock.
        UnitLock l(*this, u);
        u.cpu_.store(pick_cpu(u), std::memory_order_release);
    }
    SpinGuard g(lock_);
    d.units_.push_back(u);
    ++d.nr_units_;
}

void CreditScheduler::remove_unit(CreditUnit& u) {
    SpinGuard g(lock_);
    if (u.active()) acct_stop(u);
    List<CreditUnit, DomUnitTag>::remove(u);
    --u.dom_->nr_units_;
    UnitLock ul(*this, u);
    if (u.queued()) runq_remove_counted(u);  // only if the arch broke the contract
    u.flags_.store(0);
    u.dom_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Run queues

void CreditScheduler::runq_insert(CreditUnit& u) {
    auto& q = cpus_[u.cpu()].runq;
    int p = u.priority();
    auto it = q.begin();
    while (it != q.end() && p <= it->priority()) ++it;
    // A yielding unit goes behind one unit of lower priority, if there is one; the next sort
    // brings it forward again.
    if (u.has_flag(CreditUnit::YIELD) && it != q.end()) ++it;
    if (it != q.end())
        List<CreditUnit, RunqTag>::insert_before(*it, u);
    else
        q.push_back(u);
}

void CreditScheduler::runq_insert_counted(CreditUnit& u) {
    runq_insert(u);
    cpus_[u.cpu()].nr_runnable.fetch_add(1, std::memory_order_relaxed);
}

void CreditScheduler::runq_remove_counted(CreditUnit& u) {
    cpus_[u.cpu()].nr_runnable.fetch_sub(1, std::memory_order_relaxed);
    List<CreditUnit, RunqTag>::remove(u);
}

// Priorities only change between UNDER and OVER at accounting: move every UNDER (or BOOST)
// ahead of the OVERs, keeping the order within each, once per accounting period.
void CreditScheduler::runq_sort(unsigned cpu) {
    PCpu& pc = cpus_[cpu];
    u32 epoch = relaxed_load(runq_sort_);
    if (epoch == pc.runq_sort_last) return;
    pc.runq_sort_last = epoch;
    SpinGuard g(pc.lock);
    List<CreditUnit, RunqTag> over;
    for (auto it = pc.runq.begin(); it != pc.runq.end();) {
        CreditUnit& u = *it;
        ++it;
        if (u.priority() < pri::UNDER) {
            List<CreditUnit, RunqTag>::remove(u);
            over.push_back(u);
        }
    }
    while (CreditUnit* u = over.pop_front()) pc.runq.push_back(*u);
}

void CreditScheduler::burn_credits(CreditUnit& u, u64 now) {
    if (now <= u.start_time_) return;
    u64 val = (now - u.start_time_) * CREDITS_PER_MSEC + u.residual_;
    u.residual_ = val % MS;
    u.credit_.fetch_sub(static_cast<int>(val / MS), std::memory_order_relaxed);
    u.start_time_ = now;
}

// ---------------------------------------------------------------------------------------------
// Placement

bool CreditScheduler::has_soft_affinity(const CreditUnit& u) const {
    return u.soft_.intersects(u.hard_) && !u.hard_.subset_of(u.soft_) && !online_.subset_of(u.soft_);
}

CpuMask CreditScheduler::balance_mask(const CreditUnit& u, Step s) const {
    return s == Step::soft ? u.soft_ & u.hard_ : u.hard_;
}

// Where u had best run: its own pCPU if allowed and idle (counting it idle when u is the only
// thing there), else another idle one it may use, else its own (or the next allowed).  Xen also
// weighs SMT siblings and sockets; with no topology every pCPU is its own core and Xen's choice
// reduces to this.  Caller holds u's run-queue lock.
unsigned CreditScheduler::pick_cpu(const CreditUnit& u) const {
    const unsigned home = u.cpu();
    unsigned cpu = home;
    for (Step s : BALANCE_STEPS) {
        CpuMask cpus = balance_mask(u, s) & online_;
        if (s == Step::soft && (!has_soft_affinity(u) || cpus.empty())) continue;
        if (cpus.empty()) return home;  // set_affinity never allows this
        cpu = cpus.test(home) ? home : cycle(home, cpus);
        CpuMask idlers = idlers_.snapshot() & online_;
        if (home == cpu && runq_idle(cpu)) idlers.set(cpu);
        cpus &= idlers;
        if (!cpus.test(cpu) && !cpus.empty()) cpu = cycle(cpu, cpus);
        if (idlers.test(cpu)) break;
    }
    return cpu;
}

// u was just queued on its pCPU: which pCPUs should reschedule?  Caller holds u's lock.
CpuMask CreditScheduler::tickle(CreditUnit& u) {
    const unsigned cpu = u.cpu();
    PCpu& pc = cpus_[cpu];
    CreditUnit* cur = pc.curr;
    const int cur_pri = cur ? cur->priority() : pri::IDLE;
    const int new_pri = u.priority();
    const CpuMask idle = idlers_.snapshot() & online_;
    CpuMask mask;

    if (u.has_flag(CreditUnit::PINNED) && idle.test(cpu)) {
        mask.set(cpu);  // pinned to an idle pCPU: just go
    } else if (cur_pri == pri::IDLE || (idle.empty() && new_pri > cur_pri)) {
        mask.set(cpu);
    } else if (!idle.empty()) {
        for (Step s : BALANCE_STEPS) {
            if (s == Step::soft && !has_soft_affinity(u)) continue;
            CpuMask mine = balance_mask(u, s) & idle;
            if (mine.empty() && s == Step::soft) continue;
            if (mine.empty() && new_pri > cur_pri) {
                // No idler for u but it beats cur: preempt cur here, and let cur move to an
                // idler if it may (Xen means to test cur's affinity here; its code tests u's).
                if (cur->hard_.intersects(idle)) cur->set_flag(CreditUnit::MIGRATING);
                mask.set(cpu);
            } else if (!mine.empty()) {
                // Leave cur alone (cache-hot) and wake one idler, round robin.
                pc.last_tickle = cycle(pc.last_tickle, mine);
                mask.set(pc.last_tickle);
            }
            if (!mask.empty()) break;
        }
    }
    for (unsigned c = static_cast<unsigned>(mask.find_next_set()); c < MAX_PCPUS;
         c = static_cast<unsigned>(mask.find_next_set(c + 1)))
        idlers_.clear(c);
    return mask;
}

// Queue u if it is runnable and neither running nor queued, then tickle.  Caller holds u's lock.
CpuMask CreditScheduler::wake_locked(CreditUnit& u, bool may_boost) {
    if (!u.runnable() || cpus_[u.cpu()].curr == &u || u.queued()) return {};
    // Boost a unit waking from a block, so latency-sensitive work preempts CPU hogs; the next
    // tick that finds it running ends the boost.  Not after a migration, nor when unparking.
    if (may_boost && u.priority() == pri::UNDER && !u.has_flag(CreditUnit::PARKED))
        u.pri_.store(pri::BOOST, std::memory_order_relaxed);
    runq_insert_counted(u);
    return tickle(u);
}

// u stopped being runnable: off its queue, or its pCPU must reschedule.  Caller holds u's lock.
CpuMask CreditScheduler::suspend_locked(CreditUnit& u) {
    CpuMask pokes;
    if (cpus_[u.cpu()].curr == &u)
        pokes.set(u.cpu());
    else if (u.queued())
        runq_remove_counted(u);
    return pokes;
}

CpuMask CreditScheduler::wake(CreditUnit& u, u64) {
    UnitLock l(*this, u);
    u.awake_ = true;
    return wake_locked(u, true);
}

CpuMask CreditScheduler::sleep(CreditUnit& u) {
    UnitLock l(*this, u);
    u.awake_ = false;
    return suspend_locked(u);
}

CpuMask CreditScheduler::yield(CreditUnit& u) {
    UnitLock l(*this, u);
    u.set_flag(CreditUnit::YIELD);
    CpuMask pokes;
    if (cpus_[l.cpu()].curr == &u) pokes.set(l.cpu());
    return pokes;
}

// Move a unit that is not running to the pCPU pick_cpu chooses and queue it there if runnable,
// without a boost (Xen's vcpu_migrate).  Both queues are locked, lower index first.
CpuMask CreditScheduler::migrate(CreditUnit& u) {
    for (;;) {
        unsigned from, to;
        {
            UnitLock l(*this, u);
            from = l.cpu();
            to = pick_cpu(u);
            if (to == from) {
                u.clear_flag(CreditUnit::MIGRATING);
                return wake_locked(u, false);
            }
        }
        unsigned lo = min(from, to), hi = max(from, to);
        SpinGuard g1(cpus_[lo].lock);
        SpinGuard g2(cpus_[hi].lock);
        if (u.cpu() != from) continue;
        if (cpus_[from].curr == &u || u.is_running_) return {};  // running again: nothing to do now
        if (u.queued()) runq_remove_counted(u);
        u.cpu_.store(to, std::memory_order_release);
        u.clear_flag(CreditUnit::MIGRATING);
        return wake_locked(u, false);
    }
}

CpuMask CreditScheduler::context_saved(CreditUnit& u, u64) {
    {
        UnitLock l(*this, u);
        u.is_running_ = false;
        if (!u.has_flag(CreditUnit::MIGRATING) || cpus_[l.cpu()].curr == &u) return {};
    }
    return migrate(u);
}

Result<CpuMask> CreditScheduler::set_affinity(CreditUnit& u, const CpuMask* hard, const CpuMask* soft, u64) {
    if (hard && !hard->intersects(online_)) return error(XEN_EINVAL);
    CpuMask pokes;
    {
        UnitLock l(*this, u);
        if (soft) u.soft_ = *soft;
        if (!hard) return pokes;
        u.hard_ = *hard;
        if ((*hard & online_).count() == 1)
            u.set_flag(CreditUnit::PINNED);
        else
            u.clear_flag(CreditUnit::PINNED);
        if (hard->test(l.cpu())) return pokes;
        u.set_flag(CreditUnit::MIGRATING);
        pokes = suspend_locked(u);
        // Running, or still being switched out: context_saved() moves it.
        if (cpus_[l.cpu()].curr == &u || u.is_running_) return pokes;
    }
    pokes |= migrate(u);
    return pokes;
}

// ---------------------------------------------------------------------------------------------
// Scheduling

// Steal a unit of priority above `pri` that may run on cpu from peer's queue.  Caller holds both
// locks.
CreditUnit* CreditScheduler::steal(unsigned peer, unsigned cpu, int pri, Step s, u64 now) {
    PCpu& pp = cpus_[peer];
    if (!pp.curr) return nullptr;  // an idle peer is about to take its work itself
    const u64 delay = migr_delay_.load(std::memory_order_relaxed);
    for (CreditUnit& cand : pp.runq) {
        if (cand.priority() <= pri) break;
        if (cand.is_running_ || (s == Step::soft && !has_soft_affinity(cand))) continue;
        const bool cache_hot = delay && now - cand.last_sched_time_ < delay;
        if (cache_hot || !balance_mask(cand, s).test(cpu)) continue;
        runq_remove_counted(cand);
        cand.cpu_.store(cpu, std::memory_order_release);
        cpus_[cpu].nr_runnable.fetch_add(1, std::memory_order_relaxed);
        return &cand;
    }
    return nullptr;
}

// cpu's best local candidate is `head` (nullptr: idle) at priority pri, OVER or IDLE: look for
// better work on busy peers.  Returns the stolen unit, or head taken off the queue.  Peers are only
// try-locked: two pCPUs balancing against each other must not deadlock.
CreditUnit* CreditScheduler::load_balance(unsigned cpu, CreditUnit* head, int pri, u64 now, bool* stolen) {
    for (Step s : BALANCE_STEPS) {
        CpuMask workers = online_;
        workers.and_not(idlers_.snapshot());
        workers.clear(cpu);
        const unsigned first = cycle(balance_bias_.load(std::memory_order_relaxed), workers);
        if (first >= MAX_PCPUS) continue;
        unsigned peer = first;
        do {
            // Racy on purpose (as Xen): a peer with one runnable unit has nothing queued to give.
            if (cpus_[peer].nr_runnable.load(std::memory_order_relaxed) > 1 && cpus_[peer].lock.try_lock()) {
                CreditUnit* got = steal(peer, cpu, pri, s, now);
                cpus_[peer].lock.unlock();
                if (got) {
                    *stolen = true;
                    balance_bias_.store(peer, std::memory_order_relaxed);
                    return got;
                }
            }
            peer = cycle(peer, workers);
        } while (peer != first);
    }
    if (head) List<CreditUnit, RunqTag>::remove(*head);
    return head;
}

Decision CreditScheduler::do_schedule(unsigned cpu, u64 now) {
    PCpu& pc = cpus_[cpu];
    SpinGuard g(pc.lock);
    CreditUnit* scurr = pc.curr;
    Decision d;
    d.prev = scurr;

    if (scurr) {
        burn_credits(*scurr, now);
        scurr->last_sched_time_ = now;
        const u64 runtime = now > scurr->running_since_ ? now - scurr->running_since_ : 0;
        const u64 ratelimit = ratelimit_.load(std::memory_order_relaxed);
        // Rate limit: a unit that ran less than ratelimit keeps the pCPU, unless it yields or
        // stopped being runnable.
        if (!scurr->has_flag(CreditUnit::YIELD) && ratelimit && scurr->runnable() && runtime < ratelimit) {
            d.next = scurr;
            d.deadline = now + max(ratelimit - runtime, MIN_TIMER);
            pc.slice_end = d.deadline;
            return d;
        }
        if (scurr->runnable())
            runq_insert(*scurr);
        else
            pc.nr_runnable.fetch_sub(1, std::memory_order_relaxed);
        scurr->clear_flag(CreditUnit::YIELD);
    }

    CreditUnit* head = pc.runq.front();
    const int head_pri = head ? head->priority() : pri::IDLE;
    CreditUnit* snext;
    if (head_pri > pri::OVER) {
        List<CreditUnit, RunqTag>::remove(*head);
        snext = head;
    } else {
        snext = load_balance(cpu, head, head_pri, now, &d.migrated);
    }

    // Idle pCPUs are found through idlers; others tickle them when there is work.
    if (snext)
        idlers_.clear(cpu);
    else
        idlers_.set(cpu);

    if (snext) {
        snext->start_time_ = now;
        if (snext != scurr) snext->running_since_ = now;
        snext->is_running_ = true;
    }
    pc.curr = snext;
    d.next = snext;
    d.deadline = snext ? now + tslice_.load(std::memory_order_relaxed) : NEVER;
    pc.slice_end = d.deadline;

    // The tick runs only while a unit runs; restarted on the period's grid.
    const u64 period = tick_period_.load(std::memory_order_relaxed);
    if (scurr && !snext) pc.tick_due = NEVER;
    if (!scurr && snext) pc.tick_due = now + period - now % period;
    return d;
}

// ---------------------------------------------------------------------------------------------
// Accounting

void CreditScheduler::acct_start(CreditUnit& u) {
    CreditDomain& d = *u.dom_;
    if (u.active()) return;
    ++d.active_unit_count_;
    d.active_.push_front(u);
    weight_ += d.weight_;
    if (!List<CreditDomain, ActiveDomTag>::on_a_list(d)) active_domains_.push_front(d);
}

void CreditScheduler::acct_stop(CreditUnit& u) {
    CreditDomain& d = *u.dom_;
    --d.active_unit_count_;
    List<CreditUnit, ActiveUnitTag>::remove(u);
    weight_ -= d.weight_;
    if (d.active_.empty()) List<CreditDomain, ActiveDomTag>::remove(d);
}

CpuMask CreditScheduler::tick(unsigned cpu, u64 now) {
    PCpu& pc = cpus_[cpu];
    CpuMask pokes;
    pc.tick_due = now + tick_period_.load(std::memory_order_relaxed);
    // Only this pCPU changes its current unit, and we are on it: cur stays put.
    if (CreditUnit* cur = pc.curr) {
        // Found running at a tick: it uses real CPU time, so it is no longer boosted.
        int expected = pri::BOOST;
        cur->pri_.compare_exchange_strong(expected, pri::UNDER, std::memory_order_relaxed);
        burn_credits(*cur, now);
        SpinGuard g(lock_);
        if (!cur->active()) {
            acct_start(*cur);
        } else {
            // Running while others wait here and an idle pCPU could take it: move it there.
            SpinGuard rq(pc.lock);
            if (pick_cpu(*cur) != cpu) {
                cur->set_flag(CreditUnit::MIGRATING);
                pokes.set(cpu);
            }
        }
    }
    runq_sort(cpu);
    return pokes;
}

// Xen's csched_acct: hand out one period's credits to the active domains by weight, recompute
// priorities, park and unpark capped units, retire units that do not use their share.
CpuMask CreditScheduler::account(u64 now) {
    CpuMask pokes;
    SpinGuard g(lock_);
    acct_due_.store(now + tslice_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    const u64 per_tslice = credits_per_tslice_;
    const u64 weight_total = weight_;
    u64 credit_total = credit_;
    // Converge a negative balance (more burnt than given) back towards 0.
    if (credit_balance_ < 0) credit_total += static_cast<u64>(-static_cast<i64>(credit_balance_));
    if (weight_total == 0) {
        credit_balance_ = 0;
        return pokes;
    }

    u64 weight_left = weight_total;
    i64 balance = 0;
    bool credit_xtra = false;
    for (auto dit = active_domains_.begin(); dit != active_domains_.end();) {
        CreditDomain& d = *dit;
        ++dit;
        const u64 n = d.active_unit_count_;
        const u64 dw = u64{d.weight_} * n;
        weight_left -= dw;

        // At most every active unit running for the whole period; more only to soak up a
        // negative balance.
        u64 peak = n * per_tslice;
        if (credit_balance_ < 0)
            peak += div_up(static_cast<u64>(-static_cast<i64>(credit_balance_)) * dw, weight_total);
        u64 unit_cap = 0;
        if (d.cap_) {
            const u64 cap_credits = div_up(u64{d.cap_} * per_tslice, 100);
            peak = min(peak, cap_credits);
            unit_cap = div_up(cap_credits, n);
        }
        u64 fair = div_up(credit_total * dw, weight_total);
        if (fair < peak) {
            credit_xtra = true;
        } else {
            // Capped or saturated: what it cannot use goes to the domains still to come.
            if (weight_left) credit_total += div_up((fair - peak) * weight_total, weight_left);
            if (credit_xtra) {
                // Keep domains with spare credit at the head, so others get at it next time.
                List<CreditDomain, ActiveDomTag>::remove(d);
                active_domains_.push_front(d);
            }
            fair = peak;
        }
        const int per_unit = static_cast<int>(div_up(fair, n));

        for (auto uit = d.active_.begin(); uit != d.active_.end();) {
            CreditUnit& u = *uit;
            ++uit;
            int credit = u.credit_.fetch_add(per_unit, std::memory_order_relaxed) + per_unit;
            if (credit < 0) {
                u.pri_.store(pri::OVER, std::memory_order_relaxed);
                if (d.cap_ && credit < -static_cast<int>(unit_cap) && !u.parked()) {
                    UnitLock l(*this, u);
                    u.set_flag(CreditUnit::PARKED);
                    pokes |= suspend_locked(u);
                }
                if (credit < -static_cast<int>(per_tslice)) {
                    credit = -static_cast<int>(per_tslice);
                    u.credit_.store(credit, std::memory_order_relaxed);
                }
            } else {
                u.pri_.store(pri::UNDER, std::memory_order_relaxed);
                if (u.parked()) {
                    UnitLock l(*this, u);
                    u.clear_flag(CreditUnit::PARKED);
                    pokes |= wake_locked(u, false);
                }
                if (credit > static_cast<int>(per_tslice)) {
                    // Not using its share: stop earning, keeping half as a head start.
                    acct_stop(u);
                    credit /= 2;
                    u.credit_.store(credit, std::memory_order_relaxed);
                }
            }
            balance += credit;
        }
    }
    credit_balance_ = static_cast<i32>(balance);
    runq_sort_.fetch_add(1, std::memory_order_relaxed);
    return pokes;
}

CpuMask CreditScheduler::on_timer(unsigned cpu, u64 now) {
    CpuMask pokes;
    if (now >= cpus_[cpu].tick_due) pokes |= tick(cpu, now);
    if (cpu == MASTER && now >= next_accounting()) pokes |= account(now);
    if (now >= cpus_[cpu].slice_end) pokes.set(cpu);
    return pokes;
}

u64 CreditScheduler::next_event(unsigned cpu) const {
    u64 t = min(cpus_[cpu].slice_end, cpus_[cpu].tick_due);
    return cpu == MASTER ? min(t, next_accounting()) : t;
}

// ---------------------------------------------------------------------------------------------
// Parameters

void CreditScheduler::apply_params(CreditDomain& d, u32 weight, u32 cap) {
    if (weight) {
        if (List<CreditDomain, ActiveDomTag>::on_a_list(d))
            weight_ = weight_ - d.weight_ * d.active_unit_count_ + weight * d.active_unit_count_;
        d.weight_ = weight;
    }
    if (cap != 0xffff) d.cap_ = cap;
}

Result<void> CreditScheduler::adjust(CreditDomain& d, u32 cmd, xen_domctl_sched_credit& p) {
    SpinGuard g(lock_);
    switch (cmd) {
    case XEN_DOMCTL_SCHEDOP_getinfo:
        p.weight = static_cast<u16>(d.weight_);
        p.cap = static_cast<u16>(d.cap_);
        return ok();
    case XEN_DOMCTL_SCHEDOP_putinfo:
        apply_params(d, p.weight, p.cap);
        return ok();
    default:
        return error(XEN_EINVAL);
    }
}

Result<void> CreditScheduler::set_params(CreditDomain& d, u32 weight, u32 cap) {
    SpinGuard g(lock_);
    if (weight < 1 || weight > 65535 || cap > 100 * d.nr_units_) return error(XEN_EINVAL);
    apply_params(d, weight, cap);
    return ok();
}

Result<void> CreditScheduler::adjust_global(u32 cmd, xen_sysctl_credit_schedule& p) {
    if (cmd != XEN_SYSCTL_SCHEDOP_putinfo && cmd != XEN_SYSCTL_SCHEDOP_getinfo) return error(XEN_EINVAL);
    SpinGuard g(lock_);
    if (cmd == XEN_SYSCTL_SCHEDOP_putinfo) {
        const bool tslice_ok =
            p.tslice_ms >= XEN_SYSCTL_CSCHED_TSLICE_MIN && p.tslice_ms <= XEN_SYSCTL_CSCHED_TSLICE_MAX;
        const bool ratelimit_ok = p.ratelimit_us == 0 || (p.ratelimit_us >= XEN_SYSCTL_SCHED_RATELIMIT_MIN &&
                                                          p.ratelimit_us <= XEN_SYSCTL_SCHED_RATELIMIT_MAX);
        if (!tslice_ok || !ratelimit_ok || u64{p.ratelimit_us} * US > u64{p.tslice_ms} * MS ||
            p.vcpu_migr_delay_us > XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US)
            return error(XEN_EINVAL);
        set_tslice(p.tslice_ms);
        ratelimit_.store(u64{p.ratelimit_us} * US);
        migr_delay_.store(u64{p.vcpu_migr_delay_us} * US);
    }
    p.tslice_ms = static_cast<u32>(tslice_.load() / MS);
    p.ratelimit_us = static_cast<u32>(ratelimit_.load() / US);
    p.vcpu_migr_delay_us = static_cast<u32>(migr_delay_.load() / US);
    return ok();
}

// ---------------------------------------------------------------------------------------------
// Audit

const char* CreditScheduler::audit() {
    SpinGuard g(lock_);
    for (unsigned c = 0; c < nr_cpus_; ++c) cpus_[c].lock.lock();
    const char* bad = nullptr;
    auto check = [&](bool ok_, const char* what) {
        if (!ok_ && !bad) bad = what;
    };
    u64 weight = 0;
    for (CreditDomain& d : domains_) {
        u32 units = 0, active = 0;
        for (CreditUnit& u : d.units_) {
            ++units;
            const unsigned c = u.cpu();
            check(c < nr_cpus_, "unit on a pCPU that does not exist");
            if (c >= nr_cpus_) continue;
            const bool current = cpus_[c].curr == &u;
            if (u.active()) ++active;
            check(!(current && u.queued()), "current unit also queued");
            if (u.runnable())
                check(current || u.queued(), "runnable unit neither queued nor running");
            else
                check(!u.queued(), "unrunnable unit queued");
            if (u.queued()) check(u.hard_.test(c), "unit queued outside its hard affinity");
            if (current) check(u.is_running_, "current unit not marked running");
        }
        check(units == d.nr_units_, "domain unit count wrong");
        check(active == d.active_unit_count_, "active unit count wrong");
        check(List<CreditDomain, ActiveDomTag>::on_a_list(d) == (active != 0), "domain active list wrong");
        weight += u64{d.weight_} * active;
    }
    check(weight == weight_, "total weight wrong");
    for (unsigned c = 0; c < nr_cpus_; ++c) {
        PCpu& pc = cpus_[c];
        u32 n = pc.curr ? 1 : 0;
        for (CreditUnit& u : pc.runq) {
            ++n;
            check(u.cpu() == c, "queued on another pCPU's queue");
            check(u.dom_ && List<CreditUnit, DomUnitTag>::on_a_list(u), "queued unit not inserted");
        }
        // A current unit that stopped being runnable still counts until do_schedule.
        check(relaxed_load(pc.nr_runnable) == n, "nr_runnable wrong");
        if (idlers_.test(c)) check(!pc.curr, "idler running a unit");
    }
    for (unsigned c = nr_cpus_; c-- > 0;) cpus_[c].lock.unlock();
    return bad;
}

}  // namespace pv::sched
