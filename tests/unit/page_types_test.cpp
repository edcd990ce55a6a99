// The PV MMU's reference and type engine: general references, types, validation of each level
// with tables of legal and illegal entries, undo on failure, and pinning.
#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

#include "fake_mm_env.hpp"

namespace {

using namespace mmtest;
using namespace pv::pte;
using pv::Errno;
using pv::pgc::ALLOCATED;
using pv::pgt::COUNT_MASK;
using pv::pgt::LOCKED;
using pv::pgt::PINNED;
using pv::pgt::VALIDATED;

constexpr Owner DOM{1};
constexpr Owner OTHER{2};
constexpr Owner IO{3};  // has I/O access to MMIO [62, 63] and may use cache attributes
constexpr Errno OK = static_cast<Errno>(0);

Errno err(const pv::Result<void>& r) { return r ? OK : r.error(); }

class PageTypeTest : public ::testing::Test {
protected:
    PageTypeTest() {
        env.io_owner = IO;
        env.io_first = 62;
        env.io_last = 63;
    }
    void own(std::initializer_list<u64> mfns, Owner d = DOM) {
        for (u64 m : mfns) ASSERT_TRUE(mmu.assign(m, d)) << m;
    }
    u64* tab(u64 m) { return env.table(m); }
    u64 count(u64 m) { return count_of(env, m); }
    u64 tinfo(u64 m) { return type_info_of(env, m); }
    u64 tcount(u64 m) { return pv::pgt::count(tinfo(m)); }
    PageType type(u64 m) { return pv::pgt::type(tinfo(m)); }
    bool validated(u64 m) { return tinfo(m) & VALIDATED; }
    // Counts of every RAM frame, to show an operation changed nothing.
    std::vector<u64> snapshot() {
        std::vector<u64> s;
        for (u64 m = 0; m < FIRST_HOLE; ++m) s.push_back(count(m) << 32 | tcount(m));
        return s;
    }

