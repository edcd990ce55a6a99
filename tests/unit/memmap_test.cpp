#include "core/memmap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace {

using pv::MemoryMap;
using pv::MemRange;
using pv::MemType;
using pv::u64;

struct Expect {
    u64 start;
    u64 end;
    MemType type;
};

void expect_map(const MemoryMap& m, std::vector<Expect> want) {
    ASSERT_EQ(m.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(m[i].start, want[i].start) << "entry " << i;
        EXPECT_EQ(m[i].end, want[i].end) << "entry " << i;
        EXPECT_EQ(m[i].type, want[i].type) << "entry " << i;
    }
}

// Every map must be sorted, disjoint, non-empty and without touching equal-typed neighbours.
void expect_sane(const MemoryMap& m) {
    for (size_t i = 0; i < m.size(); ++i) {
        EXPECT_LT(m[i].start, m[i].end);
        if (i) {
            EXPECT_LE(m[i - 1].end, m[i].start);
            if (m[i - 1].end == m[i].start) {
                EXPECT_NE(m[i - 1].type, m[i].type);
            }
        }
    }
}

TEST(MemoryMap, Empty) {
    MemoryMap m;
    EXPECT_EQ(m.size(), 0u);
    EXPECT_EQ(m.total_ram(), 0u);
    EXPECT_EQ(m.max_ram_addr(), 0u);
    EXPECT_FALSE(m.ram_ranges().begin() != m.ram_ranges().end());
    MemType t;
    EXPECT_FALSE(m.type_at(0, &t));
}

TEST(MemoryMap, UnsortedInputIsSorted) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0x100000, 0x7fe0000, MemType::ram));
    ASSERT_TRUE(m.add(0xf0000, 0x100000, MemType::reserved));
    ASSERT_TRUE(m.add(0, 0x9fc00, MemType::ram));
    ASSERT_TRUE(m.add(0x7fe0000, 0x8000000, MemType::acpi_reclaim));
    ASSERT_TRUE(m.add(0x9fc00, 0xa0000, MemType::reserved));
    expect_map(m, {{0, 0x9fc00, MemType::ram},
                   {0x9fc00, 0xa0000, MemType::reserved},
                   {0xf0000, 0x100000, MemType::reserved},
                   {0x100000, 0x7fe0000, MemType::ram},
                   {0x7fe0000, 0x8000000, MemType::acpi_reclaim}});
}

TEST(MemoryMap, AdjacentSameTypeMerges) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0x2000, 0x3000, MemType::ram));
    ASSERT_TRUE(m.add(0, 0x1000, MemType::ram));
    ASSERT_TRUE(m.add(0x1000, 0x2000, MemType::ram));
    expect_map(m, {{0, 0x3000, MemType::ram}});
    // Different types side by side stay apart.
    ASSERT_TRUE(m.add(0x3000, 0x4000, MemType::reserved));
    expect_map(m, {{0, 0x3000, MemType::ram}, {0x3000, 0x4000, MemType::reserved}});
}

TEST(MemoryMap, DuplicateAndContainedEntries) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x10000, MemType::ram));
    ASSERT_TRUE(m.add(0, 0x10000, MemType::ram));
    ASSERT_TRUE(m.add(0x2000, 0x3000, MemType::ram));
    expect_map(m, {{0, 0x10000, MemType::ram}});
}

TEST(MemoryMap, RestrictiveTypeWinsOverlapInEitherOrder) {
    MemoryMap a;
    ASSERT_TRUE(a.add(0, 100, MemType::ram));
    ASSERT_TRUE(a.add(50, 150, MemType::reserved));
    MemoryMap b;
    ASSERT_TRUE(b.add(50, 150, MemType::reserved));
    ASSERT_TRUE(b.add(0, 100, MemType::ram));
    for (const MemoryMap* m : {&a, &b})
        expect_map(*m, {{0, 50, MemType::ram}, {50, 150, MemType::reserved}});
}

