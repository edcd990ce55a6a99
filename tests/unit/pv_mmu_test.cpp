// The PV MMU operations: entry updates (mmu_update), root tables, descriptor updates, and giving
// frames back, down to a whole domain's death.
#include <gtest/gtest.h>

#include <initializer_list>
#include <map>

#include "core/buddy.hpp"
#include "fake_mm_env.hpp"

namespace {

using namespace mmtest;
using namespace pv::pte;
using pv::Errno;
using pv::pgt::VALIDATED;

constexpr Owner DOM{1};
constexpr Owner OTHER{2};
constexpr Errno OK = static_cast<Errno>(0);

Errno err(const pv::Result<void>& r) { return r ? OK : r.error(); }

class PageTypeOps : public ::testing::Test {
protected:
    void own(std::initializer_list<u64> mfns, Owner d = DOM) {
        for (u64 m : mfns) ASSERT_TRUE(mmu.assign(m, d)) << m;
    }
    u64* tab(u64 m) { return env.table(m); }
    u64 count(u64 m) { return count_of(env, m); }
    u64 tcount(u64 m) { return pv::pgt::count(type_info_of(env, m)); }
    PageType type(u64 m) { return pv::pgt::type(type_info_of(env, m)); }
    bool validated(u64 m) { return type_info_of(env, m) & VALIDATED; }
    Errno update(u64 t, unsigned i, u64 v, bool preserve_ad = false, Owner d = DOM) {
        return err(mmu.update_entry(d, t, i, v, preserve_ad));
    }

    FakeMm env;
    Mmu mmu{env};
};

// ---------------------------------------------------------------------------------------------
// update_entry

TEST_F(PageTypeOps, L1UpdateMovesReferences) {
    own({10, 20, 21});
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));

    ASSERT_EQ(update(10, 3, make(20, P | RW)), OK);  // map 20 writable
    EXPECT_EQ(tab(10)[3], make(20, P | RW | US | GUEST_KERNEL));
    EXPECT_EQ(count(20), 2u);
    EXPECT_EQ(tcount(20), 1u);
    EXPECT_EQ(type(20), PageType::writable);

    ASSERT_EQ(update(10, 3, make(21, P)), OK);  // remap to 21 read-only: 20's references go
    EXPECT_EQ(count(20), 1u);
    EXPECT_EQ(tcount(20), 0u);
    EXPECT_EQ(count(21), 2u);
    EXPECT_EQ(tcount(21), 0u);
    EXPECT_EQ(audit(env), "");

    ASSERT_EQ(update(10, 3, 0xabc000), OK);  // not present: stored as is, 21's reference goes
    EXPECT_EQ(tab(10)[3], 0xabc000u);
    EXPECT_EQ(count(21), 1u);
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeOps, FastPathMovesNothing) {
    own({10, 20});
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    ASSERT_EQ(update(10, 3, make(20, P | RW)), OK);
    u64 flushes = env.flushes;
    // Dirty, accessed, available bits, NX: no references move, the new value is stored.
    ASSERT_EQ(update(10, 3, make(20, P | RW | A | D | AVAIL | NX)), OK);
    EXPECT_EQ(tab(10)[3], make(20, P | RW | A | D | AVAIL | NX | US | GUEST_KERNEL));
    EXPECT_EQ(count(20), 2u);
    EXPECT_EQ(tcount(20), 1u);
    EXPECT_EQ(env.flushes, flushes);
    // Dropping RW is not such a change: the writable reference goes.
    ASSERT_EQ(update(10, 3, make(20, P | A)), OK);
    EXPECT_EQ(count(20), 2u);
    EXPECT_EQ(tcount(20), 0u);
    // A disallowed bit is refused even where nothing else changes.
    EXPECT_EQ(update(10, 3, make(20, P | A | PCD)), XEN_EINVAL);
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeOps, PreserveAccessedDirty) {
    own({10, 20});
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    ASSERT_EQ(update(10, 3, make(20, P | RW)), OK);
    tab(10)[3] |= A | D;  // the hardware used the mapping
    ASSERT_EQ(update(10, 3, make(20, P | RW | AVAIL), true), OK);
    EXPECT_EQ(tab(10)[3] & (A | D), A | D);
    ASSERT_EQ(update(10, 3, make(20, P | RW | AVAIL), false), OK);
    EXPECT_EQ(tab(10)[3] & (A | D), 0u);
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeOps, RefusedUpdateChangesNothing) {
    own({10, 20, 30});
    own({21}, OTHER);
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 30));
    ASSERT_EQ(update(10, 3, make(20, P | RW)), OK);
    const u64 stored = tab(10)[3];
    struct {
        const char* name;
        u64 val;
        Errno want;
    } cases[] = {
        {"another domain's frame", make(21, P), XEN_EBUSY},
        {"writable mapping of a page table", make(30, P | RW), XEN_EBUSY},
        {"grant bit", make(20, P | GNTTAB), XEN_EINVAL},
        {"cache attribute", make(20, P | PAT), XEN_EINVAL},
        {"MMIO", make(62, P), XEN_EPERM},
    };
    for (auto& c : cases) {
        EXPECT_EQ(update(10, 3, c.val), c.want) << c.name;
        EXPECT_EQ(tab(10)[3], stored) << c.name;
        EXPECT_EQ(count(20), 2u) << c.name;
        EXPECT_EQ(tcount(20), 1u) << c.name;
    }
    EXPECT_EQ(update(10, 512, 0), XEN_EINVAL);
    EXPECT_EQ(update(10, 3, 0, false, OTHER), XEN_EINVAL);  // not OTHER's table
    EXPECT_EQ(update(21, 3, 0), XEN_EINVAL);                // not DOM's page
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeOps, NewReferenceBeforeOldIsDropped) {
    // 20 is referenced only by the entry (its allocation reference was given back): rewriting
    // the entry to the same frame must not let it fall to zero in between.
    own({10, 20});
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    ASSERT_EQ(update(10, 3, make(20, P | RW)), OK);
    ASSERT_TRUE(mmu.release(DOM, 20));
    EXPECT_EQ(count(20), 1u);
    ASSERT_EQ(update(10, 3, make(20, P)), OK);       // RW -> RO, the slow path
    ASSERT_EQ(update(10, 3, make(20, P | RW)), OK);  // and back
    EXPECT_EQ(env.freed[20], 0);
    EXPECT_EQ(count(20), 1u);
    ASSERT_EQ(update(10, 3, 0), OK);
    EXPECT_EQ(env.freed[20], 1);  // the last reference went with the entry
}

