// The support library's integer names (hv/lib/types.hpp, shared with the hypervisor).
#pragma once
#include "lib/types.hpp"

namespace pvg {
using pv::i16;
using pv::i32;
using pv::i64;
using pv::i8;
using pv::u16;
using pv::u32;
using pv::u64;
using pv::u8;
using pv::uptr;
using pv::usize;
using pv::PAGE_SIZE;
using pv::PAGE_SHIFT;
}  // namespace pvg
