// guest/lib/builder/own_memory.cpp on the host: domain 0's spare frames mapped past its bootstrap
// region, against a model of its page tables (the L2 that maps the region, L1 tables by mfn)
// that checks what the guest would ask of Xen: an L1 frame cleared before it is entered into
// the L2, entries written by mmu_update at their machine addresses.
#include "guest/lib/builder/own_memory.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

namespace {

using namespace pvb;

constexpr u64 VIRT_BASE = 0xffffffff80000000ull;
constexpr u64 L2_MADDR = 0x7770000ull << PAGE_SHIFT;  // where the model's L2 table lives
constexpr u64 MFN_BIAS = 0x100000;                    // mfn = bias + nr_pages - 1 - pfn

class ModelTables final : public OwnTables {
public:
    // A domain of nr_pages whose bootstrap region maps its first region_pages pfns.
    ModelTables(u64 nr_pages, u64 region_pages) : p2m(nr_pages) {
        for (u64 pfn = 0; pfn < nr_pages; ++pfn) p2m[pfn] = MFN_BIAS + nr_pages - 1 - pfn;
        for (u64 pfn = 0; pfn < region_pages; ++pfn) {
            const u64 va = VIRT_BASE + pfn * PAGE_SIZE;
            const u64 l1 = BOOT_L1 + (pfn >> 9);
            l2[l2_index(va)] = (l1 << PAGE_SHIFT) | PTE_P | PTE_RW;
            l1s[l1][pfn & 511] = (p2m[pfn] << PAGE_SHIFT) | PTE_P | PTE_RW;
        }
    }
    Result<OwnPte> pte(u64 va, int level) override {
        const u64 e2 = l2[l2_index(va)];
        if (level == 1) return OwnPte{L2_MADDR + l2_index(va) * 8, e2};
        EXPECT_EQ(level, 0);
        if (!(e2 & PTE_P)) return pv::error(XEN_EFAULT);
        const u64 l1 = (e2 & PTE_ADDR) >> PAGE_SHIFT;
        const u64 idx = (va >> PAGE_SHIFT) & 511;
        return OwnPte{(l1 << PAGE_SHIFT) + idx * 8, l1s[l1][idx]};
    }
    Result<void> clear(u64 mfn, pv::Diagnostics&) override {
        cleared.insert(mfn);
        return pv::ok();
    }
    Result<void> update(const mmu_update_t* reqs, unsigned n, pv::Diagnostics&) override {
        ++calls;
        for (unsigned i = 0; i < n; ++i) {
            EXPECT_EQ(reqs[i].ptr & 7, u64{MMU_NORMAL_PT_UPDATE});
            const u64 maddr = reqs[i].ptr & ~u64{7};
            if ((maddr & ~u64{PAGE_SIZE - 1}) == L2_MADDR) {
                const u64 l1 = (reqs[i].val & PTE_ADDR) >> PAGE_SHIFT;
                EXPECT_TRUE(cleared.count(l1)) << "an L1 entered into the L2 before it was cleared";
                l2[(maddr & (PAGE_SIZE - 1)) / 8] = reqs[i].val;
            } else {
                const u64 l1 = maddr >> PAGE_SHIFT;
                EXPECT_TRUE(cleared.count(l1)) << "an entry written into a frame that is no cleared L1";
                l1s[l1][(maddr & (PAGE_SIZE - 1)) / 8] = reqs[i].val;
            }
        }
        return pv::ok();
    }
    static u64 l2_index(u64 va) { return (va >> 21) & 511; }
    // The pfn the model maps at `va`, or ~0 when nothing does.
    u64 pfn_at(u64 va) {
        Result<OwnPte> e = pte(va, 0);
        if (!e || !(e->value & PTE_P)) return ~u64{0};
        return p2m.size() - 1 - (((e->value & PTE_ADDR) >> PAGE_SHIFT) - MFN_BIAS);
    }

