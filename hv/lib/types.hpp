// Fixed-width integer names and small arithmetic helpers used throughout pvisor.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace pv {

using u8 = uint8_t;
using u16 = uint16_t;
using u32 = uint32_t;
using u64 = uint64_t;
using i8 = int8_t;
using i16 = int16_t;
using i32 = int32_t;
using i64 = int64_t;
using usize = size_t;
using uptr = uintptr_t;

inline constexpr u64 KiB = 1024;
inline constexpr u64 MiB = 1024 * KiB;
inline constexpr u64 GiB = 1024 * MiB;

inline constexpr unsigned PAGE_SHIFT = 12;
inline constexpr u64 PAGE_SIZE = u64{1} << PAGE_SHIFT;

template <typename T> constexpr T align_down(T v, T a) { return v & ~(a - 1); }
template <typename T> constexpr T align_up(T v, T a) { return (v + a - 1) & ~(a - 1); }
template <typename T> constexpr bool is_aligned(T v, T a) { return (v & (a - 1)) == 0; }
template <typename T> constexpr T min(T a, T b) { return a < b ? a : b; }
template <typename T> constexpr T max(T a, T b) { return a > b ? a : b; }

// Overflow-checked addition: false when a + b does not fit.
template <typename T> constexpr bool add_overflows(T a, T b, T* out) {
    return __builtin_add_overflow(a, b, out);
}
template <typename T> constexpr bool mul_overflows(T a, T b, T* out) {
    return __builtin_mul_overflow(a, b, out);
}

template <typename T, usize N> constexpr usize array_size(const T (&)[N]) { return N; }

}  // namespace pv
