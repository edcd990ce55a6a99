#include "core/buddy.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using pv::FrameAllocator;
using pv::PageInfo;
using pv::PageState;
using pv::u64;

constexpr unsigned MAX_ORDER = FrameAllocator::MAX_ORDER;

struct Table {
    explicit Table(u64 n) : frames(new PageInfo[n]), nr(n) {}
    std::unique_ptr<PageInfo[]> frames;
    u64 nr;
};

// Walks the whole frame table and checks the allocator's invariants: blocks are aligned, lie in
// the table and are followed by exactly their tails; free heads are counted per order; the free
// count matches.
void check_invariants(const FrameAllocator& fa) {
    u64 free_frames = 0;
    u64 blocks[MAX_ORDER + 1] = {};
    for (u64 m = 0; m < fa.nr_frames();) {
        const PageInfo* p = fa.frame(m);
        ASSERT_NE(p, nullptr);
        switch (p->state) {
        case PageState::reserved: ++m; continue;
        case PageState::tail: FAIL() << "orphan tail at " << m; return;
        case PageState::free:
        case PageState::allocated: break;
        }
        ASSERT_LE(p->order, MAX_ORDER);
        u64 n = u64{1} << p->order;
        ASSERT_EQ(m % n, 0u) << "misaligned block at " << m;
        ASSERT_LE(m + n, fa.nr_frames());
        for (u64 i = 1; i < n; ++i) ASSERT_EQ(fa.frame(m + i)->state, PageState::tail) << m + i;
        if (p->state == PageState::free) {
            free_frames += n;
            ++blocks[p->order];
            // Never two free buddies of the same order side by side: they would have merged.
            if (p->order < MAX_ORDER) {
                const PageInfo* b = fa.frame(m ^ n);
                if (b) {
                    EXPECT_FALSE(b->state == PageState::free && b->order == p->order)
                        << "unmerged at " << m;
                }
            }
        }
        m += n;
    }
    EXPECT_EQ(free_frames, fa.free_frames());
    for (unsigned k = 0; k <= MAX_ORDER; ++k) EXPECT_EQ(blocks[k], fa.free_blocks(k)) << "order " << k;
}

TEST(Buddy, InitErrors) {
    Table t(16);
    FrameAllocator fa;
    EXPECT_EQ(fa.init(nullptr, 16).error(), XEN_EINVAL);
    EXPECT_EQ(fa.init(t.frames.get(), 0).error(), XEN_EINVAL);
    ASSERT_TRUE(fa.init(t.frames.get(), 16));
    EXPECT_EQ(fa.init(t.frames.get(), 16).error(), XEN_EBUSY);
    EXPECT_EQ(fa.nr_frames(), 16u);
    EXPECT_EQ(fa.total_frames(), 0u);
    EXPECT_EQ(fa.free_frames(), 0u);
    EXPECT_EQ(fa.alloc(0).error(), XEN_ENOMEM);
    EXPECT_EQ(fa.frame(16), nullptr);
    EXPECT_EQ(fa.frame(3)->state, PageState::reserved);
}

TEST(Buddy, UninitializedRejectsEverything) {
    FrameAllocator fa;
    EXPECT_EQ(fa.alloc(0).error(), XEN_ENOMEM);
    EXPECT_EQ(fa.add_free_range(0, 1).error(), XEN_ERANGE);
    EXPECT_TRUE(fa.add_free_range(0, 0));
    EXPECT_EQ(fa.free(0, 0).error(), XEN_ERANGE);
}