TEST(MemoryMap, StrongerRangeInsideRamSplitsIt) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x100000, MemType::ram));
    ASSERT_TRUE(m.add(0x40000, 0x50000, MemType::acpi_nvs));
    expect_map(m, {{0, 0x40000, MemType::ram},
                   {0x40000, 0x50000, MemType::acpi_nvs},
                   {0x50000, 0x100000, MemType::ram}});
    // RAM over it changes nothing; unusable over it wins.
    ASSERT_TRUE(m.add(0x30000, 0x60000, MemType::ram));
    EXPECT_EQ(m.size(), 3u);
    ASSERT_TRUE(m.add(0x48000, 0x58000, MemType::unusable));
    expect_map(m, {{0, 0x40000, MemType::ram},
                   {0x40000, 0x48000, MemType::acpi_nvs},
                   {0x48000, 0x58000, MemType::unusable},
                   {0x58000, 0x100000, MemType::ram}});
}

TEST(MemoryMap, TypePrecedence) {
    // Each pair, in both orders: the later enumerator wins.
    const MemType types[] = {MemType::ram, MemType::acpi_reclaim, MemType::acpi_nvs, MemType::reserved,
                             MemType::unusable};
    for (MemType x : types)
        for (MemType y : types) {
            MemoryMap m;
            ASSERT_TRUE(m.add(0, 10, x));
            ASSERT_TRUE(m.add(0, 10, y));
            ASSERT_EQ(m.size(), 1u);
            EXPECT_EQ(m[0].type, std::max(x, y));
        }
}

TEST(MemoryMap, LargeRangeSpanningHolesAndEntries) {
    MemoryMap m;
    ASSERT_TRUE(m.add(10, 20, MemType::reserved));
    ASSERT_TRUE(m.add(30, 40, MemType::ram));
    ASSERT_TRUE(m.add(50, 60, MemType::acpi_nvs));
    ASSERT_TRUE(m.add(0, 100, MemType::acpi_reclaim));
    expect_map(m, {{0, 10, MemType::acpi_reclaim},
                   {10, 20, MemType::reserved},
                   {20, 50, MemType::acpi_reclaim},
                   {50, 60, MemType::acpi_nvs},
                   {60, 100, MemType::acpi_reclaim}});
}

// Random overlapping maps added in random orders must all equal a per-address model in which each
// address takes the most restrictive type that claims it.
TEST(MemoryMap, RandomOverlapsMatchModel) {
    std::mt19937_64 rng(12345);
    constexpr u64 SPACE = 512;
    for (int round = 0; round < 200; ++round) {
        struct In {
            u64 s, e;
            MemType t;
        };
        std::vector<In> in;
        int n = 1 + static_cast<int>(rng() % 20);
        for (int i = 0; i < n; ++i) {
            u64 s = rng() % SPACE;
            u64 e = s + rng() % 64;
            in.push_back({s, std::min(e, SPACE), static_cast<MemType>(rng() % 5)});
        }
        std::vector<int> model(SPACE, -1);
        for (const In& r : in)
            for (u64 a = r.s; a < r.e; ++a) model[a] = std::max(model[a], static_cast<int>(r.t));

        for (int perm = 0; perm < 3; ++perm) {
            std::shuffle(in.begin(), in.end(), rng);
            MemoryMap m;
            for (const In& r : in) ASSERT_TRUE(m.add(r.s, r.e, r.t));
            expect_sane(m);
            for (u64 a = 0; a < SPACE; ++a) {
                MemType t;
                bool present = m.type_at(a, &t);
                ASSERT_EQ(present, model[a] >= 0) << "addr " << a;
                if (present) {
                    ASSERT_EQ(static_cast<int>(t), model[a]) << "addr " << a;
                }
            }
        }
    }
}

TEST(MemoryMap, ReserveSplitsRam) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x10000000, MemType::ram));
    ASSERT_TRUE(m.reserve(0x200000, 0x400000));
    expect_map(m, {{0, 0x200000, MemType::ram},
                   {0x200000, 0x400000, MemType::reserved},
                   {0x400000, 0x10000000, MemType::ram}});
    // Reserving the first MiB and a region touching the earlier one: reservations merge.
    ASSERT_TRUE(m.reserve(0, 0x100000));
    ASSERT_TRUE(m.reserve(0x400000, 0x500000));
    expect_map(m, {{0, 0x100000, MemType::reserved},
                   {0x100000, 0x200000, MemType::ram},
                   {0x200000, 0x500000, MemType::reserved},
                   {0x500000, 0x10000000, MemType::ram}});
    EXPECT_EQ(m.total_ram(), 0x10000000u - 0x100000 - 0x300000);
}

