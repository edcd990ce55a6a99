// The lazily mapped LDT's arch-neutral part: MMUEXT_SET_LDT's argument rule and the record of
// which frames back the LDT window, with their references.
#include <gtest/gtest.h>

#include <vector>

#include "core/pv_ldt.hpp"
#include "fake_mm_env.hpp"

namespace {

using namespace mmtest;
using pv::Errno;
namespace ldt = pv::ldt;

constexpr Owner DOM{1};
constexpr Owner OTHER{2};
constexpr Errno OK = static_cast<Errno>(0);
constexpr u64 DATA_DPL0 = 0x00cf92000000ffffull;
constexpr u64 DATA_DPL3 = 0x00cff2000000ffffull;
constexpr u64 TSS64 = 0x0000890000000067ull;

Errno err(const pv::Result<void>& r) { return r ? OK : r.error(); }

Errno set_ldt(u64 base, u64 ents, u64* out) { return err(ldt::check_set_ldt(base, ents, out)); }

TEST(SetLdt, XensArgumentRule) {
    u64 base = 1;
    EXPECT_EQ(set_ldt(0x10000, 8192, &base), OK);
    EXPECT_EQ(base, 0x10000u);
    EXPECT_EQ(set_ldt(0x10000, 8193, &base), XEN_EINVAL);
    EXPECT_EQ(set_ldt(0x10008, 1, &base), XEN_EINVAL);
    // Only the base is checked: the top page of the lower half with a full LDT is fine.
    EXPECT_EQ(set_ldt(0x00007ffffffff000, 8192, &base), OK);
    EXPECT_EQ(set_ldt(0x0000800000000000, 1, &base), XEN_EINVAL);       // non-canonical
    EXPECT_EQ(set_ldt(0xffff830000000000, 1, &base), XEN_EINVAL);       // the hypervisor's
    EXPECT_EQ(set_ldt(0xffff880000000000, 1, &base), OK);                   // above it: the guest's
    EXPECT_EQ(set_ldt(0xfffffffffffff000, 8192, &base), OK);
    // No entries: the base is ignored and recorded as 0.
    base = 1;
    EXPECT_EQ(set_ldt(0xffff830000000008, 0, &base), OK);
    EXPECT_EQ(base, 0u);
}

class LdtShadow : public ::testing::Test {
protected:
    void own(std::initializer_list<u64> mfns, Owner d = DOM) {
        for (u64 m : mfns) ASSERT_TRUE(mmu.assign(m, d)) << m;
    }
    u64 count(u64 m) { return count_of(env, m); }
    u64 tcount(u64 m) { return pv::pgt::count(type_info_of(env, m)); }
    PageType type(u64 m) { return pv::pgt::type(type_info_of(env, m)); }

    FakeMm env;
    Mmu mmu{env};
    ldt::Shadow shadow;
    std::vector<unsigned> unmapped;
    unsigned destroy() {
        return shadow.destroy(mmu, [this](unsigned p) { unmapped.push_back(p); });
    }
};

TEST_F(LdtShadow, MapTypesTheFrameAndFixesItsDescriptors) {
    own({10});
    env.table(10)[0] = DATA_DPL0;
    ASSERT_EQ(err(shadow.map(mmu, DOM, 3, 10)), OK);
    EXPECT_EQ(shadow.frame(3), 10u);
    EXPECT_EQ(shadow.mapped(), 1u);
    EXPECT_EQ(type(10), PageType::seg_desc);
    EXPECT_EQ(tcount(10), 1u);
    EXPECT_EQ(count(10), 2u);
    EXPECT_EQ(env.table(10)[0], DATA_DPL3);  // DPL raised in the frame itself
    // In use: the frame cannot become writable.
    EXPECT_FALSE(mmu.get_page_and_type(10, DOM, PageType::writable));
    EXPECT_EQ(audit(env, {{10, 1}}, {{10, 1}}), "");  // the shadow's references
}

TEST_F(LdtShadow, RefusedFramesLeaveNothingBehind) {
    own({10, 11, 12});
    own({20}, OTHER);
    env.table(11)[5] = TSS64;
    ASSERT_TRUE(mmu.get_page_and_type(12, DOM, PageType::writable));  // a writable mapping exists

    EXPECT_EQ(err(shadow.map(mmu, DOM, 0, 11)), XEN_EINVAL);  // a refused descriptor
    EXPECT_NE(err(shadow.map(mmu, DOM, 0, 12)), OK);              // busy as writable
    EXPECT_EQ(err(shadow.map(mmu, DOM, 0, 20)), XEN_EINVAL);  // another domain's
    EXPECT_EQ(err(shadow.map(mmu, DOM, 0, FIRST_HOLE)), XEN_EINVAL);  // not RAM
    EXPECT_EQ(err(shadow.map(mmu, DOM, ldt::WINDOW_PAGES, 10)), XEN_EINVAL);  // no such page
    EXPECT_EQ(shadow.mapped(), 0u);
    EXPECT_EQ(count(11), 1u);
    EXPECT_EQ(tcount(11), 0u);
    EXPECT_EQ(count(20), 1u);
    EXPECT_EQ(count(10), 1u);
    mmu.put_page_and_type(12);
    EXPECT_EQ(audit(env), "");
}

TEST_F(LdtShadow, DestroyDropsEveryReference) {
    own({10, 11});
    ASSERT_TRUE(shadow.map(mmu, DOM, 0, 10));
    ASSERT_TRUE(shadow.map(mmu, DOM, 15, 11));
    ASSERT_TRUE(shadow.map(mmu, DOM, 7, 10));  // the same frame in two pages: two references
    EXPECT_EQ(tcount(10), 2u);

    EXPECT_EQ(destroy(), 3u);
    EXPECT_EQ(unmapped, (std::vector<unsigned>{0, 7, 15}));
    EXPECT_EQ(shadow.mapped(), 0u);
    EXPECT_EQ(count(10), 1u);
    EXPECT_EQ(tcount(10), 0u);
    EXPECT_EQ(count(11), 1u);
    // The frames may be writable again.
    EXPECT_TRUE(mmu.get_page_and_type(10, DOM, PageType::writable));
    mmu.put_page_and_type(10);
    EXPECT_EQ(destroy(), 0u);  // nothing left: nothing to flush
    EXPECT_EQ(audit(env), "");
}

TEST_F(LdtShadow, RemappingAPageReleasesTheOldFrame) {
    own({10, 11});
    ASSERT_TRUE(shadow.map(mmu, DOM, 2, 10));
    ASSERT_TRUE(shadow.map(mmu, DOM, 2, 11));
    EXPECT_EQ(shadow.frame(2), 11u);
    EXPECT_EQ(tcount(10), 0u);
    EXPECT_EQ(count(10), 1u);
    EXPECT_EQ(tcount(11), 1u);
    // A refused remap keeps the old frame.
    env.table(10)[1] = TSS64;
    ASSERT_TRUE(mmu.get_page_and_type(10, DOM, PageType::writable));  // drops VALIDATED
    mmu.put_page_and_type(10);
    EXPECT_FALSE(shadow.map(mmu, DOM, 2, 10));
    EXPECT_EQ(shadow.frame(2), 11u);
    EXPECT_EQ(destroy(), 1u);
    EXPECT_EQ(audit(env), "");
}

}  // namespace
