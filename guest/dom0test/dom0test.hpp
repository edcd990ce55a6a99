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

// sched.cpp: mode=fair, smp, cycles or control; `baseline` is the free memory at start.
void run_mode(StrView mode, u64 baseline);

}  // namespace dom0t