    FakeMm env;
    Mmu mmu{env};
};

// ---------------------------------------------------------------------------------------------
// General references and ownership

TEST_F(PageTypeTest, AssignAndReferences) {
    own({10});
    EXPECT_EQ(env.frames[10].count_info.load(), ALLOCATED | 1);
    EXPECT_EQ(type(10), PageType::none);
    EXPECT_EQ(err(mmu.assign(10, DOM)), XEN_EBUSY);        // already owned
    EXPECT_EQ(err(mmu.assign(11, Owner::none)), XEN_EINVAL);
    EXPECT_EQ(err(mmu.assign(FIRST_HOLE, DOM)), XEN_EINVAL);  // not RAM

    EXPECT_TRUE(mmu.get_page(10, DOM));
    EXPECT_EQ(count(10), 2u);
    EXPECT_EQ(err(mmu.get_page(10, OTHER)), XEN_EINVAL);  // only the owner
    EXPECT_EQ(count(10), 2u);                             // the probe's reference went back
    EXPECT_EQ(err(mmu.get_page(11, DOM)), XEN_EINVAL);      // nobody's (free, or the hypervisor's)
    EXPECT_EQ(count(11), 0u);
    EXPECT_EQ(err(mmu.get_page(FIRST_HOLE, DOM)), XEN_EINVAL);
    EXPECT_EQ(err(mmu.get_page(1000, DOM)), XEN_EINVAL);
    mmu.put_page(10);
    EXPECT_EQ(count(10), 1u);
    EXPECT_EQ(env.freed[10], 0);
}

TEST_F(PageTypeTest, GeneralCountNeverOverflows) {
    own({10});
    env.frames[10].count_info.store(ALLOCATED | (pv::pgc::COUNT_MASK - 1));
    EXPECT_TRUE(mmu.get_page(10, DOM));                     // reaches the maximum
    EXPECT_EQ(err(mmu.get_page(10, DOM)), XEN_EINVAL);      // would wrap to zero
    EXPECT_EQ(count(10), pv::pgc::COUNT_MASK);
    env.frames[10].count_info.store(ALLOCATED | 1);
}

TEST_F(PageTypeTest, LastPutFreesOnlyAfterRelease) {
    own({10});
    ASSERT_TRUE(mmu.get_page(10, DOM));
    ASSERT_TRUE(mmu.release(DOM, 10));  // allocation reference gone, ours keeps it alive
    EXPECT_EQ(env.freed[10], 0);
    EXPECT_EQ(env.frames[10].count_info.load(), 1u);
    EXPECT_TRUE(mmu.get_page(10, DOM));  // still DOM's until the last reference goes
    mmu.put_page(10);
    mmu.put_page(10);
    EXPECT_EQ(env.freed[10], 1);
    EXPECT_EQ(env.freed_owner[10], static_cast<unsigned>(DOM));
    EXPECT_EQ(env.frames[10].use.owner, Owner::none);
    EXPECT_EQ(err(mmu.get_page(10, DOM)), XEN_EINVAL);  // free now
    EXPECT_TRUE(mmu.assign(10, OTHER));                 // and reusable
}

// ---------------------------------------------------------------------------------------------
// Types

TEST_F(PageTypeTest, TypeChangesOnlyAtCountZero) {
    own({10});
    ASSERT_TRUE(mmu.get_page_and_type(10, DOM, PageType::writable));
    EXPECT_EQ(type(10), PageType::writable);
    EXPECT_TRUE(validated(10));
    u64 flushes = env.flushes;
    EXPECT_EQ(flushes, 0u);  // a fresh frame (type none) has no old use to flush
    ASSERT_TRUE(mmu.get_page_and_type(10, DOM, PageType::writable));  // same type: just counts
    EXPECT_EQ(tcount(10), 2u);
    EXPECT_EQ(env.flushes, flushes);

    EXPECT_EQ(err(mmu.get_page_and_type(10, DOM, PageType::l1)), XEN_EINVAL);
    EXPECT_EQ(err(mmu.get_page_and_type(10, DOM, PageType::seg_desc)), XEN_EINVAL);
    EXPECT_EQ(err(mmu.pin_table(DOM, 1, 10)), XEN_EINVAL);
    mmu.put_page_and_type(10);
    EXPECT_EQ(err(mmu.pin_table(DOM, 1, 10)), XEN_EINVAL);  // one writable reference left
    mmu.put_page_and_type(10);
    EXPECT_EQ(tcount(10), 0u);
    EXPECT_EQ(type(10), PageType::writable);  // kept at count 0 until the next user changes it

    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));  // count 0: the type may change now
    EXPECT_EQ(type(10), PageType::l1);
    EXPECT_EQ(env.flushes, flushes + 1);  // TLBs flushed for the change
    EXPECT_EQ(err(mmu.get_page_and_type(10, DOM, PageType::writable)), XEN_EINVAL);
    ASSERT_TRUE(mmu.unpin_table(DOM, 10));
    EXPECT_EQ(tcount(10), 0u);
    EXPECT_FALSE(validated(10));  // page tables are devalidated by their last put
    EXPECT_EQ(count(10), 1u);
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeTest, TypeCountNeverOverflows) {
    own({10});
    ASSERT_TRUE(mmu.get_page_and_type(10, DOM, PageType::writable));
    env.frames[10].use.type_info.store(pv::pgt::bits(PageType::writable) | VALIDATED | COUNT_MASK);
    EXPECT_EQ(err(mmu.get_page_and_type(10, DOM, PageType::writable)), XEN_EINVAL);
    EXPECT_EQ(count(10), 2u);  // the general reference went back too
    env.frames[10].use.type_info.store(pv::pgt::bits(PageType::writable) | VALIDATED | 1);
    mmu.put_page_and_type(10);
    EXPECT_EQ(err(mmu.get_page_and_type(10, DOM, PageType::none)), XEN_EINVAL);
}

