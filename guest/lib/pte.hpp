// x86-64 page-table entry bits (architectural; Xen's public headers do not define them) and the
// guest kernels' VIRT_BASE.
#pragma once
#include "guest/lib/types.hpp"

namespace pvg {

constexpr u64 PTE_P = 1u << 0;
constexpr u64 PTE_RW = 1u << 1;
constexpr u64 PTE_US = 1u << 2;
constexpr u64 PTE_A = 1u << 5;
constexpr u64 PTE_D = 1u << 6;
constexpr u64 PTE_ADDR = 0x000ffffffffff000ull;

constexpr u64 VIRT_BASE = 0xffffffff80000000ull;  // the VIRT_BASE note (guest/lib/guest.ld)

}  // namespace pvg
