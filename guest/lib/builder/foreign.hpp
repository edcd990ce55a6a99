// Foreign mappings for a PV control domain: the FrameMapper the builder writes a new domain
// through.  Xen gives a PV dom0 no mapping API of its own; it maps another domain's frames the
// way Linux's privcmd does for PV, by writing the other domain's MFN into one of its own L1
// entries with mmu_update and `foreigndom` = that domain (Xen checks the caller may map it:
// dom0 may, by the dummy XSM policy's "privileged" rule).
//
// The window is a few page-aligned pages of our own .bss, which the hypervisor's dom0 builder
// mapped with 4 KiB entries.  Each slot's L1 entry is found once by walking our page tables
// from pt_base (table frames lie in the bootstrap region, found through the M2P), and its
// original value is kept so that release() can put our own frame back.  Slots are reused
// round-robin, each remap followed by an INVLPG of that slot.
//
// release() must come before the frames' types change: Xen refuses to pin a page table while
// a writable mapping of it exists anywhere (-EINVAL from MMUEXT_PIN_L4_TABLE), and a domain's
// memory does not go back to the heap while we still map any of it.
#pragma once
#include "guest/lib/builder/own_memory.hpp"

namespace pvb {

// The entry that maps `va` at `level` (0 = L1, 1 = L2, 2 = L3) in our own tables, rooted at
// pt_base; the table frames lie in our bootstrap region at virt_base.  EFAULT (no message) when
// a level above it is not present.
Result<OwnPte> own_pte(u64 pt_base, u64 virt_base, u64 va, int level);

// OwnMemory's access to our own page tables: own_pte, MMUEXT_CLEAR_PAGE and mmu_update.
class OwnPageTables final : public OwnTables {
public:
    OwnPageTables(u64 pt_base, u64 virt_base) : pt_base_(pt_base), virt_base_(virt_base) {}
    Result<OwnPte> pte(u64 va, int level) override { return own_pte(pt_base_, virt_base_, va, level); }
    Result<void> clear(u64 mfn, Diagnostics& diags) override;
    Result<void> update(const mmu_update_t* reqs, unsigned n, Diagnostics& diags) override;

private:
    u64 pt_base_;
    u64 virt_base_;
};

class ForeignWindow final : public FrameMapper {
public:
    // pt_base and virt_base describe our own (the control domain's) bootstrap region.
    ForeignWindow(domid_t dom, u64 pt_base, u64 virt_base, Diagnostics& diags)
        : dom_(dom), pt_base_(pt_base), virt_base_(virt_base), diags_(diags) {}
    ForeignWindow(const ForeignWindow&) = delete;
    ForeignWindow& operator=(const ForeignWindow&) = delete;
    ~ForeignWindow() { (void)release(); }

    u8* map(u64 mfn) override;
    // The same, mapped read-only.
    const u8* map_readonly(u64 mfn) { return map_with(mfn, 0); }
    // Restores our own mappings in every slot used.
    Result<void> release();

    static constexpr unsigned SLOTS = 8;

private:
    u8* map_with(u64 mfn, u64 rw);
    Result<u64> slot_l1e_maddr(unsigned slot);
    Result<void> set_slot(unsigned slot, u64 pte, domid_t owner);

    domid_t dom_;
    u64 pt_base_;
    u64 virt_base_;
    Diagnostics& diags_;
    u64 l1e_maddr_[SLOTS] = {};
    u64 original_[SLOTS] = {};
    bool in_use_[SLOTS] = {};
    unsigned next_ = 0;
};

}  // namespace pvb
