// Event channels of a PV kernel that takes no upcalls: ports are allocated and bound with
// EVTCHNOP_*, and the kernel sleeps in SCHEDOP_poll until one of its ports is pending, then reads
// and clears the 2-level pending bits in its shared_info itself.  Event delivery stays masked
// (vcpu_info.evtchn_upcall_mask as the builder left it), so no callback is ever entered, and
// SCHEDOP_poll wakes on a pending port whatever its mask (Xen's do_poll tests evtchn_pending).
//
// Lost wake-ups cannot happen: a waiter clears a port's pending bit before it looks at the state
// the event announces, and the other side changes that state before it sends.
#pragma once
#include "guest/lib/types.hpp"
#include "guest/lib/xen.hpp"

namespace xb {

using namespace pvg;  // NOLINT: the guest library's integer names

// Maps this domain's shared_info (start_info.shared_info) at a page of .bss, once.
volatile shared_info_t* shared_info(const start_info_t* si);

// EVTCHNOP_* for the calling domain; each returns 0 or a negative Xen errno.
long evtchn_alloc_unbound(domid_t remote, u32* port);
long evtchn_bind_interdomain(domid_t remote, u32 remote_port, u32* port);
long evtchn_bind_virq(u32 virq, u32* port);
long evtchn_send(u32 port);
long evtchn_close(u32 port);

// The 2-level pending bit of `port`, cleared atomically; true if it was set.
bool test_and_clear_pending(volatile shared_info_t* s, u32 port);

// SCHEDOP_poll: sleeps until one of `ports` is pending or system time reaches `timeout_ns`
// (0: no timeout).  At most 128 ports (Xen's limit for SCHEDOP_poll).
inline constexpr unsigned POLL_MAX_PORTS = 128;
long poll(const u32* ports, unsigned n, u64 timeout_ns);

}  // namespace xb
