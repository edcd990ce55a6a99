// The one place Xen's public ABI (Debian's libxen-dev headers) enters pvisor.  Xen's headers
// expect the C fixed-width types to be declared before them; include this, never <xen/...>
// directly, in hypervisor code.
#pragma once
#include <stddef.h>
#include <stdint.h>

// The hypervisor side of the interface: the latest interface version (without this, xen.h
// falls back to version 0 and renames, e.g., __HYPERVISOR_sched_op to the compat number 6), and
// the tools-only headers (domctl, sysctl) visible.
#ifndef __XEN_TOOLS__
#define __XEN_TOOLS__ 1
#endif

#include <xen/xen.h>
