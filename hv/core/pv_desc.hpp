// The rule for segment descriptors a 64-bit PV guest puts in its GDT or LDT frames (Xen's
// check_descriptor): a pure function of the descriptor; the type engine applies it to whole
// seg_desc frames and update_descriptor to single entries.
#pragma once
#include "lib/types.hpp"

namespace pv::desc {

inline constexpr unsigned PER_FRAME = 512;  // 8-byte descriptors in a 4 KiB frame

// Checks one 8-byte descriptor and rewrites it into the form the guest may have:
//  * not present: harmless (it always faults), kept as is;
//  * code and data segments: any base and limit, DPL raised to 3 (the guest kernel runs in ring 3);
//  * type 0 system descriptors: harmless (the upper half of a 16-byte gate looks like one);
//  * call gates: the target selector must be the guest's own (below the hypervisor's reserved GDT
//    entries, an LDT selector, or FLAT_KERNEL_CS); the DPL moves into the selector's RPL and the
//    descriptor's DPL becomes 0, so every use faults and is emulated; reserved bits must be 0;
//  * every other system descriptor (TSS, LDT, interrupt and trap gates) is refused.
// Returns false, leaving d unchanged, when the descriptor must be refused.
bool check_pv64(u64& d);

}  // namespace pv::desc
