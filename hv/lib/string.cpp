#include "lib/string.hpp"

namespace pv {

// The compiler's memcpy/memset: the C library's on the host, the `rep movsq`/`rep stosq` of
// arch/x86_64/crt_mem.cpp in the freestanding images (a byte loop cost dom0's build most of the
// boot: 64 MiB cleared a byte at a time).
void mem_copy(void* dst, const void* src, usize n) { __builtin_memcpy(dst, src, n); }

void mem_move(void* dst, const void* src, usize n) {
    auto* d = static_cast<u8*>(dst);
    const auto* s = static_cast<const u8*>(src);
    if (d == s || n == 0) return;
    const uptr a = reinterpret_cast<uptr>(d), b = reinterpret_cast<uptr>(s);
    if (a + n <= b || b + n <= a) {
        __builtin_memcpy(d, s, n);  // apart (as GNTTABOP_copy's frames): the fast copy
    } else if (d < s) {
        for (usize i = 0; i < n; ++i) d[i] = s[i];
    } else {
        for (usize i = n; i > 0; --i) d[i - 1] = s[i - 1];
    }
}

void mem_set(void* dst, int value, usize n) { __builtin_memset(dst, value, n); }

int mem_compare(const void* a, const void* b, usize n) {
    const auto* x = static_cast<const u8*>(a);
    const auto* y = static_cast<const u8*>(b);
    for (usize i = 0; i < n; ++i)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

usize str_len(const char* s) {
    usize n = 0;
    while (s[n]) ++n;
    return n;
}

usize str_nlen(const char* s, usize max) {
    usize n = 0;
    while (n < max && s[n]) ++n;
    return n;
}

int str_compare(const char* a, const char* b) {
    for (;; ++a, ++b) {
        auto x = static_cast<unsigned char>(*a), y = static_cast<unsigned char>(*b);
        if (x != y) return x < y ? -1 : 1;
        if (!x) return 0;
    }
}

int str_ncompare(const char* a, const char* b, usize n) {
    for (usize i = 0; i < n; ++i) {
        auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x != y) return x < y ? -1 : 1;
        if (!x) return 0;
    }
    return 0;
}

usize str_copy(char* dst, const char* src, usize size) {
    usize n = str_len(src);
    if (size) {
        usize c = n < size - 1 ? n : size - 1;
        mem_copy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

static int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

// Parses the longest numeric prefix; returns the number of characters used (0 = none or overflow).
static usize parse_prefix(StrView s, u64* out) {
    usize i = 0;
    unsigned base = 10;
    if (s.len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    } else if (s.len >= 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        i = 2;
    } else if (s.len >= 2 && s[0] == '0') {
        base = 8;
        i = 1;
    }
    usize start = i;
    u64 v = 0;
    for (; i < s.len; ++i) {
        int d = digit_value(s[i]);
        if (d >= static_cast<int>(base)) break;
        if (mul_overflows(v, u64{base}, &v) || add_overflows(v, static_cast<u64>(d), &v)) return 0;
    }
    if (i == start) {
        if (start == 0) return 0;  // no digits at all
        // A prefix with no digit after it: as strtoull, only the leading "0" is the number ("0x"
        // is zero followed by 'x'), so parse_size reads "0b" as zero bytes, as Xen does.
        i = 1;
    }
    *out = v;
    return i;
}

bool parse_u64(StrView s, u64* out) {
    u64 v = 0;
    usize used = parse_prefix(s, &v);
    if (used == 0 || used != s.len) return false;
    *out = v;
    return true;
}

bool parse_size(StrView s, u64* out) {
    u64 v = 0;
    usize used = parse_prefix(s, &v);
    if (used == 0) return false;
    unsigned shift = 10;  // bare number: KiB, as Xen
    if (used < s.len) {
        if (used + 1 != s.len) return false;
        switch (s[used]) {
        case 'T': case 't': shift = 40; break;
        case 'G': case 'g': shift = 30; break;
        case 'M': case 'm': shift = 20; break;
        case 'K': case 'k': shift = 10; break;
        case 'B': case 'b': shift = 0; break;
        default: return false;
        }
    }
    if (shift && (v >> (64 - shift)) != 0) return false;
    *out = v << shift;
    return true;
}

}  // namespace pv