TEST(MemoryMap, ReserveLeavesOtherTypesAndHoles) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x1000, MemType::ram));
    ASSERT_TRUE(m.add(0x1000, 0x2000, MemType::acpi_nvs));
    ASSERT_TRUE(m.add(0x3000, 0x4000, MemType::ram));
    ASSERT_TRUE(m.reserve(0, 0x10000));
    expect_map(m, {{0, 0x1000, MemType::reserved},
                   {0x1000, 0x2000, MemType::acpi_nvs},
                   {0x3000, 0x4000, MemType::reserved}});
    // Reserving a pure hole records nothing.
    ASSERT_TRUE(m.reserve(0x20000, 0x30000));
    EXPECT_EQ(m.size(), 3u);
}

TEST(MemoryMap, BadArguments) {
    MemoryMap m;
    auto r = m.add(10, 5, MemType::ram);
    EXPECT_EQ(r.error(), XEN_EINVAL);
    EXPECT_EQ(m.reserve(10, 5).error(), XEN_EINVAL);
    EXPECT_TRUE(m.add(5, 5, MemType::ram));
    EXPECT_EQ(m.size(), 0u);
    EXPECT_EQ(m.add_region(~u64{0} - 10, 100, MemType::ram).error(), XEN_EINVAL);
    EXPECT_TRUE(m.add_region(0x1000, 0x2000, MemType::ram));
    expect_map(m, {{0x1000, 0x3000, MemType::ram}});
}

TEST(MemoryMap, CapacityOverflowLeavesMapUnchanged) {
    MemoryMap m;
    // Alternating types so nothing merges.
    for (u64 i = 0; i < MemoryMap::CAPACITY; ++i)
        ASSERT_TRUE(m.add(i * 0x2000, i * 0x2000 + 0x1000, i % 2 ? MemType::reserved : MemType::ram));
    ASSERT_EQ(m.size(), MemoryMap::CAPACITY);
    std::vector<MemRange> before(m.begin(), m.end());
    auto same = [&] {
        ASSERT_EQ(m.size(), before.size());
        for (size_t i = 0; i < before.size(); ++i) {
            EXPECT_EQ(m[i].start, before[i].start);
            EXPECT_EQ(m[i].end, before[i].end);
            EXPECT_EQ(m[i].type, before[i].type);
        }
    };

    EXPECT_EQ(m.add(0x1000000, 0x1001000, MemType::ram).error(), XEN_ENOSPC);
    same();
    // Splitting a RAM entry into three needs two more slots.
    EXPECT_EQ(m.reserve(0x100, 0x200).error(), XEN_ENOSPC);
    same();
    // Filling a hole between two entries inside the range needs one more.
    EXPECT_EQ(m.add(0x1000, 0x1800, MemType::acpi_nvs).error(), XEN_ENOSPC);
    same();

    // Changes that do not grow the map still work when it is full: extending an entry, and
    // reserving a whole RAM entry, which only changes its type.
    EXPECT_TRUE(m.add(0x1000, 0x1800, MemType::ram));
    EXPECT_EQ(m.size(), MemoryMap::CAPACITY);
    EXPECT_EQ(m[0].end, 0x1800u);
    EXPECT_TRUE(m.reserve(0x4000, 0x5000));
    EXPECT_EQ(m.size(), MemoryMap::CAPACITY);
    EXPECT_EQ(m[2].type, MemType::reserved);
    // Covering everything with one stronger type collapses the map to one entry.
    EXPECT_TRUE(m.add(0, MemoryMap::CAPACITY * 0x2000, MemType::unusable));
    expect_map(m, {{0, MemoryMap::CAPACITY * 0x2000, MemType::unusable}});
}

