#include "core/heap.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace {

using pv::Heap;
using pv::usize;

constexpr usize PAGE = 4096;

// Pages from the C library, aligned to their size as the buddy allocator's are.  Records every
// block so a free of the wrong block or order fails the test, and can be told to run dry.
class HostPages final : public pv::PageSource {
public:
    ~HostPages() {
        for (auto& [p, order] : blocks_) std::free(p);
    }
    void* alloc_pages(unsigned order) override {
        std::lock_guard<std::mutex> g(m_);
        usize size = PAGE << order;
        if (pages_ + (usize{1} << order) > limit) return nullptr;
        void* p = std::aligned_alloc(size, size);
        if (!p) return nullptr;
        blocks_[p] = order;
        pages_ += usize{1} << order;
        ++calls;
        return p;
    }
    void free_pages(void* p, unsigned order) override {
        std::lock_guard<std::mutex> g(m_);
        auto it = blocks_.find(p);
        ASSERT_NE(it, blocks_.end()) << "freeing a block that was never handed out";
        ASSERT_EQ(it->second, order);
        blocks_.erase(it);
        pages_ -= usize{1} << order;
        std::free(p);
    }
    usize pages() {
        std::lock_guard<std::mutex> g(m_);
        return pages_;
    }

    usize limit = ~usize{0};
    usize calls = 0;

private:
    std::mutex m_;
    std::map<void*, unsigned> blocks_;
    usize pages_ = 0;
};

class HeapTest : public ::testing::Test {
protected:
    void SetUp() override { heap.init(pages); }
    void expect_empty() {
        pv::HeapStats s = heap.stats();
        EXPECT_EQ(s.bytes_in_use, 0u);
        EXPECT_EQ(s.pages_held, 0u);
        EXPECT_EQ(s.live_allocations, 0u);
        EXPECT_EQ(pages.pages(), 0u);
    }
    HostPages pages;  // outlives the heap: declared first
    Heap heap;
};

usize addr(const void* p) { return reinterpret_cast<usize>(p); }

TEST(Heap, UninitializedHeapFails) {
    Heap h;
    EXPECT_EQ(h.alloc(16), nullptr);
    h.free(nullptr);
    EXPECT_EQ(h.stats().pages_held, 0u);
}

TEST(Heap, GlobalInstance) { EXPECT_EQ(&pv::hv_heap(), &pv::hv_heap()); }

TEST_F(HeapTest, EverySizeUpToTwoPagesAndBack) {
    std::vector<std::pair<unsigned char*, usize>> live;
    for (usize size = 0; size <= 2 * PAGE + 16; size += (size < 300 ? 1 : 7)) {
        auto* p = static_cast<unsigned char*>(heap.alloc(size));
        ASSERT_NE(p, nullptr) << size;
        EXPECT_EQ(addr(p) % 16, 0u) << size;
        usize usable = heap.usable_size(p);
        EXPECT_GE(usable, size) << size;
        if (size > Heap::MAX_SMALL) {
            EXPECT_EQ(addr(p) % PAGE, 0u) << size;
            EXPECT_EQ(usable % PAGE, 0u);
        } else {
            EXPECT_LE(usable, Heap::MAX_SMALL);
        }
        // Fill all of it: an object overlapping another shows up when the patterns are checked.
        std::memset(p, static_cast<int>(live.size() & 0xff), usable);
        live.emplace_back(p, usable);
    }
    for (usize i = 0; i < live.size(); ++i)
        for (usize k = 0; k < live[i].second; ++k)
            ASSERT_EQ(live[i].first[k], static_cast<unsigned char>(i & 0xff)) << "object " << i;
    EXPECT_EQ(heap.stats().live_allocations, live.size());
    for (auto [p, n] : live) heap.free(p);
    expect_empty();
}

