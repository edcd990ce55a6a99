#include <arch/symbols.hpp>

extern "C" {
extern const pv::u64 hv_symbol_count;
extern const struct SymbolEntry {
    pv::u64 addr;
    pv::u64 name;
} hv_symbol_table[];
extern const char hv_symbol_names[];
}

namespace pv::arch {

const char* symbol_for(u64 addr, u64* offset) {
    // Last entry with entry.addr <= addr (the table is sorted by address).
    u64 lo = 0, hi = hv_symbol_count;
    while (lo < hi) {
        u64 mid = lo + (hi - lo) / 2;
        if (hv_symbol_table[mid].addr <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return nullptr;
    const SymbolEntry& e = hv_symbol_table[lo - 1];
    *offset = addr - e.addr;
    if (*offset > 1 * 1024 * 1024) return nullptr;  // past the end of the text, most likely
    return hv_symbol_names + e.name;
}

}  // namespace pv::arch
