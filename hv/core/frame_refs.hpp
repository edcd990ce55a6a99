// FrameRefs: ownership and general references of machine frames (Xen's get_page/put_page and the
// PGC_allocated reference).  The invariants are described atop core/page_types.hpp.
//
// A frame joins a domain with assign(): owner set, count_info = ALLOCATED | 1.  That one
// reference, the allocation reference, stands for the domain's ownership; release() drops it
// (ballooning out, domain death).  Every other reference is taken with get() by someone who
// means to use the frame for its owner and is dropped with put().  The put that brings the count
// to zero hands the frame back through MmEnv::free_frame, whoever makes it: so a frame outlives
// its owner's interest in it exactly as long as someone still uses it.
//
// count_info changes only by compare-exchange.  get() refuses a count of zero (the frame is free,
// or the hypervisor's) and a count that would overflow, then checks the owner, which was written
// before the count was published (release in assign, acquire in get) and stays put while any
// reference is held.
#pragma once
#include <atomic>

#include "core/mm_env.hpp"
#include "core/page_info.hpp"
#include "core/panic.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

template <MmEnv Env> class FrameRefs {
public:
    explicit FrameRefs(Env& env) : env_(env) {}
    FrameRefs(const FrameRefs&) = delete;
    FrameRefs& operator=(const FrameRefs&) = delete;

    Frame frame(u64 mfn) const { return {mfn, env_.ram_frame(mfn)}; }

    // Gives d a frame straight from the allocator: owner d, type none, the allocation reference.
    // The caller must own the frame exclusively (it must not be on a free list).  EINVAL for no
    // owner or a frame that is not RAM, EBUSY when the frame already has references.
    Result<void> assign(u64 mfn, Owner d) {
        Frame f = frame(mfn);
        if (d == Owner::none || !f.info) return error(XEN_EINVAL);
        if (f.info->count_info.load(std::memory_order_relaxed) != 0) return error(XEN_EBUSY);
        f.info->use.owner = d;
        f.info->use.type_info.store(0, std::memory_order_relaxed);
        u64 expected = 0;
        // Release: whoever sees the count non-zero sees the owner.
        if (!f.info->count_info.compare_exchange_strong(expected, pgc::ALLOCATED | 1,
                                                        std::memory_order_release,
                                                        std::memory_order_relaxed))
            return error(XEN_EBUSY);
        return ok();
    }

    // A general reference to a frame of d's.  False for a frame that is not RAM or not in use, a
    // frame of another domain, or a count that would overflow.  (Privileged mappings of another
    // domain's frames, Xen's foreigndom, will pass the page owner here after their own check.)
    bool get(Frame f, Owner d) {
        if (!f.info) return false;
        std::atomic<u64>& c = f.info->count_info;
        u64 x = c.load(std::memory_order_relaxed);
        do {
            u64 n = x & pgc::COUNT_MASK;
            if (n == 0 || n == pgc::COUNT_MASK) return false;
        } while (!c.compare_exchange_weak(x, x + 1, std::memory_order_acquire,
                                          std::memory_order_relaxed));
        if (f.info->use.owner == d) return true;
        put(f);
        return false;
    }
    Result<void> get(u64 mfn, Owner d) { return get(frame(mfn), d) ? ok() : error(XEN_EINVAL); }

    // Drops a reference; the last one frees the frame.
    void put(Frame f) {
        PV_ASSERT(f.info);
        std::atomic<u64>& c = f.info->count_info;
        u64 x = c.load(std::memory_order_relaxed);
        do {
            PV_ASSERT((x & pgc::COUNT_MASK) != 0);
            // Release: our use of the frame happens before whoever frees it; acquire: if we free
            // it, every other holder's use happened before.
        } while (!c.compare_exchange_weak(x, x - 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
        if (((x - 1) & pgc::COUNT_MASK) == 0) free(f, x - 1);
    }
    void put(u64 mfn) { put(frame(mfn)); }

    // Drops the allocation reference if it is still held (true then).  The caller holds a
    // reference of its own, so the frame is never freed here but at the caller's put().
    bool drop_allocation(Frame f) {
        std::atomic<u64>& c = f.info->count_info;
        u64 x = c.load(std::memory_order_relaxed);
        do {
            if (!(x & pgc::ALLOCATED)) return false;
        } while (!c.compare_exchange_weak(x, x & ~pgc::ALLOCATED, std::memory_order_relaxed));
        put(f);
        return true;
    }

    // Xen's steal_page: with one reference of the caller's held, when nothing but that and the
    // allocation reference holds the frame, drops the allocation reference.  The caller's put()
    // then frees the frame (unless a reference taken since holds it: then that one's put), or
    // give_back() restores the allocation reference.  False, nothing changed, otherwise.
    bool take_away(Frame f) {
        u64 x = pgc::ALLOCATED | 2;
        return f.info->count_info.compare_exchange_strong(x, 1, std::memory_order_acq_rel, std::memory_order_relaxed);
    }
    // Undoes take_away(): the caller's reference becomes the owner's allocation reference again.
    void give_back(Frame f) {
        std::atomic<u64>& c = f.info->count_info;
        u64 x = c.load(std::memory_order_relaxed);
        while (!c.compare_exchange_weak(x, x | pgc::ALLOCATED, std::memory_order_release, std::memory_order_relaxed)) {
        }
    }

    // For diagnostics and tests; racy unless the caller holds a reference.
    static u64 count(const PageInfo& p) {
        return p.count_info.load(std::memory_order_relaxed) & pgc::COUNT_MASK;
    }

private:
    void free(Frame f, u64 last) {
        PV_ASSERT(!(last & pgc::ALLOCATED));
        u64 ti = f.info->use.type_info.load(std::memory_order_relaxed);
        // Every type reference comes with a general one, so none can be left.
        PV_ASSERT(pgt::count(ti) == 0 && !(ti & (pgt::PINNED | pgt::LOCKED)));
        Owner owner = f.info->use.owner;
        f.info->use.owner = Owner::none;
        f.info->use.type_info.store(0, std::memory_order_relaxed);
        env_.free_frame(f.mfn, owner);
    }

    Env& env_;
};

}  // namespace pv
