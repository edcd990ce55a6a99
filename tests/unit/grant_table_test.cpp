// Grant tables v1 (core/grant_table.hpp, core/grant_ops.hpp) on the fake MMU: maps by L1 slot,
// unmaps, copies, the references they hold (checked by the MMU audit, for which a host mapping's
// entry holds its references like any L1 entry), and the hostile cases: bad refs, revoked and
// read-only grants, wrong grantees, stale handles, copies past a page, domains dying with grants
// mapped.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>

#include "core/grant_ops.hpp"
#include "fake_mm_env.hpp"

namespace {

using namespace mmtest;
using namespace pv::pte;
using pv::i16;
using pv::u32;

// The fake MMU plus heap memory and a pool of frames [40, 48) to lend as table frames.
struct FakeGnt : FakeMm {
    u64 next_table_frame = 40;
    void* alloc_zeroed(pv::usize n) { return std::calloc(1, n); }
    void free_mem(void* p) { std::free(p); }
    u64 alloc_table_frame() { return next_table_frame < 48 ? next_table_frame++ : 0; }
    void free_table_frame(u64) {}
};
static_assert(pv::GntEnv<FakeGnt>);

using Table = pv::GrantTable<FakeGnt>;

constexpr Owner A{1}, B{2};  // domids 0 and 1
constexpr domid_t A_ID = 0, B_ID = 1;

struct Ctx {
    std::map<domid_t, Table*> tables;
    domid_t self = A_ID;
    unsigned flushes = 0;
    Table* table_of(domid_t id, bool any) {
        if (any && id == DOMID_SELF) id = self;
        auto it = tables.find(id);
        return it == tables.end() ? nullptr : it->second;
    }
    // Linear addresses are "L1 frame << 12 | index << 3" here, as contains_pte addresses.
    bool host_slot(u64 addr, u32, pv::gnt::HostSlot* out) {
        if (addr & 7) return false;
        *out = {addr >> 12, static_cast<unsigned>((addr & 4095) >> 3)};
        return true;
    }
    void flush_tlb() { ++flushes; }
};

class Grants : public ::testing::Test {
protected:
    void SetUp() override {
        for (u64 m : {10, 11, 12}) ASSERT_TRUE(mmu.assign(m, A));  // A's L1 table and data pages
        for (u64 m : {20, 21}) ASSERT_TRUE(mmu.assign(m, B));      // B's L1 table and data
        ASSERT_TRUE(mmu.pin_table(A, 1, 10));
        ASSERT_TRUE(mmu.pin_table(B, 1, 20));
        ta = std::make_unique<Table>(env, mmu, A, A_ID, 2, 1);
        tb = std::make_unique<Table>(env, mmu, B, B_ID, 2, 1);
        ASSERT_TRUE(ta->init());
        ASSERT_TRUE(tb->init());
        ctx.tables = {{A_ID, ta.get()}, {B_ID, tb.get()}};
    }
    // The hypervisor's own references on the lent table frames.
    std::string audit_all() {
        std::map<u64, u64> g, t;
        for (u64 m = 40; m < env.next_table_frame; ++m) {
            if (count_of(env, m) == 0) continue;
            bool dead = (m == 40 && !ta->entry(0)) || (m == 41 && !tb->entry(0));
            if (!dead) ++g[m], ++t[m];
        }
        return audit(env, g, t);
    }
    gnttab_map_grant_ref map(Table& ld, domid_t dom, u32 ref, u32 flags, u64 host_addr) {
        gnttab_map_grant_ref op{};
        op.dom = dom;
        op.ref = ref;
        op.flags = flags;
        op.host_addr = host_addr;
        ops.map(ld, op);
        return op;
    }
    i16 unmap(Table& ld, u32 handle, u64 host_addr, u64 bus = 0) {
        gnttab_unmap_grant_ref op{};
        op.handle = handle;
        op.host_addr = host_addr;
        op.dev_bus_addr = bus;
        auto w = ops.unmap_begin(ld, op);
        ops.unmap_complete(ld, w);
        return op.status;
    }
    static u64 slot(u64 table, unsigned i) { return table << 12 | u64{i} << 3; }