TEST_F(PageTypeOps, UpperLevelUpdates) {
    own({12, 13, 14, 15, 20});
    tab(14)[0] = make(20, P | RW);
    ASSERT_TRUE(mmu.pin_table(DOM, 2, 12));
    ASSERT_EQ(update(12, 1, make(14, P | RW)), OK);  // validates 14 as an L1
    EXPECT_EQ(type(14), PageType::l1);
    EXPECT_TRUE(validated(14));
    EXPECT_EQ(tcount(20), 1u);
    EXPECT_EQ(update(12, 2, make(12, P)), XEN_EINVAL);        // linear self-map
    EXPECT_EQ(update(12, 2, make(13, P | PS)), XEN_EINVAL);   // superpage
    ASSERT_EQ(update(12, 1, make(13, P | RW)), OK);           // 14 replaced by 13
    EXPECT_EQ(tcount(14), 0u);
    EXPECT_FALSE(validated(14));
    EXPECT_EQ(tcount(20), 0u);  // 14's devalidation dropped its mapping
    EXPECT_EQ(audit(env), "");

    // L4: the hypervisor's slots cannot be written.
    ASSERT_TRUE(mmu.pin_table(DOM, 4, 15));
    EXPECT_EQ(update(15, 256, 0), XEN_EINVAL);
    EXPECT_EQ(update(15, 271, make(13, P)), XEN_EINVAL);
    EXPECT_EQ(tab(15)[256], make(HV_SLOT_TARGET, P | RW));
    ASSERT_EQ(update(15, 255, make(14, P | RW)), OK);  // 14 as an L3 now (it was untyped)
    EXPECT_EQ(type(14), PageType::l3);
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeOps, PlainPagesAreStores) {
    own({10, 11, 12});
    // A page in no use: becomes writable for the store, and is left untyped-in-use.
    ASSERT_EQ(update(10, 5, 0x1234), OK);
    EXPECT_EQ(tab(10)[5], 0x1234u);
    EXPECT_EQ(type(10), PageType::writable);
    EXPECT_EQ(tcount(10), 0u);
    // A page mapped writable: a store under its existing type.
    ASSERT_TRUE(mmu.get_page_and_type(10, DOM, PageType::writable));
    ASSERT_EQ(update(10, 6, make(11, P | PS | PCD)), OK);  // no rules: it is not a table
    EXPECT_EQ(tab(10)[6], make(11, P | PS | PCD));
    mmu.put_page_and_type(10);
    // A page table nobody references any more is a plain page again.
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 11));
    ASSERT_TRUE(mmu.unpin_table(DOM, 11));
    ASSERT_EQ(update(11, 0, 0x5678), OK);
    EXPECT_EQ(type(11), PageType::writable);
    // A descriptor frame in use is neither.
    ASSERT_TRUE(mmu.get_page_and_type(12, DOM, PageType::seg_desc));
    EXPECT_EQ(update(12, 0, 0), XEN_EINVAL);
    mmu.put_page_and_type(12);
    EXPECT_EQ(audit(env), "");
}