TEST_F(HeapTest, SizeClassesRoundUp) {
    struct Case {
        usize request, usable;
    };
    for (Case c : {Case{0, 16}, Case{1, 16}, Case{16, 16}, Case{17, 32}, Case{33, 48}, Case{100, 128},
                   Case{200, 256}, Case{257, 384}, Case{513, 768}, Case{1024, 1344}, Case{2000, 2032},
                   Case{2032, 2032}, Case{2033, PAGE}, Case{PAGE, PAGE}, Case{PAGE + 1, 2 * PAGE},
                   Case{3 * PAGE, 4 * PAGE}}) {
        void* p = heap.alloc(c.request);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(heap.usable_size(p), c.usable) << c.request;
        heap.free(p);
    }
    expect_empty();
}

TEST_F(HeapTest, PowerOfTwoClassesAreNaturallyAligned) {
    for (usize size : {16u, 32u, 64u, 128u, 256u, 512u}) {
        std::vector<void*> v;
        for (int i = 0; i < 40; ++i) {
            void* p = heap.alloc(size);
            ASSERT_NE(p, nullptr);
            EXPECT_EQ(addr(p) % size, 0u) << size;
            v.push_back(p);
        }
        for (void* p : v) heap.free(p);
    }
    expect_empty();
}

TEST_F(HeapTest, RequestedAlignment) {
    std::vector<void*> v;
    for (usize align = 1; align <= 4 * PAGE * 4; align <<= 1)
        for (usize size : {1u, 24u, 100u, 700u, 2032u, 5000u}) {
            void* p = heap.alloc(size, align);
            ASSERT_NE(p, nullptr) << size << " " << align;
            EXPECT_EQ(addr(p) % std::max<usize>(align, 16), 0u) << size << " " << align;
            EXPECT_GE(heap.usable_size(p), size);
            v.push_back(p);
        }
    EXPECT_EQ(heap.alloc(16, 48), nullptr);  // not a power of two
    EXPECT_EQ(heap.alloc(16, 3), nullptr);
    for (void* p : v) heap.free(p);
    expect_empty();
}

TEST_F(HeapTest, FreedObjectIsReused) {
    void* keep = heap.alloc(64);  // keeps the slab alive
    void* a = heap.alloc(64);
    heap.free(a);
    void* b = heap.alloc(64);
    EXPECT_EQ(a, b);
    heap.free(b);
    heap.free(keep);
    expect_empty();
}

TEST_F(HeapTest, SlabsFillAndDrain) {
    // 63 objects of 64 bytes fit a page next to its header.
    std::vector<void*> v;
    std::set<void*> distinct;
    for (int i = 0; i < 1000; ++i) {
        void* p = heap.alloc(64);
        ASSERT_NE(p, nullptr);
        v.push_back(p);
        distinct.insert(p);
    }
    EXPECT_EQ(distinct.size(), 1000u);
    EXPECT_EQ(heap.stats().pages_held, (1000u + 62) / 63);
    EXPECT_EQ(heap.stats().bytes_in_use, 1000u * 64);
    // Free every other one, then refill: the holes are used before any new page.
    for (usize i = 0; i < v.size(); i += 2) heap.free(v[i]);
    usize held = heap.stats().pages_held;
    for (usize i = 0; i < v.size(); i += 2) v[i] = heap.alloc(64);
    EXPECT_EQ(heap.stats().pages_held, held);
    for (void* p : v) heap.free(p);
    expect_empty();
}

TEST_F(HeapTest, LargeAllocationsTakeWholePages) {
    void* a = heap.alloc(5000);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(addr(a) % PAGE, 0u);
    EXPECT_EQ(heap.usable_size(a), 2 * PAGE);
    pv::HeapStats s = heap.stats();
    EXPECT_EQ(s.bytes_in_use, 2 * PAGE);
    // Two pages for the block, one slab page for its record.
    EXPECT_EQ(s.pages_held, 3u);
    void* b = heap.alloc(3 * 1024 * 1024);
    ASSERT_NE(b, nullptr);
    std::memset(b, 0xab, 3 * 1024 * 1024);
    EXPECT_EQ(heap.usable_size(b), 4u * 1024 * 1024);
    EXPECT_EQ(heap.stats().pages_held, 3u + 1024);
    heap.free(a);
    heap.free(b);
    expect_empty();
}

