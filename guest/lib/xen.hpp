// The one place Xen's public ABI (Debian's libxen-dev headers) enters the guest library.
//
// Guests choose the interface version they are written against; without a choice the headers
// fall back to the legacy interface 0, where __HYPERVISOR_sched_op means the compat call 6
// instead of 29 and event_channel_op/physdev_op name their pre-3.2 forms.  This library speaks
// the interface of the headers it is built with (Xen 4.17's: 0x00040e00).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __XEN_INTERFACE_VERSION__
#error "include guest/lib/xen.hpp before (instead of) any <xen/...> header"
#endif
#define __XEN_INTERFACE_VERSION__ 0x00040e00

#include <xen/xen.h>

#include <xen/callback.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/features.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/physdev.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>

static_assert(__XEN_INTERFACE_VERSION__ == __XEN_LATEST_INTERFACE_VERSION__,
              "the libxen-dev headers are not Xen 4.17's; update the interface version above");
static_assert(__HYPERVISOR_sched_op == 29 && __HYPERVISOR_event_channel_op == 32 &&
                  __HYPERVISOR_physdev_op == 33,
              "the modern hypercall numbers must be in effect");
static_assert(sizeof(start_info_t) == 1168 && offsetof(start_info_t, cmd_line) == 128);
static_assert(sizeof(vcpu_info_t) == 64);
static_assert(sizeof(multicall_entry_t) == 64);
static_assert(sizeof(struct iret_context) == 9 * 8);