TEST(Buddy, SplitAndCoalesceBackToOneBlock) {
    Table t(1024);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, 1024));
    EXPECT_EQ(fa.free_blocks(10), 1u);
    EXPECT_EQ(fa.total_frames(), 1024u);

    auto a = fa.alloc(0);
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, 0u);
    // Splitting an order-10 block for one frame leaves one free block of each lower order.
    for (unsigned k = 0; k < 10; ++k) EXPECT_EQ(fa.free_blocks(k), 1u) << k;
    EXPECT_EQ(fa.free_blocks(10), 0u);
    EXPECT_EQ(fa.free_frames(), 1023u);
    check_invariants(fa);

    auto b = fa.alloc(0);
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, 1u);  // the order-0 buddy of frame 0
    auto c = fa.alloc(3);
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, 8u);
    check_invariants(fa);

    ASSERT_TRUE(fa.free(*b, 0));
    ASSERT_TRUE(fa.free(*c, 3));
    ASSERT_TRUE(fa.free(*a, 0));
    EXPECT_EQ(fa.free_blocks(10), 1u);
    for (unsigned k = 0; k < 10; ++k) EXPECT_EQ(fa.free_blocks(k), 0u) << k;
    EXPECT_EQ(fa.free_frames(), 1024u);
    check_invariants(fa);
}

// An allocated extent split into single frames goes back frame by frame, in any order, and
// merges into the whole block again.
TEST(Buddy, SplitExtentFreedFrameByFrame) {
    Table t(64);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, 64));
    auto a = fa.alloc(3);
    ASSERT_TRUE(a);
    EXPECT_FALSE(fa.split(*a + 1, 3));  // not a head
    EXPECT_FALSE(fa.split(*a, 2));      // wrong order
    EXPECT_EQ(fa.free(*a + 1, 0).error(), XEN_EINVAL);  // still one block
    ASSERT_TRUE(fa.split(*a, 3));
    check_invariants(fa);
    EXPECT_FALSE(fa.free(*a, 3));  // no longer one block
    for (u64 i : {5u, 0u, 7u, 2u, 1u, 6u, 3u, 4u}) ASSERT_TRUE(fa.free(*a + i, 0)) << i;
    EXPECT_EQ(fa.free_frames(), 64u);
    EXPECT_EQ(fa.free_blocks(6), 1u);
    check_invariants(fa);
}

TEST(Buddy, EveryBlockIsAlignedUntilExhaustion) {
    Table t(4096);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, 4096));
    std::mt19937 rng(7);
    std::vector<std::pair<u64, unsigned>> got;
    u64 used = 0;
    for (;;) {
        unsigned order = static_cast<unsigned>(rng() % 6);
        auto r = fa.alloc(order);
        if (!r) {
            EXPECT_EQ(r.error(), XEN_ENOMEM);
            // Only fails when no block of that order is left anywhere.
            for (unsigned k = order; k <= MAX_ORDER; ++k) EXPECT_EQ(fa.free_blocks(k), 0u);
            if (fa.free_frames() == 0) break;
            continue;
        }
        EXPECT_EQ(*r % (u64{1} << order), 0u);
        got.emplace_back(*r, order);
        used += u64{1} << order;
        EXPECT_EQ(fa.free_frames(), 4096 - used);
    }
    EXPECT_EQ(used, 4096u);
    EXPECT_EQ(fa.alloc(0).error(), XEN_ENOMEM);
    check_invariants(fa);
    for (auto [m, o] : got) ASSERT_TRUE(fa.free(m, o));
    EXPECT_EQ(fa.free_blocks(12), 1u);
}

TEST(Buddy, ExhaustionAndOrderLimits) {
    Table t(16);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, 16));
    EXPECT_EQ(fa.alloc(5).error(), XEN_ENOMEM);
    EXPECT_EQ(fa.alloc(MAX_ORDER + 1).error(), XEN_EINVAL);
    auto all = fa.alloc(4);
    ASSERT_TRUE(all);
    EXPECT_EQ(*all, 0u);
    EXPECT_EQ(fa.alloc(0).error(), XEN_ENOMEM);
    EXPECT_EQ(fa.free_frames(), 0u);
    ASSERT_TRUE(fa.free(0, 4));
    EXPECT_EQ(fa.free_frames(), 16u);
}

