// Xen's public ABI for the domain builder: the guest library's headers (interface version
// 0x00040e00) plus the toolstack-only ones, domctl.h and sysctl.h, which refuse to be included
// unless the includer declares itself a tool (__XEN_TOOLS__).  xen.h declares the types those
// need (uint64_aligned_t, xenctl_bitmap, the arch domain config) only for tools, so this must
// come before anything that includes <xen/xen.h>: include it first.
#pragma once
#ifndef __XEN_TOOLS__
#define __XEN_TOOLS__ 1
#endif
#include "guest/lib/xen.hpp"

#ifndef uint64_aligned_t
#error "<xen/xen.h> was included before guest/lib/builder/xen_tools.hpp: include this first"
#endif

// domctl.h pulls in hvm/save.h, whose anonymous structs it allows only outside strict ISO
// mode; g++ accepts them in C++20 regardless.
#pragma push_macro("__STRICT_ANSI__")
#undef __STRICT_ANSI__
#include <xen/domctl.h>
#include <xen/sysctl.h>
#pragma pop_macro("__STRICT_ANSI__")
#include <xen/io/console.h>

static_assert(XEN_DOMCTL_INTERFACE_VERSION == 0x15 && XEN_SYSCTL_INTERFACE_VERSION == 0x15,
              "the builder speaks Xen 4.17's domctl and sysctl (interface 0x15)");