// ---------------------------------------------------------------------------------------------
// Root tables and descriptors

TEST_F(PageTypeOps, NewBaseptr) {
    own({40, 41, 42});
    own({43}, OTHER);
    auto r = mmu.new_baseptr(DOM, 0, 40);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 0u);  // nothing to drop
    EXPECT_EQ(type(40), PageType::l4);
    EXPECT_EQ(tcount(40), 1u);
    EXPECT_EQ(count(40), 2u);
    EXPECT_EQ(audit(env, {{40, 1}}, {{40, 1}}), "");

    auto same = mmu.new_baseptr(DOM, 40, 40);
    ASSERT_TRUE(same);
    EXPECT_EQ(*same, 0u);
    EXPECT_EQ(tcount(40), 1u);

    auto bad = mmu.new_baseptr(DOM, 40, 43);  // OTHER's
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), XEN_EINVAL);
    ASSERT_TRUE(mmu.get_page_and_type(42, DOM, PageType::writable));
    EXPECT_FALSE(mmu.new_baseptr(DOM, 40, 42));  // writable, cannot be an L4
    mmu.put_page_and_type(42);

    auto next = mmu.new_baseptr(DOM, 40, 41);
    ASSERT_TRUE(next);
    EXPECT_EQ(*next, 40u);  // the caller drops 40 once no CPU runs on it
    EXPECT_EQ(tcount(40), 1u);
    mmu.put_baseptr(*next);
    EXPECT_EQ(tcount(40), 0u);
    EXPECT_FALSE(validated(40));
    mmu.put_baseptr(0);
    auto none = mmu.new_baseptr(DOM, 41, 0);  // back to no table
    ASSERT_TRUE(none);
    mmu.put_baseptr(*none);
    EXPECT_EQ(tcount(41), 0u);
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeOps, UpdateDescriptor) {
    own({10, 11, 12});
    const u64 code_dpl0 = 0x00af9a000000ffffull, code_dpl3 = 0x00affa000000ffffull;
    // A plain page: written as writable.
    ASSERT_TRUE(mmu.update_descriptor(DOM, 10, 4, code_dpl0));
    EXPECT_EQ(tab(10)[4], code_dpl3);
    EXPECT_EQ(type(10), PageType::writable);
    // A descriptor frame in use keeps its type.
    ASSERT_TRUE(mmu.get_page_and_type(11, DOM, PageType::seg_desc));
    ASSERT_TRUE(mmu.update_descriptor(DOM, 11, 511, code_dpl0));
    EXPECT_EQ(tab(11)[511], code_dpl3);
    EXPECT_EQ(type(11), PageType::seg_desc);
    EXPECT_EQ(tcount(11), 1u);
    // Refused: a bad descriptor, a bad index, a page table, another domain's frame.
    EXPECT_EQ(err(mmu.update_descriptor(DOM, 11, 0, 0x00008c00e0081000ull)), XEN_EINVAL);
    EXPECT_EQ(tab(11)[0], 0u);
    EXPECT_EQ(err(mmu.update_descriptor(DOM, 11, 512, 0)), XEN_EINVAL);
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 12));
    EXPECT_EQ(err(mmu.update_descriptor(DOM, 12, 0, code_dpl0)), XEN_EINVAL);
    EXPECT_EQ(err(mmu.update_descriptor(OTHER, 10, 0, code_dpl0)), XEN_EINVAL);
    // A GDT frame cannot be mapped writable, nor become a GDT frame while it is.
    tab(12)[0] = 0;
    ASSERT_EQ(update(12, 0, make(11, P | RW)), XEN_EBUSY);
    mmu.put_page_and_type(11);
    ASSERT_EQ(update(12, 0, make(11, P | RW)), OK);
    EXPECT_EQ(err(mmu.get_page_and_type(11, DOM, PageType::seg_desc)), XEN_EINVAL);
    ASSERT_EQ(update(12, 0, 0), OK);
    EXPECT_EQ(audit(env), "");
}