TEST(Buddy, OddStartIsCutIntoMaximalAlignedBlocks) {
    Table t(64);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    // [3, 45): 3 | 4-7 | 8-15 | 16-31 | 32-39 | 40-43 | 44
    ASSERT_TRUE(fa.add_free_range(3, 42));
    EXPECT_EQ(fa.free_blocks(0), 2u);
    EXPECT_EQ(fa.free_blocks(1), 0u);
    EXPECT_EQ(fa.free_blocks(2), 2u);
    EXPECT_EQ(fa.free_blocks(3), 2u);
    EXPECT_EQ(fa.free_blocks(4), 1u);
    EXPECT_EQ(fa.free_blocks(5), 0u);
    EXPECT_EQ(fa.free_frames(), 42u);
    check_invariants(fa);
    // Frames outside the range stay unmanaged; freeing frame 3 again cannot merge it with frame 2.
    EXPECT_EQ(fa.frame(2)->state, PageState::reserved);
    EXPECT_EQ(fa.frame(45)->state, PageState::reserved);
    std::vector<std::pair<u64, unsigned>> got;
    for (;;) {
        auto r = fa.alloc(0);
        if (!r) break;
        got.emplace_back(*r, 0);
    }
    EXPECT_EQ(got.size(), 42u);
    for (auto [m, o] : got) ASSERT_TRUE(fa.free(m, o));
    EXPECT_EQ(fa.free_blocks(0), 2u);
    EXPECT_EQ(fa.frame(3)->state, PageState::free);
    EXPECT_EQ(fa.frame(3)->order, 0u);
    check_invariants(fa);
}

TEST(Buddy, HolesAreNeverHandedOut) {
    Table t(256);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, 100));
    ASSERT_TRUE(fa.add_free_range(101, 150));  // frame 100 and 251..255 are holes
    EXPECT_EQ(fa.total_frames(), 250u);
    std::vector<bool> seen(256);
    for (;;) {
        auto r = fa.alloc(0);
        if (!r) break;
        ASSERT_NE(*r, 100u);
        ASSERT_LT(*r, 251u);
        ASSERT_FALSE(seen[*r]);
        seen[*r] = true;
    }
    EXPECT_EQ(fa.free_frames(), 0u);
    for (u64 m = 0; m < 251; ++m) {
        if (m == 100) continue;
        ASSERT_TRUE(fa.free(m, 0));
    }
    // Freed back into the same blocks add_free_range made: none spans the hole.
    EXPECT_EQ(fa.free_frames(), 250u);
    check_invariants(fa);
    EXPECT_EQ(fa.frame(100)->state, PageState::reserved);
    EXPECT_EQ(fa.free_blocks(6), 2u);  // 0-63 and 128-191
    EXPECT_EQ(fa.free_blocks(7), 0u);  // 0-127 holds the hole at 100, 128-255 the one at 251..
}

TEST(Buddy, AdjacentRangesAddedSeparatelyMerge) {
    Table t(64);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(8, 8));
    ASSERT_TRUE(fa.add_free_range(0, 8));
    ASSERT_TRUE(fa.add_free_range(16, 16));
    EXPECT_EQ(fa.free_blocks(5), 1u);
    EXPECT_EQ(fa.free_frames(), 32u);
    check_invariants(fa);
}

TEST(Buddy, LargeRangesCapAtMaxOrder) {
    const u64 n = (u64{1} << (MAX_ORDER + 1)) + 5;
    Table t(n);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, n));
    EXPECT_EQ(fa.free_blocks(MAX_ORDER), 2u);
    EXPECT_EQ(fa.free_blocks(0), 1u);
    EXPECT_EQ(fa.free_blocks(2), 1u);
    auto big = fa.alloc(MAX_ORDER);
    ASSERT_TRUE(big);
    EXPECT_EQ(*big % (u64{1} << MAX_ORDER), 0u);
    ASSERT_TRUE(fa.free(*big, MAX_ORDER));
    // Two MAX_ORDER buddies do not merge beyond MAX_ORDER.
    EXPECT_EQ(fa.free_blocks(MAX_ORDER), 2u);
}

