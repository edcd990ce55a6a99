// System time as a PV kernel reads it: nanoseconds since the hypervisor booted, from a vCPU's
// vcpu_info.time (versioned: odd while the hypervisor updates it) and the TSC.
#pragma once
#include "guest/lib/types.hpp"
#include "guest/lib/xen.hpp"

namespace pvg {

inline u64 rdtsc() {
    u32 lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (u64{hi} << 32) | lo;
}

inline u64 vcpu_system_time_ns(const volatile vcpu_time_info_t& t) {
    for (;;) {
        u32 version = t.version;
        asm volatile("" : : : "memory");
        if (version & 1) continue;
        u64 delta = rdtsc() - t.tsc_timestamp;
        int shift = t.tsc_shift;
        delta = shift < 0 ? delta >> -shift : delta << shift;
        u64 ns = t.system_time + static_cast<u64>((static_cast<unsigned __int128>(delta) * t.tsc_to_system_mul) >> 32);
        asm volatile("" : : : "memory");
        if (t.version == version) return ns;
    }
}

}  // namespace pvg
