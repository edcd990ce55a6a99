// Event channels (core/evtchn.hpp, core/evtchn_ops.hpp): every EVTCHNOP_* with Xen's errnos and
// order of checks, 2-level delivery bit by bit as Xen's event_2l.c, interdomain pairs between fake
// domains, VIRQs, reset and domain death; then random hostile sequences checked against the
// table invariants, and threads racing sends against mask/unmask and against closes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/evtchn.hpp"
#include "core/evtchn_ops.hpp"
#include "fake_evtchn_env.hpp"

namespace {

using namespace evtest;
using pv::EventChannels;
using pv::PortInfo;
using pv::PortState;
using pv::u32;
using pv::u64;

using Kicks = std::vector<std::pair<domid_t, unsigned>>;

constexpr domid_t DOM0 = 0, A = 1, B = 2, NOBODY = 9;

// Checks every invariant of evtchn.hpp over all domains; "" or the first violation.  A free
// port's 2-level pending bit is only known clear when no domain changed ABI (Xen leaves the
// shared_info bits alone across a switch): free_not_pending says whether to check it.
std::string audit(FakeEnv& env, bool free_not_pending = true) {
    for (auto& [id, fd] : env.doms) {
        EventChannels& ch = fd->ch;
        std::string where = "dom " + std::to_string(id) + " port ";
        if (ch.inspect(0).state != PortState::reserved) return where + "0 not reserved";
        for (evtchn_port_t p = 1; p < pv::evtchn::NR_PORTS; ++p) {
            PortInfo i = ch.inspect(p);
            std::string at = where + std::to_string(p) + ": ";
            if (p >= ch.valid_ports()) {
                if (i.state != PortState::free) return at + "in use beyond the valid ports";
                continue;
            }
            switch (i.state) {
                case PortState::reserved: return at + "reserved";
                case PortState::free:
                    if (free_not_pending && pv::evtchn_2l::is_pending(fd->si, p)) return at + "free but pending";
                    if (i.vcpu != 0) return at + "free but notifies vCPU " + std::to_string(i.vcpu);
                    break;
                case PortState::interdomain: {
                    FakeDomain* peer = env.find(i.remote_dom);
                    if (!peer) return at + "peer domain gone";
                    if (i.value >= peer->ch.valid_ports()) return at + "peer port not valid";
                    PortInfo r = peer->ch.inspect(i.value);
                    if (r.state != PortState::interdomain) return at + "peer port not interdomain";
                    if (r.remote_dom != id || r.value != p) return at + "peer points elsewhere";
                    break;
                }
                case PortState::virq:
                    if (ch.virq_port(i.value, i.vcpu) != p) return at + "virq port missing from the table";
                    break;
                default: break;
            }
            if (i.vcpu >= fd->nr_vcpus) return at + "notifies a missing vCPU";
        }
        for (u32 v = 0; v < fd->nr_vcpus; ++v)
            for (u32 virq = 0; virq < NR_VIRQS; ++virq) {
                evtchn_port_t p = ch.virq_port(virq, v);
                if (p == 0) continue;
                PortInfo i = ch.inspect(p);
                if (i.state != PortState::virq || i.value != virq)
                    return where + std::to_string(p) + ": table says virq " + std::to_string(virq);
                if (!pv::evtchn::virq_is_global(virq) && i.vcpu != v)
                    return where + std::to_string(p) + ": per-vCPU virq on the wrong vCPU";
            }
    }
    return "";
}

class Evtchn : public ::testing::Test {
protected:
    FakeDomain& add(domid_t id, unsigned vcpus = 2, evtchn_port_t max_port = 4095) {
        auto d = std::make_unique<FakeDomain>(id, vcpus, max_port);
        FakeDomain& r = *d;
        env.doms[id] = std::move(d);
        return r;
    }
    void SetUp() override {
        add(DOM0, 4).privileged = true;
        add(A);
        add(B);
    }
    EventChannels& ch(domid_t d) { return env.find(d)->ch; }
    shared_info_t& si(domid_t d) { return env.find(d)->si; }
    vcpu_info_t& vi(domid_t d, unsigned v) { return si(d).vcpu_info[v]; }
    bool pending(domid_t d, evtchn_port_t p) { return pv::evtchn_2l::is_pending(si(d), p); }
    bool masked(domid_t d, evtchn_port_t p) { return pv::evtchn_2l::is_masked(si(d), p); }
    void mask(domid_t d, evtchn_port_t p) { si(d).evtchn_mask[p / 64] |= 1ul << (p % 64); }
    // The guest takes everything: upcall flag, selectors, pending bits (no handler runs).
    void consume(domid_t d) {
        for (auto& v : si(d).vcpu_info) v.evtchn_upcall_pending = 0, v.evtchn_pending_sel = 0;
        for (auto& w : si(d).evtchn_pending) w = 0;
        env.forget();
    }

    evtchn_port_t unbound(domid_t d, domid_t remote) {
        auto r = ops.alloc_unbound(ch(d), DOMID_SELF, remote);
        EXPECT_TRUE(r);
        return r ? *r : 0;
    }
    // A pair between a (caller of bind) and b: {a's port, b's port}; the bits it raised are gone.
    std::pair<evtchn_port_t, evtchn_port_t> connect(domid_t a, domid_t b) {
        evtchn_port_t pb = unbound(b, a);
        auto r = ops.bind_interdomain(ch(a), b, pb);
        EXPECT_TRUE(r);
        consume(a);
        return {r ? *r : 0, pb};
    }
    evtchn_status_t status(domid_t caller, domid_t dom, evtchn_port_t port, long* result = nullptr) {
        evtchn_status_t st{};
        st.dom = dom;
        st.port = port;
        long r = rc(ops.status(ch(caller), st));
        if (result) *result = r;
        else EXPECT_EQ(r, OK);
        return st;
    }

    FakeEnv env;
    Ops ops{env};
};

// ---------------------------------------------------------------------------------------------
// Port 0, allocation, limits

TEST_F(Evtchn, Port0IsReservedAndReadsClosed) {
    evtchn_status_t st = status(A, DOMID_SELF, 0);
    EXPECT_EQ(st.status, EVTCHNSTAT_closed);
    EXPECT_EQ(st.vcpu, 0u);
    EXPECT_EQ(rc(ops.close(ch(A), 0)), EINVAL_);
    EXPECT_EQ(rc(ops.send(ch(A), 0)), EINVAL_);
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), 0, 0)), EINVAL_);
    mask(A, 0);
    EXPECT_EQ(rc(ops.unmask(ch(A), 0)), OK);
    EXPECT_TRUE(masked(A, 0));  // not usable: left alone
    EXPECT_EQ(unbound(A, A), 1u);
}