TEST(Buddy, AddFreeRangeErrors) {
    Table t(64);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    EXPECT_EQ(fa.add_free_range(60, 5).error(), XEN_ERANGE);
    EXPECT_EQ(fa.add_free_range(65, 0).error(), XEN_ERANGE);
    EXPECT_EQ(fa.add_free_range(1, ~u64{0}).error(), XEN_ERANGE);
    ASSERT_TRUE(fa.add_free_range(16, 16));
    auto a = fa.alloc(0);
    ASSERT_TRUE(a);
    // Overlapping a free or an allocated frame: rejected, and nothing of it is added.
    EXPECT_EQ(fa.add_free_range(0, 17).error(), XEN_EEXIST);
    EXPECT_EQ(fa.add_free_range(*a, 1).error(), XEN_EEXIST);
    EXPECT_EQ(fa.total_frames(), 16u);
    EXPECT_EQ(fa.free_frames(), 15u);
    EXPECT_EQ(fa.frame(0)->state, PageState::reserved);
    check_invariants(fa);
}

TEST(Buddy, BadFreesAreRejectedWithoutDamage) {
    Table t(128);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, 64));  // 64..127 stay unmanaged
    auto a = fa.alloc(2);
    ASSERT_TRUE(a);
    auto b = fa.alloc(0);
    ASSERT_TRUE(b);
    u64 free_before = fa.free_frames();

    EXPECT_EQ(fa.free(*a, MAX_ORDER + 1).error(), XEN_EINVAL);  // order out of range
    EXPECT_EQ(fa.free(128, 0).error(), XEN_ERANGE);            // beyond the table
    EXPECT_EQ(fa.free(~u64{0}, 0).error(), XEN_ERANGE);
    EXPECT_EQ(fa.free(96, 6).error(), XEN_ERANGE);   // block runs off the table's end
    EXPECT_EQ(fa.free(*a + 1, 0).error(), XEN_EINVAL);  // the middle of an allocated block
    EXPECT_EQ(fa.free(*a + 2, 1).error(), XEN_EINVAL);
    EXPECT_EQ(fa.free(*a, 1).error(), XEN_EINVAL);      // wrong order
    EXPECT_EQ(fa.free(*a, 3).error(), XEN_EINVAL);
    EXPECT_EQ(fa.free(*b + 1, 1).error(), XEN_EINVAL);  // misaligned for the order
    EXPECT_EQ(fa.free(100, 0).error(), XEN_EINVAL);     // never managed
    EXPECT_EQ(fa.free(32, 5).error(), XEN_EINVAL);      // a free block
    EXPECT_EQ(fa.free(33, 0).error(), XEN_EINVAL);      // inside a free block
    EXPECT_EQ(fa.bad_frees(), 12u);
    EXPECT_EQ(fa.free_frames(), free_before);
    check_invariants(fa);

    ASSERT_TRUE(fa.free(*b, 0));
    EXPECT_EQ(fa.free(*b, 0).error(), XEN_EINVAL);  // double free
    ASSERT_TRUE(fa.free(*a, 2));
    EXPECT_EQ(fa.free(*a, 2).error(), XEN_EINVAL);
    EXPECT_EQ(fa.bad_frees(), 14u);
    EXPECT_EQ(fa.free_frames(), 64u);
    EXPECT_EQ(fa.free_blocks(6), 1u);
    check_invariants(fa);
}

