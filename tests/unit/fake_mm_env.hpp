// A fake MmEnv for the PV MMU tests: a frame table and memory for NR frames, of which the last
// few are MMIO holes (not RAM) like the frames beyond the table; one domain may be given I/O
// access.  It counts every freed frame and every type-change flush, thread-safely.
#pragma once
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "core/mm_env.hpp"
#include "core/page_info.hpp"
#include "core/pv_mmu.hpp"
#include "core/pv_pte.hpp"

namespace mmtest {

using pv::Owner;
using pv::PageInfo;
using pv::PageType;
using pv::u64;

inline constexpr u64 NR = 64;             // frames in the table
inline constexpr u64 FIRST_HOLE = 60;     // [FIRST_HOLE, NR): in the table but not RAM
inline constexpr u64 HV_SLOT_TARGET = 1;  // the hypervisor L4 slots point here (never assigned)

struct FakeMm {
    std::unique_ptr<PageInfo[]> frames{new PageInfo[NR]};
    std::unique_ptr<u64[]> mem{new u64[NR * pv::pte::ENTRIES]()};
    Owner io_owner = Owner::none;  // may map MMIO [io_first, io_last] and use cache attributes
    u64 io_first = 0, io_last = 0;
    u64 io_read_only_mfn = ~u64{0};  // a permitted MMIO frame whose mappings are forced read-only

    std::array<std::atomic<int>, NR> freed{};
    std::array<std::atomic<unsigned>, NR> freed_owner{};
    std::atomic<u64> flushes{0};
    std::atomic<u64> l4_inits{0};

    PageInfo* ram_frame(u64 mfn) const { return mfn < FIRST_HOLE ? &frames[mfn] : nullptr; }
    u64* table(u64 mfn) const { return &mem[mfn * pv::pte::ENTRIES]; }
    bool io_mapping_permitted(Owner d, u64 mfn) const {
        return d != Owner::none && d == io_owner && mfn >= io_first && mfn <= io_last;
    }
    bool io_read_only(u64 mfn) const { return mfn == io_read_only_mfn; }
    bool cache_attrs_permitted(Owner d) const { return d != Owner::none && d == io_owner; }
    void free_frame(u64 mfn, Owner d) {
        freed[mfn].fetch_add(1);
        freed_owner[mfn].store(static_cast<unsigned>(d));
    }
    void flush_for_type_change(u64, Owner) { flushes.fetch_add(1); }
    void init_hypervisor_l4_slots(u64 mfn) {
        l4_inits.fetch_add(1);
        for (unsigned i = pv::pte::FIRST_HYPERVISOR_L4_SLOT; i <= pv::pte::LAST_HYPERVISOR_L4_SLOT; ++i)
            table(mfn)[i] = pv::pte::make(HV_SLOT_TARGET, pv::pte::P | pv::pte::RW);
    }
};
static_assert(pv::MmEnv<FakeMm>);

using Mmu = pv::PvMmu<FakeMm>;

inline u64 count_of(const FakeMm& env, u64 mfn) {
    return env.frames[mfn].count_info.load() & pv::pgc::COUNT_MASK;
}
inline u64 type_info_of(const FakeMm& env, u64 mfn) { return env.frames[mfn].use.type_info.load(); }

// Recomputes every frame's expected general and type counts from the state of the tables (what
// the essay atop page_types.hpp says each reference comes from) and compares.  extra_*: references
// the test holds itself (vCPU roots, explicit gets).  Returns "" or a description of the first
// mismatch.  Only meaningful while no operation is in flight.
inline std::string audit(const FakeMm& env, const std::map<u64, u64>& extra_general = {},
                         const std::map<u64, u64>& extra_type = {}) {
    using namespace pv;
    std::map<u64, u64> g, t;
    for (auto [m, n] : extra_general) g[m] += n;
    for (auto [m, n] : extra_type) t[m] += n;
    for (u64 m = 0; m < FIRST_HOLE; ++m) {
        u64 caf = env.frames[m].count_info.load();
        if ((caf & pgc::COUNT_MASK) == 0) continue;
        u64 taf = type_info_of(env, m);
        if (caf & pgc::ALLOCATED) ++g[m];
        if (taf & pgt::PINNED) ++g[m], ++t[m];
        if (taf & pgt::LOCKED) return "frame " + std::to_string(m) + " left locked";
        PageType ty = pgt::type(taf);
        if (is_page_table(ty) && pgt::count(taf) == 0 && (taf & pgt::VALIDATED))
            return "frame " + std::to_string(m) + " validated at type count 0";
        if (!is_page_table(ty) || !(taf & pgt::VALIDATED) || pgt::count(taf) == 0) continue;
        unsigned level = table_level(ty);
        for (unsigned i = 0; i < pte::ENTRIES; ++i) {
            u64 e = env.table(m)[i];
            if (!pte::is_guest_slot(level, i) || !pte::present(e)) continue;
            u64 target = pte::mfn(e);
            if (!env.ram_frame(target)) continue;
            ++g[target];
            if (level > 1 || (e & pte::RW)) {
                ++t[target];
                PageType want = level > 1 ? table_type(level - 1) : PageType::writable;
                if (pgt::type(type_info_of(env, target)) != want)
                    return "frame " + std::to_string(target) + " mapped by " + std::to_string(m) +
                           " slot " + std::to_string(i) + " has the wrong type";
            }
        }
    }
    for (u64 m = 0; m < FIRST_HOLE; ++m) {
        u64 gc = count_of(env, m), tc = pgt::count(type_info_of(env, m));
        u64 ge = g.count(m) ? g[m] : 0, te = t.count(m) ? t[m] : 0;
        if (gc != ge || (gc != 0 && tc != te))
            return "frame " + std::to_string(m) + ": count " + std::to_string(gc) + " (expected " +
                   std::to_string(ge) + "), type count " + std::to_string(tc) + " (expected " +
                   std::to_string(te) + ")";
    }
    return "";
}

}  // namespace mmtest
