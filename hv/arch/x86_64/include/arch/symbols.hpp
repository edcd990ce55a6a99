// The hypervisor's own symbol table (text symbols), for readable backtraces.
#pragma once
#include "lib/types.hpp"

namespace pv::arch {

// The function containing addr and the offset into it, or nullptr when unknown.
const char* symbol_for(u64 addr, u64* offset);

}  // namespace pv::arch