TEST_F(Evtchn, AllocUnboundSelf) {
    evtchn_port_t p = unbound(A, DOMID_SELF);
    EXPECT_EQ(p, 1u);
    evtchn_status_t st = status(A, DOMID_SELF, p);
    EXPECT_EQ(st.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(st.u.unbound.dom, A);  // DOMID_SELF is resolved to the caller
    EXPECT_EQ(st.vcpu, 0u);
    EXPECT_EQ(unbound(A, B), 2u);
    EXPECT_EQ(status(A, A, 2).u.unbound.dom, B);
}

TEST_F(Evtchn, AllocUnboundInAnotherDomain) {
    EXPECT_EQ(rc(ops.alloc_unbound(ch(A), B, A)), EPERM_);
    EXPECT_EQ(rc(ops.alloc_unbound(ch(A), NOBODY, A)), ESRCH_);
    // A control domain may; DOMID_SELF then means the caller, not the domain the port is in.
    auto r = ops.alloc_unbound(ch(DOM0), B, DOMID_SELF);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 1u);
    evtchn_status_t st = status(B, DOMID_SELF, *r);
    EXPECT_EQ(st.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(st.u.unbound.dom, DOM0);
    // Naming oneself by number is not "another domain".
    EXPECT_EQ(rc(ops.alloc_unbound(ch(A), A, B)), OK);
}

// Found by the attack suite's fuzzer: a refused allocation in another domain reserved a bucket
// (a page of hypervisor memory) in that domain's table, where it stayed.
TEST_F(Evtchn, RefusedAllocationInAnotherDomainTakesNoMemory) {
    const std::size_t before = env.allocs.size();
    EXPECT_EQ(rc(ops.alloc_unbound(ch(A), B, A)), EPERM_);
    EXPECT_EQ(rc(ops.alloc_unbound(ch(A), DOM0, A)), EPERM_);
    EXPECT_EQ(env.allocs.size(), before);
    EXPECT_EQ(unbound(B, B), 1u);  // B's own allocation is unaffected
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, ExhaustionAtMaxPort) {
    add(5, 1, 5);
    for (evtchn_port_t want = 1; want <= 5; ++want) EXPECT_EQ(unbound(5, 5), want);
    EXPECT_EQ(rc(ops.alloc_unbound(ch(5), DOMID_SELF, 5)), ENOSPC_);
    EXPECT_EQ(rc(ops.bind_ipi(ch(5), 0)), ENOSPC_);
    EXPECT_EQ(rc(ops.bind_virq(ch(5), VIRQ_TIMER, 0)), ENOSPC_);
    // The full check comes before the permission check, as in Xen.
    EXPECT_EQ(rc(ops.alloc_unbound(ch(A), 5, A)), ENOSPC_);
    ASSERT_EQ(rc(ops.close(ch(5), 3)), OK);
    EXPECT_EQ(unbound(5, 5), 3u);
    // Ports past the limit are still valid within the first bucket.
    EXPECT_EQ(status(5, DOMID_SELF, 63).status, EVTCHNSTAT_closed);
}

TEST_F(Evtchn, ExhaustionOfAll4095) {
    for (evtchn_port_t want = 1; want < 4096; ++want) ASSERT_EQ(unbound(A, A), want);
    EXPECT_EQ(rc(ops.alloc_unbound(ch(A), DOMID_SELF, A)), ENOSPC_);
    EXPECT_EQ(ch(A).valid_ports(), 4096u);
    long r;
    status(A, DOMID_SELF, 4096, &r);
    EXPECT_EQ(r, EINVAL_);
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, PortsBecomeValidBucketByBucket) {
    EXPECT_EQ(ch(A).valid_ports(), 64u);
    long r;
    status(A, DOMID_SELF, 64, &r);
    EXPECT_EQ(r, EINVAL_);
    EXPECT_EQ(rc(ops.close(ch(A), 64)), EINVAL_);
    EXPECT_EQ(rc(ops.send(ch(A), 64)), EINVAL_);
    EXPECT_EQ(rc(ops.unmask(ch(A), 64)), EINVAL_);
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), 64, 0)), EINVAL_);
    for (int i = 1; i < 64; ++i) unbound(A, A);
    EXPECT_EQ(ch(A).valid_ports(), 64u);
    EXPECT_EQ(unbound(A, A), 64u);
    EXPECT_EQ(ch(A).valid_ports(), 128u);
    // Buckets are never given back.
    ASSERT_EQ(rc(ops.close(ch(A), 64)), OK);
    EXPECT_EQ(status(A, DOMID_SELF, 100).status, EVTCHNSTAT_closed);
}

// ---------------------------------------------------------------------------------------------
// Interdomain

TEST_F(Evtchn, BindInterdomain) {
    evtchn_port_t pb = unbound(B, A);
    auto r = ops.bind_interdomain(ch(A), B, pb);
    ASSERT_TRUE(r);
    evtchn_port_t pa = *r;
    EXPECT_EQ(pa, 1u);
    evtchn_status_t sa = status(A, DOMID_SELF, pa), sb = status(B, DOMID_SELF, pb);
    EXPECT_EQ(sa.status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(sa.u.interdomain.dom, B);
    EXPECT_EQ(sa.u.interdomain.port, pb);
    EXPECT_EQ(sb.status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(sb.u.interdomain.dom, A);
    EXPECT_EQ(sb.u.interdomain.port, pa);
    // Xen sets the new local port pending at once (events sent while unbound were dropped).
    EXPECT_TRUE(pending(A, pa));
    EXPECT_EQ(vi(A, 0).evtchn_pending_sel, 1ul);
    EXPECT_EQ(vi(A, 0).evtchn_upcall_pending, 1);
    EXPECT_EQ(env.kicks, (Kicks{{A, 0}}));
    EXPECT_FALSE(pending(B, pb));
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, BindInterdomainErrors) {
    evtchn_port_t for_a = unbound(B, A), for_dom0 = unbound(B, DOM0);
    EXPECT_EQ(rc(ops.bind_interdomain(ch(A), NOBODY, 1)), ESRCH_);
    EXPECT_EQ(rc(ops.bind_interdomain(ch(A), B, 100)), EINVAL_);     // not valid
    EXPECT_EQ(rc(ops.bind_interdomain(ch(A), B, 0)), EINVAL_);       // reserved
    EXPECT_EQ(rc(ops.bind_interdomain(ch(A), B, 7)), EINVAL_);       // free
    EXPECT_EQ(rc(ops.bind_interdomain(ch(A), B, for_dom0)), EINVAL_);  // waiting for someone else
    env.allow_bind = false;
    EXPECT_EQ(rc(ops.bind_interdomain(ch(A), B, for_a)), EPERM_);
    env.allow_bind = true;
    // None of the failures used up a port of A's.
    for (evtchn_port_t p = 1; p < 64; ++p) EXPECT_EQ(ch(A).inspect(p).state, PortState::free) << p;
    ASSERT_EQ(rc(ops.bind_interdomain(ch(A), B, for_a)), OK);
    EXPECT_EQ(rc(ops.bind_interdomain(ch(DOM0), B, for_a)), EINVAL_);  // already connected
    // A full caller fails before the remote port is looked at.
    add(5, 1, 1);
    unbound(5, 5);
    EXPECT_EQ(rc(ops.bind_interdomain(ch(5), B, 100)), ENOSPC_);
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, Loopback) {
    evtchn_port_t p1 = unbound(A, DOMID_SELF);
    auto r = ops.bind_interdomain(ch(A), DOMID_SELF, p1);
    ASSERT_TRUE(r);
    evtchn_port_t p2 = *r;
    EXPECT_EQ(p2, 2u);
    EXPECT_EQ(status(A, A, p1).u.interdomain.port, p2);
    EXPECT_EQ(status(A, A, p2).u.interdomain.dom, A);
    consume(A);
    ASSERT_EQ(rc(ops.send(ch(A), p2)), OK);
    EXPECT_TRUE(pending(A, p1));
    EXPECT_FALSE(pending(A, p2));
    ASSERT_EQ(rc(ops.close(ch(A), p1)), OK);
    evtchn_status_t st = status(A, A, p2);
    EXPECT_EQ(st.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(st.u.unbound.dom, A);
    EXPECT_EQ(audit(env), "");
}

// ---------------------------------------------------------------------------------------------
// 2-level delivery

TEST_F(Evtchn, SendRaisesPendingSelectorUpcallExactlyAsEvent2l) {
    auto [pa, pb] = connect(A, B);
    ASSERT_EQ(rc(ops.send(ch(A), pa)), OK);
    EXPECT_EQ(si(B).evtchn_pending[0], 1ul << pb);
    EXPECT_EQ(vi(B, 0).evtchn_pending_sel, 1ul);
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 1);
    EXPECT_EQ(env.kicks, (Kicks{{B, 0}}));
    EXPECT_EQ(env.polls.size(), 1u);
    EXPECT_EQ(vi(B, 1).evtchn_upcall_pending, 0);
    EXPECT_EQ(si(A).evtchn_pending[0], 0ul);

    // Already pending: nothing else happens, not even when the guest cleared only the upcall flag.
    vi(B, 0).evtchn_upcall_pending = 0;
    ASSERT_EQ(rc(ops.send(ch(A), pa)), OK);
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 0);
    EXPECT_EQ(env.kicks.size(), 1u);
    EXPECT_EQ(env.polls.size(), 1u);

    // Newly pending but the selector bit is still set: no upcall (the guest clears the selector
    // before the pending bits, so it will see this one).
    si(B).evtchn_pending[0] = 0;
    ASSERT_EQ(rc(ops.send(ch(A), pa)), OK);
    EXPECT_TRUE(pending(B, pb));
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 0);
    EXPECT_EQ(env.kicks.size(), 1u);
    EXPECT_EQ(env.polls.size(), 2u);

    // The other direction.
    consume(B);
    ASSERT_EQ(rc(ops.send(ch(B), pb)), OK);
    EXPECT_EQ(si(A).evtchn_pending[0], 1ul << pa);
    EXPECT_EQ(env.kicks, (Kicks{{A, 0}}));
}

