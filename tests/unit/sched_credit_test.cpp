// The credit scheduler (core/sched_credit.hpp) on simulated pCPUs and simulated time: CPU shares
// by weight and by cap over seconds, boost on wake, hard affinity, stealing, yield, Xen's
// parameter checks, clean removal; then random operations checked against the invariants.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/sched_credit.hpp"

namespace {

using pv::u64;
using namespace pv::sched;

constexpr u64 MS = 1'000'000;

struct Vcpu {
    CreditUnit unit;
    u64 ran = 0;      // ns of CPU time received
    CpuMask ran_on;  // pCPUs it ran on
};

struct Dom {
    CreditDomain dom;
    std::vector<std::unique_ptr<Vcpu>> vcpus;
};

// The arch side, simulated: pCPUs that do what the scheduler says, timers that fire on time, and
// pokes (IPIs) that take effect at once.  Every vCPU is CPU-bound unless a test puts it to sleep.
class Machine {
public:
    explicit Machine(unsigned ncpus) : s(ncpus, 0), n(ncpus), running(ncpus, nullptr), since(ncpus, 0) {}

    Dom& domain(domid_t id, unsigned nvcpus, bool wake = true) {
        doms.push_back(std::make_unique<Dom>());
        Dom& d = *doms.back();
        s.add_domain(d.dom, id);
        for (unsigned i = 0; i < nvcpus; ++i) {
            d.vcpus.push_back(std::make_unique<Vcpu>());
            owners[&d.vcpus.back()->unit] = d.vcpus.back().get();
            s.insert_unit(d.vcpus.back()->unit, d.dom, i, 0);
            if (wake) poke(s.wake(d.vcpus.back()->unit, now));
        }
        settle();
        return d;
    }

    void poke(const CpuMask& m) { pending |= m; }

    // Reschedule every poked pCPU (pokes may cascade).
    void settle() {
        while (!pending.empty()) {
            unsigned c = static_cast<unsigned>(pending.find_next_set());
            pending.clear(c);
            schedule(c);
        }
    }

    void schedule(unsigned c) {
        Decision d = s.do_schedule(c, now);
        charge(c);
        if (d.prev && d.prev != d.next) poke(s.context_saved(*d.prev, now));
        running[c] = d.next ? owner(d.next) : nullptr;
        if (running[c]) running[c]->ran_on.set(c);
        last[c] = d;
    }

    // Advance to `until`, firing every timer on time.
    void run_until(u64 until) {
        settle();
        for (;;) {
            u64 t = pv::sched::NEVER;
            for (unsigned c = 0; c < n; ++c) t = std::min(t, s.next_event(c));
            if (t > until) break;
            now = t;
            for (unsigned c = 0; c < n; ++c)
                if (s.next_event(c) <= now) poke(s.on_timer(c, now));
            settle();
        }
        now = until;
        for (unsigned c = 0; c < n; ++c) charge(c);
    }

    void sleep(Vcpu& v) {
        poke(s.sleep(v.unit));
        settle();
    }
    void wake(Vcpu& v) {
        poke(s.wake(v.unit, now));
        settle();
    }

    Vcpu* owner(CreditUnit* u) { return owners.at(u); }