// ---------------------------------------------------------------------------------------------
// Domain death

class PageTypeDestroy : public PageTypeOps {
protected:
    static constexpr u64 FIRST = 40, LAST = 51;

    // DOM's memory: a pinned L4 tree that is also a vCPU's root, in which an L1 maps its own L2 and
    // the L4 read-only (cycles of general references); a separately pinned L1 mapping itself; a
    // GDT frame; data mapped RW and RO; frames in no use.  OTHER has a pinned table of its own.
    void build() {
        for (u64 m = FIRST; m <= LAST; ++m) own({m});
        own({55, 56}, OTHER);
        tab(40)[0] = make(41, P | RW);
        tab(41)[0] = make(42, P | RW);
        tab(42)[0] = make(43, P | RW);
        tab(42)[1] = make(44, P | RW);
        tab(43)[0] = make(45, P | RW);
        tab(43)[1] = make(42, P);
        tab(43)[2] = make(40, P);
        tab(44)[0] = make(45, P | RW);
        tab(44)[1] = make(46, P);
        tab(50)[0] = make(46, P | RW);
        tab(50)[1] = make(50, P);
        tab(55)[0] = make(56, P | RW);
        ASSERT_TRUE(mmu.pin_table(DOM, 4, 40));
        ASSERT_TRUE(mmu.pin_table(DOM, 1, 50));
        auto root = mmu.new_baseptr(DOM, 0, 40);
        ASSERT_TRUE(root);
        ASSERT_TRUE(mmu.get_page_and_type(47, DOM, PageType::seg_desc));  // a GDT slot
        ASSERT_TRUE(mmu.pin_table(OTHER, 2, 55));
        ASSERT_EQ(audit(env, {{40, 1}, {47, 1}}, {{40, 1}, {47, 1}}), "");
    }
    void expect_others_untouched() {
        EXPECT_EQ(count(55), 2u);
        EXPECT_EQ(count(56), 2u);
        EXPECT_EQ(env.freed[55], 0);
        EXPECT_EQ(env.freed[56], 0);
    }
};

TEST_F(PageTypeDestroy, EveryFrameFreedExactlyOnce) {
    build();
    // The vCPUs go first: their root and GDT references.
    mmu.put_baseptr(40);
    mmu.put_page_and_type(47);
    EXPECT_EQ(mmu.relinquish(DOM, 0, NR), LAST - FIRST + 1);
    for (u64 m = FIRST; m <= LAST; ++m) {
        EXPECT_EQ(env.freed[m], 1) << m;
        EXPECT_EQ(env.freed_owner[m], static_cast<unsigned>(DOM)) << m;
        EXPECT_EQ(count(m), 0u) << m;
    }
    for (u64 m = 0; m < FIRST; ++m) EXPECT_EQ(env.freed[m], 0) << m;
    expect_others_untouched();
    EXPECT_EQ(audit(env), "");
    EXPECT_EQ(mmu.relinquish(DOM, 0, NR), 0u);  // nothing left of DOM's
}

