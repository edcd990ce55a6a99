// The FIFO event-channel ABI (core/evtchn_fifo.hpp through EvtchnOps): init_control,
// expand_array and set_priority with Xen 4.17's errnos and order of checks; queues read back the
// way Linux's FIFO handler consumes them (HEAD, LINK, READY); priorities, masking, unmask, moving
// a port between vCPUs, the LINKED/BUSY protocol as far as one thread can interleave it, the
// switch from 2-level keeping pending events, the port limits, reset back to 2-level and domain
// death with every guest-page reference and byte of memory returned; then threads appending to
// one queue while a guest thread consumes it, checked for lost events.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "fake_evtchn_env.hpp"

namespace {

using namespace evtest;
using pv::PortState;
using pv::u8;


constexpr domid_t D = 1, E = 2, SMALL = 3;
constexpr u64 CB0 = 100, CB1 = 101, ARRAY = 200;  // guest frames the fixture gives D and E

constexpr event_word_t bit(unsigned b) { return event_word_t{1} << b; }

class Fifo : public ::testing::Test {
protected:
    FakeDomain& add(domid_t id, unsigned vcpus, evtchn_port_t max_port) {
        auto d = std::make_unique<FakeDomain>(id, vcpus, max_port);
        FakeDomain& r = *d;
        env.doms[id] = std::move(d);
        return r;
    }
    void SetUp() override {
        add(D, 2, ~0u);
        add(E, 2, ~0u);
        add(SMALL, 2, 1023);  // a domU as toolstacks make them
    }
    EventChannels& ch(domid_t d) { return env.find(d)->ch; }
    GuestPage& page(domid_t d, u64 gfn) {
        auto& p = env.find(d)->pages[gfn];
        if (!p) p = std::make_unique<GuestPage>();
        return *p;
    }
    long init(domid_t d, u32 vcpu, u64 gfn, u32 offset = 0) {
        evtchn_init_control_t a{};
        a.control_gfn = gfn;
        a.offset = offset;
        a.vcpu = vcpu;
        long r = rc(ops.init_control(ch(d), a));
        EXPECT_EQ(a.link_bits, static_cast<u32>(EVTCHN_FIFO_LINK_BITS));
        if (r == OK) control_at[{d, vcpu}] = {gfn, offset};
        return r;
    }
    // gfn, made one of d's frames.
    u64 frame(domid_t d, u64 gfn) {
        page(d, gfn);
        return gfn;
    }
    long expand(domid_t d, u64 gfn) {
        long r = rc(ops.expand_array(ch(d), gfn));
        if (r == OK) array[d].push_back(gfn);
        return r;
    }
    // Control blocks for both vCPUs and one page of event words (ports 0-1023).
    void make_fifo(domid_t d) {
        page(d, CB0);
        page(d, CB1);
        page(d, ARRAY);
        ASSERT_EQ(init(d, 0, CB0), OK);
        ASSERT_EQ(init(d, 1, CB1), OK);
        ASSERT_EQ(expand(d, ARRAY), OK);
    }
    evtchn_fifo_control_block_t* control(domid_t d, unsigned v) {
        auto [gfn, offset] = control_at.at({d, v});
        return reinterpret_cast<evtchn_fifo_control_block_t*>(reinterpret_cast<u8*>(page(d, gfn).mem) + offset);
    }
    event_word_t* word(domid_t d, evtchn_port_t p) {
        return page(d, array[d].at(p / pv::fifo::WORDS_PER_PAGE)).mem + p % pv::fifo::WORDS_PER_PAGE;
    }
    bool has(domid_t d, evtchn_port_t p, unsigned b) { return __atomic_load_n(word(d, p), __ATOMIC_SEQ_CST) & bit(b); }
    u32 ready(domid_t d, unsigned v) { return __atomic_load_n(&control(d, v)->ready, __ATOMIC_SEQ_CST); }
    u8 upcall(domid_t d, unsigned v) { return env.find(d)->si.vcpu_info[v].evtchn_upcall_pending; }

