// Memory and string primitives.  The freestanding image routes the compiler's implicit
// memcpy/memset calls to these (arch/x86_64/libc.cpp); the host build keeps libc's own.
#pragma once
#include "lib/types.hpp"

namespace pv {

void mem_copy(void* dst, const void* src, usize n);
void mem_move(void* dst, const void* src, usize n);
void mem_set(void* dst, int value, usize n);
int mem_compare(const void* a, const void* b, usize n);

usize str_len(const char* s);
usize str_nlen(const char* s, usize max);
int str_compare(const char* a, const char* b);
int str_ncompare(const char* a, const char* b, usize n);
// Copies at most size-1 characters and always terminates (size > 0); returns strlen(src).
usize str_copy(char* dst, const char* src, usize size);

// A non-owning view of characters (not necessarily NUL-terminated).
struct StrView {
    const char* ptr = nullptr;
    usize len = 0;

    constexpr StrView() = default;
    constexpr StrView(const char* p, usize n) : ptr(p), len(n) {}
    StrView(const char* s) : ptr(s), len(s ? str_len(s) : 0) {}  // NOLINT: implicit from C string

    bool empty() const { return len == 0; }
    char operator[](usize i) const { return ptr[i]; }
    bool equals(StrView o) const { return len == o.len && mem_compare(ptr, o.ptr, len) == 0; }
    bool starts_with(StrView p) const { return len >= p.len && mem_compare(ptr, p.ptr, p.len) == 0; }
    StrView substr(usize from, usize n = ~usize{0}) const {
        if (from > len) from = len;
        usize rest = len - from;
        return {ptr + from, n < rest ? n : rest};
    }
    // Index of the first c at or after from, or len.
    usize find(char c, usize from = 0) const {
        for (usize i = from; i < len; ++i)
            if (ptr[i] == c) return i;
        return len;
    }
};

// Parses an unsigned integer: decimal, 0x hex, 0 octal or 0b binary prefixes.  The whole view
// must be consumed.  Returns false on empty input, stray characters or overflow.
bool parse_u64(StrView s, u64* out);
// Parses a size with an optional B/K/M/G/T suffix (binary multiples).  As Xen's
// parse_size_and_unit, a bare number is in KiB.  Returns false on bad characters or overflow.
bool parse_size(StrView s, u64* out);

}  // namespace pv
