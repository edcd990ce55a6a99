// A fake EvtchnEnv for the event-channel tests (evtchn_test.cpp, evtchn_fifo_test.cpp): domains
// with a shared_info each, guest frames that map_guest_page hands out (counting references), and
// hypervisor memory that is tracked so a test can tell it all came back.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "core/evtchn.hpp"
#include "core/evtchn_ops.hpp"

namespace evtest {

using pv::EventChannels;
using pv::u32;
using pv::u64;

// A guest frame of a fake domain: 4 KiB, page-aligned, with the references map_guest_page took.
struct GuestPage {
    GuestPage() : mem(static_cast<pv::u32*>(std::aligned_alloc(4096, 4096))) { std::memset(mem, 0, 4096); }
    ~GuestPage() { std::free(mem); }
    GuestPage(const GuestPage&) = delete;
    GuestPage& operator=(const GuestPage&) = delete;
    pv::u32* mem;
    std::atomic<int> refs{0};
};

struct FakeDomain {
    FakeDomain(domid_t id, unsigned vcpus, evtchn_port_t max_port) : ch(id, max_port), nr_vcpus(vcpus) {}
    EventChannels ch;
    shared_info_t si{};
    unsigned nr_vcpus;
    bool privileged = false;
    bool paused = false;
    bool has_si = true;
    std::map<u64, std::unique_ptr<GuestPage>> pages;  // gfn -> frame; other gfns are not the domain's
};

// Domains live in a map filled before any operation runs; afterwards it is only read, so threads
// may share it.  Kicks and poll wake-ups are recorded in order.
struct FakeEnv {
    std::map<domid_t, std::unique_ptr<FakeDomain>> doms;
    bool allow_bind = true;
    std::mutex m;
    std::vector<std::pair<domid_t, unsigned>> kicks;
    std::vector<std::pair<domid_t, evtchn_port_t>> polls;