TEST_F(PageTypeTest, DescriptorFrames) {
    own({10, 11});
    // A code segment with DPL 0 and a call gate to a hypervisor selector.
    tab(10)[0] = 0x00af9a000000ffffull;
    ASSERT_TRUE(mmu.get_page_and_type(10, DOM, PageType::seg_desc));
    EXPECT_EQ(tab(10)[0], 0x00affa000000ffffull);  // stored with DPL 3
    EXPECT_TRUE(validated(10));
    mmu.put_page_and_type(10);
    EXPECT_TRUE(validated(10));  // no references to drop: stays validated at count 0
    u64 flushes = env.flushes;
    ASSERT_TRUE(mmu.get_page_and_type(10, DOM, PageType::seg_desc));
    EXPECT_EQ(env.flushes, flushes);  // nor revalidated, nor flushed
    mmu.put_page_and_type(10);

    tab(11)[3] = 0x00008c00e0081000ull;  // call gate to 0xe008, the hypervisor's code
    EXPECT_EQ(err(mmu.get_page_and_type(11, DOM, PageType::seg_desc)), XEN_EINVAL);
    EXPECT_EQ(tcount(11), 0u);
    EXPECT_EQ(type(11), PageType::none);  // as it was
    EXPECT_EQ(count(11), 1u);
    EXPECT_EQ(audit(env), "");
}

// ---------------------------------------------------------------------------------------------
// L1 entries, one per case, validated by pinning the table.

struct EntryCase {
    const char* name;
    u64 entry;
    Errno err;
    u64 stored;  // when accepted: what the table holds afterwards
};

// DOM's L1 table is frame 10; frame 20 is DOM's data, 21 OTHER's, 22 nobody's, 30 a pinned L1 of DOM's,
// 31 one of DOM's descriptor frames in use.  IO's L1 table is 11 and its data 23; 62 is an MMIO hole
// IO may map, 100 MMIO beyond the frame table.
const EntryCase L1_CASES[] = {
    {"not present, any bits", 0xfff0000deadbee0ull, OK, 0xfff0000deadbee0ull},
    {"read-only", make(20, P), OK, make(20, P | US | GUEST_KERNEL)},
    {"read-write", make(20, P | RW), OK, make(20, P | RW | US | GUEST_KERNEL)},
    {"user, accessed, dirty, global", make(20, P | RW | US | A | D | G), OK, make(20, P | RW | US | A | D | G)},
    {"available bits 9-11", make(20, P | AVAIL), OK, make(20, P | AVAIL | US | GUEST_KERNEL)},
    {"available bits 52-61", make(20, P | US | (u64{0x3ff} << 52)), OK, make(20, P | US | (u64{0x3ff} << 52))},
    {"no-execute", make(20, P | US | NX), OK, make(20, P | US | NX | G)},
    {"PWT without I/O access", make(20, P | PWT), XEN_EINVAL, 0},
    {"PCD without I/O access", make(20, P | PCD), XEN_EINVAL, 0},
    {"PAT without I/O access", make(20, P | PAT), XEN_EINVAL, 0},
    {"bit 62 (grant mappings)", make(20, P | GNTTAB), XEN_EINVAL, 0},
    {"another domain's frame", make(21, P), XEN_EBUSY, 0},
    {"a frame nobody owns", make(22, P), XEN_EBUSY, 0},
    {"the hypervisor's frame", make(HV_SLOT_TARGET, P), XEN_EBUSY, 0},
    {"read-write on a page table", make(30, P | RW), XEN_EBUSY, 0},
    {"read-only on a page table", make(30, P), OK, make(30, P | US | GUEST_KERNEL)},
    {"read-write on itself", make(10, P | RW), XEN_EBUSY, 0},
    {"read-only on itself", make(10, P), OK, make(10, P | US | GUEST_KERNEL)},
    {"read-write on a descriptor frame", make(31, P | RW), XEN_EBUSY, 0},
    {"read-only on a descriptor frame", make(31, P | US), OK, make(31, P | US | G)},
    {"MMIO hole without I/O access", make(62, P), XEN_EPERM, 0},
    {"MMIO beyond the table", make(100, P), XEN_EPERM, 0},
};