TEST_F(HeapTest, StatsFollowAllocations) {
    void* a = heap.alloc(10);
    void* b = heap.alloc(1000);
    void* c = heap.alloc(10000);
    pv::HeapStats s = heap.stats();
    EXPECT_EQ(s.live_allocations, 3u);
    EXPECT_EQ(s.bytes_in_use, 16u + 1344 + 4 * PAGE);
    EXPECT_EQ(s.pages_held, pages.pages());
    heap.free(b);
    EXPECT_EQ(heap.stats().bytes_in_use, 16u + 4 * PAGE);
    heap.free(c);
    heap.free(a);
    expect_empty();
}

TEST_F(HeapTest, DoubleFreeIsDetected) {
    void* a = heap.alloc(48);
    void* b = heap.alloc(48);
    heap.free(a);
    heap.free(a);
    EXPECT_EQ(heap.stats().double_frees, 1u);
    EXPECT_EQ(heap.stats().live_allocations, 1u);
    // The free list is intact: two allocations give two different objects.
    void* c = heap.alloc(48);
    void* d = heap.alloc(48);
    EXPECT_NE(c, d);
    EXPECT_NE(c, b);
    EXPECT_NE(d, b);
    heap.free(b);
    heap.free(c);
    heap.free(d);
    expect_empty();
    EXPECT_EQ(heap.stats().double_frees, 1u);
    EXPECT_EQ(heap.stats().invalid_frees, 0u);
}

TEST_F(HeapTest, LargeDoubleFreeIsRejected) {
    void* a = heap.alloc(3 * PAGE);
    heap.free(a);
    heap.free(a);  // its record is gone: an unknown page-aligned pointer
    EXPECT_EQ(heap.stats().invalid_frees, 1u);
    expect_empty();
}

TEST_F(HeapTest, LiveDataLookingFreeIsStillFreed) {
    void* keep = heap.alloc(32);
    void* a = heap.alloc(32);
    heap.free(a);
    // Learn the poison word from a free object, then store it in a live one.
    pv::u64 poison;
    std::memcpy(&poison, static_cast<char*>(a) + 8, 8);
    void* b = heap.alloc(32);
    ASSERT_EQ(a, b);
    std::memcpy(static_cast<char*>(b) + 8, &poison, 8);
    heap.free(b);
    EXPECT_EQ(heap.stats().double_frees, 0u);
    heap.free(keep);
    expect_empty();
}

TEST_F(HeapTest, ForeignPointersAreRejected) {
    void* a = heap.alloc(96);
    void* keep = heap.alloc(96);
    ASSERT_NE(a, nullptr);
    auto* page = reinterpret_cast<unsigned char*>(addr(a) & ~(PAGE - 1));
    heap.free(static_cast<char*>(a) + 8);  // inside an object
    heap.free(page + 4064);  // 42 objects of 96 bytes end here: the page's unused tail
    alignas(4096) static unsigned char fake[2 * PAGE];
    std::memset(fake, 0, sizeof fake);
    heap.free(fake + 64);  // a page that is not a slab
    heap.free(fake);       // page-aligned, never handed out
    // A copy of a real slab header on another page fails the per-page magic.
    std::memcpy(fake + PAGE, page, 32);
    heap.free(fake + PAGE + 32);
    EXPECT_EQ(heap.stats().invalid_frees, 5u);
    EXPECT_EQ(heap.stats().live_allocations, 2u);
    EXPECT_EQ(heap.usable_size(fake + 64), 0u);
    EXPECT_EQ(heap.usable_size(static_cast<char*>(a) + 8), 0u);
    EXPECT_EQ(heap.usable_size(a), 96u);
    heap.free(a);
    EXPECT_EQ(heap.usable_size(a), 0u);  // on its slab's free list now
    heap.free(keep);
    expect_empty();
}

