// libFuzzer target: the PV page-type and reference engine (core/pv_mmu.hpp over
// core/page_types.hpp) fed a sequence of operations from the input, on the fake frame table of
// the unit tests (tests/unit/fake_mm_env.hpp): pins and unpins at every level, entry updates with
// any PTE value (own frames, unowned, a foreign domain's, MMIO holes, past the table; any flags
// and slot), root switches, writable references, descriptor updates, grant-style entries.  After
// every step the model (mmtest::audit: each frame's general and type counts recomputed from the
// tables and the references held) must agree with the engine; at the end everything is
// released and the domain's death must free each of its frames exactly once and no other frame.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../unit/fake_mm_env.hpp"
#include "fuzz_support.hpp"

namespace {

using fuzz::Input;

using namespace mmtest;
using pv::PageType;

constexpr Owner DOM{1};
constexpr u64 FIRST = 2, LAST = 29, FOREIGN = 30;


u64 own_frame(Input& in) { return FIRST + in.byte() % (LAST - FIRST + 1); }

// A PTE value: mostly a frame of the table (own, unowned, foreign or a hole) with common flag
// sets, sometimes any 64 bits.
u64 pte_value(Input& in) {
    using namespace pv::pte;
    static constexpr u64 FLAGS[] = {P, P | RW, P | RW | US | A | D, P | US | NX, P | PS, P | G,
                                    P | PWT, P | GNTTAB, P | RW | PS, 0};
    uint8_t k = in.byte();
    if (k >= 240) return in.u64();
    return make(in.byte() % (NR + 4), FLAGS[k % std::size(FLAGS)]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FakeMm env;
    Mmu mmu(env);
    for (u64 m = FIRST; m <= LAST; ++m) FUZZ_CHECK(mmu.assign(m, DOM));
    FUZZ_CHECK(mmu.assign(FOREIGN, Owner{2}));

    Input in(data, size);
    u64 root = 0;
    std::vector<u64> writable_held;
    std::vector<u64> descriptor_held;
    for (int step = 0; !in.empty() && step < 2000; ++step) {
        u64 m = own_frame(in);
        switch (in.byte() % 8) {
        case 0: (void)mmu.pin_table(DOM, 1 + in.byte() % 4, m); break;
        case 1: (void)mmu.unpin_table(DOM, m); break;
        case 2:
        case 3: {
            unsigned slot = in.byte() | (in.byte() & 1u) << 8;
            (void)mmu.update_entry(DOM, m, slot, pte_value(in), in.byte() & 1);
            break;
        }
        case 4: {
            u64 want = in.byte() % 4 ? m : 0;
            auto r = mmu.new_baseptr(DOM, root, want);
            if (r) {
                mmu.put_baseptr(*r);
                root = want;
            }
            break;
        }
        case 5:
            if (!writable_held.empty() && (in.byte() & 1)) {
                mmu.put_page_and_type(writable_held.back());
                writable_held.pop_back();
            } else if (mmu.get_page_and_type(m, DOM, PageType::writable)) {
                writable_held.push_back(m);
            }
            break;
        case 6:
            if (!descriptor_held.empty() && (in.byte() & 1)) {
                mmu.put_page_and_type(descriptor_held.back());
                descriptor_held.pop_back();
            } else if (mmu.get_page_and_type(m, DOM, PageType::seg_desc)) {
                descriptor_held.push_back(m);
            }
            break;
        case 7:
            (void)mmu.update_descriptor(DOM, m, in.byte() % 512, in.u64());
            break;
        }
        std::map<u64, u64> g, t;
        for (u64 w : writable_held) ++g[w], ++t[w];
        for (u64 w : descriptor_held) ++g[w], ++t[w];
        if (root) ++g[root], ++t[root];
        std::string why = audit(env, g, t);
        if (!why.empty()) {
            std::fprintf(stderr, "step %d: %s\n", step, why.c_str());
            FUZZ_CHECK(why.empty());
        }
    }
    if (root) mmu.put_baseptr(mmu.new_baseptr(DOM, root, 0).value());
    for (u64 w : writable_held) mmu.put_page_and_type(w);
    for (u64 w : descriptor_held) mmu.put_page_and_type(w);
    for (u64 m = FIRST; m <= LAST; ++m) (void)mmu.unpin_table(DOM, m);
    FUZZ_CHECK(audit(env).empty());
    FUZZ_CHECK(mmu.relinquish(DOM, 0, NR) == LAST - FIRST + 1);
    for (u64 m = 0; m < NR; ++m) FUZZ_CHECK(env.freed[m] == (m >= FIRST && m <= LAST ? 1 : 0));
    return 0;
}