const EntryCase IO_L1_CASES[] = {
    {"MMIO it may map: made uncacheable", make(62, P | RW), OK, make(62, P | RW | PWT | PCD | US | GUEST_KERNEL)},
    {"MMIO write-combining kept", make(62, P | US | PAT), OK, make(62, P | US | PAT | G)},
    {"MMIO outside its range", make(100, P), XEN_EPERM, 0},
    {"RAM with a cache attribute", make(23, P | PCD), XEN_EINVAL, 0},
    {"RAM write-back", make(23, P | RW), OK, make(23, P | RW | US | GUEST_KERNEL)},
};

class PageTypeEntries : public PageTypeTest {
protected:
    void SetUp() override {
        own({10, 20, 30, 31});
        own({21}, OTHER);
        own({11, 23}, IO);
        ASSERT_TRUE(mmu.pin_table(DOM, 1, 30));
        ASSERT_TRUE(mmu.get_page_and_type(31, DOM, PageType::seg_desc));
    }
    void TearDown() override {
        EXPECT_EQ(audit(env, {{31, 1}}, {{31, 1}}), "");
        mmu.put_page_and_type(31);
        EXPECT_EQ(audit(env), "");
    }
    // Puts e in slot 7 of table `t` (of owner d), pins it as `level`, checks the outcome, and
    // unpins; a refused entry must leave every count, and the table, as they were.
    void check(const EntryCase& c, u64 t, unsigned level, Owner d) {
        SCOPED_TRACE(c.name);
        tab(t)[7] = c.entry;
        std::vector<u64> before = snapshot();
        pv::Result<void> r = mmu.pin_table(d, level, t);
        ASSERT_EQ(err(r), c.err);
        if (!r) {
            EXPECT_EQ(snapshot(), before);
            EXPECT_EQ(tab(t)[7], c.entry);
            EXPECT_EQ(tcount(t), 0u);
            EXPECT_FALSE(validated(t));
            return;
        }
        EXPECT_EQ(tab(t)[7], c.stored);
        EXPECT_EQ(audit(env, {{31, 1}}, {{31, 1}}), "");
        ASSERT_TRUE(mmu.unpin_table(d, t));
        EXPECT_EQ(snapshot(), before);
        tab(t)[7] = 0;
    }
};

TEST_F(PageTypeEntries, L1) {
    for (const EntryCase& c : L1_CASES) check(c, 10, 1, DOM);
    for (const EntryCase& c : IO_L1_CASES) check(c, 11, 1, IO);
}

TEST_F(PageTypeEntries, L1ReferencesTaken) {
    tab(10)[0] = make(20, P | RW);
    tab(10)[1] = make(20, P);
    tab(10)[2] = make(20, P | RW);
    ASSERT_TRUE(mmu.pin_table(DOM, 1, 10));
    EXPECT_EQ(count(20), 4u);   // allocation + three mappings
    EXPECT_EQ(tcount(20), 2u);  // two of them writable
    EXPECT_EQ(type(20), PageType::writable);
    EXPECT_EQ(count(10), 2u);   // allocation + pin
    EXPECT_EQ(audit(env, {{31, 1}}, {{31, 1}}), "");
    ASSERT_TRUE(mmu.unpin_table(DOM, 10));
    EXPECT_EQ(count(20), 1u);
    EXPECT_EQ(tcount(20), 0u);
}