    FakeDomain* find(domid_t d) const {
        auto it = doms.find(d);
        return it == doms.end() ? nullptr : it->second.get();
    }
    EventChannels* channels(domid_t d) {
        FakeDomain* f = find(d);
        return f ? &f->ch : nullptr;
    }
    shared_info_t* shared_info(domid_t d) {
        FakeDomain* f = find(d);
        return f && f->has_si ? &f->si : nullptr;
    }
    vcpu_info_t* vcpu_info(domid_t d, unsigned v) {
        FakeDomain* f = find(d);
        return f && v < f->nr_vcpus ? &f->si.vcpu_info[v] : nullptr;
    }
    void kick(domid_t d, unsigned v) {
        std::lock_guard<std::mutex> g(m);
        kicks.emplace_back(d, v);
    }
    void wake_pollers(domid_t d, evtchn_port_t p) {
        std::lock_guard<std::mutex> g(m);
        polls.emplace_back(d, p);
    }
    bool controls(domid_t d, domid_t) const { return find(d)->privileged; }
    bool may_bind(domid_t, domid_t) const { return allow_bind; }
    bool paused_by_controller(domid_t d) const { return find(d)->paused; }
    // Hypervisor memory, tracked so a test can tell that everything came back; allocations fail
    // once alloc_budget (when >= 0) is used up.
    long alloc_budget = -1;
    std::set<void*> allocs;
    // Single-threaded tests: the heap and frame calls must come with no domain's lock held.
    bool expect_unlocked = true;
    void check_unlocked(const char* what) const {
        if (!expect_unlocked) return;
        for (auto& [id, fd] : doms) EXPECT_FALSE(fd->ch.locked()) << what << " under dom " << id << "'s lock";
    }
    void* alloc_zeroed(pv::usize bytes) {
        check_unlocked("alloc_zeroed");
        std::lock_guard<std::mutex> g(m);
        if (alloc_budget == 0) return nullptr;
        if (alloc_budget > 0) --alloc_budget;
        void* p = std::calloc(1, bytes);
        allocs.insert(p);
        return p;
    }
    void free_mem(void* p) {
        check_unlocked("free_mem");
        std::lock_guard<std::mutex> g(m);
        ASSERT_EQ(allocs.erase(p), 1u) << "freeing memory never allocated";
        std::free(p);
    }
    void* map_guest_page(domid_t d, u64 gfn) {
        check_unlocked("map_guest_page");
        FakeDomain* f = find(d);
        if (!f) return nullptr;
        auto it = f->pages.find(gfn);
        if (it == f->pages.end()) return nullptr;
        ++it->second->refs;
        return it->second->mem;
    }
    void unmap_guest_page(void* page) {
        check_unlocked("unmap_guest_page");
        for (auto& [id, fd] : doms)
            for (auto& [gfn, pg] : fd->pages)
                if (pg->mem == page) {
                    ASSERT_GT(pg->refs, 0) << "unmapping a page not mapped";
                    --pg->refs;
                    return;
                }
        FAIL() << "unmapping an unknown page";
    }
    // Physical IRQs: (domain, pirq) -> bound port (0: mapped, unbound); pirqs at or above
    // NR_PIRQS are -EINVAL, those in busy_pirqs the hypervisor's (-EBUSY); unbinds as called.
    static constexpr u32 NR_PIRQS = 64;
    std::map<std::pair<domid_t, u32>, evtchn_port_t> pirqs;
    std::set<u32> busy_pirqs;
    std::vector<std::pair<domid_t, u32>> pirq_unbinds;
    pv::Result<void> pirq_check(domid_t d, u32 pirq) {
        if (pirq >= NR_PIRQS) return pv::error(XEN_EINVAL);
        auto it = pirqs.find({d, pirq});
        if (it == pirqs.end()) return pv::error(XEN_EPERM);
        if (it->second) return pv::error(XEN_EEXIST);
        return pv::ok();
    }
    pv::Result<void> pirq_bind(domid_t d, u32 pirq, evtchn_port_t port, bool) {
        EXPECT_TRUE(find(d)->ch.locked());
        if (busy_pirqs.count(pirq)) return pv::error(XEN_EBUSY);
        pirqs[{d, pirq}] = port;
        return pv::ok();
    }
    void pirq_unbind(domid_t d, u32 pirq) {
        EXPECT_TRUE(find(d)->ch.locked());
        pirqs[{d, pirq}] = 0;
        pirq_unbinds.emplace_back(d, pirq);
    }
    // Guest page references held, over every domain.
    int page_refs() const {
        int n = 0;
        for (auto& [id, fd] : doms)
            for (auto& [gfn, pg] : fd->pages) n += pg->refs;
        return n;
    }
    ~FakeEnv() {
        for (void* p : allocs) std::free(p);
    }

    void forget() {
        std::lock_guard<std::mutex> g(m);
        kicks.clear();
        polls.clear();
    }
};
static_assert(pv::EvtchnEnv<FakeEnv>);
using Ops = pv::EvtchnOps<FakeEnv>;

template <typename T> long rc(const pv::Result<T>& r) { return r ? 0 : -static_cast<long>(r.error()); }

// What rc() gives, by name.
constexpr long OK = 0;
constexpr long EINVAL_ = -XEN_EINVAL;
constexpr long ENOENT_ = -XEN_ENOENT;
constexpr long EEXIST_ = -XEN_EEXIST;
constexpr long ENOSPC_ = -XEN_ENOSPC;
constexpr long EPERM_ = -XEN_EPERM;
constexpr long ESRCH_ = -XEN_ESRCH;
constexpr long ENOSYS_ = -XEN_ENOSYS;
constexpr long ENOMEM_ = -XEN_ENOMEM;
constexpr long EACCES_ = -XEN_EACCES;
constexpr long EOPNOTSUPP_ = -XEN_EOPNOTSUPP;

}  // namespace evtest
