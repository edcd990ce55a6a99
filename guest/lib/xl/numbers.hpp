// The number conversions xl's output and arguments depend on, done without floating point and
// without libc (domain 0 is freestanding), to the byte of what xl prints with glibc.
#pragma once
#include "lib/types.hpp"

namespace xl {

using pv::i64;
using pv::u32;
using pv::u64;
using pv::usize;

// What printf("%.1f", (float)ns / 1e9) prints (xl list's and vcpu-list's Time(s)): ns rounded
// to a float (24-bit significand, to nearest even), divided by 1e9 in double, rounded to one
// decimal as glibc does (exactly, from the double's binary value).  Exact for times below 2^50 s.
void format_cpu_seconds(u64 ns, char* buf, usize size);

// xl's print_bitmap over the first n bits of mask: "all", "none", or ranges "0-3,5".
void format_cpumap(u64 mask, u32 n, char* buf, usize size);

// xl's uptime_to_string: "[D day[s], ]HH:MM:SS" (short: without the seconds).
void format_uptime(u64 seconds, bool short_mode, char* buf, usize size);

// C's strtoll/strtoul(s, &end, 10): leading blanks, a sign, decimal digits; saturates at the
// type's limits as glibc does.  *end is where the digits stopped (s itself when there were none).
i64 c_strtoll(const char* s, const char** end);
u64 c_strtoul(const char* s, const char** end);

// xl's parse_mem_size_kb: a decimal number with an optional suffix b, k, m (the default), g, t
// (either case); -1 when malformed.  The shifts wrap as they do in xl.
i64 parse_mem_size_kb(const char* s);

}  // namespace xl