TEST(MemoryMap, RamRangesArePageAligned) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0x1001, 0x5fff, MemType::ram));  // -> [0x2000, 0x5000)
    ASSERT_TRUE(m.add(0x6100, 0x6f00, MemType::ram));  // no whole page: skipped
    ASSERT_TRUE(m.add(0x7000, 0x8000, MemType::reserved));
    ASSERT_TRUE(m.add(0x10000, 0x20000, MemType::ram));
    ASSERT_TRUE(m.add(0x20000, 0x20800, MemType::acpi_nvs));
    std::vector<std::pair<u64, u64>> got;
    for (MemRange r : m.ram_ranges()) {
        EXPECT_EQ(r.type, MemType::ram);
        got.emplace_back(r.start, r.end);
    }
    std::vector<std::pair<u64, u64>> want = {{0x2000, 0x5000}, {0x10000, 0x20000}};
    EXPECT_EQ(got, want);
    EXPECT_EQ(m.total_ram(), 0x3000u + 0x10000u);
    EXPECT_EQ(m.max_ram_addr(), 0x20000u);
}

TEST(MemoryMap, RamAtTopOfAddressSpace) {
    MemoryMap m;
    ASSERT_TRUE(m.add(~u64{0} - 0x800, ~u64{0}, MemType::ram));  // less than a page, near the top
    EXPECT_EQ(m.total_ram(), 0u);
    ASSERT_TRUE(m.add(0xfffff00000000000, 0xfffff00000002000, MemType::ram));
    EXPECT_EQ(m.total_ram(), 0x2000u);
    EXPECT_EQ(m.max_ram_addr(), 0xfffff00000002000u);
}

TEST(MemoryMap, Queries) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x9f000, MemType::ram));
    ASSERT_TRUE(m.add(0x100000, 0x800000, MemType::ram));
    ASSERT_TRUE(m.add(0xe0000, 0x100000, MemType::reserved));
    MemType t;
    ASSERT_TRUE(m.type_at(0x9efff, &t));
    EXPECT_EQ(t, MemType::ram);
    EXPECT_FALSE(m.type_at(0x9f000, &t));
    ASSERT_TRUE(m.type_at(0xe0000, &t));
    EXPECT_EQ(t, MemType::reserved);
    EXPECT_TRUE(m.is_ram(0x100000, 0x800000));
    EXPECT_TRUE(m.is_ram(0x1000, 0x2000));
    EXPECT_FALSE(m.is_ram(0x9e000, 0xa0000));  // runs into a hole
    EXPECT_FALSE(m.is_ram(0xff000, 0x101000));  // starts in reserved
    EXPECT_TRUE(m.is_ram(0x5000, 0x5000));
}

TEST(MemoryMap, E820Types) {
    EXPECT_EQ(pv::mem_type_from_e820(1), MemType::ram);
    EXPECT_EQ(pv::mem_type_from_e820(2), MemType::reserved);
    EXPECT_EQ(pv::mem_type_from_e820(3), MemType::acpi_reclaim);
    EXPECT_EQ(pv::mem_type_from_e820(4), MemType::acpi_nvs);
    EXPECT_EQ(pv::mem_type_from_e820(5), MemType::unusable);
    EXPECT_EQ(pv::mem_type_from_e820(7), MemType::reserved);   // persistent memory
    EXPECT_EQ(pv::mem_type_from_e820(0), MemType::reserved);
    for (pv::u32 e = 1; e <= 5; ++e) EXPECT_EQ(pv::mem_type_to_e820(pv::mem_type_from_e820(e)), e);
}

TEST(MemoryMap, Dump) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x9fc00, MemType::ram));
    ASSERT_TRUE(m.add(0xf0000, 0x100000, MemType::reserved));
    char buf[256];
    pv::BufferSink sink(buf, sizeof buf);
    m.dump(sink);
    EXPECT_EQ(std::string(buf),
              " [0000000000000000, 000000000009fc00) RAM\n"
              " [00000000000f0000, 0000000000100000) reserved\n");
}

// ---------------------------------------------------------------------------------------------