TEST_F(PageTypeDestroy, RemainingReferencesKeepFramesAlive) {
    build();
    ASSERT_TRUE(mmu.get_page(49, DOM));  // a reference the hypervisor still holds
    // Relinquish while a vCPU still runs on the tree and still has its GDT frame.
    EXPECT_EQ(mmu.relinquish(DOM, 0, NR), LAST - FIRST + 1);
    for (u64 m : {48u, 50u, 51u}) EXPECT_EQ(env.freed[m], 1) << m;
    for (u64 m : {40u, 41u, 42u, 43u, 44u, 45u, 46u, 47u, 49u}) EXPECT_EQ(env.freed[m], 0) << m;
    EXPECT_EQ(env.freed[46], 0);  // still mapped by 44, under the root
    EXPECT_EQ(audit(env, {{40, 1}, {47, 1}, {49, 1}}, {{40, 1}, {47, 1}}), "");

    mmu.put_baseptr(40);  // the tree goes with its last root
    for (u64 m = 40; m <= 46; ++m) EXPECT_EQ(env.freed[m], 1) << m;
    mmu.put_page_and_type(47);
    EXPECT_EQ(env.freed[47], 1);
    EXPECT_EQ(env.freed[49], 0);
    mmu.put_page(49);
    for (u64 m = FIRST; m <= LAST; ++m) {
        EXPECT_EQ(env.freed[m], 1) << m;
        EXPECT_EQ(count(m), 0u) << m;
    }
    expect_others_untouched();
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeDestroy, ReleaseOneFrame) {
    build();
    EXPECT_EQ(err(mmu.release(OTHER, 50)), XEN_EINVAL);
    ASSERT_TRUE(mmu.release(DOM, 50));  // ballooned out: its pin goes too
    EXPECT_EQ(env.freed[50], 1);
    EXPECT_EQ(tcount(46), 0u);        // its writable mapping of 46 went with it
    EXPECT_EQ(env.freed[46], 0);
    EXPECT_EQ(err(mmu.release(DOM, 50)), XEN_EINVAL);
    mmu.put_baseptr(40);
    mmu.put_page_and_type(47);
    EXPECT_EQ(mmu.relinquish(DOM, 0, NR), LAST - FIRST);
    for (u64 m = FIRST; m <= LAST; ++m) EXPECT_EQ(env.freed[m], 1) << m;
}

// XENMEM_exchange's take_away: only a frame nothing but its allocation holds leaves its owner;
// given back it is the owner's again, put it is freed.
TEST_F(PageTypeOps, TakeAwayOnlyAnUnusedFrame) {
    own({10, 20, 21, 22});
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    ASSERT_EQ(update(10, 0, make(20, P)), OK);  // 20 is mapped
    EXPECT_EQ(err(mmu.take_away(DOM, 20)), XEN_EINVAL);
    EXPECT_EQ(count(20), 2u);
    EXPECT_EQ(err(mmu.take_away(OTHER, 21)), XEN_EINVAL);  // not OTHER's
    EXPECT_EQ(err(mmu.take_away(DOM, 10)), XEN_EINVAL);    // a pinned table
    EXPECT_EQ(count(21), 1u);

    ASSERT_TRUE(mmu.take_away(DOM, 21));
    EXPECT_EQ(env.frames[21].count_info.load(), 1u);  // the caller's reference, no allocation
    mmu.give_back(21);
    EXPECT_EQ(env.frames[21].count_info.load(), pv::pgc::ALLOCATED | 1);
    EXPECT_EQ(env.freed[21], 0);

    ASSERT_TRUE(mmu.take_away(DOM, 22));
    mmu.put_taken(22);
    EXPECT_EQ(env.freed[22], 1);
    EXPECT_EQ(err(mmu.take_away(DOM, 22)), XEN_EINVAL);  // gone
    EXPECT_EQ(audit(env), "");
}

// ---------------------------------------------------------------------------------------------
// With the real frame allocator: frames come from the buddy, live as a domain's page tables and
// data (the frame record's union now holding the MMU's fields), and go back through free_frame.

struct BuddyEnv : FakeMm {
    pv::FrameAllocator fa;
    u64 bad_frees = 0;
    void free_frame(u64 mfn, Owner d) {
        FakeMm::free_frame(mfn, d);
        if (!fa.free(mfn, 0)) ++bad_frees;
    }
};
static_assert(pv::MmEnv<BuddyEnv>);