// L2-L4: the table under test is frame 12 (level L); 13 is an empty frame of DOM's (validates as any
// level); 16 is DOM's, held writable; 17 is pinned at level L; 18 pinned at another level; 19 holds
// an entry that fails validation at level L-1; 21 is OTHER's.
class PageTypeUpper : public PageTypeTest, public ::testing::WithParamInterface<unsigned> {
protected:
    void SetUp() override {
        level = GetParam();
        own({12, 13, 14, 16, 17, 18, 19, 20});
        own({21}, OTHER);
        ASSERT_TRUE(mmu.get_page_and_type(16, DOM, PageType::writable));
        ASSERT_TRUE(mmu.pin_table(DOM, level, 17));
        ASSERT_TRUE(mmu.pin_table(DOM, level - 1 == 1 ? 3 : 1, 18));
        // At L-1 == 1: a data mapping with PWT; above: an entry to an empty frame with PS.
        tab(19)[5] = level - 1 == 1 ? make(20, P | PWT) : make(14, P | PS);
    }
    void TearDown() override {
        mmu.put_page_and_type(16);
        ASSERT_TRUE(mmu.unpin_table(DOM, 17));
        ASSERT_TRUE(mmu.unpin_table(DOM, 18));
        EXPECT_EQ(audit(env), "");
    }
    void check(const char* name, u64 entry, Errno want) {
        SCOPED_TRACE(name);
        tab(12)[3] = entry;
        std::vector<u64> before = snapshot();
        pv::Result<void> r = mmu.pin_table(DOM, level, 12);
        ASSERT_EQ(err(r), want);
        if (!r) {
            EXPECT_EQ(snapshot(), before);
            EXPECT_EQ(tab(12)[3], entry);
            return;
        }
        EXPECT_EQ(audit(env, {{16, 1}}, {{16, 1}}), "");
        u64 child = mfn(entry);
        if (present(entry)) {
            EXPECT_EQ(type(child), pv::table_type(level - 1));
            EXPECT_TRUE(validated(child));
            EXPECT_EQ(tab(12)[3], adjust_for_guest(level, entry));
        }
        ASSERT_TRUE(mmu.unpin_table(DOM, 12));
        EXPECT_EQ(snapshot(), before);
        if (present(entry)) {
            EXPECT_FALSE(validated(child));  // devalidated with its parent
        }
        tab(12)[3] = 0;
    }
    unsigned level = 0;
};

TEST_P(PageTypeUpper, Entries) {
    check("not present", 0x123456789000ull, OK);
    check("a table of the next level down", make(13, P | RW | US | A), OK);
    check("available bits and NX", make(13, P | AVAIL | (u64{0x7ff} << 52) | NX), OK);
    check("dirty", make(13, P | D), OK);
    check("superpage", make(13, P | PS), XEN_EINVAL);
    check("global", make(13, P | G), XEN_EINVAL);
    check("PWT", make(13, P | PWT), XEN_EINVAL);
    check("PCD", make(13, P | PCD), XEN_EINVAL);
    check("a frame mapped writable", make(16, P), XEN_EINVAL);
    check("a table of the same level (linear), read-only", make(17, P), XEN_EINVAL);
    check("a table of the same level (linear), read-write", make(17, P | RW), XEN_EINVAL);
    check("itself (self-map), read-only", make(12, P), XEN_EINVAL);
    check("a table of another level", make(18, P), XEN_EINVAL);
    check("a table that fails to validate", make(19, P), XEN_EINVAL);
    check("another domain's frame", make(21, P), XEN_EINVAL);
    check("a frame nobody owns", make(22, P), XEN_EINVAL);
    check("MMIO", make(62, P), XEN_EINVAL);
    // The child that failed is left as it was: untyped, its entry intact.
    EXPECT_EQ(tcount(19), 0u);
    EXPECT_EQ(type(19), PageType::none);
    EXPECT_EQ(tab(19)[5], level - 1 == 1 ? make(20, P | PWT) : make(14, P | PS));
}

INSTANTIATE_TEST_SUITE_P(PageTypeLevels, PageTypeUpper, ::testing::Values(2u, 3u, 4u),
                         [](const auto& info) { return "L" + std::to_string(info.param); });

