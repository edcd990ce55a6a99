// The one place Xen's public ABI (Debian's libxen-dev headers) enters pvisor.  Xen's headers
// expect the C fixed-width types to be declared before them; include this, never <xen/...>
// directly, in hypervisor code.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