TEST(BootAllocator, TakesHighestFitAndReservesIt) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x9f000, MemType::ram));
    ASSERT_TRUE(m.add(0x100000, 0x4000000, MemType::ram));
    u64 before = m.total_ram();
    pv::BootAllocator ba(m);

    auto a = ba.alloc_pages(4);
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, 0x4000000u - 0x4000);
    auto b = ba.alloc_pages(1);
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, *a - 0x1000);
    EXPECT_EQ(m.total_ram(), before - 0x5000);
    EXPECT_EQ(ba.allocated_bytes(), 0x5000u);
    // The two allocations merged into one reservation; the buddy allocator will not see them.
    expect_map(m, {{0, 0x9f000, MemType::ram},
                   {0x100000, 0x4000000 - 0x5000, MemType::ram},
                   {0x4000000 - 0x5000, 0x4000000, MemType::reserved}});
    for (MemRange r : m.ram_ranges()) EXPECT_TRUE(r.end <= *b || r.start >= *a + 0x4000);
}

TEST(BootAllocator, BelowLimitAndAlignment) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0x1000, 0x9f000, MemType::ram));
    ASSERT_TRUE(m.add(0x100000, 0x40000000, MemType::ram));
    pv::BootAllocator ba(m);

    auto low = ba.alloc_pages(2, 0x100000);  // must come from below 1 MiB
    ASSERT_TRUE(low);
    EXPECT_EQ(*low, 0x9f000u - 0x2000);

    auto odd = ba.alloc_pages(1, 0x123456);  // an unaligned limit counts down to a page
    ASSERT_TRUE(odd);
    EXPECT_EQ(*odd, 0x122000u);

    auto big = ba.alloc_pages(512, ~u64{0}, 2 * pv::MiB);
    ASSERT_TRUE(big);
    EXPECT_EQ(*big % (2 * pv::MiB), 0u);
    EXPECT_EQ(*big, 0x40000000u - 2 * pv::MiB);
    auto big2 = ba.alloc_pages(1, ~u64{0}, 2 * pv::MiB);
    ASSERT_TRUE(big2);
    EXPECT_EQ(*big2, 0x40000000u - 4 * pv::MiB);
    EXPECT_TRUE(m.is_ram(*big2 + 0x1000, 0x40000000u - 2 * pv::MiB));  // the alignment gap stays RAM
}

TEST(BootAllocator, Failures) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0x100000, 0x200000, MemType::ram));
    pv::BootAllocator ba(m);
    EXPECT_EQ(ba.alloc_pages(0).error(), XEN_EINVAL);
    EXPECT_EQ(ba.alloc_pages(1, ~u64{0}, 0x1800).error(), XEN_EINVAL);
    EXPECT_EQ(ba.alloc_pages(1, ~u64{0}, 0x800).error(), XEN_EINVAL);
    EXPECT_EQ(ba.alloc_pages(257).error(), XEN_ENOMEM);
    EXPECT_EQ(ba.alloc_pages(1, 0x100000).error(), XEN_ENOMEM);
    EXPECT_EQ(ba.alloc_pages(~u64{0}).error(), XEN_ENOMEM);
    EXPECT_EQ(ba.alloc_pages(1, ~u64{0}, 4 * pv::MiB).error(), XEN_ENOMEM);
    EXPECT_EQ(ba.allocated_bytes(), 0u);
    auto all = ba.alloc_pages(256);
    ASSERT_TRUE(all);
    EXPECT_EQ(*all, 0x100000u);
    EXPECT_EQ(ba.alloc_pages(1).error(), XEN_ENOMEM);
    EXPECT_EQ(m.total_ram(), 0u);
}

TEST(BootAllocator, MapFullReportsNoSpace) {
    MemoryMap m;
    for (u64 i = 0; i < MemoryMap::CAPACITY; ++i)
        ASSERT_TRUE(m.add(i * 0x10000, i * 0x10000 + 0x8000, i % 2 ? MemType::reserved : MemType::ram));
    pv::BootAllocator ba(m);
    // The highest RAM entry is followed by a hole, so carving its top needs a new entry.
    auto r = ba.alloc_pages(1);
    EXPECT_EQ(r.error(), XEN_ENOSPC);
    EXPECT_EQ(ba.allocated_bytes(), 0u);
    EXPECT_EQ(m.size(), MemoryMap::CAPACITY);
}

}  // namespace