    FakeGnt env;
    pv::PvMmu<FakeGnt> mmu{env};
    Ctx ctx;
    pv::gnt::GrantOps<FakeGnt, Ctx> ops{env, mmu, ctx};
    std::unique_ptr<Table> ta, tb;
};

TEST_F(Grants, TableFramesAreLentWritable) {
    EXPECT_EQ(ta->nr_frames(), 1u);
    EXPECT_EQ(type_info_of(env, 40) >> pv::pgt::TYPE_SHIFT, static_cast<u64>(PageType::writable));
    EXPECT_FALSE(mmu.pin_table(A, 1, 40));  // can never become a page table
    u64 frames[2] = {};
    EXPECT_EQ(ta->setup(2, [&](u32 i, u64 m) { frames[i] = m; return true; }), GNTST_okay);
    EXPECT_EQ(frames[1], 42u);
    EXPECT_EQ(ta->setup(3, [](u32, u64) { return true; }), GNTST_general_error);
    EXPECT_EQ(audit_all(), "");
}

TEST_F(Grants, HostMapHoldsReferencesUntilUnmap) {
    *tb->entry(5) = {GTF_permit_access, A_ID, 21};
    auto op = map(*ta, B_ID, 5, GNTMAP_host_map, slot(10, 7));
    ASSERT_EQ(op.status, GNTST_okay);
    EXPECT_EQ(pv::pte::mfn(env.table(10)[7]), 21u);
    EXPECT_EQ(tb->entry(5)->flags, GTF_permit_access | GTF_reading | GTF_writing);
    EXPECT_EQ(count_of(env, 21), 2u);
    EXPECT_EQ(audit_all(), "");
    // B may not free or retype it meanwhile.
    EXPECT_FALSE(mmu.pin_table(B, 1, 21));
    ASSERT_TRUE(mmu.release(B, 21));
    EXPECT_EQ(env.freed[21].load(), 0);
    EXPECT_EQ(unmap(*ta, op.handle, slot(10, 7)), GNTST_okay);
    EXPECT_EQ(env.table(10)[7], 0u);
    EXPECT_EQ(tb->entry(5)->flags, GTF_permit_access);
    EXPECT_EQ(env.freed[21].load(), 1);  // its last reference was the mapping's
    EXPECT_EQ(unmap(*ta, op.handle, slot(10, 7)), GNTST_bad_handle);  // stale
    EXPECT_EQ(audit_all(), "");
}

TEST_F(Grants, HostileMaps) {
    *tb->entry(1) = {GTF_permit_access | GTF_readonly, A_ID, 21};
    *tb->entry(2) = {GTF_permit_access, 7, 21};             // granted to someone else
    *tb->entry(3) = {GTF_permit_access, A_ID, 11};          // a frame B does not own
    *tb->entry(4) = {GTF_invalid, A_ID, 21};                // revoked
    EXPECT_EQ(map(*ta, B_ID, 1, 0, slot(10, 1)).status, GNTST_bad_gntref);
    EXPECT_EQ(map(*ta, DOMID_SELF, 1, GNTMAP_host_map, slot(10, 1)).status, GNTST_bad_domain);
    EXPECT_EQ(map(*ta, B_ID, 2 * 512, GNTMAP_host_map, slot(10, 1)).status, GNTST_bad_gntref);
    EXPECT_EQ(map(*ta, B_ID, 1, GNTMAP_host_map, slot(10, 1)).status, GNTST_general_error);
    EXPECT_EQ(map(*ta, B_ID, 2, GNTMAP_host_map, slot(10, 1)).status, GNTST_general_error);
    EXPECT_EQ(map(*ta, B_ID, 3, GNTMAP_host_map, slot(10, 1)).status, GNTST_bad_page);
    EXPECT_EQ(map(*ta, B_ID, 4, GNTMAP_host_map, slot(10, 1)).status, GNTST_general_error);
    EXPECT_EQ(map(*ta, B_ID, 1, GNTMAP_host_map | GNTMAP_readonly, slot(20, 1)).status,
              GNTST_general_error);  // into B's table, not ours
    EXPECT_EQ(map(*ta, B_ID, 1, GNTMAP_host_map | GNTMAP_readonly, slot(10, 1) + 4).status,
              GNTST_general_error);  // misaligned
    for (u32 r = 1; r <= 4; ++r) EXPECT_EQ(tb->pin_of(r), 0u) << r;
    EXPECT_EQ(tb->entry(1)->flags, GTF_permit_access | GTF_readonly);
    EXPECT_EQ(tb->entry(3)->flags, GTF_permit_access);
    // The read-only one maps read-only; a second grantee is refused while it is pinned.
    auto op = map(*ta, B_ID, 1, GNTMAP_host_map | GNTMAP_readonly, slot(10, 1));
    ASSERT_EQ(op.status, GNTST_okay);
    EXPECT_FALSE(env.table(10)[1] & RW);
    EXPECT_EQ(map(*tb, B_ID, 1, GNTMAP_host_map | GNTMAP_readonly, slot(20, 2)).status, GNTST_general_error);
    // Overwriting the grant's entry drops its references once; the unmap then fails.
    ASSERT_TRUE(mmu.update_entry(A, 10, 1, 0, false));
    EXPECT_EQ(unmap(*ta, op.handle, slot(10, 1)), GNTST_general_error);
    EXPECT_EQ(audit_all(), "");
    // Pin counts stop before they overflow (8 bits each).
    *tb->entry(6) = {GTF_permit_access, A_ID, 21};
    unsigned ok = 0;
    for (unsigned i = 0; i < 200; ++i) ok += map(*ta, B_ID, 6, GNTMAP_device_map, 0).status == GNTST_okay;
    EXPECT_EQ(ok, 128u);
    // Only one maptrack frame: 256 handles (one is still the stale one above).
    for (u32 r = 7; r < 7 + 200; ++r) {
        *tb->entry(r) = {GTF_permit_access, A_ID, 21};
        ok += map(*ta, B_ID, r, GNTMAP_device_map | GNTMAP_readonly, 0).status == GNTST_okay;
    }
    EXPECT_EQ(ok, 255u);
    EXPECT_EQ(map(*ta, B_ID, 6, GNTMAP_device_map, 0).status, GNTST_no_device_space);
    ops.release_mappings(*ta);
    EXPECT_EQ(tb->pin_of(6), 0u);
    EXPECT_EQ(tb->pin_of(1), 0u);
    EXPECT_EQ(audit_all(), "");
}

TEST_F(Grants, Copies) {
    auto* b21 = reinterpret_cast<pv::u8*>(env.table(21));
    auto* a11 = reinterpret_cast<pv::u8*>(env.table(11));
    for (int i = 0; i < 16; ++i) b21[i] = static_cast<pv::u8>(i + 1);
    *tb->entry(1) = {GTF_permit_access | GTF_readonly, A_ID, 21};
    gnttab_copy op{};
    op.flags = GNTCOPY_source_gref;
    op.source.domid = B_ID;
    op.source.u.ref = 1;
    op.dest.domid = DOMID_SELF;
    op.dest.u.gmfn = 11;
    op.dest.offset = 100;
    op.len = 16;
    EXPECT_EQ(ops.copy(A_ID, op), GNTST_okay);
    EXPECT_EQ(a11[115], 16);
    op.dest.offset = 4090;
    EXPECT_EQ(ops.copy(A_ID, op), GNTST_bad_copy_arg);
    op.dest.offset = 0;
    op.dest.domid = A_ID;  // a frame named by id
    EXPECT_EQ(ops.copy(A_ID, op), GNTST_permission_denied);
    op.dest.domid = DOMID_SELF;
    op.dest.u.gmfn = 21;  // not ours
    EXPECT_EQ(ops.copy(A_ID, op), GNTST_bad_page);
    op.flags = GNTCOPY_dest_gref;  // writing into a read-only grant
    op.dest = op.source;
    op.source.domid = DOMID_SELF;
    op.source.u.gmfn = 11;
    EXPECT_EQ(ops.copy(A_ID, op), GNTST_general_error);
    EXPECT_EQ(tb->pin_of(1), 0u);
    EXPECT_EQ(tb->entry(1)->flags, GTF_permit_access | GTF_readonly);
    EXPECT_EQ(audit_all(), "");
}

TEST_F(Grants, GranterDiesWhileMapped) {
    *tb->entry(5) = {GTF_permit_access, A_ID, 21};
    auto op = map(*ta, B_ID, 5, GNTMAP_host_map, slot(10, 3));
    ASSERT_EQ(op.status, GNTST_okay);
    // B dies: its mappings, its table frames, then every frame it owns.
    ops.release_mappings(*tb);
    tb->release_frames();
    mmu.relinquish(B, 0, NR);
    EXPECT_EQ(env.freed[20].load(), 1);
    EXPECT_EQ(env.freed[41].load(), 1);
    EXPECT_EQ(env.freed[21].load(), 0);  // still mapped by A
    EXPECT_EQ(unmap(*ta, op.handle, slot(10, 3)), GNTST_okay);
    EXPECT_EQ(env.freed[21].load(), 1);
    EXPECT_EQ(audit_all(), "");
}

TEST_F(Grants, MapperDiesWithMappings) {
    *tb->entry(5) = {GTF_permit_access, A_ID, 21};
    ASSERT_EQ(map(*ta, B_ID, 5, GNTMAP_host_map, slot(10, 3)).status, GNTST_okay);
    ASSERT_EQ(map(*ta, B_ID, 5, GNTMAP_device_map, 0).status, GNTST_okay);
    ops.release_mappings(*ta);
    ta->release_frames();
    mmu.relinquish(A, 0, NR);  // its L1 devalidates: the host mapping's references go with it
    EXPECT_EQ(tb->pin_of(5), 0u);
    EXPECT_EQ(tb->entry(5)->flags, GTF_permit_access);
    EXPECT_EQ(count_of(env, 21), 1u);  // B's allocation reference only
    EXPECT_EQ(env.freed[10].load(), 1);
    EXPECT_EQ(env.freed[40].load(), 1);
    EXPECT_EQ(audit_all(), "");
}

}  // namespace