TEST_F(Evtchn, SelectorBitPerWord) {
    std::vector<evtchn_port_t> ports;
    for (int i = 0; i < 66; ++i) ports.push_back(*ops.bind_ipi(ch(A), 1));
    ASSERT_EQ(ports[63], 64u);
    ASSERT_EQ(ports[64], 65u);
    ASSERT_EQ(rc(ops.send(ch(A), 64)), OK);
    EXPECT_EQ(si(A).evtchn_pending[1], 1ul);
    EXPECT_EQ(vi(A, 1).evtchn_pending_sel, 2ul);
    EXPECT_EQ(vi(A, 1).evtchn_upcall_pending, 1);
    EXPECT_EQ(env.kicks, (Kicks{{A, 1}}));
    ASSERT_EQ(rc(ops.send(ch(A), 65)), OK);  // same word: selector already set
    EXPECT_EQ(si(A).evtchn_pending[1], 3ul);
    ASSERT_EQ(rc(ops.send(ch(A), 1)), OK);  // word 0: new selector bit, upcall already up
    EXPECT_EQ(vi(A, 1).evtchn_pending_sel, 3ul);
    EXPECT_EQ(env.kicks.size(), 1u);
    EXPECT_EQ(vi(A, 0).evtchn_pending_sel, 0ul);
}

TEST_F(Evtchn, MaskedPortRaisesNothingUntilUnmask) {
    auto [pa, pb] = connect(A, B);
    mask(B, pb);
    ASSERT_EQ(rc(ops.send(ch(A), pa)), OK);
    EXPECT_TRUE(pending(B, pb));
    EXPECT_EQ(vi(B, 0).evtchn_pending_sel, 0ul);
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 0);
    EXPECT_TRUE(env.kicks.empty());
    EXPECT_EQ(env.polls.size(), 1u);  // pollers wait on masked ports

    ASSERT_EQ(rc(ops.unmask(ch(B), pb)), OK);
    EXPECT_FALSE(masked(B, pb));
    EXPECT_EQ(vi(B, 0).evtchn_pending_sel, 1ul);
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 1);
    EXPECT_EQ(env.kicks, (Kicks{{B, 0}}));

    // Unmasking an unmasked port does nothing, even if its bits were consumed meanwhile.
    vi(B, 0).evtchn_upcall_pending = 0;
    vi(B, 0).evtchn_pending_sel = 0;
    ASSERT_EQ(rc(ops.unmask(ch(B), pb)), OK);
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 0);
    EXPECT_EQ(env.kicks.size(), 1u);
}

TEST_F(Evtchn, UnmaskWithoutPendingOnlyClearsTheMask) {
    auto [pa, pb] = connect(A, B);
    (void)pa;
    mask(B, pb);
    ASSERT_EQ(rc(ops.unmask(ch(B), pb)), OK);
    EXPECT_FALSE(masked(B, pb));
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 0);
    EXPECT_TRUE(env.kicks.empty());
}

TEST_F(Evtchn, UnmaskOfAFreePortLeavesItMasked) {
    mask(A, 5);
    ASSERT_EQ(rc(ops.unmask(ch(A), 5)), OK);
    EXPECT_TRUE(masked(A, 5));
}

TEST_F(Evtchn, UnmaskRaisesAtTheNotifyVcpu) {
    auto [pa, pb] = connect(A, B);
    mask(B, pb);
    ASSERT_EQ(rc(ops.send(ch(A), pa)), OK);
    ASSERT_EQ(rc(ops.bind_vcpu(ch(B), pb, 1)), OK);
    ASSERT_EQ(rc(ops.unmask(ch(B), pb)), OK);
    EXPECT_EQ(vi(B, 1).evtchn_pending_sel, 1ul);
    EXPECT_EQ(vi(B, 1).evtchn_upcall_pending, 1);
    EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 0);
    EXPECT_EQ(env.kicks, (Kicks{{B, 1}}));
}

TEST_F(Evtchn, NoSharedInfoDropsEventsQuietly) {
    add(7, 1).has_si = false;  // a domain whose shared_info is not set up
    evtchn_port_t p7 = unbound(7, A);
    auto pa = ops.bind_interdomain(ch(A), 7, p7);
    ASSERT_TRUE(pa);
    evtchn_port_t t = *ops.bind_virq(ch(7), VIRQ_TIMER, 0);
    env.forget();
    EXPECT_EQ(rc(ops.send(ch(A), *pa)), OK);
    EXPECT_TRUE(ops.raise_virq(ch(7), VIRQ_TIMER, 0));
    EXPECT_EQ(rc(ops.unmask(ch(7), t)), OK);
    EXPECT_TRUE(env.kicks.empty());
    EXPECT_TRUE(env.polls.empty());
    EXPECT_FALSE(pending(7, p7));
    EXPECT_FALSE(pending(7, t));
    EXPECT_EQ(rc(ops.close(ch(7), p7)), OK);
    EXPECT_EQ(audit(env), "");
}

// ---------------------------------------------------------------------------------------------
// close

