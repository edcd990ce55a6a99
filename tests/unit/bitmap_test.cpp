#include "lib/bitmap.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using pv::BitmapView;
using pv::u64;
using pv::usize;

// A view over zeroed words, with one guard word after them that must never change.
struct Words {
    static constexpr u64 GUARD = 0x5a5a5a5a5a5a5a5a;
    std::vector<u64> w;
    usize bits;
    explicit Words(usize b) : w(BitmapView::words_for(b) + 1, 0), bits(b) { w.back() = GUARD; }
    BitmapView view() { return BitmapView(w.data(), bits); }
    bool guard_intact() const { return w.back() == GUARD; }
};

TEST(Bitmap, WordsFor) {
    EXPECT_EQ(BitmapView::words_for(0), 0u);
    EXPECT_EQ(BitmapView::words_for(1), 1u);
    EXPECT_EQ(BitmapView::words_for(64), 1u);
    EXPECT_EQ(BitmapView::words_for(65), 2u);
    EXPECT_EQ(BitmapView::words_for(128), 2u);
    EXPECT_EQ(BitmapView::words_for(129), 3u);
}

TEST(Bitmap, SetClearTest) {
    Words m(200);
    BitmapView b = m.view();
    EXPECT_EQ(b.size(), 200u);
    for (usize i : {0u, 1u, 63u, 64u, 65u, 127u, 128u, 199u}) {
        EXPECT_FALSE(b.test(i)) << i;
        b.set(i);
        EXPECT_TRUE(b.test(i)) << i;
    }
    EXPECT_EQ(m.w[0], (u64{1} << 63) | 3u);
    EXPECT_EQ(m.w[1], (u64{1} << 63) | 3u);
    EXPECT_EQ(m.w[2], 1u);
    EXPECT_EQ(m.w[3], u64{1} << (199 - 192));
    EXPECT_EQ(b.count(), 8u);

    b.set(64);  // idempotent
    EXPECT_EQ(b.count(), 8u);
    b.clear(64);
    EXPECT_FALSE(b.test(64));
    EXPECT_TRUE(b.test(63));
    EXPECT_TRUE(b.test(65));
    b.clear(64);  // idempotent
    EXPECT_EQ(b.count(), 7u);
    EXPECT_TRUE(m.guard_intact());
}

TEST(Bitmap, TestAndSet) {
    Words m(70);
    BitmapView b = m.view();
    EXPECT_FALSE(b.test_and_set(66));
    EXPECT_TRUE(b.test_and_set(66));
    EXPECT_TRUE(b.test(66));
    EXPECT_EQ(b.count(), 1u);
}

TEST(Bitmap, SetRangeAcrossWords) {
    Words m(300);
    BitmapView b = m.view();
    b.set_range(60, 140);  // 60..199
    EXPECT_EQ(b.count(), 140u);
    EXPECT_FALSE(b.test(59));
    EXPECT_TRUE(b.test(60));
    EXPECT_TRUE(b.test(199));
    EXPECT_FALSE(b.test(200));
    EXPECT_EQ(m.w[1], ~u64{0});
    b.set_range(250, 0);
    EXPECT_EQ(b.count(), 140u);
    EXPECT_TRUE(m.guard_intact());
}

TEST(Bitmap, FindNextSetAcrossWordBoundaries) {
    Words m(256);
    BitmapView b = m.view();
    EXPECT_EQ(b.find_next_set(0), 256u);  // none: size()
    b.set(63);
    b.set(64);
    b.set(191);
    b.set(255);
    EXPECT_EQ(b.find_next_set(0), 63u);
    EXPECT_EQ(b.find_next_set(63), 63u);
    EXPECT_EQ(b.find_next_set(64), 64u);
    EXPECT_EQ(b.find_next_set(65), 191u);  // skips an empty word entirely
    EXPECT_EQ(b.find_next_set(128), 191u);
    EXPECT_EQ(b.find_next_set(192), 255u);
    EXPECT_EQ(b.find_next_set(255), 255u);
    EXPECT_EQ(b.find_next_set(256), 256u);
    EXPECT_EQ(b.find_next_set(1000), 256u);
}

TEST(Bitmap, FindNextClearAcrossWordBoundaries) {
    Words m(256);
    BitmapView b = m.view();
    b.fill(true);
    EXPECT_EQ(b.find_next_clear(0), 256u);
    b.clear(0);
    b.clear(64);
    b.clear(200);
    EXPECT_EQ(b.find_next_clear(0), 0u);
    EXPECT_EQ(b.find_next_clear(1), 64u);
    EXPECT_EQ(b.find_next_clear(65), 200u);
    EXPECT_EQ(b.find_next_clear(201), 256u);
    EXPECT_EQ(b.find_next_clear(256), 256u);
}

TEST(Bitmap, OddSizeFindNeverReturnsPastEnd) {
    // 100 bits: the second word has 36 valid bits and 28 that are not part of the map.
    Words m(100);
    BitmapView b = m.view();
    b.fill(true);
    EXPECT_EQ(b.find_next_clear(0), 100u);  // the trimmed padding bits are not "clear bits"
    EXPECT_EQ(b.find_next_clear(99), 100u);
    b.clear(99);
    EXPECT_EQ(b.find_next_clear(0), 99u);
    EXPECT_EQ(b.find_next_set(99), 100u);

    b.fill(false);
    EXPECT_EQ(b.find_next_set(0), 100u);
    b.set(99);
    EXPECT_EQ(b.find_next_set(0), 99u);
    EXPECT_EQ(b.find_next_set(64), 99u);
    EXPECT_EQ(b.find_next_clear(99), 100u);
    EXPECT_TRUE(m.guard_intact());
}

