// xl's number conversions (numbers.hpp).
#include "guest/lib/xl/numbers.hpp"

#include "lib/format.hpp"
#include "lib/string.hpp"

namespace xl {

namespace {

constexpr u64 NS_PER_S = 1'000'000'000;
constexpr u64 NS_PER_TENTH = NS_PER_S / 10;

// u64 to float and back: round to the nearest 24-bit significand, ties to even.
u64 round_to_float(u64 x) {
    if (x < (u64{1} << 24)) return x;
    unsigned shift = static_cast<unsigned>(64 - __builtin_clzll(x)) - 24;
    u64 mant = x >> shift, rem = x & ((u64{1} << shift) - 1), half = u64{1} << (shift - 1);
    if (rem > half || (rem == half && (mant & 1))) ++mant;
    if (mant >> 24 && shift == 40) return ~u64{0};  // 2^64: beyond any CPU time
    return mant << shift;
}

// floor(log2(f / 1e9)), f > 0.
int log2_of_seconds(u64 f) {
    int e = 0;
    if (f >= NS_PER_S) {
        while (e < 63 && (f >> (e + 1)) >= NS_PER_S) ++e;
        return e;
    }
    while ((f << -e) < NS_PER_S) --e;
    return e;
}

// Whether the double nearest to f / 1e9 lies above it, for f an odd multiple of 5e7 (a tie in
// the tenths), f / 1e9 = m / 20 with m odd and not a multiple of 5 (so not a binary fraction).
// The double is m * 2^s / 20 rounded to an integer (times 2^-s), s = 52 - floor(log2 v): its
// fraction is (m * 2^(s-2) mod 5) / 5, and the double lies above when that is over one half.
bool double_above(u64 f) {
    u64 m = f / (NS_PER_TENTH / 2);
    int s2 = 50 - log2_of_seconds(f);
    static constexpr unsigned POW2_MOD5[4] = {1, 2, 4, 3};
    unsigned rem = static_cast<unsigned>(m % 5) * POW2_MOD5[static_cast<unsigned>(s2) % 4] % 5;
    return rem >= 3;
}

}  // namespace

void format_cpu_seconds(u64 ns, char* buf, usize size) {
    u64 f = round_to_float(ns);
    u64 tenths = f / NS_PER_TENTH, r = f % NS_PER_TENTH;
    if (r * 2 > NS_PER_TENTH) {
        ++tenths;
    } else if (r * 2 == NS_PER_TENTH) {
        u64 m = f / (NS_PER_TENTH / 2);
        if (m % 5 == 0) tenths += tenths & 1;   // an exact binary fraction: ties to even
        else if (double_above(f)) ++tenths;
    }
    pv::format(buf, size, "%lu.%lu", static_cast<unsigned long>(tenths / 10), static_cast<unsigned long>(tenths % 10));
}

void format_cpumap(u64 mask, u32 n, char* buf, usize size) {
    pv::BufferSink out(buf, size);
    if (n > 64) n = 64;
    bool any = false;
    u32 i = 0;
    while (i < n) {
        if (!(mask >> i & 1)) {
            ++i;
            continue;
        }
        u32 first = i;
        while (i < n && (mask >> i & 1)) ++i;
        if (first == 0 && i == n) {
            pv::format(out, "all");
            return;
        }
        pv::format(out, "%s%u", any ? "," : "", first);
        if (i - 1 > first) pv::format(out, "-%u", i - 1);
        any = true;
    }
    if (!any) pv::format(out, "none");
}

void format_uptime(u64 seconds, bool short_mode, char* buf, usize size) {
    u64 day = seconds / 86400, hour = seconds % 86400 / 3600, min = seconds % 3600 / 60, sec = seconds % 60;
    char days[32] = "";
    if (day) pv::format(days, sizeof(days), "%lu day%s, ", static_cast<unsigned long>(day), day > 1 ? "s" : "");
    if (short_mode)
        pv::format(buf, size, "%s%2lu:%02lu", days, static_cast<unsigned long>(hour), static_cast<unsigned long>(min));
    else
        pv::format(buf, size, "%s%2lu:%02lu:%02lu", days, static_cast<unsigned long>(hour),
                   static_cast<unsigned long>(min), static_cast<unsigned long>(sec));
}

namespace {

// The magnitude of a decimal number and its sign, as strtol reads it; saturated at limit.
u64 decimal(const char* s, const char** end, bool* neg, u64 limit) {
    const char* p = s;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r')) ++p;
    *neg = false;
    if (*p == '+' || *p == '-') *neg = *p++ == '-';
    if (*p < '0' || *p > '9') {
        *end = s;
        return 0;
    }
    u64 v = 0;
    bool over = false;
    for (; *p >= '0' && *p <= '9'; ++p) {
        u64 d = static_cast<u64>(*p - '0');
        if (v > (limit - d) / 10) over = true;
        else v = v * 10 + d;
    }
    *end = p;
    return over ? limit : v;
}

}  // namespace

i64 c_strtoll(const char* s, const char** end) {
    bool neg;
    u64 limit = u64{1} << 63;  // |LLONG_MIN|; LLONG_MAX for positive numbers below
    u64 v = decimal(s, end, &neg, limit);
    if (!neg) return v >= limit ? static_cast<i64>(limit - 1) : static_cast<i64>(v);
    return v >= limit ? static_cast<i64>(-static_cast<i64>(limit - 1) - 1) : -static_cast<i64>(v);
}

u64 c_strtoul(const char* s, const char** end) {
    bool neg;
    u64 v = decimal(s, end, &neg, ~u64{0});
    return neg && v != ~u64{0} ? 0 - v : v;  // strtoul negates in unsigned arithmetic
}

i64 parse_mem_size_kb(const char* s) {
    const char* end;
    u64 kb = static_cast<u64>(c_strtoll(s, &end));
    if (pv::str_len(end) > 1) return -1;
    char c = *end >= 'A' && *end <= 'Z' ? static_cast<char>(*end - 'A' + 'a') : *end;
    switch (c) {
    case 't': kb <<= 30; break;
    case 'g': kb <<= 20; break;
    case '\0':
    case 'm': kb <<= 10; break;
    case 'k': break;
    case 'b': return static_cast<i64>(kb) >> 10;
    default: return -1;
    }
    return static_cast<i64>(kb);
}

}  // namespace xl