TEST_F(Evtchn, CloseEitherEndLeavesTheOtherUnbound) {
    auto [pa, pb] = connect(A, B);
    ASSERT_EQ(rc(ops.bind_vcpu(ch(B), pb, 1)), OK);
    ASSERT_EQ(rc(ops.close(ch(A), pa)), OK);  // lower domid closes: locks in order
    EXPECT_EQ(status(A, A, pa).status, EVTCHNSTAT_closed);
    evtchn_status_t sb = status(B, B, pb);
    EXPECT_EQ(sb.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(sb.u.unbound.dom, A);
    EXPECT_EQ(sb.vcpu, 1u);  // the survivor keeps its vCPU
    EXPECT_EQ(rc(ops.send(ch(B), pb)), OK);  // dropped
    EXPECT_EQ(si(A).evtchn_pending[0], 0ul);
    EXPECT_EQ(rc(ops.close(ch(A), pa)), EINVAL_);

    // A binds again to the same port, then B (the higher domid) closes: the relock path.
    auto r = ops.bind_interdomain(ch(A), B, pb);
    ASSERT_TRUE(r);
    ASSERT_EQ(rc(ops.close(ch(B), pb)), OK);
    evtchn_status_t sa = status(A, A, *r);
    EXPECT_EQ(sa.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(sa.u.unbound.dom, B);
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, CloseClearsPendingKeepsMask) {
    evtchn_port_t p = *ops.bind_ipi(ch(A), 0);
    mask(A, p);
    ASSERT_EQ(rc(ops.send(ch(A), p)), OK);
    ASSERT_TRUE(pending(A, p));
    ASSERT_EQ(rc(ops.close(ch(A), p)), OK);
    EXPECT_FALSE(pending(A, p));
    EXPECT_TRUE(masked(A, p));
    EXPECT_EQ(rc(ops.close(ch(A), 30)), EINVAL_);  // free
    EXPECT_EQ(rc(ops.close(ch(A), 1000)), EINVAL_);  // not valid
}

// ---------------------------------------------------------------------------------------------
// VIRQs and IPIs

TEST_F(Evtchn, BindVirq) {
    auto t0 = ops.bind_virq(ch(A), VIRQ_TIMER, 0);
    ASSERT_TRUE(t0);
    EXPECT_EQ(rc(ops.bind_virq(ch(A), VIRQ_TIMER, 0)), EEXIST_);
    auto t1 = ops.bind_virq(ch(A), VIRQ_TIMER, 1);  // per-vCPU: one per vCPU
    ASSERT_TRUE(t1);
    evtchn_status_t st = status(A, A, *t1);
    EXPECT_EQ(st.status, EVTCHNSTAT_virq);
    EXPECT_EQ(st.u.virq, static_cast<u32>(VIRQ_TIMER));
    EXPECT_EQ(st.vcpu, 1u);
    EXPECT_EQ(ch(A).virq_port(VIRQ_TIMER, 1), *t1);

    EXPECT_EQ(rc(ops.bind_virq(ch(A), VIRQ_CONSOLE, 1)), EINVAL_);  // global: vCPU 0 only
    EXPECT_EQ(rc(ops.bind_virq(ch(A), VIRQ_CONSOLE, 7)), EINVAL_);  // ... checked before the vCPU
    auto c = ops.bind_virq(ch(A), VIRQ_CONSOLE, 0);
    ASSERT_TRUE(c);
    EXPECT_EQ(rc(ops.bind_virq(ch(A), VIRQ_CONSOLE, 0)), EEXIST_);
    EXPECT_EQ(rc(ops.bind_virq(ch(A), NR_VIRQS, 0)), EINVAL_);
    EXPECT_EQ(rc(ops.bind_virq(ch(A), 0xffffffffu, 0)), EINVAL_);
    EXPECT_EQ(rc(ops.bind_virq(ch(A), VIRQ_DEBUG, 2)), ENOENT_);  // A has 2 vCPUs
    EXPECT_EQ(rc(ops.bind_virq(ch(A), VIRQ_DEBUG, 100000)), ENOENT_);
    EXPECT_TRUE(ops.bind_virq(ch(A), 5, 0));  // an unassigned number is a global VIRQ to Xen

    EXPECT_EQ(rc(ops.send(ch(A), *t0)), EINVAL_);  // only the hypervisor raises VIRQs
    ASSERT_EQ(rc(ops.close(ch(A), *t0)), OK);
    EXPECT_EQ(ch(A).virq_port(VIRQ_TIMER, 0), 0u);
    EXPECT_EQ(ch(A).virq_port(VIRQ_TIMER, 1), *t1);
    EXPECT_TRUE(ops.bind_virq(ch(A), VIRQ_TIMER, 0));
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, RaiseVirq) {
    EXPECT_FALSE(ops.raise_virq(ch(A), VIRQ_TIMER, 1));  // not bound: dropped
    evtchn_port_t t1 = *ops.bind_virq(ch(A), VIRQ_TIMER, 1);
    EXPECT_TRUE(ops.raise_virq(ch(A), VIRQ_TIMER, 1));
    EXPECT_TRUE(pending(A, t1));
    EXPECT_EQ(vi(A, 1).evtchn_upcall_pending, 1);
    EXPECT_EQ(env.kicks, (Kicks{{A, 1}}));
    EXPECT_FALSE(ops.raise_virq(ch(A), VIRQ_TIMER, 0));
    EXPECT_FALSE(ops.raise_virq(ch(A), NR_VIRQS, 0));
    EXPECT_FALSE(ops.raise_virq(ch(A), VIRQ_TIMER, 5000));

    // A global VIRQ goes wherever its port was moved, whatever vCPU the caller names.
    consume(A);
    evtchn_port_t con = *ops.bind_virq(ch(A), VIRQ_CONSOLE, 0);
    ASSERT_EQ(rc(ops.bind_vcpu(ch(A), con, 1)), OK);
    EXPECT_TRUE(ops.raise_virq(ch(A), VIRQ_CONSOLE, 0));
    EXPECT_EQ(env.kicks, (Kicks{{A, 1}}));
    EXPECT_EQ(status(A, A, con).vcpu, 1u);
}

TEST_F(Evtchn, BindIpi) {
    EXPECT_EQ(rc(ops.bind_ipi(ch(A), 2)), ENOENT_);
    auto p = ops.bind_ipi(ch(A), 1);
    ASSERT_TRUE(p);
    evtchn_status_t st = status(A, A, *p);
    EXPECT_EQ(st.status, EVTCHNSTAT_ipi);
    EXPECT_EQ(st.vcpu, 1u);
    ASSERT_EQ(rc(ops.send(ch(A), *p)), OK);
    EXPECT_EQ(vi(A, 1).evtchn_pending_sel, 1ul);
    EXPECT_EQ(env.kicks, (Kicks{{A, 1}}));
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), *p, 0)), EINVAL_);  // an IPI's vCPU is fixed
}

TEST_F(Evtchn, BindPirqRaiseAndClose) {
    EXPECT_EQ(rc(ops.bind_pirq(ch(A), FakeEnv::NR_PIRQS, false)), EINVAL_);
    EXPECT_EQ(rc(ops.bind_pirq(ch(A), 9, false)), EPERM_);  // not mapped
    env.pirqs[{A, 9}] = 0;
    env.pirqs[{A, 4}] = 0;
    env.busy_pirqs.insert(4);
    EXPECT_EQ(rc(ops.bind_pirq(ch(A), 4, false)), -XEN_EBUSY);
    EXPECT_EQ(ch(A).inspect(1).state, PortState::free);  // the refused bind kept no port
    auto p = ops.bind_pirq(ch(A), 9, true);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, 1u);
    EXPECT_EQ((env.pirqs[{A, 9}]), 1u);
    EXPECT_EQ(rc(ops.bind_pirq(ch(A), 9, false)), EEXIST_);
    evtchn_status_t st = status(A, A, *p);
    EXPECT_EQ(st.status, EVTCHNSTAT_pirq);
    EXPECT_EQ(st.u.pirq, 9u);
    EXPECT_EQ(rc(ops.send(ch(A), *p)), EINVAL_);  // only the hypervisor raises it
    EXPECT_FALSE(ops.raise_pirq(ch(A), *p, 8));   // a stale interrupt for another pirq
    EXPECT_TRUE(ops.raise_pirq(ch(A), *p, 9));
    EXPECT_TRUE(pending(A, *p));
    EXPECT_EQ(env.kicks, (Kicks{{A, 0}}));
    ASSERT_EQ(rc(ops.bind_vcpu(ch(A), *p, 1)), OK);
    ASSERT_EQ(rc(ops.close(ch(A), *p)), OK);
    EXPECT_FALSE(pending(A, *p));
    EXPECT_EQ(env.pirq_unbinds, (std::vector<std::pair<domid_t, u32>>{{A, 9}}));
    EXPECT_FALSE(ops.raise_pirq(ch(A), *p, 9));  // closed: the interrupt is dropped
    EXPECT_FALSE(ops.raise_pirq(ch(A), 5000, 9));
    // Destruction unbinds what is still bound.
    ASSERT_TRUE(ops.bind_pirq(ch(A), 9, false));
    ops.destroy(ch(A));
    EXPECT_EQ(env.pirq_unbinds.size(), 2u);
}