TEST_F(HeapTest, SecondHeapRejectsTheFirstsPointers) {
    Heap other;
    other.init(pages);
    void* keep = other.alloc(64);
    void* a = heap.alloc(64);
    other.free(a);
    EXPECT_EQ(other.stats().invalid_frees, 1u);
    EXPECT_EQ(heap.stats().live_allocations, 1u);
    heap.free(a);
    other.free(keep);
    expect_empty();
}

TEST_F(HeapTest, OutOfPages) {
    pages.limit = 2;
    void* a = heap.alloc(16);
    void* b = heap.alloc(32);  // the class large-block records come from
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(heap.alloc(100), nullptr);   // needs a third slab page
    EXPECT_EQ(heap.alloc(PAGE), nullptr);  // its record fits, its page does not
    void* c = heap.alloc(16);              // the existing slab still has room
    EXPECT_NE(c, nullptr);
    pv::HeapStats s = heap.stats();
    EXPECT_EQ(s.live_allocations, 3u);
    EXPECT_EQ(s.pages_held, 2u);
    EXPECT_EQ(s.bytes_in_use, 16u + 32 + 16);
    heap.free(a);
    heap.free(b);
    heap.free(c);
    pages.limit = 0;
    EXPECT_EQ(heap.alloc(PAGE), nullptr);  // not even the record
    EXPECT_EQ(heap.alloc(~usize{0}), nullptr);
    EXPECT_EQ(heap.alloc(~usize{0} - PAGE, PAGE), nullptr);
    expect_empty();
}

TEST_F(HeapTest, ConcurrentAllocFree) {
    auto worker = [&](unsigned seed) {
        std::mt19937 rng(seed);
        std::vector<std::pair<unsigned char*, unsigned char>> mine;
        for (int step = 0; step < 1000; ++step) {
            if (mine.empty() || rng() % 2) {
                usize size = rng() % 4 == 0 ? rng() % 9000 : rng() % 600;
                auto* p = static_cast<unsigned char*>(heap.alloc(size));
                ASSERT_NE(p, nullptr);
                auto tag = static_cast<unsigned char>(rng());
                std::memset(p, tag, size ? size : 1);
                mine.emplace_back(p, tag);
            } else {
                usize k = rng() % mine.size();
                auto [p, tag] = mine[k];
                ASSERT_EQ(p[0], tag);  // nobody else wrote into it
                heap.free(p);
                mine[k] = mine.back();
                mine.pop_back();
            }
        }
        for (auto [p, tag] : mine) heap.free(p);
    };
    std::vector<std::thread> threads;
    for (unsigned id = 0; id < 4; ++id) threads.emplace_back(worker, id + 1);
    for (auto& t : threads) t.join();
    expect_empty();
    EXPECT_EQ(heap.stats().invalid_frees, 0u);
    EXPECT_EQ(heap.stats().double_frees, 0u);
}

struct Tracked {
    static inline int alive = 0;
    int a;
    long b;
    Tracked(int x, long y) : a(x), b(y) { ++alive; }
    ~Tracked() { --alive; }
};

struct alignas(64) CacheLine {
    char bytes[64];
};

TEST_F(HeapTest, HeapNewAndDelete) {
    Tracked* t = pv::heap_new<Tracked>(heap, 3, 4L);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->a, 3);
    EXPECT_EQ(t->b, 4);
    EXPECT_EQ(Tracked::alive, 1);
    pv::heap_delete(heap, t);
    EXPECT_EQ(Tracked::alive, 0);
    pv::heap_delete<Tracked>(heap, nullptr);

    for (int i = 0; i < 10; ++i) {
        CacheLine* c = pv::heap_new<CacheLine>(heap);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(addr(c) % 64, 0u);
        pv::heap_delete(heap, c);
    }
    pages.limit = 0;
    EXPECT_EQ(pv::heap_new<Tracked>(heap, 1, 2L), nullptr);
    EXPECT_EQ(Tracked::alive, 0);
    expect_empty();
}

}  // namespace
