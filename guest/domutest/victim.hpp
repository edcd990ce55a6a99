// domutest's victim mode (mode=victim on its command line), shared with the domain-0 side that
// watches it (guest/dom0test/attack.cpp): the domain the attack suite and the fuzzer must leave
// undisturbed (issue 9).
//
// At start the victim fills a data region of VICTIM_DATA_PAGES pages of its .bss with a pattern,
// computes its checksum (victim_checksum) and publishes a VictimStatus at the end of its console
// page, past struct xencons_interface: the checksum, the data region's machine frames and a
// heartbeat.  Then it loops for ever: every millisecond (SCHEDOP_poll with a timeout) the
// heartbeat goes up, and every VICTIM_RECHECK_EVERY beats it recomputes the checksum itself and
// counts any mismatch.  Domain 0 maps the console page and the data frames read-only (foreign
// mappings: the hypervisor checks each frame is the victim's) and checks that the checksum of
// the frames as it reads them is the published one, that the heartbeat advanced and that the
// victim never saw a mismatch.  At the end domain 0 sets `stop`, and the victim powers off (a
// domain destroyed while blocked in SCHEDOP_poll keeps one frame away from Xen's free count).
#pragma once
#include "guest/lib/types.hpp"
#include "guest/lib/xen.hpp"

#include <xen/io/console.h>

namespace pvg {

inline constexpr unsigned VICTIM_DATA_PAGES = 16;
inline constexpr u64 VICTIM_MAGIC = 0x6d69746369762d70ull;  // "p-victim"
inline constexpr u64 VICTIM_RECHECK_EVERY = 64;

struct VictimStatus {
    u64 magic;               // VICTIM_MAGIC once the rest is valid
    u64 heartbeat;           // loop iterations, about one a millisecond
    u64 checksum;            // of the data region, as filled
    u64 rechecks;            // how often the victim recomputed it
    u64 mismatches;          // and found it different
    u64 stop;                // set by domain 0: the victim powers off at its next beat
    u64 data_mfn[VICTIM_DATA_PAGES];
};

inline constexpr usize VICTIM_STATUS_OFFSET = 4096 - sizeof(VictimStatus);
static_assert(sizeof(xencons_interface) <= VICTIM_STATUS_OFFSET);

// FNV-1a over 64-bit words, page after page.
inline u64 victim_checksum(u64 sum, const volatile u64* page) {
    for (usize i = 0; i < 4096 / sizeof(u64); ++i) sum = (sum ^ page[i]) * 0x100000001b3ull;
    return sum;
}
inline constexpr u64 VICTIM_CHECKSUM_SEED = 0xcbf29ce484222325ull;

}  // namespace pvg