TEST_F(Evtchn, BindVcpuRules) {
    evtchn_port_t u = unbound(A, B);
    auto [pa, pb] = connect(A, B);
    (void)pb;
    evtchn_port_t timer = *ops.bind_virq(ch(A), VIRQ_TIMER, 0);
    evtchn_port_t dom_exc = *ops.bind_virq(ch(A), VIRQ_DOM_EXC, 0);
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), u, 1)), OK);
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), pa, 1)), OK);
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), dom_exc, 1)), OK);
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), timer, 1)), EINVAL_);
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), 40, 1)), EINVAL_);       // free
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), 1000, 1)), EINVAL_);     // not valid
    EXPECT_EQ(rc(ops.bind_vcpu(ch(A), 1000, 2)), ENOENT_);     // the vCPU is checked first
    EXPECT_EQ(status(A, A, u).vcpu, 1u);
    EXPECT_EQ(status(A, A, timer).vcpu, 0u);
    // The interdomain port now notifies vCPU 1.
    ASSERT_EQ(rc(ops.send(ch(B), pb)), OK);
    EXPECT_EQ(vi(A, 1).evtchn_upcall_pending, 1);
    EXPECT_EQ(vi(A, 0).evtchn_upcall_pending, 0);
    // A port freed and reused notifies vCPU 0 again.
    ASSERT_EQ(rc(ops.close(ch(A), u)), OK);
    EXPECT_EQ(status(A, A, u).vcpu, 0u);
}

// ---------------------------------------------------------------------------------------------
// status

TEST_F(Evtchn, StatusChecksAndUntouchedUnion) {
    long r;
    status(A, B, 1, &r);
    EXPECT_EQ(r, EPERM_);
    status(A, B, 500, &r);
    EXPECT_EQ(r, EINVAL_);  // validity before permission
    status(A, NOBODY, 1, &r);
    EXPECT_EQ(r, ESRCH_);
    evtchn_port_t pb = unbound(B, A);
    evtchn_status_t st = status(DOM0, B, pb);
    EXPECT_EQ(st.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(st.u.unbound.dom, A);

    // Closed and IPI ports write status and vcpu only; the rest is what the guest passed in.
    evtchn_port_t ipi = *ops.bind_ipi(ch(A), 1);
    for (evtchn_port_t p : {evtchn_port_t{7}, ipi}) {
        evtchn_status_t in{};
        in.dom = DOMID_SELF;
        in.port = p;
        std::memset(&in.u, 0xab, sizeof(in.u));
        ASSERT_EQ(rc(ops.status(ch(A), in)), OK);
        unsigned char expect[sizeof(in.u)];
        std::memset(expect, 0xab, sizeof(expect));
        EXPECT_EQ(std::memcmp(&in.u, expect, sizeof(expect)), 0) << p;
    }
}

// ---------------------------------------------------------------------------------------------
// reset, destroy, the dispatcher

TEST_F(Evtchn, ResetSelfClosesEverything) {
    auto [pa, pb] = connect(A, B);
    evtchn_port_t timer = *ops.bind_virq(ch(A), VIRQ_TIMER, 1);
    (void)ops.bind_ipi(ch(A), 0);
    unbound(A, DOM0);
    (void)pa;
    (void)timer;
    ASSERT_EQ(rc(ops.reset(ch(A), DOMID_SELF)), OK);
    for (evtchn_port_t p = 1; p < 64; ++p) EXPECT_EQ(ch(A).inspect(p).state, PortState::free) << p;
    EXPECT_EQ(ch(A).virq_port(VIRQ_TIMER, 1), 0u);
    EXPECT_EQ(status(B, B, pb).status, EVTCHNSTAT_unbound);
    EXPECT_EQ(unbound(A, A), 1u);
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, ResetAnotherDomain) {
    unbound(B, A);
    EXPECT_EQ(rc(ops.reset(ch(A), B)), EPERM_);
    EXPECT_EQ(rc(ops.reset(ch(DOM0), B)), EINVAL_);  // not paused
    EXPECT_EQ(rc(ops.reset(ch(DOM0), NOBODY)), ESRCH_);
    env.find(B)->paused = true;
    EXPECT_EQ(rc(ops.reset(ch(DOM0), B)), OK);
    EXPECT_EQ(ch(B).inspect(1).state, PortState::free);
}

TEST_F(Evtchn, DestroyUnbindsPeersAndStopsAllocation) {
    auto [pa, pb] = connect(A, B);
    auto [pb2, pa2] = connect(B, A);
    ops.destroy(ch(B));
    EXPECT_EQ(status(A, A, pa).status, EVTCHNSTAT_unbound);
    EXPECT_EQ(status(A, A, pa2).status, EVTCHNSTAT_unbound);
    EXPECT_EQ(ch(B).inspect(pb).state, PortState::free);
    EXPECT_EQ(ch(B).inspect(pb2).state, PortState::free);
    EXPECT_EQ(rc(ops.alloc_unbound(ch(B), DOMID_SELF, A)), EINVAL_);
    EXPECT_EQ(rc(ops.bind_virq(ch(B), VIRQ_TIMER, 0)), EINVAL_);
    EXPECT_EQ(rc(ops.alloc_unbound(ch(DOM0), B, A)), EINVAL_);
    EXPECT_EQ(audit(env), "");
}

TEST_F(Evtchn, DispatcherAsPvtestCallsIt) {
    pv::EvtchnOpArgs a{};
    a.status.dom = DOMID_SELF;
    a.status.port = 0;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_status, a), OK);
    EXPECT_EQ(a.status.status, EVTCHNSTAT_closed);

    a = {};
    a.alloc_unbound.dom = DOMID_SELF;
    a.alloc_unbound.remote_dom = DOMID_SELF;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_alloc_unbound, a), OK);
    evtchn_port_t p = a.alloc_unbound.port;
    EXPECT_EQ(p, 1u);

    a = {};
    a.status.dom = DOMID_SELF;
    a.status.port = p;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_status, a), OK);
    EXPECT_EQ(a.status.status, EVTCHNSTAT_unbound);

    a = {};
    a.close.port = p;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_close, a), OK);
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_close, a), EINVAL_);
    EXPECT_EQ(ops.op(ch(A), 99, a), ENOSYS_);
    EXPECT_EQ(pv::evtchn_op_shape(99).size, 0u);
    EXPECT_EQ(pv::evtchn_op_shape(-1).size, 0u);
}