    CreditScheduler s;
    unsigned n;
    u64 now = 0;
    CpuMask pending;
    std::vector<Vcpu*> running;
    std::vector<u64> since;
    Decision last[MAX_PCPUS];
    std::vector<std::unique_ptr<Dom>> doms;
    std::map<const CreditUnit*, Vcpu*> owners;

private:
    void charge(unsigned c) {
        if (running[c]) running[c]->ran += now - since[c];
        since[c] = now;
    }
};

u64 total(const Dom& d) {
    u64 t = 0;
    for (auto& v : d.vcpus) t += v->ran;
    return t;
}

TEST(SchedCredit, DefaultsAreXens) {
    Machine m(1);
    Dom& d = m.domain(1, 1, false);
    EXPECT_EQ(d.dom.weight(), 256u);
    EXPECT_EQ(d.dom.cap(), 0u);
    xen_sysctl_credit_schedule p{};
    ASSERT_TRUE(m.s.adjust_global(XEN_SYSCTL_SCHEDOP_getinfo, p).ok());
    EXPECT_EQ(p.tslice_ms, 30u);
    EXPECT_EQ(p.ratelimit_us, 1000u);
    EXPECT_EQ(p.vcpu_migr_delay_us, 0u);
    EXPECT_EQ(m.s.next_accounting(), 30 * MS);
    EXPECT_TRUE(m.s.is_idler(0));
}

// Two CPU-bound domains with weights 256 and 512, `units` vCPUs each, on `ncpus` pCPUs for 6 s
// (200 accounting periods); checks the machine never idled with work queued and returns b's
// CPU time over a's.
double weight_ratio(unsigned ncpus, unsigned units) {
    Machine m(ncpus);
    Dom& a = m.domain(1, units);
    Dom& b = m.domain(2, units);
    EXPECT_TRUE(m.s.set_params(b.dom, 512, 0).ok());
    m.run_until(6000 * MS);
    EXPECT_EQ(total(a) + total(b), ncpus * 6000 * MS);
    EXPECT_EQ(m.s.audit(), nullptr);
    return static_cast<double>(total(b)) / static_cast<double>(total(a));
}

// One pCPU.  Credit is handed out per 30 ms period in the ratio of the weights, but credit1 is
// only approximately proportional: credit is clamped at one period's worth below zero, and a unit
// runs whole 10 ms ticks past its share before the next accounting demotes it.  This
// implementation gives 1.94 (2040 ms : 3960 ms); 5% on the ratio allows for that and still fails
// a scheduler that ignores weights (ratio 1) by a wide margin.
TEST(SchedCredit, WeightsSplitOnePcpu) { EXPECT_NEAR(weight_ratio(1, 1), 2.0, 0.1); }

// Four pCPUs and eight units per domain: 1:2 again, machine-wide (measured 1.89: the load
// balancer moves units between pCPUs whose queues hold different mixes; 10%).
TEST(SchedCredit, WeightsSplitManyPcpus) { EXPECT_NEAR(weight_ratio(4, 8), 2.0, 0.2); }

// A domain capped at 25% of a pCPU, alone on two pCPUs: it is parked once it overdraws its cap
// and unparked when its credit is positive again, so it gets a quarter of one pCPU though 1.75
// pCPUs sit idle.  The cycle is exact here (run one 30 ms period: -300 + 75 credits; parked
// while three more periods bring it back to 0), so the share is 25.0%; 2.5 points of tolerance
// cover a cycle cut at either end of the 6 s.
TEST(SchedCredit, CapLimitsShare) {
    Machine m(2);
    Dom& d = m.domain(1, 1);
    ASSERT_TRUE(m.s.set_params(d.dom, 256, 25).ok());
    bool seen_parked = false;
    for (u64 t = 10 * MS; t <= 6000 * MS; t += 10 * MS) {
        m.run_until(t);
        seen_parked |= d.vcpus[0]->unit.parked();
        ASSERT_EQ(m.s.audit(), nullptr);
    }
    EXPECT_TRUE(seen_parked);
    const double share = static_cast<double>(total(d)) / (6000.0 * MS);
    EXPECT_NEAR(share, 0.25, 0.025);
}

// Cap 100 on a two-vCPU domain: one pCPU's worth between both units, on a four-pCPU machine.
TEST(SchedCredit, CapCoversAllUnits) {
    Machine m(4);
    Dom& d = m.domain(1, 2);
    ASSERT_TRUE(m.s.set_params(d.dom, 256, 100).ok());
    m.run_until(6000 * MS);
    const double share = static_cast<double>(total(d)) / (6000.0 * MS);
    EXPECT_NEAR(share, 1.0, 0.1);
}

// A unit waking from a block is BOOSTed and preempts a CPU-bound unit at once.
TEST(SchedCredit, WakeBoostPreempts) {
    Machine m(1);
    Dom& hog = m.domain(1, 1);
    Dom& io = m.domain(2, 1, false);
    m.run_until(95 * MS);
    ASSERT_EQ(m.running[0], hog.vcpus[0].get());
    CpuMask pokes = m.s.wake(io.vcpus[0]->unit, m.now);
    EXPECT_EQ(io.vcpus[0]->unit.priority(), pri::BOOST);
    EXPECT_TRUE(pokes.test(0));  // tickled: the hog's pCPU must reschedule
    m.poke(pokes);
    m.settle();
    EXPECT_EQ(m.running[0], io.vcpus[0].get());
    // The boost ends at the next tick that finds it running.
    m.run_until(m.s.next_tick(0));
    EXPECT_NE(io.vcpus[0]->unit.priority(), pri::BOOST);
}

// The ratelimit: a unit that has run less than 1 ms keeps its pCPU against a boosted waker
// until its 1 ms is up.
TEST(SchedCredit, RatelimitDelaysPreemption) {
    Machine m(1);
    Dom& a = m.domain(1, 1);
    Dom& b = m.domain(2, 1);
    Dom& io = m.domain(3, 1, false);
    // Run slice by slice until one ends with a switch between the two CPU-bound units.
    m.run_until(100 * MS);
    for (;;) {
        Vcpu* before = m.running[0];
        m.run_until(m.last[0].deadline);
        if (m.running[0] != before) break;
    }
    Vcpu* fresh = m.running[0];
    ASSERT_TRUE(fresh == a.vcpus[0].get() || fresh == b.vcpus[0].get());
    m.now += 300'000;  // 0.3 ms into its run
    CpuMask pokes = m.s.wake(io.vcpus[0]->unit, m.now);
    ASSERT_TRUE(pokes.test(0));
    m.poke(pokes);
    m.settle();
    EXPECT_EQ(m.running[0], fresh);
    EXPECT_EQ(m.last[0].deadline, m.now + 700'000);  // the rest of its 1 ms
    m.run_until(m.now + 700'000);
    EXPECT_EQ(m.running[0], io.vcpus[0].get());
}

// Hard affinity: a unit pinned to pCPU 1 never runs elsewhere, though pCPU 0 is often idle and
// steals; the others go anywhere.
TEST(SchedCredit, HardAffinityIsObeyed) {
    Machine m(3);
    Dom& d = m.domain(1, 4, false);
    Vcpu& pinned = *d.vcpus[0];
    CpuMask one;
    one.set(1);
    auto r = m.s.set_affinity(pinned.unit, &one, nullptr, m.now);
    ASSERT_TRUE(r.ok());
    m.poke(*r);
    for (auto& v : d.vcpus) m.wake(*v);
    std::mt19937 rng(7);
    for (u64 t = 5 * MS; t <= 3000 * MS; t += 5 * MS) {
        m.run_until(t);
        Vcpu& v = *d.vcpus[1 + rng() % 3];
        if (v.unit.awake())
            m.sleep(v);
        else
            m.wake(v);
        ASSERT_EQ(m.s.audit(), nullptr);
    }
    EXPECT_GT(pinned.ran, 0u);
    EXPECT_EQ(pinned.ran_on.count(), 1u);
    EXPECT_TRUE(pinned.ran_on.test(1));
    EXPECT_EQ(pinned.unit.cpu(), 1u);
    // Moving the affinity of a running unit moves it.
    CpuMask two;
    two.set(2);
    auto r2 = m.s.set_affinity(pinned.unit, &two, nullptr, m.now);
    ASSERT_TRUE(r2.ok());
    m.poke(*r2);
    m.run_until(m.now + 100 * MS);
    EXPECT_EQ(pinned.unit.cpu(), 2u);
    EXPECT_EQ(m.s.audit(), nullptr);
    // An affinity with no online pCPU is refused.
    CpuMask none;
    none.set(40);
    EXPECT_EQ(m.s.set_affinity(pinned.unit, &none, nullptr, m.now).error(), XEN_EINVAL);
}

// A pCPU that goes idle steals queued work from a busy peer.
TEST(SchedCredit, IdlePcpuSteals) {
    Machine m(2);
    Dom& d = m.domain(1, 3, false);
    Vcpu &a = *d.vcpus[0], &b = *d.vcpus[1], &c = *d.vcpus[2];
    // c occupies pCPU 1; a runs on 0 with b queued behind it.
    CpuMask cpu0, cpu1, both;
    cpu0.set(0);
    cpu1.set(1);
    both.set(0);
    both.set(1);
    m.poke(*m.s.set_affinity(c.unit, &cpu1, nullptr, 0));
    m.wake(c);
    m.poke(*m.s.set_affinity(a.unit, &cpu0, nullptr, 0));
    m.poke(*m.s.set_affinity(b.unit, &cpu0, nullptr, 0));
    m.wake(a);
    m.wake(b);
    ASSERT_EQ(m.running[0], &a);
    ASSERT_EQ(m.running[1], &c);
    ASSERT_EQ(b.unit.cpu(), 0u);
    ASSERT_TRUE(b.unit.queued());
    m.poke(*m.s.set_affinity(b.unit, &both, nullptr, 0));  // b may now run on 1
    m.sleep(c);                                           // pCPU 1 has nothing of its own
    EXPECT_EQ(m.running[1], &b);
    EXPECT_TRUE(m.last[1].migrated);
    EXPECT_EQ(b.unit.cpu(), 1u);
    EXPECT_EQ(m.s.audit(), nullptr);
}

// A woken unit whose pCPU is busy tickles an idle pCPU, which steals it.
TEST(SchedCredit, WakeTicklesIdler) {
    Machine m(2);
    Dom& d = m.domain(1, 2, false);
    m.wake(*d.vcpus[0]);
    ASSERT_EQ(m.running[0], d.vcpus[0].get());
    CpuMask pokes = m.s.wake(d.vcpus[1]->unit, m.now);
    EXPECT_TRUE(pokes.test(1));
    EXPECT_FALSE(pokes.test(0));
    m.poke(pokes);
    m.settle();
    EXPECT_EQ(m.running[1], d.vcpus[1].get());
    EXPECT_EQ(m.running[0], d.vcpus[0].get());
}

TEST(SchedCredit, YieldGivesWay) {
    Machine m(1);
    Dom& d = m.domain(1, 2);
    m.run_until(50 * MS);
    Vcpu* cur = m.running[0];
    ASSERT_NE(cur, nullptr);
    Vcpu* other = cur == d.vcpus[0].get() ? d.vcpus[1].get() : d.vcpus[0].get();
    ASSERT_EQ(cur->unit.priority(), other->unit.priority());
    m.now += 100'000;  // well inside the ratelimit: yield is not held back by it
    m.poke(m.s.yield(cur->unit));
    m.settle();
    EXPECT_EQ(m.running[0], other);
    // Alone, a yielding unit runs on.
    m.sleep(*other);
    m.poke(m.s.yield(cur->unit));
    m.settle();
    EXPECT_EQ(m.running[0], cur);
}

// Xen's checks: libxl's ranges for set_params, the domctl's "0 / 0xffff mean unchanged", the
// sysctl's ranges.
TEST(SchedCredit, ParameterChecks) {
    Machine m(2);
    Dom& d = m.domain(1, 2, false);
    EXPECT_EQ(m.s.set_params(d.dom, 0, 0).error(), XEN_EINVAL);
    EXPECT_EQ(m.s.set_params(d.dom, 65536, 0).error(), XEN_EINVAL);
    EXPECT_EQ(m.s.set_params(d.dom, 256, 201).error(), XEN_EINVAL);
    EXPECT_TRUE(m.s.set_params(d.dom, 65535, 200).ok());
    EXPECT_EQ(d.dom.weight(), 65535u);
    EXPECT_EQ(d.dom.cap(), 200u);
    EXPECT_TRUE(m.s.set_params(d.dom, 1, 0).ok());

    xen_domctl_sched_credit p{};
    p.weight = 0;
    p.cap = 0xffff;
    ASSERT_TRUE(m.s.adjust(d.dom, XEN_DOMCTL_SCHEDOP_putinfo, p).ok());
    EXPECT_EQ(d.dom.weight(), 1u);
    EXPECT_EQ(d.dom.cap(), 0u);
    p.weight = 300;
    p.cap = 50;
    ASSERT_TRUE(m.s.adjust(d.dom, XEN_DOMCTL_SCHEDOP_putinfo, p).ok());
    xen_domctl_sched_credit q{};
    ASSERT_TRUE(m.s.adjust(d.dom, XEN_DOMCTL_SCHEDOP_getinfo, q).ok());
    EXPECT_EQ(q.weight, 300);
    EXPECT_EQ(q.cap, 50);
    EXPECT_EQ(m.s.adjust(d.dom, XEN_DOMCTL_SCHEDOP_putvcpuinfo, q).error(), XEN_EINVAL);

    xen_sysctl_credit_schedule g{};
    g.tslice_ms = 0;
    g.ratelimit_us = 1000;
    EXPECT_EQ(m.s.adjust_global(XEN_SYSCTL_SCHEDOP_putinfo, g).error(), XEN_EINVAL);
    g.tslice_ms = 10;
    g.ratelimit_us = 50;  // below the minimum, and not 0
    EXPECT_EQ(m.s.adjust_global(XEN_SYSCTL_SCHEDOP_putinfo, g).error(), XEN_EINVAL);
    g.ratelimit_us = 20000;  // longer than the slice
    EXPECT_EQ(m.s.adjust_global(XEN_SYSCTL_SCHEDOP_putinfo, g).error(), XEN_EINVAL);
    g.ratelimit_us = 0;  // off
    g.vcpu_migr_delay_us = 100 * 1000 + 1;
    EXPECT_EQ(m.s.adjust_global(XEN_SYSCTL_SCHEDOP_putinfo, g).error(), XEN_EINVAL);
    g.vcpu_migr_delay_us = 500;
    ASSERT_TRUE(m.s.adjust_global(XEN_SYSCTL_SCHEDOP_putinfo, g).ok());
    EXPECT_EQ(g.tslice_ms, 10u);
    EXPECT_EQ(g.ratelimit_us, 0u);
    EXPECT_EQ(g.vcpu_migr_delay_us, 500u);
}

// Units and domains removed mid-run leave nothing behind: their memory is freed and the machine
// runs on (ASan reports any pointer the scheduler kept).
TEST(SchedCredit, RemovalLeavesNothing) {
    Machine m(2);
    Dom& stay = m.domain(1, 2);
    m.domain(2, 3);
    m.run_until(200 * MS);
    Dom& go = *m.doms[1];
    for (auto& v : go.vcpus) m.sleep(*v);
    for (auto& v : go.vcpus) {
        ASSERT_FALSE(v->unit.queued());
        for (unsigned c = 0; c < m.n; ++c) ASSERT_NE(m.s.current(c), &v->unit);
        m.s.remove_unit(v->unit);
    }
    EXPECT_EQ(go.dom.nr_units(), 0u);
    EXPECT_EQ(go.dom.active_units(), 0u);
    m.s.remove_domain(go.dom);
    m.doms.pop_back();
    EXPECT_EQ(m.s.audit(), nullptr);
    m.run_until(600 * MS);
    EXPECT_EQ(m.s.audit(), nullptr);
    EXPECT_GT(total(stay), 700 * MS);
}

// Random operations on three pCPUs, with the invariants audited after each: every runnable unit
// queued on exactly its own pCPU or running there, counts and weights consistent, idlers idle,
// queued units inside their hard affinity.
TEST(SchedCredit, RandomStressKeepsInvariants) {
    Machine m(3);
    std::mt19937 rng(12345);
    for (domid_t id = 1; id <= 4; ++id) m.domain(id, 1 + id % 3, false);
    std::vector<Vcpu*> all;
    for (auto& d : m.doms)
        for (auto& v : d->vcpus) all.push_back(v.get());
    for (int step = 0; step < 20000; ++step) {
        Vcpu& v = *all[rng() % all.size()];
        Dom& d = *m.doms[rng() % m.doms.size()];
        switch (rng() % 10) {
        case 0:
        case 1:
            m.wake(v);
            break;
        case 2:
            m.sleep(v);
            break;
        case 3:
            m.poke(m.s.yield(v.unit));
            m.settle();
            break;
        case 4: {
            CpuMask mask;
            for (unsigned c = 0; c < 3; ++c)
                if (rng() % 2) mask.set(c);
            if (mask.empty()) mask.set(rng() % 3);
            CpuMask soft;
            soft.set(rng() % 3);
            auto r = m.s.set_affinity(v.unit, &mask, rng() % 2 ? &soft : nullptr, m.now);
            ASSERT_TRUE(r.ok());
            m.poke(*r);
            m.settle();
            break;
        }
        case 5: {
            const unsigned max_cap = 100 * d.dom.nr_units();
            const unsigned cap = static_cast<unsigned>(rng() % 3 == 0 ? 0 : 1 + rng() % max_cap);
            ASSERT_TRUE(m.s.set_params(d.dom, 1 + rng() % 1000, cap).ok());
            break;
        }
        case 6:
            m.schedule(rng() % 3);  // a spurious reschedule
            break;
        default:
            m.run_until(m.now + rng() % (15 * MS));
            break;
        }
        const char* bad = m.s.audit();
        ASSERT_EQ(bad, nullptr) << "step " << step;
    }
    // Everyone awake and uncapped: the machine is busy throughout.
    for (auto& d : m.doms) ASSERT_TRUE(m.s.set_params(d->dom, 256, 0).ok());
    for (Vcpu* v : all) {
        m.wake(*v);
        CpuMask any;
        any.fill(true);
        m.poke(*m.s.set_affinity(v->unit, &any, nullptr, m.now));
    }
    m.run_until(m.now + 1000 * MS);
    for (unsigned c = 0; c < 3; ++c) EXPECT_NE(m.s.current(c), nullptr);
    EXPECT_EQ(m.s.audit(), nullptr);
}

}  // namespace
