#include "core/pv_pte.hpp"

namespace pv::pte {

namespace {

// Xen's base_disallow_mask, inverted: what any level may carry besides the frame number.
constexpr u64 BASE_ALLOWED = P | RW | US | A | D | AVAIL | AVAIL_HIGH | NX;
// Bits that may change without revalidation.
constexpr u64 FAST_PATH_BITS = NX | AVAIL_HIGH | AVAIL | G | D | A | US;

}  // namespace

u64 disallowed(unsigned level, bool cache_attrs_ok) {
    u64 allowed = BASE_ALLOWED;
    if (level == 1) {
        // Xen 4.17's L1_DISALLOW_MASK = (base | _PAGE_GNTTAB) & ~_PAGE_GLOBAL.  Its release builds
        // define _PAGE_GNTTAB as 0 and so let bit 62 through; we keep the debug builds' stricter
        // rule, which no known guest trips over (Linux never sets bit 62 in a PV guest).
        allowed = (allowed & ~GNTTAB) | G;
        if (cache_attrs_ok) allowed |= CACHE_ATTRS;
    }
    return ~(allowed | ADDR);
}

bool fast_path(u64 old_e, u64 new_e) {
    return present(old_e) && ((old_e ^ new_e) & ~FAST_PATH_BITS) == 0;
}

u64 adjust_for_guest(unsigned level, u64 e) {
    if (!present(e)) return e;
    switch (level) {
    case 1:
        if (!(e & US)) e |= US | GUEST_KERNEL;
        if (!(e & GUEST_KERNEL)) e |= G | US;
        return e;
    case 4: return e | US | A;
    default: return e | US;
    }
}

u64 mmio_uncacheable(u64 e) {
    switch (e & CACHE_ATTRS) {
    case 0:          // WB
    case PWT:        // WT
    case PWT | PAT:  // WP
        return (e & ~CACHE_ATTRS) | PWT | PCD;  // UC
    default: return e;  // already UC-, UC or WC
    }
}

}  // namespace pv::pte
