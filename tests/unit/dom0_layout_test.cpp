// Domain 0's layout (core/dom0_layout.cpp) as Xen 4.17's dom0 builder computes it, with and
// without an INIT_P2M note: the bootstrap region, the first pfn after the bootstrap allocation,
// the frames the separate p2m and its page tables take, and the refusals.
#include "core/dom0_layout.hpp"

#include <gtest/gtest.h>

namespace {

using namespace pv;

constexpr u64 VIRT_BASE = 0xffffffff80000000ull;
constexpr u64 LINUX_P2M = 0x8000000000ull;  // Linux's INIT_P2M: L4 slot 1
constexpr u64 MEM_64M = 16384;              // pages

// A kernel of 0x13020 bytes at VIRT_BASE (pvtest's size in the user guide's log line).
XenGuestParams kernel(u64 p2m_base = XenGuestParams::UNSET, u64 virt_base = VIRT_BASE) {
    XenGuestParams p;
    p.virt_base = virt_base;
    p.virt_kstart = virt_base;
    p.virt_kend = virt_base + 0x13020;
    p.p2m_base = p2m_base;
    return p;
}

struct Outcome {
    bool ok;
    Dom0Layout l;
    Diagnostics d;
};

Outcome layout(const XenGuestParams& p, u64 nr_pages = MEM_64M, u64 initrd_len = 0) {
    Outcome o{};
    o.ok = dom0_compute_layout(p, initrd_len, nr_pages, o.l, o.d).ok();
    return o;
}

TEST(Dom0Layout, OrderFromBytes) {
    EXPECT_EQ(dom0_order_from_bytes(0), 0u);
    EXPECT_EQ(dom0_order_from_bytes(1), 0u);
    EXPECT_EQ(dom0_order_from_bytes(4096), 0u);
    EXPECT_EQ(dom0_order_from_bytes(4097), 1u);
    EXPECT_EQ(dom0_order_from_bytes(4u << 20), 10u);
    EXPECT_EQ(dom0_order_from_bytes((4u << 20) + 1), 11u);
}

// Without the note: the p2m in the region (the user guide's log: 5 tables, region to 4 MiB).
TEST(Dom0Layout, P2mInBootstrapRegion) {
    Outcome o = layout(kernel());
    ASSERT_TRUE(o.ok) << o.d.message(0);
    const Dom0Layout& l = o.l;
    EXPECT_FALSE(l.p2m_separate);
    EXPECT_EQ(l.p2m_start, VIRT_BASE + 0x14000);
    EXPECT_EQ(l.p2m_end, VIRT_BASE + 0x14000 + MEM_64M * 8);
    EXPECT_EQ(l.si_start, VIRT_BASE + 0x34000);
    EXPECT_EQ(l.pt_start, VIRT_BASE + 0x35000);
    EXPECT_EQ(l.nr_pt_pages, 5u);
    EXPECT_EQ(l.stack_end, VIRT_BASE + 0x3b000);
    EXPECT_EQ(l.v_end, VIRT_BASE + (4u << 20));
    EXPECT_EQ(l.alloc_pages, 1024u);
    EXPECT_EQ(l.first_p2m_pfn, 1024u);  // Xen reports it even without the note
    EXPECT_EQ(l.nr_p2m_frames, 0u);
}

// Linux's note: start_info follows the kernel directly; the p2m (32 pages) and a new L3, L2 and
// L1 (slot 1 of the L4 is empty) come after the 1024-page bootstrap allocation.
TEST(Dom0Layout, InitP2mAtLinuxAddress) {
    Outcome o = layout(kernel(LINUX_P2M));
    ASSERT_TRUE(o.ok) << o.d.message(0);
    const Dom0Layout& l = o.l;
    EXPECT_TRUE(l.p2m_separate);
    EXPECT_EQ(l.p2m_start, LINUX_P2M);
    EXPECT_EQ(l.p2m_end, LINUX_P2M + MEM_64M * 8);
    EXPECT_EQ(l.si_start, VIRT_BASE + 0x14000);
    EXPECT_EQ(l.pt_start, VIRT_BASE + 0x15000);
    EXPECT_EQ(l.nr_pt_pages, 5u);
    EXPECT_EQ(l.stack_start, VIRT_BASE + 0x1a000);
    EXPECT_EQ(l.v_end, VIRT_BASE + (4u << 20));
    EXPECT_EQ(l.first_p2m_pfn, 1024u);
    EXPECT_EQ(l.nr_p2m_frames, 32u + 3u);
}

// An unaligned base: the first page is partly used, and the list crosses a 2 MiB boundary, so a
// second L1 is needed: 33 pages and 4 tables.
TEST(Dom0Layout, InitP2mUnalignedAcross2MiB) {
    const u64 base = LINUX_P2M + (2u << 20) - 8 * 100;
    Outcome o = layout(kernel(base));
    ASSERT_TRUE(o.ok) << o.d.message(0);
    EXPECT_EQ(o.l.p2m_start, base);  // start_info.mfn_list keeps the byte address
    EXPECT_EQ(o.l.nr_p2m_frames, 33u + 4u);
}

// Tables the bootstrap mapping has are reused: below a region starting 2 MiB into a 1 GiB only an
// L1 is new; in the same 2 MiB (VIRT_BASE not 2 MiB aligned) not even that.
TEST(Dom0Layout, InitP2mReusesBootstrapTables) {
    Outcome same_gib = layout(kernel(VIRT_BASE, VIRT_BASE + (2u << 20)), MEM_64M);
    ASSERT_TRUE(same_gib.ok) << same_gib.d.message(0);
    EXPECT_EQ(same_gib.l.nr_p2m_frames, 32u + 1u);

    Outcome same_l1 = layout(kernel(VIRT_BASE, VIRT_BASE + 0x100000), MEM_64M);
    ASSERT_TRUE(same_l1.ok) << same_l1.d.message(0);
    EXPECT_EQ(same_l1.l.nr_p2m_frames, 32u);
}

// Xen's overlap test is inclusive: a p2m ending at VIRT_BASE, or starting at the region's end,
// is refused; a byte further is not.
TEST(Dom0Layout, InitP2mTouchingTheRegionIsRefused) {
    const u64 size = MEM_64M * 8;
    Outcome below = layout(kernel(VIRT_BASE + (2u << 20) - size, VIRT_BASE + (2u << 20)));
    EXPECT_FALSE(below.ok);
    EXPECT_TRUE(below.d.contains("overlaps the bootstrap region")) << below.d.message(0);

    Outcome at_end = layout(kernel(VIRT_BASE + (4u << 20)));
    EXPECT_FALSE(at_end.ok);
    EXPECT_TRUE(at_end.d.contains("INIT_P2M list 0xffffffff80400000-0xffffffff80420000 overlaps the bootstrap region 0xffffffff80000000-0xffffffff80400000"))
        << at_end.d.message(0);

    Outcome after = layout(kernel(VIRT_BASE + (4u << 20) + 8));
    EXPECT_TRUE(after.ok) << after.d.message(0);
}

// The note's start was checked by the ELF parser; the end depends on dom0_mem.
TEST(Dom0Layout, InitP2mLeavingTheGuestHalfIsRefused) {
    Outcome o = layout(kernel(0x00007ffffffff000ull));
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.d.contains("INIT_P2M list at 0x7ffffffff000, 131072 bytes, leaves the guest's address space"))
        << o.d.message(0);
}

