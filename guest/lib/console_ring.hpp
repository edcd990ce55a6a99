// Console output for a domU: into the output ring of its console page (xen/io/console.h).
// Xen's release builds refuse CONSOLEIO_write from a domU (-EPERM), so a domU's report lines go
// into the ring, which its domain 0 reads through a foreign mapping, after the domain stopped
// (then output beyond the ring's 2048 bytes is lost) or while it runs, consuming it.
#pragma once
#include "guest/lib/xen.hpp"

#include <xen/io/console.h>

namespace pvg {

// The console page (start_info's console.domU.mfn), found through the M2P and mapped at its
// pfn in the bootstrap region, as every builder lays it out.
xencons_interface* console_ring(const start_info_t* si);

// Sends every finished console line into that ring from now on.  With `wait_for_space`, a full
// ring makes the writer yield the CPU until its domain 0 drains it (for a while; then the rest
// of the line is dropped); without, what does not fit is dropped at once.  With `notify`, each
// write ends with EVTCHNOP_send on the console port, for a backend that drains on that event
// (domain 0's console service).
void use_console_ring(const start_info_t* si, bool wait_for_space = false, bool notify = false);

}  // namespace pvg
