#include "arch/x86_64/pv/guest_access.hpp"

#include <arch/layout.hpp>

extern "C" {
pv::u64 raw_copy_guest(void* dst, const void* src, pv::u64 n);
extern const pv::u64 __ex_table_start[], __ex_table_end[];
}

namespace pv::arch::pv {

bool guest_range_ok(u64 va, u64 len) {
    u64 end;
    if (add_overflows(va, len, &end)) return false;
    if (len == 0) return true;
    // Lower canonical half, or upper half above the hypervisor's slots.
    if (end <= 0x0000800000000000ull) return true;
    return va >= HV_VIRT_END;
}

bool guest_array_ok(u64 va) { return va < 0x0000800000000000ull || va >= HV_VIRT_END; }

Result<void> copy_from_guest(void* dst, u64 guest_va, u64 len) {
    if (!guest_range_ok(guest_va, len)) return error(XEN_EFAULT);
    if (raw_copy_guest(dst, reinterpret_cast<const void*>(guest_va), len)) return error(XEN_EFAULT);
    return ok();
}

Result<void> copy_to_guest(u64 guest_va, const void* src, u64 len) {
    if (!guest_range_ok(guest_va, len)) return error(XEN_EFAULT);
    if (raw_copy_guest(reinterpret_cast<void*>(guest_va), src, len)) return error(XEN_EFAULT);
    return ok();
}

u64 exception_fixup(u64 rip) {
    for (const u64* e = __ex_table_start; e + 1 < __ex_table_end; e += 2)
        if (e[0] == rip) return e[1];
    return 0;
}

}  // namespace pv::arch::pv
