#include "core/pv_desc.hpp"

#include "core/xen_abi.hpp"

namespace pv::desc {

namespace {

// Bits of a descriptor's high word (Intel SDM vol. 3, 3.4.5).
constexpr u32 TYPE = u32{15} << 8;
constexpr u32 S = u32{1} << 12;  // code or data, not a system descriptor
constexpr u32 DPL = u32{3} << 13;
constexpr u32 PRESENT = u32{1} << 15;
constexpr u32 CALL_GATE_64 = u32{12} << 8;
constexpr unsigned GUEST_KERNEL_RPL = 3;

bool gate_selector_ok(u32 sel) {
    return (sel >> 3) < FIRST_RESERVED_GDT_ENTRY || sel == FLAT_KERNEL_CS || (sel & 4);
}

}  // namespace

bool check_pv64(u64& d) {
    u32 lo = static_cast<u32>(d);
    u32 hi = static_cast<u32>(d >> 32);
    if (!(hi & PRESENT)) return true;

    u32 dpl = (hi & DPL) >> 13;
    if (dpl < GUEST_KERNEL_RPL) dpl = GUEST_KERNEL_RPL;
    hi = (hi & ~DPL) | dpl << 13;

    if (!(hi & S)) {
        if ((hi & TYPE) == 0) return true;
        if ((hi & TYPE) != CALL_GATE_64) return false;
        u32 cs = lo >> 16;
        if (!gate_selector_ok(cs)) return false;
        hi &= ~DPL;
        cs = (cs & ~u32{3}) | dpl;
        lo = (lo & 0xffff) | cs << 16;
        if (hi & 0xff) return false;
    }
    d = u64{hi} << 32 | lo;
    return true;
}

}  // namespace pv::desc
