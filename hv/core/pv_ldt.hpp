// A 64-bit PV vCPU's local descriptor table, as Xen 4.17 keeps it: MMUEXT_SET_LDT only records
// the guest's linear base and entry count and points LDTR at a 64 KiB hypervisor window that is
// left unmapped.  The first descriptor load through an LDT selector faults there; the fault
// handler finds the guest frame behind base + offset in the guest's kernel page tables, takes a
// general and a seg_desc type reference on it (so every descriptor in it has passed
// check_pv64 and no writable mapping of it can exist while the LDT uses it), maps it into the
// window and retries.  The references are dropped when the LDT is replaced or cleared and when
// the vCPU changes its kernel root table, not when the guest unmaps its own view of the frame
// (Xen dropped that case, PV LDT paging, in 4.14).
//
// This part is arch-neutral: the argument rule and the record of which frame backs which window
// page, over the PV MMU's reference engine.  Mapping the window and walking the guest's tables
// are the platform's (arch/x86_64/pv/mmu.cpp).
#pragma once
#include "core/pv_mmu.hpp"
#include "core/xen_abi.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv::ldt {

inline constexpr u64 MAX_ENTRIES = 8192;                      // 64 KiB of 8-byte descriptors
inline constexpr unsigned WINDOW_PAGES = MAX_ENTRIES * 8 / 4096;  // 16

// MMUEXT_SET_LDT's check (Xen's do_mmuext_op): with no entries the base is ignored (taken as 0);
// otherwise the base must be page aligned and a guest address (below the canonical hole's
// start, or at or above the hypervisor's range end), and at most 8192 entries.  Only the base
// is checked: an LDT may run into the non-canonical hole, which the fault path answers with #GP.
// On success *base_out is the base to record.
inline Result<void> check_set_ldt(u64 base, u64 ents, u64* base_out) {
    if (ents == 0) base = 0;
    bool guest_addr = base < (u64{1} << 47) || base >= HYPERVISOR_VIRT_END;
    if ((base & 4095) || !guest_addr || ents > MAX_ENTRIES) return error(XEN_EINVAL);
    *base_out = base;
    return ok();
}

// Which guest frame backs each page of the window (0: none).  Not thread-safe: a vCPU's LDT is
// only touched by the CPU running it.
class Shadow {
public:
    u64 frame(unsigned page) const { return page < WINDOW_PAGES ? frames_[page] : 0; }
    unsigned mapped() const {
        unsigned n = 0;
        for (u64 f : frames_) n += f != 0;
        return n;
    }

    // Window page `page` is to show frame mfn of d's: takes the references (EINVAL when d cannot
    // reference mfn; the type engine's error when mfn cannot be a seg_desc frame: a writable
    // mapping exists, or a descriptor in it is refused).  A frame already recorded there (a
    // stale TLB entry let the fault happen again) is released after the new one is held.
    template <MmEnv Env> Result<void> map(PvMmu<Env>& mmu, Owner d, unsigned page, u64 mfn) {
        if (page >= WINDOW_PAGES) return error(XEN_EINVAL);
        if (Result<void> r = mmu.get_page_and_type(mfn, d, PageType::seg_desc); !r) return r;
        u64 old = frames_[page];
        frames_[page] = mfn;
        if (old) mmu.put_page_and_type(old);
        return ok();
    }

    // Drops every recorded frame's references (Xen's pv_destroy_ldt); returns how many there
    // were, so the caller knows whether window mappings need removing and a TLB flush.  `unmap`
    // is called with each page index before its frame's references go.
    template <MmEnv Env, typename Unmap> unsigned destroy(PvMmu<Env>& mmu, Unmap&& unmap) {
        unsigned dropped = 0;
        for (unsigned p = 0; p < WINDOW_PAGES; ++p) {
            if (!frames_[p]) continue;
            unmap(p);
            mmu.put_page_and_type(frames_[p]);
            frames_[p] = 0;
            ++dropped;
        }
        return dropped;
    }

private:
    u64 frames_[WINDOW_PAGES] = {};
};

}  // namespace pv::ldt