    // The guest side, as Linux's consume_one_event: it reads HEAD only when its own copy of the
    // queue's head is 0, unlinks the port (clearing LINKED and LINK at once, taking LINK as the
    // next head) and handles the event if it is pending and unmasked.  Returns the port taken
    // off the queue, 0 when empty.
    evtchn_port_t pop(domid_t d, unsigned v, unsigned prio, bool* handled = nullptr) {
        evtchn_fifo_control_block_t* cb = control(d, v);
        evtchn_port_t& head = heads[{d, v, prio}];
        if (!head) head = __atomic_load_n(&cb->head[prio], __ATOMIC_SEQ_CST);
        evtchn_port_t port = head;
        if (!port) return 0;
        event_word_t* w = word(d, port);
        event_word_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST);
        while (!__atomic_compare_exchange_n(w, &old, old & ~(bit(EVTCHN_FIFO_LINKED) | EVTCHN_FIFO_LINK_MASK), false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        }
        head = old & EVTCHN_FIFO_LINK_MASK;
        bool h = !(old & bit(EVTCHN_FIFO_MASKED)) &&
                 (__atomic_fetch_and(w, ~bit(EVTCHN_FIFO_PENDING), __ATOMIC_SEQ_CST) & bit(EVTCHN_FIFO_PENDING));
        if (handled) *handled = h;
        return port;
    }
    // Every port queue prio of vCPU v holds, in order, if its READY bit says it has any (HEAD
    // is stale otherwise); then the bit is cleared (no hypervisor runs concurrently in the tests
    // that use it).
    std::vector<evtchn_port_t> drain(domid_t d, unsigned v, unsigned prio) {
        std::vector<evtchn_port_t> out;
        if (!(ready(d, v) & (u32{1} << prio))) return out;
        do {
            evtchn_port_t p = pop(d, v, prio);
            if (!p) break;
            out.push_back(p);
        } while (heads[{d, v, prio}] && out.size() <= 4096);  // more than that: a cycle
        __atomic_fetch_and(&control(d, v)->ready, ~(u32{1} << prio), __ATOMIC_SEQ_CST);
        return out;
    }
    // One upcall's work, as Linux's __evtchn_fifo_handle_events: take READY at once, then each
    // ready queue (highest priority first) until it is empty; the events handled.
    unsigned handle_events(domid_t d, unsigned v) {
        u32 rdy = __atomic_exchange_n(&control(d, v)->ready, 0u, __ATOMIC_SEQ_CST);
        unsigned n = 0;
        while (rdy) {
            unsigned prio = static_cast<unsigned>(__builtin_ctz(rdy));
            bool handled = false;
            pop(d, v, prio, &handled);
            n += handled;
            if (!heads[{d, v, prio}]) rdy &= ~(u32{1} << prio);
        }
        return n;
    }
    evtchn_port_t ipi(domid_t d, unsigned v) {
        auto r = ops.bind_ipi(ch(d), v);
        EXPECT_TRUE(r);
        return r ? *r : 0;
    }
    long send(domid_t d, evtchn_port_t p) { return rc(ops.send(ch(d), p)); }

