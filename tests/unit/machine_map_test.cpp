// XENMEM_machine_memory_map's map (core/machine_map.hpp): QEMU's E820 with domain 0's denied
// MMIO gives exactly the nine entries Xen 4.17 answers on the same machine (seen by p2mtest).
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "core/machine_map.hpp"

namespace {

using pv::E820Out;
using pv::MemoryRange;

std::vector<E820Out> entries(const pv::MachineMap& m) {
    std::vector<E820Out> v;
    pv::usize n = m.walk([&](pv::usize, const E820Out& e, pv::usize) {
        v.push_back(e);
        return true;
    });
    EXPECT_EQ(n, v.size());
    return v;
}

// QEMU 7.2, -m 512, -cpu max (AMD): the map SeaBIOS hands over.
const MemoryRange QEMU[] = {
    {0x0, 0x9fc00, 1},           {0x9fc00, 0x400, 2},        {0xf0000, 0x10000, 2},
    {0x100000, 0x1fee0000, 1},   {0x1ffe0000, 0x20000, 2},   {0xfffc0000, 0x40000, 2},
    {0xfd00000000, 0x300000000, 2},
};

TEST(MachineMap, QemuAsXen) {
    pv::MachineMap m;
    m.set_firmware(QEMU, std::size(QEMU));
    ASSERT_TRUE(m.deny(0xfee00, 0xfee00));               // local APIC
    ASSERT_TRUE(m.deny(0xfec00, 0xfec00));               // I/O APIC
    ASSERT_TRUE(m.deny(0xfee00, 0xfeeff));               // MSI window (overlaps the APIC page)
    ASSERT_TRUE(m.deny(0xfd00000, (1ull << 28) - 1));    // AMD HyperTransport (inside an entry)
    EXPECT_TRUE(m.denied(0xfec00));
    EXPECT_TRUE(m.denied(0xfeeff));
    EXPECT_FALSE(m.denied(0xfed00));  // the HPET stays domain 0's, as on Xen
    EXPECT_FALSE(m.denied(0xfef00));
    auto v = entries(m);
    const E820Out want[] = {
        {0x0, 0x9fc00, 1},         {0x9fc00, 0x400, 2},     {0xf0000, 0x10000, 2},
        {0x100000, 0x1fee0000, 1}, {0x1ffe0000, 0x20000, 2}, {0xfec00000, 0x1000, 2},
        {0xfee00000, 0x100000, 2}, {0xfffc0000, 0x40000, 2}, {0xfd00000000, 0x300000000, 2},
    };
    ASSERT_EQ(v.size(), std::size(want));
    for (size_t i = 0; i < v.size(); ++i) {
        EXPECT_EQ(v[i].addr, want[i].addr) << i;
        EXPECT_EQ(v[i].size, want[i].size) << i;
        EXPECT_EQ(v[i].type, want[i].type) << i;
    }
}

TEST(MachineMap, UnsortedFirmwareAndStop) {
    const MemoryRange shuffled[] = {{0x100000, 0x100000, 1}, {0x0, 0x1000, 1}, {0x5000, 0, 1}};
    pv::MachineMap m;
    m.set_firmware(shuffled, std::size(shuffled));
    EXPECT_EQ(m.firmware_entries(), 2u);  // the empty one is dropped
    ASSERT_TRUE(m.deny(0x10, 0x1f));
    auto v = entries(m);
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].addr, 0x0u);
    EXPECT_EQ(v[1].addr, 0x10000u);  // the denied stretch in the hole
    EXPECT_EQ(v[1].size, 0x10000u);
    EXPECT_EQ(v[2].addr, 0x100000u);
    int calls = 0;
    std::vector<pv::usize> left;
    m.walk([&](pv::usize, const E820Out&, pv::usize fw_left) {
        left.push_back(fw_left);
        return ++calls < 3;
    });
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(left, (std::vector<pv::usize>{2, 0, 1}));
    EXPECT_FALSE(m.deny(5, 4));
}

using Stretch = std::pair<pv::u64, pv::u64>;

std::vector<Stretch> io(const pv::MachineMap& m, pv::u64 nr_frames) {
    std::vector<Stretch> v;
    m.io_frames(nr_frames, [&](pv::u64 a, pv::u64 b) { v.emplace_back(a, b); });
    return v;
}

// Xen's dom_io frames on QEMU's map with 512 MiB: the first MiB, then the reserved top 128 KiB
// of the low RAM (the frame table ends at the top of RAM, so nothing above it).
TEST(MachineMap, IoFramesQemu) {
    pv::MachineMap m;
    m.set_firmware(QEMU, std::size(QEMU));
    EXPECT_EQ(io(m, 0x1ffe0), (std::vector<Stretch>{{0, 0x100}}));
    EXPECT_EQ(io(m, 0x20000), (std::vector<Stretch>{{0, 0x100}, {0x1ffe0, 0x20000}}));
    EXPECT_EQ(io(m, 0x80), (std::vector<Stretch>{{0, 0x80}}));
}

// Partial frames at a RAM entry's ends are I/O; unusable memory is not; unsorted input works;
// a map without entries leaves only the first MiB.
TEST(MachineMap, IoFramesEdges) {
    const MemoryRange map[] = {
        {0x300000, 0x100800, MemoryRange::AVAILABLE},
        {0x100000, 0x100000, MemoryRange::AVAILABLE},
        {0x200800, 0x80000, MemoryRange::BAD},
        {0x500000, 0x10000, MemoryRange::ACPI_NVS},
    };
    pv::MachineMap m;
    m.set_firmware(map, std::size(map));
    EXPECT_EQ(io(m, 0x600), (std::vector<Stretch>{{0, 0x100}, {0x200, 0x201}, {0x280, 0x300}, {0x400, 0x600}}));
    pv::MachineMap empty;
    EXPECT_EQ(io(empty, 0x1000), (std::vector<Stretch>{{0, 0x100}}));
}

}  // namespace