TEST(PageTypeBuddy, FramesComeFromAndReturnToTheAllocator) {
    BuddyEnv env;
    ASSERT_TRUE(env.fa.init(env.frames.get(), FIRST_HOLE));
    ASSERT_TRUE(env.fa.add_free_range(2, FIRST_HOLE - 2));
    const u64 total = env.fa.free_frames();
    pv::PvMmu<BuddyEnv> mmu(env);

    u64 f[6];
    for (u64& m : f) {
        auto r = env.fa.alloc(0);
        ASSERT_TRUE(r);
        m = *r;
        ASSERT_TRUE(mmu.assign(m, DOM));
    }
    // A referenced frame cannot go back to the allocator behind the MMU's back.
    EXPECT_EQ(env.fa.free(f[5], 0).error(), XEN_EINVAL);

    env.table(f[0])[0] = make(f[1], P | RW);  // L3 -> L2 -> L1 -> data RW and RO
    env.table(f[1])[0] = make(f[2], P | RW);
    env.table(f[2])[0] = make(f[3], P | RW);
    env.table(f[2])[1] = make(f[4], P);
    ASSERT_TRUE(mmu.pin_table(DOM, 3, f[0]));
    EXPECT_EQ(audit(env), "");
    ASSERT_TRUE(mmu.update_entry(DOM, f[2], 2, make(f[5], P | RW), false));
    ASSERT_TRUE(mmu.release(DOM, f[5]));  // ballooned out while still mapped: kept alive
    EXPECT_EQ(env.freed[f[5]], 0);
    ASSERT_TRUE(mmu.update_entry(DOM, f[2], 2, 0, false));  // unmapped: now it goes back
    EXPECT_EQ(env.freed[f[5]], 1);
    EXPECT_EQ(env.fa.free_frames(), total - 5);

    EXPECT_EQ(mmu.relinquish(DOM, 0, NR), 5u);
    for (u64 m : f) EXPECT_EQ(env.freed[m], 1) << m;
    EXPECT_EQ(env.bad_frees, 0u);
    EXPECT_EQ(env.fa.bad_frees(), 1u);  // the refused attempt above
    EXPECT_EQ(env.fa.free_frames(), total);
    // The blocks merged back: the allocator's lists are whole again.
    auto big = env.fa.alloc(4);
    ASSERT_TRUE(big);
    ASSERT_TRUE(env.fa.free(*big, 4));
}

// ---------------------------------------------------------------------------------------------
// Foreign mappings (mmu_update's pg_owner, a privileged domain building another): DOM plays
// domain 0, OTHER the domain being built.

class ForeignOps : public PageTypeDestroy {
protected:
    Errno update_as(u64 t, unsigned i, u64 v, Owner pg) { return err(mmu.update_entry(DOM, t, i, v, false, pg)); }
};

TEST_F(ForeignOps, L1EntriesMapThePageOwnersFrames) {
    own({10, 11, 12});
    own({30, 31, 32}, OTHER);
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    // OTHER's frame through DOM's own table, read-write: a general and a writable reference.
    ASSERT_EQ(update_as(10, 0, make(30, P | RW), OTHER), OK);
    EXPECT_EQ(count(30), 2u);
    EXPECT_EQ(type(30), PageType::writable);
    // The page owner must own the frame: DOM's frame with OTHER as page owner, OTHER's with DOM.
    EXPECT_EQ(update_as(10, 1, make(11, P), OTHER), XEN_EBUSY);
    EXPECT_EQ(update(10, 1, make(31, P)), XEN_EBUSY);
    // The table itself must be the caller's (pt_owner), whoever the page owner.
    EXPECT_EQ(err(mmu.update_entry(OTHER, 10, 1, make(31, P), false, OTHER)), XEN_EINVAL);
    // Upper levels never map foreign tables: pg_owner applies to L1 entries only.
    tab(32)[0] = 0;
    ASSERT_TRUE(mmu.pin_table(DOM, 2, 12));
    EXPECT_EQ(update_as(12, 0, make(32, P | RW), OTHER), XEN_EINVAL);
    // MMIO is checked against the page owner's rights, not the table owner's.
    env.io_owner = DOM;
    env.io_first = env.io_last = FIRST_HOLE;
    EXPECT_EQ(update_as(10, 2, make(FIRST_HOLE, P), OTHER), XEN_EPERM);
    EXPECT_EQ(update(10, 2, make(FIRST_HOLE, P)), OK);
    EXPECT_EQ(audit(env), "");
    // Read-only MMIO (Xen's mmio_ro_ranges, the HPET): a writable request is stored read-only.
    env.io_read_only_mfn = FIRST_HOLE;
    EXPECT_EQ(update(10, 3, make(FIRST_HOLE, P | RW)), OK);
    EXPECT_EQ(tab(10)[3] & RW, 0u);
    EXPECT_EQ(tab(10)[3] & P, P);
    EXPECT_EQ(audit(env), "");
    // A foreign frame that would become a page table while DOM maps it writable cannot.
    EXPECT_EQ(err(mmu.pin_table(OTHER, 1, 30)), XEN_EINVAL);
    ASSERT_EQ(update_as(10, 0, make(30, P), OTHER), OK);  // read-only now: the type may change
    EXPECT_TRUE(mmu.pin_table(OTHER, 1, 30));
    EXPECT_EQ(audit(env), "");
}