    using Queue = std::tuple<domid_t, unsigned, unsigned>;
    FakeEnv env;
    Ops ops{env};
    std::map<std::pair<domid_t, unsigned>, std::pair<u64, u32>> control_at;
    std::map<domid_t, std::vector<u64>> array;
    std::map<Queue, evtchn_port_t> heads;
};

using Ports = std::vector<evtchn_port_t>;

// ---------------------------------------------------------------------------------------------
// init_control, expand_array, set_priority: errors and the switch

TEST_F(Fifo, InitControlErrorsInXensOrder) {
    page(D, CB0);
    EXPECT_EQ(init(D, 2, CB0), ENOENT_);               // no such vCPU, before anything else
    EXPECT_EQ(init(D, 2, CB0, 4), ENOENT_);
    EXPECT_EQ(init(D, 0, CB0, 4096 - 64), EINVAL_);    // would cross the page (68 bytes)
    EXPECT_EQ(init(D, 0, CB0, 4096 - 68 + 8), EINVAL_);
    EXPECT_EQ(init(D, 0, CB0, 4), EINVAL_);            // not 8-byte aligned
    EXPECT_EQ(init(D, 0, 999), EINVAL_);               // not D's frame
    EXPECT_EQ(init(D, 0, frame(E, 300)), EINVAL_);   // E's, not D's
    EXPECT_EQ(ch(D).fifo(), nullptr);                  // failures leave the domain 2-level
    EXPECT_EQ(env.page_refs(), 0);
    EXPECT_TRUE(env.allocs.empty());
    EXPECT_EQ(init(D, 0, CB0, 4096 - 72), OK);         // the last aligned place that fits
    EXPECT_NE(ch(D).fifo(), nullptr);
    EXPECT_EQ(ch(D).abi_ports(), pv::evtchn::FIFO_NR_PORTS);
    EXPECT_EQ(init(D, 0, CB0), EINVAL_);               // once per vCPU
    EXPECT_EQ(init(D, 0, frame(D, CB1)), EINVAL_);
    EXPECT_EQ(init(D, 1, CB0, 0), OK);                 // another vCPU may share the page
    EXPECT_EQ(page(D, CB0).refs, 2);
}

TEST_F(Fifo, InitControlOutOfMemoryStays2Level) {
    page(D, CB0);
    env.alloc_budget = 1;  // the domain's state, not both vCPUs' queues
    EXPECT_EQ(init(D, 0, CB0), ENOMEM_);
    EXPECT_EQ(ch(D).fifo(), nullptr);
    EXPECT_TRUE(env.allocs.empty());
    env.alloc_budget = -1;
    EXPECT_EQ(init(D, 0, CB0), OK);
}

TEST_F(Fifo, ExpandArrayUpToXensLimit) {
    EXPECT_EQ(expand(D, frame(D, ARRAY)), EOPNOTSUPP_);
    page(D, CB0);
    ASSERT_EQ(init(D, 0, CB0), OK);
    EXPECT_EQ(expand(D, 999), EINVAL_);
    EXPECT_EQ(ch(D).fifo()->nr_words(), 0u);
    for (unsigned i = 0; i < pv::fifo::MAX_PAGES; ++i) ASSERT_EQ(expand(D, frame(D, 1000 + i)), OK) << i;
    EXPECT_EQ(ch(D).fifo()->nr_words(), static_cast<u32>(EVTCHN_FIFO_NR_CHANNELS));
    EXPECT_EQ(expand(D, frame(D, 2000)), ENOSPC_);  // full: checked before the frame
    EXPECT_EQ(expand(D, 999), ENOSPC_);
    EXPECT_EQ(page(D, 2000).refs, 0);
    EXPECT_EQ(env.page_refs(), 1 + static_cast<int>(pv::fifo::MAX_PAGES));
    ops.destroy(ch(D));
    EXPECT_EQ(env.page_refs(), 0);
    EXPECT_TRUE(env.allocs.empty());
}

TEST_F(Fifo, SetPriority) {
    evtchn_port_t p = ipi(D, 0);
    EXPECT_EQ(rc(ops.set_priority(ch(D), p, 3)), ENOSYS_);     // 2-level
    EXPECT_EQ(rc(ops.set_priority(ch(D), 999, 3)), EINVAL_);   // not valid, before ENOSYS
    make_fifo(D);
    EXPECT_EQ(rc(ops.set_priority(ch(D), 999, 3)), EINVAL_);
    EXPECT_EQ(rc(ops.set_priority(ch(D), p + 1, 3)), EACCES_);  // free
    EXPECT_EQ(rc(ops.set_priority(ch(D), 0, 3)), EACCES_);      // reserved
    EXPECT_EQ(rc(ops.set_priority(ch(D), p, 16)), EINVAL_);
    EXPECT_EQ(ch(D).priority(p), EVTCHN_FIFO_PRIORITY_DEFAULT);
    EXPECT_EQ(rc(ops.set_priority(ch(D), p, EVTCHN_FIFO_PRIORITY_MIN)), OK);
    EXPECT_EQ(ch(D).priority(p), EVTCHN_FIFO_PRIORITY_MIN);
    EXPECT_EQ(rc(ops.set_priority(ch(D), p, EVTCHN_FIFO_PRIORITY_MAX)), OK);
    // A port bound again starts at the default.
    ASSERT_EQ(rc(ops.close(ch(D), p)), OK);
    EXPECT_EQ(ipi(D, 0), p);
    EXPECT_EQ(ch(D).priority(p), EVTCHN_FIFO_PRIORITY_DEFAULT);
}

// ---------------------------------------------------------------------------------------------
// Queues

TEST_F(Fifo, DeliveryByPriorityThenArrival) {
    make_fifo(D);
    evtchn_port_t p1 = ipi(D, 0), p2 = ipi(D, 0), hi = ipi(D, 0), lo = ipi(D, 0);
    ASSERT_EQ(rc(ops.set_priority(ch(D), hi, 2)), OK);
    ASSERT_EQ(rc(ops.set_priority(ch(D), lo, 12)), OK);
    for (evtchn_port_t p : {lo, p1, p2, hi, p1}) ASSERT_EQ(send(D, p), OK);
    EXPECT_EQ(ready(D, 0), (1u << 2) | (1u << 7) | (1u << 12));
    EXPECT_EQ(control(D, 0)->head[7], p1);  // HEAD is written only for an empty queue
    EXPECT_EQ(upcall(D, 0), 1);
    EXPECT_EQ(env.kicks.size(), 1u);  // the first READY bit only
    EXPECT_TRUE(has(D, p1, EVTCHN_FIFO_PENDING) && has(D, p1, EVTCHN_FIFO_LINKED));
    EXPECT_EQ(*word(D, p1) & EVTCHN_FIFO_LINK_MASK, p2);
    EXPECT_EQ(drain(D, 0, 2), (Ports{hi}));
    EXPECT_EQ(drain(D, 0, 7), (Ports{p1, p2}));  // the second send of p1 coalesced
    EXPECT_EQ(drain(D, 0, 12), (Ports{lo}));
    EXPECT_EQ(ready(D, 0), 0u);
    EXPECT_EQ(ready(D, 1), 0u);
    // The queue is empty now: the next event is a HEAD again, and READY rises again.
    ASSERT_EQ(send(D, p2), OK);
    EXPECT_EQ(ready(D, 0), 1u << 7);
    EXPECT_EQ(drain(D, 0, 7), (Ports{p2}));
}

TEST_F(Fifo, AppendAfterTheGuestConsumedTheTail) {
    // The hypervisor still thinks p1 is its queue's tail, but the guest unlinked it: try_set_link
    // finds LINKED clear, so p2 becomes HEAD instead of a link nobody will follow.
    make_fifo(D);
    evtchn_port_t p1 = ipi(D, 0), p2 = ipi(D, 0);
    ASSERT_EQ(send(D, p1), OK);
    EXPECT_EQ(drain(D, 0, 7), (Ports{p1}));
    env.forget();
    __atomic_store_n(&env.find(D)->si.vcpu_info[0].evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
    ASSERT_EQ(send(D, p2), OK);
    EXPECT_EQ(control(D, 0)->head[7], p2);
    EXPECT_EQ(ready(D, 0), 1u << 7);
    EXPECT_EQ(env.kicks.size(), 1u);
    EXPECT_EQ(*word(D, p1) & EVTCHN_FIFO_LINK_MASK, 0u);  // the unlinked word was not written
    EXPECT_EQ(drain(D, 0, 7), (Ports{p2}));
}

TEST_F(Fifo, LinkKeepsTheGuestsBitsAndClearsBusy) {
    make_fifo(D);
    evtchn_port_t p1 = ipi(D, 0), p2 = ipi(D, 0);
    ASSERT_EQ(send(D, p1), OK);
    // The guest masks the tail (allowed while LINKED) and left BUSY set from an earlier race.
    __atomic_fetch_or(word(D, p1), bit(EVTCHN_FIFO_MASKED) | bit(EVTCHN_FIFO_BUSY), __ATOMIC_SEQ_CST);
    ASSERT_EQ(send(D, p2), OK);
    event_word_t w = *word(D, p1);
    EXPECT_EQ(w & EVTCHN_FIFO_LINK_MASK, p2);
    EXPECT_TRUE(w & bit(EVTCHN_FIFO_MASKED));
    EXPECT_TRUE(w & bit(EVTCHN_FIFO_PENDING));
    EXPECT_TRUE(w & bit(EVTCHN_FIFO_LINKED));
    EXPECT_FALSE(w & bit(EVTCHN_FIFO_BUSY));
}

TEST_F(Fifo, MaskedEventsPendButAreNotQueuedUntilUnmask) {
    make_fifo(D);
    evtchn_port_t p = ipi(D, 0);
    __atomic_fetch_or(word(D, p), bit(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
    ASSERT_EQ(send(D, p), OK);
    EXPECT_TRUE(has(D, p, EVTCHN_FIFO_PENDING));
    EXPECT_FALSE(has(D, p, EVTCHN_FIFO_LINKED));
    EXPECT_EQ(ready(D, 0), 0u);
    EXPECT_EQ(upcall(D, 0), 0);
    EXPECT_EQ(env.polls.size(), 1u);  // pollers wake for masked events too
    EXPECT_EQ(ops.port_poll(ch(D), p), 1);
    // Linux clears MASKED itself, then asks the hypervisor to re-raise a pending event.
    __atomic_fetch_and(word(D, p), ~bit(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
    EXPECT_EQ(rc(ops.unmask(ch(D), p)), OK);
    EXPECT_TRUE(has(D, p, EVTCHN_FIFO_LINKED));
    EXPECT_EQ(ready(D, 0), 1u << 7);
    EXPECT_EQ(upcall(D, 0), 1);
    EXPECT_EQ(env.polls.size(), 1u);  // it was pending already
    bool handled = false;
    EXPECT_EQ(pop(D, 0, 7, &handled), p);
    EXPECT_TRUE(handled);
    // EVTCHNOP_unmask clears MASKED too; nothing pending, nothing queued.
    __atomic_fetch_or(word(D, p), bit(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
    EXPECT_EQ(rc(ops.unmask(ch(D), p)), OK);
    EXPECT_FALSE(has(D, p, EVTCHN_FIFO_MASKED));
    EXPECT_FALSE(has(D, p, EVTCHN_FIFO_LINKED));
    EXPECT_EQ(ops.port_poll(ch(D), p), 0);
}

TEST_F(Fifo, PortMovesToItsNewVcpusQueue) {
    make_fifo(D);
    // A loopback pair: sending on l raises u.
    auto u = ops.alloc_unbound(ch(D), DOMID_SELF, DOMID_SELF);
    ASSERT_TRUE(u);
    auto l = ops.bind_interdomain(ch(D), DOMID_SELF, *u);
    ASSERT_TRUE(l);
    EXPECT_EQ(drain(D, 0, 7), (Ports{*l}));
    evtchn_port_t stay = ipi(D, 0);
    ASSERT_EQ(send(D, *l), OK);  // u on vCPU 0's queue, as its tail
    ASSERT_EQ(rc(ops.bind_vcpu(ch(D), *u, 1)), OK);
    EXPECT_EQ(drain(D, 0, 7), (Ports{*u}));
    ASSERT_EQ(send(D, *l), OK);  // now on vCPU 1's
    EXPECT_EQ(control(D, 1)->head[7], *u);
    EXPECT_EQ(ready(D, 1), 1u << 7);
    // vCPU 0's queue forgot its tail: the next event there is a HEAD, not a link from u.
    ASSERT_EQ(send(D, stay), OK);
    EXPECT_EQ(control(D, 0)->head[7], stay);
    EXPECT_EQ(*word(D, *u) & EVTCHN_FIFO_LINK_MASK, 0u);
    EXPECT_EQ(drain(D, 0, 7), (Ports{stay}));
    EXPECT_EQ(drain(D, 1, 7), (Ports{*u}));
}

TEST_F(Fifo, ALinkedPortMovesOnlyOnceConsumed) {
    // While still LINKED on the old queue, a new event does not move it (Xen: it is signalled
    // once on the old queue); after the guest takes it, the next one goes to the new queue.
    make_fifo(D);
    evtchn_port_t p = ipi(D, 0);
    ASSERT_EQ(send(D, p), OK);
    ASSERT_EQ(rc(ops.set_priority(ch(D), p, 1)), OK);
    ASSERT_EQ(send(D, p), OK);
    EXPECT_EQ(ready(D, 0), 1u << 7);
    EXPECT_EQ(drain(D, 0, 7), (Ports{p}));
    EXPECT_FALSE(has(D, p, EVTCHN_FIFO_PENDING));  // handled
    ASSERT_EQ(send(D, p), OK);
    EXPECT_EQ(drain(D, 0, 7), Ports{});
    EXPECT_EQ(drain(D, 0, 1), (Ports{p}));
}

TEST_F(Fifo, NoControlBlockMeansTheEventOnlyPends) {
    page(D, CB0);
    page(D, ARRAY);
    ASSERT_EQ(init(D, 0, CB0), OK);
    ASSERT_EQ(expand(D, ARRAY), OK);
    evtchn_port_t p = ipi(D, 1);  // vCPU 1 has queues but no control block
    ASSERT_EQ(send(D, p), OK);
    EXPECT_TRUE(has(D, p, EVTCHN_FIFO_PENDING));
    EXPECT_FALSE(has(D, p, EVTCHN_FIFO_LINKED));
    EXPECT_EQ(upcall(D, 1), 0);
}

TEST_F(Fifo, VirqTimerAndInterdomainLoopback) {
    make_fifo(D);
    auto t = ops.bind_virq(ch(D), VIRQ_TIMER, 1);
    ASSERT_TRUE(t);
    EXPECT_TRUE(ops.raise_virq(ch(D), VIRQ_TIMER, 1));
    EXPECT_EQ(drain(D, 1, 7), (Ports{*t}));
    // A domain may bind its own unbound port; binding raises the new port at once.
    auto u = ops.alloc_unbound(ch(D), DOMID_SELF, DOMID_SELF);
    ASSERT_TRUE(u);
    auto l = ops.bind_interdomain(ch(D), DOMID_SELF, *u);
    ASSERT_TRUE(l);
    EXPECT_EQ(drain(D, 0, 7), (Ports{*l}));
    ASSERT_EQ(send(D, *l), OK);
    ASSERT_EQ(send(D, *u), OK);
    EXPECT_EQ(drain(D, 0, 7), (Ports{*u, *l}));
}

// A guest that writes anything anywhere in its words and control blocks: the hypervisor follows
// none of it (ASan would see a stray access), every call still answers.
TEST_F(Fifo, GarbageInGuestMemoryIsNeverFollowed) {
    make_fifo(D);
    evtchn_port_t p = ipi(D, 0), q = ipi(D, 1);
    std::memset(page(D, CB0).mem, 0xff, 4096);
    std::memset(page(D, CB1).mem, 0xff, 4096);
    std::memset(page(D, ARRAY).mem, 0xff, 4096);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(send(D, p), OK);
        EXPECT_EQ(send(D, q), OK);
        EXPECT_EQ(rc(ops.unmask(ch(D), p)), OK);
        std::memset(page(D, ARRAY).mem, i % 2 ? 0x00 : 0x5a, 4096);
    }
    EXPECT_EQ(send(D, p), OK);
    EXPECT_EQ(ops.port_poll(ch(D), p), 1);  // PENDING is set whatever else the word says
    EXPECT_EQ(rc(ops.reset(ch(D), DOMID_SELF)), OK);
    EXPECT_EQ(env.page_refs(), 0);
}

// A guest that flips MASKED on every word while the hypervisor links (ignoring BUSY): the link's
// cmpxchg loop stays bounded, and BUSY is never left set by the hypervisor.
TEST_F(Fifo, AGuestFlippingBitsCannotStallTheLink) {
    make_fifo(D);
    std::vector<evtchn_port_t> ports;
    for (int i = 0; i < 16; ++i) ports.push_back(ipi(D, 0));
    std::atomic<bool> stop{false};
    std::thread guest([&] {
        event_word_t* w = page(D, ARRAY).mem;
        while (!stop.load())
            for (evtchn_port_t p : ports) {
                __atomic_fetch_xor(&w[p], bit(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
                __atomic_fetch_and(&w[p], ~(bit(EVTCHN_FIFO_LINKED) | bit(EVTCHN_FIFO_BUSY) | EVTCHN_FIFO_LINK_MASK),
                                   __ATOMIC_SEQ_CST);
            }
    });
    for (int i = 0; i < 20000; ++i) ASSERT_EQ(send(D, ports[i % ports.size()]), OK);
    stop = true;
    guest.join();
    // The guest thread cleared BUSY too; with it stopped, the hypervisor's own appends leave none.
    for (evtchn_port_t p : ports) __atomic_fetch_and(word(D, p), ~bit(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
    for (int i = 0; i < 64; ++i) ASSERT_EQ(send(D, ports[i % ports.size()]), OK);
    for (evtchn_port_t p : ports) EXPECT_FALSE(has(D, p, EVTCHN_FIFO_BUSY)) << p;
}

// ---------------------------------------------------------------------------------------------
// Events without a page, the switch, limits, reuse

TEST_F(Fifo, EventsWithoutAnArrayPageAreRaisedWhenItComes) {
    page(D, CB0);
    ASSERT_EQ(init(D, 0, CB0), OK);
    evtchn_port_t p = ipi(D, 0);
    ASSERT_EQ(send(D, p), OK);
    EXPECT_EQ(upcall(D, 0), 0);
    EXPECT_TRUE(env.polls.empty());  // Xen wakes no poller for it either
    EXPECT_EQ(ops.port_poll(ch(D), p), 0);
    ASSERT_EQ(expand(D, frame(D, ARRAY)), OK);
    EXPECT_TRUE(has(D, p, EVTCHN_FIFO_PENDING));
    EXPECT_EQ(drain(D, 0, 7), (Ports{p}));
}

TEST_F(Fifo, SwitchKeeps2LevelPendingEvents) {
    evtchn_port_t p = ipi(D, 0), q = ipi(D, 0);
    ASSERT_EQ(send(D, q), OK);  // pending in shared_info
    make_fifo(D);
    EXPECT_FALSE(has(D, p, EVTCHN_FIFO_PENDING));
    EXPECT_EQ(drain(D, 0, 7), (Ports{q}));
    EXPECT_EQ(ch(D).priority(q), EVTCHN_FIFO_PRIORITY_DEFAULT);
}

TEST_F(Fifo, PortLimits) {
    // 2-level: 4095 ports whatever max_port; FIFO: max_port, up to 2^17 - 1.
    for (evtchn_port_t want = 1; want < 4096; ++want) ASSERT_EQ(ipi(D, 0), want);
    EXPECT_EQ(rc(ops.bind_ipi(ch(D), 0)), -XEN_ENOSPC);
    make_fifo(D);
    EXPECT_EQ(ipi(D, 0), 4096u);
    EXPECT_EQ(ch(D).valid_ports(), 4096u + 64);
    // An event at a port beyond the array pends in the port until its page comes.
    ASSERT_EQ(send(D, 4096), OK);
    for (u64 i = 1; i <= 4; ++i) ASSERT_EQ(expand(D, frame(D, ARRAY + i)), OK);
    EXPECT_EQ(drain(D, 0, 7), (Ports{4096}));
    // A domU keeps its toolstack's limit under either ABI.
    make_fifo(SMALL);
    for (evtchn_port_t want = 1; want <= 1023; ++want) ASSERT_EQ(ipi(SMALL, 0), want);
    EXPECT_EQ(rc(ops.bind_ipi(ch(SMALL), 0)), ENOSPC_);
}

TEST_F(Fifo, ALinkedPortIsNotReusedUntilConsumed) {
    make_fifo(D);
    evtchn_port_t p = ipi(D, 0);
    ASSERT_EQ(send(D, p), OK);
    ASSERT_EQ(rc(ops.close(ch(D), p)), OK);
    EXPECT_FALSE(has(D, p, EVTCHN_FIFO_PENDING));  // close clears PENDING, not LINKED
    EXPECT_TRUE(has(D, p, EVTCHN_FIFO_LINKED));
    EXPECT_EQ(ipi(D, 0), p + 1);  // Xen's evtchn_is_busy
    bool handled = true;
    EXPECT_EQ(pop(D, 0, 7, &handled), p);
    EXPECT_FALSE(handled);  // a closed port's event is skipped
    EXPECT_EQ(ipi(D, 0), p);
}

// ---------------------------------------------------------------------------------------------
// Reset and death

TEST_F(Fifo, ResetReturnsTo2LevelAndDropsThePages) {
    make_fifo(D);
    evtchn_port_t p = ipi(D, 0);
    ASSERT_EQ(send(D, p), OK);
    EXPECT_EQ(env.page_refs(), 3);
    ASSERT_EQ(rc(ops.reset(ch(D), DOMID_SELF)), OK);
    EXPECT_EQ(ch(D).fifo(), nullptr);
    EXPECT_EQ(ch(D).abi_ports(), pv::evtchn::NR_PORTS);
    EXPECT_EQ(env.page_refs(), 0);
    EXPECT_EQ(rc(ops.set_priority(ch(D), 1, 0)), ENOSYS_);
    EXPECT_EQ(expand(D, ARRAY), EOPNOTSUPP_);
    // 2-level delivery again, and FIFO can be chosen anew.
    evtchn_port_t q = ipi(D, 0);
    ASSERT_EQ(send(D, q), OK);
    EXPECT_TRUE(pv::evtchn_2l::is_pending(env.find(D)->si, q));
    control_at.clear();
    array.clear();
    heads.clear();
    std::memset(page(D, CB0).mem, 0, 4096);
    std::memset(page(D, ARRAY).mem, 0, 4096);
    make_fifo(D);
    EXPECT_EQ(drain(D, 0, 7), (Ports{q}));
}

TEST_F(Fifo, ResetOfAnotherDomainNeedsControlAndPause) {
    make_fifo(E);
    env.find(D)->privileged = true;
    EXPECT_EQ(rc(ops.reset(ch(D), E)), EINVAL_);  // not paused
    env.find(E)->paused = true;
    EXPECT_EQ(rc(ops.reset(ch(D), E)), OK);
    EXPECT_EQ(ch(E).fifo(), nullptr);
    EXPECT_EQ(env.page_refs(), 0);
}

TEST_F(Fifo, DeathReturnsEveryPageAndByte) {
    make_fifo(D);
    make_fifo(E);
    for (int i = 0; i < 200; ++i) ipi(D, i % 2);
    auto u = ops.alloc_unbound(ch(E), DOMID_SELF, D);
    ASSERT_TRUE(u);
    auto l = ops.bind_interdomain(ch(D), E, *u);
    ASSERT_TRUE(l);
    ASSERT_EQ(send(D, *l), OK);
    ops.destroy(ch(D));
    EXPECT_EQ(ch(E).inspect(*u).state, PortState::unbound);
    EXPECT_EQ(ch(D).valid_ports(), pv::evtchn::PORTS_PER_BUCKET);
    ops.destroy(ch(E));
    EXPECT_EQ(env.page_refs(), 0);
    EXPECT_TRUE(env.allocs.empty());
}

// ---------------------------------------------------------------------------------------------
// Threads: two domains append to one queue of D's (and D's own vCPU rebinds a port between
// vCPUs and priorities) while a guest thread consumes vCPU 0's queue.  At the end every pending
// unmasked port must be on a queue: an event raised but neither linked nor handled is lost.

TEST_F(Fifo, ConcurrentAppendsLoseNoEvent) {
    make_fifo(D);
    constexpr unsigned PAIRS = 8, SENDS = 20000;
    // E's ports i and SMALL's ports i lead to D's ports; D's notify vCPU 0 or 1, priorities vary.
    std::vector<evtchn_port_t> from_e, from_small, d_ports;
    for (unsigned i = 0; i < PAIRS; ++i)
        for (domid_t s : {E, SMALL}) {
            auto u = ops.alloc_unbound(ch(D), DOMID_SELF, s);
            ASSERT_TRUE(u);
            auto l = ops.bind_interdomain(ch(s), D, *u);
            ASSERT_TRUE(l);
            (s == E ? from_e : from_small).push_back(*l);
            d_ports.push_back(*u);
        }
    std::atomic<bool> stop{false};
    std::atomic<unsigned> senders_done{0};
    auto sender = [&](domid_t s, const std::vector<evtchn_port_t>& ports, unsigned seed) {
        for (unsigned i = 0; i < SENDS; ++i) EXPECT_EQ(send(s, ports[(i * 7 + seed) % ports.size()]), OK);
        ++senders_done;
    };
    std::thread te(sender, E, std::cref(from_e), 1u), ts(sender, SMALL, std::cref(from_small), 3u);
    // D's kernel moves ports between vCPUs and priorities meanwhile.
    std::thread admin([&] {
        for (unsigned i = 0; senders_done.load() < 2; ++i) {
            evtchn_port_t p = d_ports[i % d_ports.size()];
            if (i % 2) EXPECT_EQ(rc(ops.bind_vcpu(ch(D), p, (i / 2) % 2)), OK);
            else EXPECT_EQ(rc(ops.set_priority(ch(D), p, (i / 2) % 3 * 5)), OK);
        }
    });
    unsigned handled = 0;
    std::thread guest([&] {
        while (!stop.load())
            for (unsigned v = 0; v < 2; ++v) handled += handle_events(D, v);
    });
    te.join();
    ts.join();
    admin.join();
    stop = true;
    guest.join();
    // Quiet now: what is still queued is taken, and then nothing may be left pending.
    for (int round = 0; round < 4; ++round)
        for (unsigned v = 0; v < 2; ++v) handled += handle_events(D, v);
    for (evtchn_port_t p : d_ports) {
        EXPECT_FALSE(has(D, p, EVTCHN_FIFO_PENDING)) << "port " << p << " lost its event";
        EXPECT_FALSE(has(D, p, EVTCHN_FIFO_BUSY)) << p;
    }
    EXPECT_GT(handled, 0u);
}

}  // namespace