    static constexpr u64 BOOT_L1 = 0x5550000;  // mfns of the region's own L1 tables
    std::vector<unsigned long> p2m;
    std::map<u64, u64> l2;
    std::map<u64, std::map<u64, u64>> l1s;
    std::set<u64> cleared;
    unsigned calls = 0;
};

// Domain 0's start_info for the model: the page tables' last frame at region_pages - 130 (a
// boot stack and 512 KiB of padding follow, as the start-of-day rules say).
start_info_t start_info(const ModelTables& m, u64 region_pages) {
    start_info_t si{};
    si.nr_pages = m.p2m.size();
    si.mfn_list = reinterpret_cast<uptr>(m.p2m.data());
    si.pt_base = VIRT_BASE + (region_pages - 140) * PAGE_SIZE;
    si.nr_pt_frames = 10;
    return si;
}

// A 64 MiB domain 0 whose bootstrap region is 8 MiB (2048 pages), and its OwnMemory.
struct Dom0 {
    static constexpr u64 PAGES = 16384, REGION = 2048;
    ModelTables m{PAGES, REGION};
    start_info_t si = start_info(m, REGION);
    OwnMemory own{&si, VIRT_BASE, m};
    pv::Diagnostics d;
};

TEST(OwnMemory, MapsSpareFramesPastTheBootstrapRegion) {
    Dom0 z;
    auto& [m, si, own, d] = z;
    constexpr u64 REGION = Dom0::REGION;
    Result<u8*> p = own.reserve(3 * MiB, d);
    ASSERT_TRUE(p.ok()) << d.message(0);
    EXPECT_EQ(reinterpret_cast<uptr>(*p), VIRT_BASE + 8 * MiB);
    // Two chunks: each an L1 (the first free pfn) and the 512 pfns after it, in order.
    for (u64 chunk = 0; chunk < 2; ++chunk) {
        const u64 va = VIRT_BASE + 8 * MiB + chunk * OwnMemory::CHUNK;
        const u64 l1_pfn = REGION + chunk * 513;
        EXPECT_EQ((m.l2[ModelTables::l2_index(va)] & PTE_ADDR) >> PAGE_SHIFT, m.p2m[l1_pfn]);
        EXPECT_EQ(m.l2[ModelTables::l2_index(va)] & ~PTE_ADDR, UPPER_PROT);
        for (u64 i = 0; i < 512; i += 97) EXPECT_EQ(m.pfn_at(va + i * PAGE_SIZE), l1_pfn + 1 + i);
        EXPECT_EQ(m.pfn_at(va + 511 * PAGE_SIZE), l1_pfn + 512);
    }
    EXPECT_EQ(m.pfn_at(VIRT_BASE + 12 * MiB), ~u64{0});
    EXPECT_EQ(m.cleared.size(), 2u);
    // What is mapped serves later requests: nothing more is asked of Xen.
    const unsigned calls = m.calls;
    Result<u8*> again = own.reserve(4 * MiB, d);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *p);
    EXPECT_EQ(m.calls, calls);
}

TEST(OwnMemory, RefusesWhatDoesNotFitBeforeMappingAnything) {
    Dom0 z;
    auto& [m, si, own, d] = z;
    // (16384 - 2048) / 513 = 27 chunks of 2 MiB.
    Result<u8*> p = own.reserve(60 * MiB, d);
    EXPECT_EQ(p.error(), XEN_ENOMEM);
    EXPECT_TRUE(d.contains("domain 0 has 54 MiB of spare memory for the 60 MiB needed")) << d.message(0);
    EXPECT_EQ(m.calls, 0u);
    EXPECT_TRUE(own.reserve(54 * MiB, d).ok());
    EXPECT_EQ(m.calls, 27u * (1 + 512 / 64));
}

TEST(OwnMemory, SkipsAnUnmappedModuleAndRoundsToAChunk) {
    constexpr u64 PAGES = 8192, REGION = 1280;  // a 5 MiB region: the area starts at 6 MiB
    ModelTables m(PAGES, REGION);
    start_info_t si = start_info(m, REGION);
    si.flags = SIF_MOD_START_PFN;
    si.mod_start = REGION;
    si.mod_len = 100 * PAGE_SIZE + 1;  // 101 pages
    OwnMemory own(&si, VIRT_BASE, m);
    pv::Diagnostics d;
    Result<u8*> p = own.reserve(1, d);
    ASSERT_TRUE(p.ok()) << d.message(0);
    EXPECT_EQ(reinterpret_cast<uptr>(*p), VIRT_BASE + 6 * MiB);
    EXPECT_EQ(m.pfn_at(VIRT_BASE + 6 * MiB), REGION + 101 + 1);
}

// Taken blocks stay: the scratch starts above them, and what was taken counts against it.
TEST(OwnMemory, TakenMemoryIsNeverReserved) {
    Dom0 z;
    auto& [m, si, own, d] = z;
    Result<u8*> scratch = own.reserve(MiB, d);
    Result<u8*> a = own.take(100, d), b = own.take(PAGE_SIZE + 1, d);
    ASSERT_TRUE(scratch.ok() && a.ok() && b.ok()) << d.message(0);
    EXPECT_EQ(*a, *scratch);  // the scratch was not in use
    EXPECT_EQ(*b, *a + PAGE_SIZE);
    Result<u8*> again = own.reserve(MiB, d);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *b + 2 * PAGE_SIZE);
    EXPECT_EQ(own.reserve(54 * MiB, d).error(), XEN_ENOMEM);
    EXPECT_TRUE(d.contains("domain 0 has 53 MiB of spare memory for the 54 MiB needed")) << d.message(0);
}

}  // namespace
