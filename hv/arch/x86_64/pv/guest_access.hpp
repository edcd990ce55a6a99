// Guest memory access for hypercalls.  A guest pointer is untrusted: it must lie outside the
// hypervisor's range (else a guest could make the hypervisor read or write its own memory), and
// the access may fault; both cases end in -EFAULT for the guest, never in a hypervisor fault.
#pragma once
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv::arch::pv {

// True when [va, va + len) is canonical, does not wrap and avoids the hypervisor's range.
bool guest_range_ok(u64 va, u64 len);

// Xen's guest_handle_okay for an array a 64-bit PV guest passes: only its start is checked
// (lower half, or above the hypervisor's range); the copies then check and fault item by item.
bool guest_array_ok(u64 va);

Result<void> copy_from_guest(void* dst, u64 guest_va, u64 len);
Result<void> copy_to_guest(u64 guest_va, const void* src, u64 len);

template <typename T> Result<void> get_guest(T& out, u64 guest_va) { return copy_from_guest(&out, guest_va, sizeof(T)); }
template <typename T> Result<void> put_guest(u64 guest_va, const T& v) { return copy_to_guest(guest_va, &v, sizeof(T)); }

// For the #PF handler: the fixup address for a faulting hypervisor RIP, or 0.
u64 exception_fixup(u64 rip);

}  // namespace pv::arch::pv