TEST_F(Evtchn, DispatcherEveryCommand) {
    pv::EvtchnOpArgs a{};
    a.bind_virq.virq = VIRQ_TIMER;
    a.bind_virq.vcpu = 0;
    ASSERT_EQ(ops.op(ch(A), EVTCHNOP_bind_virq, a), OK);
    evtchn_port_t timer = a.bind_virq.port;
    a = {};
    a.bind_ipi.vcpu = 1;
    ASSERT_EQ(ops.op(ch(A), EVTCHNOP_bind_ipi, a), OK);
    evtchn_port_t ipi = a.bind_ipi.port;
    a = {};
    a.send.port = ipi;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_send, a), OK);
    a = {};
    a.unmask.port = ipi;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_unmask, a), OK);
    a = {};
    a.bind_vcpu.port = timer;
    a.bind_vcpu.vcpu = 1;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_bind_vcpu, a), EINVAL_);

    evtchn_port_t pb = unbound(B, A);
    a = {};
    a.bind_interdomain.remote_dom = B;
    a.bind_interdomain.remote_port = pb;
    ASSERT_EQ(ops.op(ch(A), EVTCHNOP_bind_interdomain, a), OK);
    EXPECT_EQ(ch(A).inspect(a.bind_interdomain.local_port).state, PortState::interdomain);

    a = {};
    a.set_priority.port = timer;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_set_priority, a), ENOSYS_);
    a.set_priority.port = 999;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_set_priority, a), EINVAL_);
    a = {};
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_expand_array, a), -XEN_EOPNOTSUPP);  // still 2-level
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_init_control, a), EINVAL_);  // frame 0 is not A's
    EXPECT_EQ(a.init_control.link_bits, static_cast<u32>(EVTCHN_FIFO_LINK_BITS));
    EXPECT_EQ(ch(A).fifo(), nullptr);
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_bind_pirq, a), EPERM_);
    a = {};
    a.reset.dom = DOMID_SELF;
    EXPECT_EQ(ops.op(ch(A), EVTCHNOP_reset, a), OK);
    EXPECT_EQ(ch(A).inspect(timer).state, PortState::free);

    EXPECT_EQ(pv::evtchn_op_shape(EVTCHNOP_status).size, sizeof(evtchn_status_t));
    EXPECT_TRUE(pv::evtchn_op_shape(EVTCHNOP_status).copy_back);
    EXPECT_FALSE(pv::evtchn_op_shape(EVTCHNOP_send).copy_back);
    for (int cmd = EVTCHNOP_bind_interdomain; cmd <= EVTCHNOP_set_priority; ++cmd) {
        EXPECT_GT(pv::evtchn_op_shape(cmd).size, 0u) << cmd;
        EXPECT_LE(pv::evtchn_op_shape(cmd).size, sizeof(pv::EvtchnOpArgs)) << cmd;
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile sequences: random operations with random ports, domains and vCPUs, every answer one
// Xen could give, and the invariants intact afterwards.

class EvtchnHostile : public Evtchn {
protected:
    void SetUp() override {
        Evtchn::SetUp();
        add(5, 3, 8);  // a small limit: exhaustion is frequent
        add(6, 1, 100).paused = true;
        ids = {DOM0, A, B, 5, 6};
    }

    // One random operation by caller; false when the answer is one Xen could not have given.
    bool random_op(std::mt19937& rng, domid_t caller, std::string* what) {
        auto pick = [&](u32 n) { return static_cast<u32>(rng() % n); };
        auto any_dom = [&]() -> domid_t {
            u32 r = pick(8);
            return r < ids.size() ? ids[r] : r == 5 ? DOMID_SELF : r == 6 ? NOBODY : DOMID_IO;
        };
        auto any_port = [&]() -> evtchn_port_t { return pick(10) == 0 ? pick(5000) : pick(140); };
        auto any_vcpu = [&]() -> u32 { return pick(10) == 0 ? pick(1000) : pick(5); };
        // Half the time, a port that is in use (or, for a bind, one waiting for the caller), so
        // the walk gets past the argument checks; the snapshot may be stale under threads.
        auto used_port = [&](domid_t owner, bool waiting_for_caller) -> evtchn_port_t {
            FakeDomain* f = env.find(owner == DOMID_SELF ? caller : owner);
            if (!f || pick(2)) return any_port();
            std::vector<evtchn_port_t> found;
            for (evtchn_port_t p = 1; p < f->ch.valid_ports(); ++p) {
                PortInfo i = f->ch.inspect(p);
                if (waiting_for_caller ? i.state == PortState::unbound && i.remote_dom == caller
                                       : i.state != PortState::free)
                    found.push_back(p);
            }
            return found.empty() ? any_port() : found[pick(static_cast<u32>(found.size()))];
        };
        EventChannels& self = ch(caller);
        long r = 0;
        std::set<long> allowed;
        switch (pick(13)) {
            case 0:
                r = rc(ops.alloc_unbound(self, any_dom(), any_dom()));
                allowed = {OK, ESRCH_, EPERM_, ENOSPC_};
                *what = "alloc_unbound";
                break;
            case 1:
            case 2:
            {
                domid_t rd = any_dom();
                r = rc(ops.bind_interdomain(self, rd, used_port(rd, true)));
            }
                allowed = {OK, ESRCH_, EINVAL_, ENOSPC_};
                *what = "bind_interdomain";
                break;
            case 3:
                r = rc(ops.bind_virq(self, pick(30), any_vcpu()));
                allowed = {OK, EINVAL_, ENOENT_, EEXIST_, ENOSPC_};
                *what = "bind_virq";
                break;
            case 4:
                r = rc(ops.bind_ipi(self, any_vcpu()));
                allowed = {OK, ENOENT_, ENOSPC_};
                *what = "bind_ipi";
                break;
            case 5:
            case 6:
                r = rc(ops.close(self, used_port(caller, false)));
                allowed = {OK, EINVAL_};
                *what = "close";
                break;
            case 7:
                r = rc(ops.send(self, used_port(caller, false)));
                allowed = {OK, EINVAL_};
                *what = "send";
                break;
            case 8: {
                evtchn_status_t st{};
                st.dom = any_dom();
                st.port = any_port();
                r = rc(ops.status(self, st));
                allowed = {OK, ESRCH_, EINVAL_, EPERM_};
                *what = "status";
                break;
            }
            case 9:
                r = rc(ops.bind_vcpu(self, used_port(caller, false), any_vcpu()));
                allowed = {OK, ENOENT_, EINVAL_};
                *what = "bind_vcpu";
                break;
            case 10: {
                evtchn_port_t p = used_port(caller, false);
                if (p < pv::evtchn::NR_PORTS && pick(2)) {
                    xen_ulong_t& w = si(caller).evtchn_mask[p / 64];
                    __atomic_fetch_or(&w, 1ul << (p % 64), __ATOMIC_SEQ_CST);
                }
                r = rc(ops.unmask(self, p));
                allowed = {OK, EINVAL_};
                *what = "unmask";
                break;
            }
            case 11: {
                u32 k = pick(20);
                // Frames FIFO_FRAMES.. of each domain exist (EvtchnHostileFifo), others not.
                u64 gfn = FIFO_FRAMES + (pick(6) ? pick(8) : 900);
                if (k == 0) {
                    r = rc(ops.reset(self, any_dom()));
                    allowed = {OK, ESRCH_, EPERM_, EINVAL_, -XEN_EBUSY, -XEN_EAGAIN};
                    *what = "reset";
                } else if (fifo && k < 4) {
                    evtchn_init_control_t a{};
                    a.control_gfn = gfn;
                    a.offset = pick(4) ? 512 * pick(8) : pick(4096);
                    a.vcpu = any_vcpu();
                    r = rc(ops.init_control(self, a));
                    allowed = {OK, EINVAL_, ENOENT_};
                    *what = "init_control";
                } else if (fifo && k < 6) {
                    r = rc(ops.expand_array(self, gfn));
                    allowed = {OK, EINVAL_, ENOSPC_, -XEN_EOPNOTSUPP};
                    *what = "expand_array";
                } else {
                    r = rc(ops.set_priority(self, any_port(), pick(20)));
                    allowed = {OK, ENOSYS_, EINVAL_, -XEN_EACCES};
                    *what = "set_priority";
                }
                break;
            }
            default:
                if (fifo && pick(3) == 0) {
                    // The guest consumes: every word of one of its frames unlinked, as its
                    // handler would (the frame may be an event-array page or not).
                    FakeDomain* f = env.find(caller);
                    pv::u32* w = f->pages.at(FIFO_FRAMES + pick(8))->mem;
                    for (unsigned i = 0; i < 1024; ++i)
                        __atomic_fetch_and(&w[i], ~((1u << EVTCHN_FIFO_LINKED) | EVTCHN_FIFO_LINK_MASK),
                                           __ATOMIC_SEQ_CST);
                    *what = "guest_consume";
                } else {
                    ops.raise_virq(self, pick(30), any_vcpu());
                    *what = "raise_virq";
                }
                allowed = {OK};
                break;
        }
        if (r == OK) {
            std::lock_guard<std::mutex> g(stats_lock);
            ++successes[*what];
        }
        *what += " -> " + std::to_string(r);
        return allowed.count(r) != 0;
    }

    // The random walk must reach the interesting states, not only the errors.
    void expect_coverage(int at_least) {
        for (const char* op : {"alloc_unbound", "bind_interdomain", "bind_virq", "bind_ipi", "close", "send",
                               "status", "bind_vcpu", "unmask"})
            EXPECT_GE(successes[op], at_least) << op;
    }

    // n random operations by random callers from seed, the invariants audited as they go.
    void run_sequence(unsigned seed, bool free_not_pending) {
        std::mt19937 rng(seed);
        for (int i = 0; i < 40000; ++i) {
            std::string what;
            domid_t caller = ids[rng() % ids.size()];
            ASSERT_TRUE(random_op(rng, caller, &what)) << "op " << i << " by " << caller << ": " << what;
            if (i % 2000 == 0) {
                ASSERT_EQ(audit(env, free_not_pending), "") << "after op " << i;
            }
        }
        ASSERT_EQ(audit(env, free_not_pending), "");
    }
    // Every domain a thread of random operations at once; then the invariants.
    void run_concurrent(unsigned seed_base, bool free_not_pending) {
        env.expect_unlocked = false;  // other threads hold locks meanwhile
        std::vector<std::thread> threads;
        std::atomic<bool> bad{false};
        std::string first_bad;
        std::mutex m;
        for (domid_t caller : ids)
            threads.emplace_back([&, caller] {
                std::mt19937 rng(seed_base + caller);
                for (int i = 0; i < 8000 && !bad.load(); ++i) {
                    std::string what;
                    if (!random_op(rng, caller, &what)) {
                        std::lock_guard<std::mutex> g(m);
                        if (!bad.exchange(true)) first_bad = std::to_string(caller) + ": " + what;
                    }
                }
            });
        for (auto& t : threads) t.join();
        EXPECT_FALSE(bad.load()) << first_bad;
        EXPECT_EQ(audit(env, free_not_pending), "");
    }

    static constexpr u64 FIFO_FRAMES = 100;
    bool fifo = false;  // random init_control, expand_array and guest consumption too
    std::vector<domid_t> ids;
    std::mutex stats_lock;
    std::map<std::string, int> successes;
};

TEST_F(EvtchnHostile, RandomSequenceKeepsInvariants) {
    run_sequence(20240605, true);
    expect_coverage(200);
    // Every domain dies; nothing stays connected to it.
    for (domid_t d : ids) {
        ops.destroy(ch(d));
        ASSERT_EQ(audit(env), "") << "after destroying " << d;
        for (domid_t o : ids)
            for (evtchn_port_t p = 1; p < ch(o).valid_ports(); ++p) {
                PortInfo i = ch(o).inspect(p);
                ASSERT_FALSE(i.state == PortState::interdomain && i.remote_dom == d) << o << ":" << p;
            }
    }
}

TEST_F(EvtchnHostile, ConcurrentRandomSequencesKeepInvariants) {
    run_concurrent(1000, true);
    expect_coverage(50);
}

// The same walk with domains switching between the ABIs: each has frames FIFO_FRAMES..+7, and
// domain 0, A and 5 start on FIFO (control blocks for every vCPU, one event-array page).
class EvtchnHostileFifo : public EvtchnHostile {
protected:
    void SetUp() override {
        EvtchnHostile::SetUp();
        fifo = true;
        for (domid_t d : ids)
            for (u64 g = FIFO_FRAMES; g < FIFO_FRAMES + 8; ++g) env.find(d)->pages[g] = std::make_unique<GuestPage>();
        for (domid_t d : {DOM0, A, domid_t{5}}) {
            for (u32 v = 0; v < env.find(d)->nr_vcpus; ++v) {
                evtchn_init_control_t a{};
                a.control_gfn = FIFO_FRAMES;
                a.offset = 128 * v;
                a.vcpu = v;
                ASSERT_EQ(rc(ops.init_control(ch(d), a)), OK);
            }
            ASSERT_EQ(rc(ops.expand_array(ch(d), FIFO_FRAMES + 1)), OK);
        }
    }
    // Every domain dies: no guest frame stays referenced, no memory stays allocated.
    void expect_all_returned() {
        for (domid_t d : ids) ops.destroy(ch(d));
        EXPECT_EQ(env.page_refs(), 0);
        EXPECT_TRUE(env.allocs.empty());
    }
};

TEST_F(EvtchnHostileFifo, RandomSequenceKeepsInvariants) {
    run_sequence(20261122, false);
    expect_coverage(100);
    for (const char* op : {"init_control", "expand_array", "set_priority", "reset"})
        EXPECT_GE(successes[op], 5) << op;
    expect_all_returned();
}

TEST_F(EvtchnHostileFifo, ConcurrentRandomSequencesKeepInvariants) {
    run_concurrent(2000, false);
    expect_coverage(30);
    expect_all_returned();
}

// ---------------------------------------------------------------------------------------------
// Races between the hypervisor and the guest on the shared words.

// Two senders on the same port while the receiving guest masks (directly, as Linux does),
// unmasks (by hypercall) and consumes events.  Then the guest stops consuming while the senders
// go on: the port must end pending, and if it is unmasked its upcall must be up; if masked, the
// unmask must raise it.  A lost wake-up would leave a pending, unmasked port without an upcall.
TEST_F(Evtchn, ConcurrentSendAndMaskLosesNoUpcall) {
    for (int round = 0; round < 12; ++round) {
        consume(A);
        consume(B);
        auto [pa, pb] = connect(A, B);
        ASSERT_NE(pa, 0u);
        std::atomic<bool> consumer_done{false};
        std::atomic<int> senders_done{0};
        u64 handled = 0;
        auto sender = [&] {
            int after = 0;
            while (after < 200) {
                ASSERT_EQ(rc(ops.send(ch(A), pa)), OK);
                if (consumer_done.load()) ++after;
            }
            senders_done.fetch_add(1);
        };
        auto guest = [&] {
            std::mt19937 rng(round);
            xen_ulong_t bit = 1ul << (pb % 64);
            unsigned w = pb / 64;
            vcpu_info_t& v = vi(B, 0);
            auto step = [&](bool may_consume) {
                switch (rng() % (may_consume ? 3 : 2)) {
                    case 0: __atomic_fetch_or(&si(B).evtchn_mask[w], bit, __ATOMIC_SEQ_CST); break;
                    case 1: ASSERT_EQ(rc(ops.unmask(ch(B), pb)), OK); break;
                    default: {
                        __atomic_store_n(&v.evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
                        xen_ulong_t sel = __atomic_exchange_n(&v.evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
                        if (sel & (1ul << w)) {
                            xen_ulong_t ready = __atomic_load_n(&si(B).evtchn_pending[w], __ATOMIC_SEQ_CST) &
                                                ~__atomic_load_n(&si(B).evtchn_mask[w], __ATOMIC_SEQ_CST);
                            if (ready & bit) {
                                __atomic_fetch_and(&si(B).evtchn_pending[w], ~bit, __ATOMIC_SEQ_CST);
                                ++handled;
                            }
                        }
                    }
                }
            };
            for (int i = 0; i < 20000 || handled == 0; ++i) step(true);
            consumer_done.store(true);
            while (senders_done.load() < 2) step(false);
        };
        std::thread s1(sender), s2(sender), g(guest);
        s1.join();
        s2.join();
        g.join();

        EXPECT_TRUE(pending(B, pb)) << round;
        if (!masked(B, pb)) {
            EXPECT_EQ(vi(B, 0).evtchn_pending_sel & 1, 1ul) << round;
            EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 1) << round;
        } else {
            vi(B, 0).evtchn_pending_sel = 0;
            vi(B, 0).evtchn_upcall_pending = 0;
            env.forget();
            ASSERT_EQ(rc(ops.unmask(ch(B), pb)), OK);
            EXPECT_EQ(vi(B, 0).evtchn_pending_sel, 1ul) << round;
            EXPECT_EQ(vi(B, 0).evtchn_upcall_pending, 1) << round;
            EXPECT_EQ(env.kicks, (Kicks{{B, 0}})) << round;
        }
        ASSERT_EQ(rc(ops.close(ch(B), pb)), OK);
        ASSERT_EQ(rc(ops.close(ch(A), pa)), OK);
        EXPECT_EQ(audit(env), "");
    }
}

// Runs `trials` rounds of prepare(); first() and second() at the same moment on two threads (the
// second thread skewed by a random few hundred cycles either way); check(trial).  Aimed at one
// window at a time, which the long random runs above may close again before they look.
template <typename Prepare, typename First, typename Second, typename Check>
void race(int trials, Prepare prepare, First first, Second second, Check check) {
    std::atomic<int> go{0}, done{0};
    auto wait_for = [](std::atomic<int>& a, int v) {
        for (unsigned spins = 0; a.load(std::memory_order_acquire) < v; ++spins)
            if (spins % 1024 == 1023) std::this_thread::yield();
    };
    auto delay = [](unsigned n) {
        for (unsigned i = 0; i < n; ++i) asm volatile("pause");
    };
    std::thread t([&] {
        std::mt19937 rng(7);
        for (int i = 1; i <= trials; ++i) {
            wait_for(go, i);
            delay(rng() % 400);
            second();
            done.store(i, std::memory_order_release);
        }
    });
    std::mt19937 rng(8);
    for (int i = 1; i <= trials; ++i) {
        prepare();
        go.store(i, std::memory_order_release);
        delay(rng() % 400);
        first();
        wait_for(done, i);
        check(i);
    }
    t.join();
}

// A send racing the unmask of its masked port: whichever runs first, the upcall ends up raised.
TEST_F(Evtchn, SendRacingUnmaskRaisesTheUpcall) {
    auto [pa, pb] = connect(A, B);
    vcpu_info_t& v = vi(B, 0);
    race(
        20000,
        [&] {
            consume(B);
            mask(B, pb);
        },
        [&] { ASSERT_EQ(rc(ops.send(ch(A), pa)), OK); },
        [&] { ASSERT_EQ(rc(ops.unmask(ch(B), pb)), OK); },
        [&](int trial) {
            ASSERT_TRUE(pending(B, pb)) << trial;
            ASSERT_FALSE(masked(B, pb)) << trial;
            ASSERT_EQ(v.evtchn_pending_sel, 1ul) << trial;
            ASSERT_EQ(v.evtchn_upcall_pending, 1) << trial;
            ASSERT_EQ(env.kicks.size(), 1u) << trial;
        });
}

// A send racing the guest taking the previous event (upcall flag, selector, pending bit, in
// Linux's order): either the guest took the new one too, or it is pending with its upcall raised.
TEST_F(Evtchn, SendRacingConsumeRaisesTheUpcall) {
    auto [pa, pb] = connect(A, B);
    vcpu_info_t& v = vi(B, 0);
    shared_info_t& s = si(B);
    xen_ulong_t bit = 1ul << pb;
    bool took = false;
    int taken_late = 0;
    race(
        20000,
        [&] {
            consume(B);
            ASSERT_EQ(rc(ops.send(ch(A), pa)), OK);  // the event the guest is about to take
            env.forget();
            took = false;
        },
        // The send on the helper thread: if the host starves it, it comes late, which still
        // tests something.
        [&] {
            __atomic_store_n(&v.evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
            xen_ulong_t sel = __atomic_exchange_n(&v.evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
            if (sel & 1) took = __atomic_fetch_and(&s.evtchn_pending[0], ~bit, __ATOMIC_SEQ_CST) & bit;
        },
        [&] { ASSERT_EQ(rc(ops.send(ch(A), pa)), OK); },
        [&](int trial) {
            ASSERT_TRUE(took) << trial;
            if (pending(B, pb)) {
                ++taken_late;
                ASSERT_EQ(v.evtchn_pending_sel, 1ul) << trial;
                ASSERT_EQ(v.evtchn_upcall_pending, 1) << trial;
            }
        });
    EXPECT_GT(taken_late, 0);  // the send did come after the guest's clear at least sometimes
}

// Both ends bind, send and close the same pairs from several threads each: a close from the
// higher domid takes the relock path while the lower one binds or closes the same pairs, so a
// lock-order mistake deadlocks here.  No half pairs may remain.
TEST_F(Evtchn, ConcurrentCloseOfBothEnds) {
    env.expect_unlocked = false;  // the threads bind (reserving buckets) while others hold locks
    constexpr int N = 20000;
    std::atomic<evtchn_port_t> offered{0};
    std::atomic<int> bound{0}, ready{0}, b_done{0};
    auto start = [&] {
        ready.fetch_add(1);
        while (ready.load() < 4) std::this_thread::yield();
    };
    auto side_a = [&](unsigned seed) {
        std::mt19937 rng(seed);
        start();
        while (b_done.load() < 2) {
            evtchn_port_t p = offered.exchange(0);
            if (p && ops.bind_interdomain(ch(A), B, p)) bound.fetch_add(1);
            evtchn_port_t q = 1 + static_cast<evtchn_port_t>(rng() % 8);
            (void)ops.send(ch(A), q);
            if (rng() % 2) (void)ops.close(ch(A), q);
        }
    };
    auto side_b = [&](unsigned seed) {
        std::mt19937 rng(seed);
        start();
        // At least N rounds, and on until enough pairs were bound: on a loaded host the A threads
        // may get little CPU time, so the count of binds is awaited, not assumed (bounded).
        for (int i = 0; (i < N || bound.load() <= 100) && i < 100 * N; ++i) {
            if (!offered.load()) {
                auto r = ops.alloc_unbound(ch(B), DOMID_SELF, A);
                if (r) offered.store(*r);
            } else {
                std::this_thread::yield();  // let an A thread take it (the host may have 2 CPUs)
            }
            evtchn_port_t q = 1 + static_cast<evtchn_port_t>(rng() % 8);
            (void)ops.send(ch(B), q);
            if (rng() % 4 == 0) (void)ops.close(ch(B), q);
        }
        b_done.fetch_add(1);
    };
    std::thread a1(side_a, 1), a2(side_a, 2), b1(side_b, 3), b2(side_b, 4);
    a1.join();
    a2.join();
    b1.join();
    b2.join();
    EXPECT_GT(bound.load(), 100);
    EXPECT_EQ(audit(env), "");
}

}  // namespace

// SCHEDOP_poll's look at a port: 1 pending, 0 not, -EINVAL beyond the valid ports.
TEST_F(Evtchn, PortPollReportsPendingAndRefusesInvalidPorts) {
    evtchn_port_t t = *ops.bind_virq(ch(A), VIRQ_TIMER, 0);
    EXPECT_EQ(ops.port_poll(ch(A), t), 0);
    EXPECT_TRUE(ops.raise_virq(ch(A), VIRQ_TIMER, 0));
    EXPECT_EQ(ops.port_poll(ch(A), t), 1);
    // Valid but not usable (reserved, free): -EINVAL as well (Xen 4.17's evtchn_usable check).
    EXPECT_EQ(ops.port_poll(ch(A), 0), -static_cast<long>(XEN_EINVAL));
    EXPECT_EQ(ops.port_poll(ch(A), t + 1), -static_cast<long>(XEN_EINVAL));
    EXPECT_EQ(ops.port_poll(ch(A), pv::evtchn::PORTS_PER_BUCKET), -static_cast<long>(XEN_EINVAL));
    EXPECT_EQ(ops.port_poll(ch(A), 4095), -static_cast<long>(XEN_EINVAL));
    EXPECT_EQ(audit(env), "");
}
