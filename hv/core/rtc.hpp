// The CMOS real-time clock's registers turned into seconds since the Unix epoch: the hypervisor
// reads the RTC once at boot to give guests their wallclock (shared_info's wc_sec), as Xen's
// get_cmos_time does.  Arch-neutral; the port I/O is in arch/x86_64/time.cpp.
#pragma once
#include "lib/types.hpp"

namespace pv::rtc {

// The registers as read: seconds 0x00, minutes 0x02, hours 0x04, day 0x07, month 0x08, year 0x09,
// century 0x32 (0 when the platform has none), status B 0x0b.
struct Registers {
    u8 sec, min, hour, day, mon, year, century, status_b;
};

inline constexpr u8 STATUS_B_24H = 0x02;     // hours 0-23 (else 1-12 with bit 7 for PM)
inline constexpr u8 STATUS_B_BINARY = 0x04;  // binary values (else BCD)

// Days from 1970-01-01 to the given proleptic Gregorian date (month 1-12).
constexpr i64 days_from_civil(i64 y, unsigned m, unsigned d) {
    y -= m <= 2;
    const i64 era = (y >= 0 ? y : y - 399) / 400;
    const u64 yoe = static_cast<u64>(y - era * 400);
    const u64 mp = m > 2 ? m - 3 : m + 9;  // months from March
    const u64 doy = (153 * mp + 2) / 5 + d - 1;
    const u64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<i64>(doe) - 719468;
}

// Seconds since the epoch, or -1 when the registers hold no valid date.  Without a century
// register, years 00-69 are 20xx and 70-99 19xx.
i64 to_unix(const Registers& r);

}  // namespace pv::rtc
