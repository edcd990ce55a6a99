// PirqTable (core/pirq.hpp): pirq numbers and Xen 4.17's errno values for mapping GSIs, and the
// nr_pirqs Xen gives domains (the figures of a 2-CPU QEMU machine with 24 GSIs, where Xen says
// "d0 has maximum 416 PIRQs").
#include <gtest/gtest.h>

#include "core/pirq.hpp"
#include "core/xen_abi.hpp"

namespace {

using pv::PirqTable;
using pv::u32;

template <typename T> long rc(const pv::Result<T>& r) { return r ? 0 : -static_cast<long>(r.error()); }

TEST(Pirq, NrPirqsAsXen) {
    EXPECT_EQ(pv::pirq::nr_irqs(24, 2), 416u);
    EXPECT_EQ(pv::pirq::hardware_domain_pirqs(24, 2, 2), 416u);
    EXPECT_EQ(pv::pirq::hardware_domain_pirqs(24, 8, 1), 24u + 208u);
    EXPECT_EQ(pv::pirq::domu_pirqs(24, 2), 56u);
    EXPECT_EQ(pv::pirq::nr_irqs(16, 0), 128u);
}

TEST(Pirq, MapAsLinuxDoes) {
    PirqTable t(416, 24);
    for (u32 g = 1; g < 16; ++g) {
        auto r = t.map_gsi(g, g);
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, g);
    }
    EXPECT_EQ(t.gsi_of(9), 9);
    EXPECT_EQ(t.pirq_of_gsi(9), 9);
    EXPECT_EQ(*t.map_gsi(9, 9), 9u);                     // the same mapping again
    EXPECT_EQ(rc(t.map_gsi(9, 10)), -XEN_EEXIST);         // another pirq for a mapped GSI
    EXPECT_EQ(*t.map_gsi(9, -1), 9u);                     // any pirq: the one it has
    EXPECT_EQ(*t.map_gsi(20, 9), 9u);                     // pirq 9 is GSI 9's: success, no change
    EXPECT_EQ(t.pirq_of_gsi(20), -1);
    EXPECT_EQ(rc(t.map_gsi(21, 416)), -XEN_EINVAL);
    EXPECT_EQ(rc(t.map_gsi(24, 24)), -XEN_EINVAL);
}

TEST(Pirq, FreePirqChoice) {
    PirqTable t(40, 24);
    EXPECT_EQ(*t.map_gsi(3, -1), 16u);  // the lowest from 16
    EXPECT_EQ(*t.map_gsi(4, 17), 17u);
    EXPECT_EQ(*t.map_gsi(5, -1), 18u);
    for (u32 g = 6; g < 11; ++g) ASSERT_TRUE(t.map_gsi(g, -1));  // 19-23
    EXPECT_EQ(*t.map_gsi(11, -1), 39u);  // then the highest above the GSIs
    PirqTable small(24, 24);
    for (u32 g = 0; g < 8; ++g) ASSERT_TRUE(small.map_gsi(g, -1));
    EXPECT_EQ(rc(small.map_gsi(8, -1)), -XEN_ENOSPC);
}

TEST(Pirq, UnmapBoundOrphansUntilClosed) {
    PirqTable t(416, 24);
    ASSERT_TRUE(t.map_gsi(9, 9));
    EXPECT_EQ(rc(t.unmap(-1)), -XEN_EINVAL);
    EXPECT_EQ(rc(t.unmap(416)), -XEN_EINVAL);
    EXPECT_EQ(rc(t.unmap(10)), -XEN_EINVAL);
    t.bind(9, 5);
    EXPECT_EQ(t.port(9), 5u);
    EXPECT_EQ(*t.unmap(9), 9u);
    EXPECT_TRUE(t.exists(9));      // PHYSDEVOP_eoi still finds it
    EXPECT_EQ(t.gsi_of(9), -1);
    EXPECT_EQ(rc(t.unmap(9)), -XEN_EINVAL);
    EXPECT_EQ(rc(t.map_gsi(9, -1)), -XEN_EBUSY);
    EXPECT_EQ(rc(t.map_gsi(9, 3)), -XEN_EEXIST);
    EXPECT_EQ(t.unbind(9), -1);    // orphaned: freed, no line to mask
    EXPECT_FALSE(t.exists(9));
    EXPECT_EQ(*t.map_gsi(9, 9), 9u);
    t.bind(9, 6);
    EXPECT_EQ(t.unbind(9), 9);     // mapped: the line is masked again
    EXPECT_EQ(t.port(9), 0u);
    EXPECT_EQ(*t.unmap(9), 9u);
    EXPECT_FALSE(t.exists(9));
    unsigned n = 0;
    t.for_each_mapped([&](u32, u32) { ++n; });
    EXPECT_EQ(n, 0u);
}

}  // namespace