// The builder's sequence: DOM maps OTHER's frames writable to fill them, unmaps them, then pins
// OTHER's L4 for it (mmuext_op with foreigndom): the tables validate as OTHER's.
TEST_F(ForeignOps, PinForAnotherDomain) {
    own({10});
    own({30, 31, 32, 33, 34}, OTHER);
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    for (u64 m : {30u, 31u, 32u}) ASSERT_EQ(update_as(10, static_cast<unsigned>(m - 30), make(m, P | RW), OTHER), OK);
    tab(30)[0] = make(31, P | RW);
    tab(31)[0] = make(32, P | RW);
    tab(32)[0] = make(33, P | RW);
    tab(33)[0] = make(34, P | RW);
    EXPECT_EQ(err(mmu.pin_table(OTHER, 4, 30)), XEN_EINVAL);  // still mapped writable by DOM
    for (unsigned i = 0; i < 3; ++i) ASSERT_EQ(update(10, i, 0), OK);
    ASSERT_TRUE(mmu.pin_table(OTHER, 4, 30));
    EXPECT_EQ(type(33), PageType::l1);
    EXPECT_EQ(env.l4_inits, 1u);
    EXPECT_EQ(audit(env), "");
    // OTHER's frames cannot enter DOM's tables as tables, nor DOM's frames OTHER's.
    EXPECT_EQ(err(mmu.unpin_table(DOM, 30)), XEN_EINVAL);
    ASSERT_TRUE(mmu.unpin_table(OTHER, 30));
    own({35});
    tab(33)[1] = make(35, P);
    EXPECT_EQ(err(mmu.pin_table(OTHER, 4, 30)), XEN_EBUSY);  // 33 now maps DOM's 35
}

// Domain death while DOM still maps some of OTHER's frames: every other frame is freed at once,
// those mapped stay alive (charged to OTHER) until DOM unmaps them, then are freed exactly once.
TEST_F(ForeignOps, ForeignMappingOutlivesItsOwner) {
    own({10});
    own({30, 31, 32, 33, 34, 35}, OTHER);
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    tab(30)[0] = make(31, P | RW);  // OTHER's tree: L4 30 -> L3 31 -> L2 32 -> L1 33 -> 34 RW
    tab(31)[0] = make(32, P | RW);
    tab(32)[0] = make(33, P | RW);
    tab(33)[0] = make(34, P | RW);
    tab(33)[1] = make(30, P);  // and its own L4, read-only
    ASSERT_TRUE(mmu.pin_table(OTHER, 4, 30));
    ASSERT_EQ(update_as(10, 0, make(34, P | RW), OTHER), OK);  // DOM maps OTHER's data page
    ASSERT_EQ(update_as(10, 1, make(30, P), OTHER), OK);       // and its L4, read-only
    ASSERT_EQ(update_as(10, 2, make(35, P | RW), OTHER), OK);  // and a page OTHER already gave up
    ASSERT_TRUE(mmu.release(OTHER, 35));
    EXPECT_EQ(env.freed[35], 0);

    EXPECT_EQ(mmu.relinquish(OTHER, 0, NR), 6u);  // 35 too: still OTHER's, though given up
    for (u64 m : {31u, 32u, 33u}) EXPECT_EQ(env.freed[m], 1) << m;
    for (u64 m : {30u, 34u, 35u}) {
        EXPECT_EQ(env.freed[m], 0) << m;
        EXPECT_EQ(count(m), 1u) << m;  // DOM's mapping only
    }
    EXPECT_EQ(tcount(30), 0u);  // unpinned and devalidated: its entries hold nothing any more
    EXPECT_FALSE(validated(30));
    EXPECT_EQ(audit(env), "");
    // Nobody else can take the frames now: OTHER gave them up, DOM never owned them.
    EXPECT_EQ(err(mmu.get_page(34, DOM)), XEN_EINVAL);

    ASSERT_EQ(update(10, 0, 0), OK);
    ASSERT_EQ(update(10, 1, 0), OK);
    ASSERT_EQ(update(10, 2, 0), OK);
    for (u64 m = 30; m <= 35; ++m) {
        EXPECT_EQ(env.freed[m], 1) << m;
        EXPECT_EQ(env.freed_owner[m], static_cast<unsigned>(OTHER)) << m;
    }
    EXPECT_EQ(env.freed[10], 0);
    EXPECT_EQ(audit(env), "");
}

}  // namespace
