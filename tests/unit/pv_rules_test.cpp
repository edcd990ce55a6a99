// The pure PV entry and descriptor rules (core/pv_pte, core/pv_desc), bit by bit.
#include <gtest/gtest.h>

#include "core/pv_desc.hpp"
#include "core/pv_pte.hpp"
#include "core/xen_abi.hpp"

namespace {

using namespace pv::pte;
using pv::u64;

// Each flag bit (0-11, 52-63) alone on top of P: which levels allow it.
struct FlagCase {
    unsigned bit;
    const char* name;
    bool l1;          // allowed in L1 without I/O capability
    bool l1_io;       // allowed in L1 with I/O capability
    bool upper;       // allowed in L2-L4
};

const FlagCase FLAG_CASES[] = {
    {1, "RW", true, true, true},
    {2, "US", true, true, true},
    {3, "PWT", false, true, false},
    {4, "PCD", false, true, false},
    {5, "A", true, true, true},
    {6, "D", true, true, true},
    {7, "PAT/PS", false, true, false},
    {8, "G", true, true, false},
    {9, "AVAIL0", true, true, true},
    {10, "AVAIL1", true, true, true},
    {11, "AVAIL2", true, true, true},
    {52, "AVAIL_HIGH 52", true, true, true},
    {53, "AVAIL_HIGH 53", true, true, true},
    {56, "AVAIL_HIGH 56", true, true, true},
    {59, "AVAIL_HIGH 59", true, true, true},
    {61, "AVAIL_HIGH 61", true, true, true},
    {62, "grant (62)", false, false, true},
    {63, "NX", true, true, true},
};

TEST(PageTypeRules, FlagsPerLevel) {
    for (const FlagCase& c : FLAG_CASES) {
        u64 e = make(0x1234, P) | u64{1} << c.bit;
        EXPECT_EQ((e & disallowed(1, false)) == 0, c.l1) << c.name;
        EXPECT_EQ((e & disallowed(1, true)) == 0, c.l1_io) << c.name;
        for (unsigned level = 2; level <= 4; ++level)
            EXPECT_EQ((e & disallowed(level, true)) == 0, c.upper) << c.name << " L" << level;
    }
}

TEST(PageTypeRules, EveryFlagBitIsClassified) {
    // The frame number (bits 12-51) is never a flag; every other bit is covered by a rule, and
    // the rules for bits not listed above follow their neighbours (AVAIL_HIGH).
    for (unsigned bit = 12; bit <= 51; ++bit) {
        EXPECT_EQ(disallowed(1, false) & (u64{1} << bit), 0u) << bit;
        EXPECT_EQ(disallowed(4, false) & (u64{1} << bit), 0u) << bit;
    }
    for (unsigned bit = 52; bit <= 61; ++bit) EXPECT_EQ(disallowed(1, false) & (u64{1} << bit), 0u) << bit;
    EXPECT_EQ(make(0xabcdef, P | RW), 0xabcdef003ull);
    EXPECT_EQ(mfn(0x8000000abcdef067ull), 0xabcdefu);
}

struct FastCase {
    const char* name;
    u64 old_e, new_e;
    bool fast;
};

const FastCase FAST_CASES[] = {
    {"identical", make(5, P | RW), make(5, P | RW), true},
    {"A and D", make(5, P | RW), make(5, P | RW | A | D), true},
    {"clear A", make(5, P | A), make(5, P), true},
    {"available bits", make(5, P), make(5, P | AVAIL | (u64{0x3ff} << 52)), true},
    {"NX", make(5, P), make(5, P | NX), true},
    {"US and G", make(5, P), make(5, P | US | G), true},
    {"RW on", make(5, P), make(5, P | RW), false},
    {"RW off", make(5, P | RW), make(5, P), false},
    {"other frame", make(5, P), make(6, P), false},
    {"cache attribute", make(5, P), make(5, P | PCD), false},
    {"superpage", make(5, P), make(5, P | PS), false},
    {"old not present", make(5, 0), make(5, P), false},
    {"new not present", make(5, P), make(5, 0), false},
};

TEST(PageTypeRules, FastPath) {
    for (const FastCase& c : FAST_CASES) EXPECT_EQ(fast_path(c.old_e, c.new_e), c.fast) << c.name;
}

TEST(PageTypeRules, AdjustForGuest) {
    // Kernel L1 mapping (no US): US and the guest-kernel marker, no G.
    EXPECT_EQ(adjust_for_guest(1, make(5, P | RW)), make(5, P | RW | US | GUEST_KERNEL));
    // User L1 mapping: G added.
    EXPECT_EQ(adjust_for_guest(1, make(5, P | US)), make(5, P | US | G));
    // Already marked kernel with US: unchanged.
    EXPECT_EQ(adjust_for_guest(1, make(5, P | US | GUEST_KERNEL)), make(5, P | US | GUEST_KERNEL));
    EXPECT_EQ(adjust_for_guest(2, make(5, P)), make(5, P | US));
    EXPECT_EQ(adjust_for_guest(3, make(5, P | RW)), make(5, P | RW | US));
    EXPECT_EQ(adjust_for_guest(4, make(5, P)), make(5, P | US | A));
    // Not present: untouched, whatever it holds.
    for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(adjust_for_guest(level, 0xdead0000u), 0xdead0000u);
}

TEST(PageTypeRules, MmioIsNeverCacheable) {
    // Xen's PAT: index (PAT,PCD,PWT) 0 WB, 1 WT, 2 UC-, 3 UC, 4 WC, 5 WP, 6 UC, 7 UC.
    const u64 UC = PWT | PCD;
    struct {
        u64 attrs, result;
    } cases[] = {
        {0, UC}, {PWT, UC}, {PCD, PCD}, {PWT | PCD, UC}, {PAT, PAT}, {PAT | PWT, UC},
        {PAT | PCD, PAT | PCD}, {PAT | PCD | PWT, PAT | PCD | PWT},
    };
    for (auto c : cases) EXPECT_EQ(mmio_uncacheable(make(9, P | RW | c.attrs)), make(9, P | RW | c.result)) << c.attrs;
}

TEST(PageTypeRules, HypervisorSlots) {
    EXPECT_FALSE(is_hypervisor_l4_slot(255));
    EXPECT_TRUE(is_hypervisor_l4_slot(256));
    EXPECT_TRUE(is_hypervisor_l4_slot(271));
    EXPECT_FALSE(is_hypervisor_l4_slot(272));
    // Derived from Xen's public layout, not retyped.
    EXPECT_EQ(FIRST_HYPERVISOR_L4_SLOT, (HYPERVISOR_VIRT_START >> 39) & 511);
    EXPECT_EQ(LAST_HYPERVISOR_L4_SLOT, ((HYPERVISOR_VIRT_END - 1) >> 39) & 511);
    EXPECT_TRUE(is_guest_slot(3, 256));
    EXPECT_FALSE(is_guest_slot(4, 256));
}

// Descriptors: (low word, high word) as the guest writes them.
u64 desc(pv::u32 lo, pv::u32 hi) { return pv::u64{hi} << 32 | lo; }

struct DescCase {
    const char* name;
    u64 in;
    bool ok;
    u64 out;  // the stored form when ok
};

constexpr pv::u32 PRESENT = 1u << 15;
constexpr pv::u32 dpl(unsigned n) { return n << 13; }
// A 64-bit call gate to selector sel, offset 0x1000, with DPL n.
constexpr pv::u32 gate_lo(pv::u32 sel) { return sel << 16 | 0x1000; }
constexpr pv::u32 GATE = 12u << 8;

const DescCase DESC_CASES[] = {
    {"not present, anything", desc(0xffffffff, 0xffff7fff), true, desc(0xffffffff, 0xffff7fff)},
    {"code DPL 0 becomes 3", desc(0x0000ffff, 0x00af9a00), true, desc(0x0000ffff, 0x00affa00)},
    {"data DPL 3 kept", desc(0x0000ffff, 0x00cff200), true, desc(0x0000ffff, 0x00cff200)},
    {"system type 0 (gate upper half)", desc(0x12345678, PRESENT), true, desc(0x12345678, PRESENT)},
    {"call gate, guest GDT selector", desc(gate_lo(0x0010), PRESENT | GATE | dpl(3)), true,
     desc(gate_lo(0x0013), PRESENT | GATE)},
    {"call gate, DPL 1 fixed to 3 in RPL", desc(gate_lo(0x0008), PRESENT | GATE | dpl(1)), true,
     desc(gate_lo(0x000b), PRESENT | GATE)},
    {"call gate, FLAT_KERNEL_CS", desc(gate_lo(FLAT_KERNEL_CS), PRESENT | GATE | dpl(3)), true,
     desc(gate_lo(FLAT_KERNEL_CS | 3), PRESENT | GATE)},
    {"call gate, LDT selector above the reserved GDT range", desc(gate_lo(0xe00c), PRESENT | GATE), true,
     desc(gate_lo(0xe00f), PRESENT | GATE)},
    {"call gate, hypervisor selector", desc(gate_lo(0xe008), PRESENT | GATE | dpl(3)), false, 0},
    {"call gate, reserved bits", desc(gate_lo(0x0010), PRESENT | GATE | dpl(3) | 0x01), false, 0},
    {"TSS", desc(0x00000067, PRESENT | (9u << 8)), false, 0},
    {"LDT descriptor", desc(0x00000067, PRESENT | (2u << 8)), false, 0},
    {"interrupt gate", desc(gate_lo(0x0010), PRESENT | (14u << 8) | dpl(3)), false, 0},
    {"trap gate", desc(gate_lo(0x0010), PRESENT | (15u << 8) | dpl(3)), false, 0},
};

TEST(PageTypeRules, Descriptors) {
    for (const DescCase& c : DESC_CASES) {
        u64 d = c.in;
        EXPECT_EQ(pv::desc::check_pv64(d), c.ok) << c.name;
        EXPECT_EQ(d, c.ok ? c.out : c.in) << c.name;
    }
    EXPECT_EQ(FIRST_RESERVED_GDT_ENTRY, 14u * 512);
}

}  // namespace