// Xen checks before each p2m page that the rest of the list and three tables still fit:
// with a 1024-page bootstrap allocation and 3 p2m pages, 1032 pages are too few (the second
// page's check: 1024 + 4 taken + 2 left + 3 > 1032), 1033 are enough.
TEST(Dom0Layout, InitP2mNeedsRoomInTheAllocation) {
    Outcome small = layout(kernel(LINUX_P2M), 1032);
    EXPECT_FALSE(small.ok);
    EXPECT_TRUE(small.d.contains("dom0_mem (1032 pages) is too small for the INIT_P2M list 0x8000000000-0x8000002040")) << small.d.message(0);

    Outcome enough = layout(kernel(LINUX_P2M), 1033);
    ASSERT_TRUE(enough.ok) << enough.d.message(0);
    EXPECT_EQ(enough.l.nr_p2m_frames, 3u + 3u);
}

TEST(Dom0Layout, BootstrapAllocationTooSmall) {
    Outcome o = layout(kernel(), 1000);
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.d.contains("needs 1024 pages of dom0_mem, 1000 given")) << o.d.message(0);
}

TEST(Dom0Layout, BootstrapRegionInHypervisorRange) {
    Outcome o = layout(kernel(XenGuestParams::UNSET, HYPERVISOR_VIRT_START));
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.d.contains("overlaps the hypervisor")) << o.d.message(0);
}

// A mapped initrd is not part of the power-of-two allocation, but its pages come before the
// p2m's: 8 MiB region - 1281 initrd pages -> order 10; first_p2m_pfn = 1024 + 1281.
TEST(Dom0Layout, InitP2mAfterInitrd) {
    Outcome o = layout(kernel(LINUX_P2M), MEM_64M, (5u << 20) + 1);
    ASSERT_TRUE(o.ok) << o.d.message(0);
    EXPECT_EQ(o.l.initrd_start, VIRT_BASE + 0x14000);
    EXPECT_EQ(o.l.si_start, VIRT_BASE + 0x515000);
    EXPECT_EQ(o.l.nr_pt_pages, 7u);
    EXPECT_EQ(o.l.v_end, VIRT_BASE + (8u << 20));
    EXPECT_EQ(o.l.first_p2m_pfn, 1024u + 1281u);
    EXPECT_EQ(o.l.nr_p2m_frames, 35u);
}

}  // namespace
