// domutest's burn mode (mode=burn on its command line), shared with the domain-0 side that
// watches it: a CPU-bound domU for the scheduler tests.  It never blocks, yields or shuts down
// (its domain 0 destroys it) and counts its loop iterations in the last 8 bytes of its console
// page, past struct xencons_interface, where domain 0 reads them through a foreign mapping.
#pragma once
#include "guest/lib/types.hpp"
#include "guest/lib/xen.hpp"

#include <xen/io/console.h>

namespace pvg {

inline constexpr usize BURN_COUNTER_OFFSET = 4096 - sizeof(u64);
static_assert(sizeof(xencons_interface) <= BURN_COUNTER_OFFSET);

}  // namespace pvg
