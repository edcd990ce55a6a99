// dom0test's parts: main.cpp (the manifest's domUs, one after another, and the helpers below)
// and sched.cpp (the scheduler and lifecycle tests, chosen by mode= on dom0test's command line).
#pragma once
#include "guest/lib/builder/xen_tools.hpp"  // first: before any other Xen header

#include "core/diagnostics.hpp"
#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/hypercall.hpp"

namespace dom0t {

using namespace pvg;
using pv::StrView;

// Bounds on the waits, in getdomaininfo polls with a yield between them.  A domU's run is a
// few milliseconds of guest time; the bound only keeps a hung domain from hanging the test.
inline constexpr u64 SHUTDOWN_POLLS = 2'000'000;
inline constexpr u64 DESTROY_POLLS = 200'000;
inline constexpr u64 MEMORY_POLLS = 200'000;

extern const start_info_t* g_si;

// Prints every message the builder collected, as info lines.
void report(const pv::Diagnostics& diags);
// The first error, for a check's FAIL detail.
const char* first_error(const pv::Diagnostics& diags);
// A file of the initrd (a cpio archive), or null.
const u8* find_file(StrView name, usize* size);
// Waits until the hypervisor's free memory is back to `baseline` (destruction may free the
// last pages a little after the domain disappears from getdomaininfo); the last count seen.
u64 await_free_pages(u64 baseline);

// Re-reports a domU's "domu: check <name>: PASS|FAIL (...)" lines (its console ring's text) as
// checks named <prefix>.<name>; other lines become info lines labelled `domu`.  Returns whether
// a verdict line was seen and said PASS.
bool relay(StrView prefix, StrView domu, StrView text);

// sched.cpp: mode=fair, smp, cycles, control (or attack and fuzz, below); `baseline` is the
// free memory at start.
void run_mode(StrView mode, u64 baseline);

// sched.cpp's time keeping, after run_mode mapped domain 0's shared_info: system time; sleeping
// until a system time; free pages once back at `baseline`, waiting up to 2 s for them.
u64 now_ns();
void sleep_until(u64 until);
u64 await_memory(u64 baseline);

// physdev.cpp: physical IRQs (map a GSI, set it up, bind, EOI, close, unmap), Xen's errors.
void check_physdev();

// attack.cpp: mode=attack (the attack suite beside a victim) and mode=fuzz (the hypercall
// fuzzer as a domU beside a victim).
void run_attacks();
void run_fuzz();

}  // namespace dom0t