// Random alloc/free against a model: which frames are out, and how many.
TEST(Buddy, RandomSequenceMatchesModel) {
    const u64 n = 5000;
    Table t(n);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    // Managed: [7, 1500) and [1600, 4999), with a one-frame hole at 3000.
    ASSERT_TRUE(fa.add_free_range(7, 1493));
    ASSERT_TRUE(fa.add_free_range(1600, 1400));
    ASSERT_TRUE(fa.add_free_range(3001, 1998));
    const u64 managed = 1493 + 1400 + 1998;
    ASSERT_EQ(fa.total_frames(), managed);
    u64 initial_blocks[MAX_ORDER + 1];
    for (unsigned k = 0; k <= MAX_ORDER; ++k) initial_blocks[k] = fa.free_blocks(k);

    std::vector<bool> out(n);
    std::vector<std::pair<u64, unsigned>> live;
    u64 out_frames = 0;
    std::mt19937_64 rng(99);
    for (int step = 0; step < 20000; ++step) {
        bool do_alloc = live.empty() || rng() % 100 < 55;
        if (do_alloc) {
            unsigned order = static_cast<unsigned>(rng() % 7);
            auto r = fa.alloc(order);
            if (!r) {
                ASSERT_EQ(r.error(), XEN_ENOMEM);
                continue;
            }
            u64 m = *r;
            ASSERT_EQ(m % (u64{1} << order), 0u);
            for (u64 i = m; i < m + (u64{1} << order); ++i) {
                ASSERT_TRUE((i >= 7 && i < 1500) || (i >= 1600 && i < 4999 && i != 3000)) << i;
                ASSERT_FALSE(out[i]) << "frame handed out twice: " << i;
                out[i] = true;
            }
            live.emplace_back(m, order);
            out_frames += u64{1} << order;
        } else {
            size_t k = rng() % live.size();
            auto [m, order] = live[k];
            live[k] = live.back();
            live.pop_back();
            ASSERT_TRUE(fa.free(m, order));
            for (u64 i = m; i < m + (u64{1} << order); ++i) out[i] = false;
            out_frames -= u64{1} << order;
        }
        ASSERT_EQ(fa.free_frames(), managed - out_frames);
        if (step % 500 == 0) check_invariants(fa);
    }
    for (auto [m, order] : live) ASSERT_TRUE(fa.free(m, order));
    EXPECT_EQ(fa.free_frames(), managed);
    EXPECT_EQ(fa.bad_frees(), 0u);
    for (unsigned k = 0; k <= MAX_ORDER; ++k) EXPECT_EQ(fa.free_blocks(k), initial_blocks[k]) << k;
    check_invariants(fa);
}

TEST(Buddy, ConcurrentAllocFree) {
    const u64 n = 1 << 14;
    Table t(n);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, n));
    std::unique_ptr<std::atomic<int>[]> owner(new std::atomic<int>[n]);
    for (u64 i = 0; i < n; ++i) owner[i] = 0;
    std::atomic<u64> errors{0};

    auto worker = [&](int id) {
        std::mt19937 rng(static_cast<unsigned>(id));
        std::vector<std::pair<u64, unsigned>> mine;
        for (int step = 0; step < 1000; ++step) {
            if (mine.empty() || rng() % 2) {
                unsigned order = static_cast<unsigned>(rng() % 5);
                auto r = fa.alloc(order);
                if (!r) continue;
                for (u64 i = *r; i < *r + (u64{1} << order); ++i)
                    if (owner[i].exchange(id) != 0) ++errors;
                if (*r % (u64{1} << order)) ++errors;
                mine.emplace_back(*r, order);
            } else {
                size_t k = rng() % mine.size();
                auto [m, order] = mine[k];
                mine[k] = mine.back();
                mine.pop_back();
                for (u64 i = m; i < m + (u64{1} << order); ++i)
                    if (owner[i].exchange(0) != id) ++errors;
                if (!fa.free(m, order)) ++errors;
            }
        }
        for (auto [m, order] : mine) {
            for (u64 i = m; i < m + (u64{1} << order); ++i) owner[i] = 0;
            if (!fa.free(m, order)) ++errors;
        }
    };
    std::vector<std::thread> threads;
    for (int id = 1; id <= 4; ++id) threads.emplace_back(worker, id);
    for (auto& th : threads) th.join();

    EXPECT_EQ(errors.load(), 0u);
    EXPECT_EQ(fa.free_frames(), n);
    EXPECT_EQ(fa.free_blocks(14), 1u);
    check_invariants(fa);
}

TEST(Buddy, Dump) {
    Table t(64);
    FrameAllocator fa;
    ASSERT_TRUE(fa.init(t.frames.get(), t.nr));
    ASSERT_TRUE(fa.add_free_range(0, 48));
    char buf[512];
    pv::BufferSink sink(buf, sizeof buf);
    fa.dump(sink);
    EXPECT_EQ(std::string(buf),
              "frames: 48 free of 48 managed (64 in the table), 0 bad frees\n"
              "  order  4: 1 free blocks\n"
              "  order  5: 1 free blocks\n");
}

}  // namespace