TEST(Bitmap, OddSizeSmallerThanAWord) {
    Words m(5);
    BitmapView b = m.view();
    b.fill(true);
    EXPECT_EQ(m.w[0], 0x1fu);
    EXPECT_EQ(b.count(), 5u);
    EXPECT_EQ(b.find_next_clear(0), 5u);
    b.clear(2);
    EXPECT_EQ(b.find_next_clear(0), 2u);
    EXPECT_EQ(b.find_next_clear(3), 5u);
    EXPECT_EQ(b.find_next_set(2), 3u);
}

TEST(Bitmap, FillTrimsPartialWord) {
    for (usize bits : {1u, 63u, 64u, 65u, 127u, 128u, 129u, 1000u}) {
        Words m(bits);
        BitmapView b = m.view();
        b.fill(true);
        EXPECT_EQ(b.count(), bits) << bits;
        if (bits % 64) {
            EXPECT_EQ(m.w[bits / 64], (u64{1} << (bits % 64)) - 1) << bits;
        }
        for (usize k = 0; k < bits / 64; ++k) EXPECT_EQ(m.w[k], ~u64{0}) << bits;
        EXPECT_TRUE(m.guard_intact()) << bits;
        b.fill(false);
        EXPECT_EQ(b.count(), 0u) << bits;
        EXPECT_EQ(b.find_next_set(0), bits);
        EXPECT_EQ(b.find_next_clear(0), 0u);
        EXPECT_TRUE(m.guard_intact()) << bits;
    }
}

TEST(Bitmap, ZeroSized) {
    u64 guard = 0x1234;
    BitmapView b(&guard, 0);
    b.fill(true);
    EXPECT_EQ(guard, 0x1234u);
    EXPECT_EQ(b.count(), 0u);
    EXPECT_EQ(b.find_next_set(0), 0u);
    EXPECT_EQ(b.find_next_clear(0), 0u);
}

TEST(Bitmap, CountMatchesNaive) {
    Words m(777);
    BitmapView b = m.view();
    usize expect = 0;
    for (usize i = 0; i < 777; i += 7) {
        b.set(i);
        ++expect;
    }
    EXPECT_EQ(b.count(), expect);
    usize walked = 0;
    for (usize i = b.find_next_set(0); i < b.size(); i = b.find_next_set(i + 1)) {
        EXPECT_EQ(i % 7, 0u);
        ++walked;
    }
    EXPECT_EQ(walked, expect);
    usize clear = 0;
    for (usize i = b.find_next_clear(0); i < b.size(); i = b.find_next_clear(i + 1)) ++clear;
    EXPECT_EQ(clear, 777 - expect);
}

TEST(Bitmap, InlineStorage) {
    pv::Bitmap<130> b;
    EXPECT_EQ(b.count(), 0u);
    EXPECT_EQ(b.find_next_set(), 130u);
    EXPECT_EQ(b.find_next_clear(), 0u);
    b.set(0);
    b.set(64);
    b.set(129);
    EXPECT_TRUE(b.test(0));
    EXPECT_TRUE(b.test(64));
    EXPECT_TRUE(b.test(129));
    EXPECT_FALSE(b.test(128));
    EXPECT_EQ(b.count(), 3u);
    EXPECT_EQ(b.find_next_set(1), 64u);
    EXPECT_EQ(b.find_next_set(65), 129u);
    EXPECT_EQ(b.find_next_clear(), 1u);
    b.clear(64);
    EXPECT_EQ(b.find_next_set(1), 129u);
    EXPECT_EQ(b.view().size(), 130u);
    b.view().fill(true);
    EXPECT_EQ(b.count(), 130u);
    EXPECT_EQ(b.find_next_clear(), 130u);
}

TEST(Bitmap, SetOperations) {
    pv::Bitmap<130> a, b;
    EXPECT_TRUE(a.empty());
    EXPECT_TRUE(a.subset_of(b));
    a.set(1);
    a.set(100);
    b.set(100);
    b.set(129);
    EXPECT_TRUE(a.intersects(b));
    EXPECT_FALSE(a.subset_of(b));
    const pv::Bitmap<130> both = a & b;
    EXPECT_EQ(both.count(), 1u);
    EXPECT_TRUE(both.test(100));
    EXPECT_TRUE(both.subset_of(a));
    pv::Bitmap<130> u = a;
    u |= b;
    EXPECT_EQ(u.count(), 3u);
    u.and_not(a);
    EXPECT_EQ(u.count(), 1u);
    EXPECT_TRUE(u.test(129));
    EXPECT_FALSE(u.intersects(a));
    EXPECT_TRUE(u == (b & u));
    u.fill(true);
    EXPECT_EQ(u.count(), 130u);
    u.fill(false);
    EXPECT_TRUE(u.empty());
}

}  // namespace