TEST_F(PageTypeTest, L4HypervisorSlotsAreSkippedAndFilled) {
    own({12, 13});
    // Whatever the guest left in slots 256-271 is ignored, then overwritten.
    for (unsigned i = FIRST_HYPERVISOR_L4_SLOT; i <= LAST_HYPERVISOR_L4_SLOT; ++i) tab(12)[i] = make(21, P | PS | G);
    tab(12)[255] = make(13, P);
    tab(12)[272] = make(13, P);
    ASSERT_TRUE(mmu.pin_table(DOM, 4, 12));
    EXPECT_EQ(env.l4_inits, 1u);
    EXPECT_EQ(tab(12)[256], make(HV_SLOT_TARGET, P | RW));
    EXPECT_EQ(tcount(13), 2u);  // slots 255 and 272 are the guest's
    EXPECT_EQ(count(HV_SLOT_TARGET), 0u);
    ASSERT_TRUE(mmu.unpin_table(DOM, 12));  // devalidation skips them too
    ASSERT_TRUE(mmu.pin_table(DOM, 4, 12));
    ASSERT_TRUE(mmu.unpin_table(DOM, 12));
    EXPECT_EQ(audit(env), "");
}

// ---------------------------------------------------------------------------------------------
// Validation of a tree, and its undo

TEST_F(PageTypeTest, TreeValidatesAndDevalidates) {
    // L4 40 -> L3 41 -> L2 42 -> L1s 43, 44 -> data 45 (RW twice), 46 (RO); 43 also maps 42 RO.
    own({40, 41, 42, 43, 44, 45, 46});
    tab(40)[0] = make(41, P | RW);
    tab(40)[511] = make(41, P);  // the same L3 twice
    tab(41)[0] = make(42, P | RW);
    tab(42)[0] = make(43, P | RW);
    tab(42)[1] = make(44, P | RW);
    tab(43)[0] = make(45, P | RW);
    tab(43)[1] = make(42, P);
    tab(44)[0] = make(45, P | RW);
    tab(44)[1] = make(46, P);
    ASSERT_TRUE(mmu.pin_table(DOM, 4, 40));
    EXPECT_EQ(type(41), PageType::l3);
    EXPECT_EQ(tcount(41), 2u);
    EXPECT_EQ(type(42), PageType::l2);
    EXPECT_EQ(type(43), PageType::l1);
    EXPECT_EQ(type(45), PageType::writable);
    EXPECT_EQ(tcount(45), 2u);
    EXPECT_EQ(count(42), 3u);  // allocation, the L3 entry, 43's read-only mapping
    EXPECT_EQ(audit(env), "");
    // Pinning a validated subtree only counts.
    ASSERT_TRUE(mmu.pin_table(DOM, 2, 42));
    EXPECT_EQ(tcount(42), 2u);
    ASSERT_TRUE(mmu.unpin_table(DOM, 40));
    // 42 stays validated under its own pin, with its subtree; 40 and 41 are untyped.
    EXPECT_EQ(tcount(40), 0u);
    EXPECT_EQ(tcount(41), 0u);
    EXPECT_FALSE(validated(41));
    EXPECT_TRUE(validated(42));
    EXPECT_TRUE(validated(43));
    EXPECT_EQ(audit(env), "");
    ASSERT_TRUE(mmu.unpin_table(DOM, 42));
    for (u64 m = 40; m <= 46; ++m) {
        EXPECT_EQ(tcount(m), 0u) << m;
        EXPECT_EQ(count(m), 1u) << m;
    }
    EXPECT_EQ(audit(env), "");
}

TEST_F(PageTypeTest, FailedValidationUndoesEverything) {
    // L3 12: slot 0 -> L2 13 -> L1 14 -> data 20 RW (all valid); slot 1 -> L2 15 -> L1 16, whose
    // last entry maps another domain's frame.  The failure comes after 13, 14 and 20 were typed.
    own({12, 13, 14, 15, 16, 20});
    own({21}, OTHER);
    tab(12)[0] = make(13, P | RW);
    tab(12)[1] = make(15, P | RW);
    tab(13)[0] = make(14, P | RW);
    tab(14)[0] = make(20, P | RW);
    tab(15)[0] = make(14, P);  // a second reference to 14, taken before the failure
    tab(15)[9] = make(16, P);
    tab(16)[0] = make(20, P);
    tab(16)[400] = make(21, P | RW);
    std::vector<u64> contents;
    for (u64 m : {12, 15, 16})
        for (unsigned i = 0; i < ENTRIES; ++i) contents.push_back(tab(m)[i]);
    std::vector<u64> before = snapshot();

    EXPECT_EQ(err(mmu.pin_table(DOM, 3, 12)), XEN_EBUSY);  // the L1 entry's error, passed up

    EXPECT_EQ(snapshot(), before);
    for (u64 m = 12; m <= 16; ++m) {
        EXPECT_EQ(tcount(m), 0u) << m;
        EXPECT_FALSE(validated(m)) << m;
    }
    // The tables that failed keep their entries as the guest wrote them.  13 and 14 validated
    // completely before the failure, so theirs are in the stored form (US added), as in Xen.
    std::vector<u64> after;
    for (u64 m : {12, 15, 16})
        for (unsigned i = 0; i < ENTRIES; ++i) after.push_back(tab(m)[i]);
    EXPECT_EQ(after, contents);
    EXPECT_EQ(tab(13)[0], make(14, P | RW | US));
    EXPECT_EQ(audit(env), "");

    tab(16)[400] = 0;  // fixed: now it validates
    ASSERT_TRUE(mmu.pin_table(DOM, 3, 12));
    EXPECT_EQ(tcount(14), 2u);
    EXPECT_EQ(audit(env), "");
    ASSERT_TRUE(mmu.unpin_table(DOM, 12));
    EXPECT_EQ(snapshot(), before);
}

// ---------------------------------------------------------------------------------------------
// Pinning

TEST_F(PageTypeTest, PinRules) {
    own({10, 11});
    own({21}, OTHER);
    EXPECT_EQ(err(mmu.pin_table(DOM, 0, 10)), XEN_EINVAL);
    EXPECT_EQ(err(mmu.pin_table(DOM, 5, 10)), XEN_EINVAL);
    EXPECT_EQ(err(mmu.pin_table(DOM, 1, 21)), XEN_EINVAL);  // not DOM's
    EXPECT_EQ(err(mmu.pin_table(DOM, 1, 22)), XEN_EINVAL);  // nobody's
    EXPECT_EQ(err(mmu.unpin_table(DOM, 10)), XEN_EINVAL);   // not pinned

    ASSERT_TRUE(mmu.pin_table(DOM, 2, 10));
    EXPECT_TRUE(tinfo(10) & PINNED);
    EXPECT_EQ(count(10), 2u);
    EXPECT_EQ(err(mmu.pin_table(DOM, 2, 10)), XEN_EINVAL);  // pins do not nest
    EXPECT_EQ(err(mmu.pin_table(DOM, 1, 10)), XEN_EINVAL);  // nor change type
    EXPECT_EQ(tcount(10), 1u);
    EXPECT_EQ(count(10), 2u);
    EXPECT_EQ(err(mmu.unpin_table(OTHER, 10)), XEN_EINVAL);
    // A table referenced elsewhere stays typed after unpin; the pin is just one reference.
    tab(11)[0] = make(10, P);
    ASSERT_TRUE(mmu.pin_table(DOM, 3, 11));
    EXPECT_EQ(tcount(10), 2u);
    ASSERT_TRUE(mmu.unpin_table(DOM, 10));
    EXPECT_EQ(err(mmu.unpin_table(DOM, 10)), XEN_EINVAL);
    EXPECT_TRUE(validated(10));
    EXPECT_EQ(tcount(10), 1u);
    ASSERT_TRUE(mmu.unpin_table(DOM, 11));
    EXPECT_FALSE(validated(10));
    EXPECT_EQ(audit(env), "");
}

}  // namespace
