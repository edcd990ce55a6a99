#include "guest/lib/builder/foreign.hpp"

#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/hypercall.hpp"

namespace pvb {

namespace {

// The window: one page per slot, in .bss, so mapped 4 KiB at a time by the dom0 builder.
alignas(4096) constinit u8 g_window[ForeignWindow::SLOTS][PAGE_SIZE];

const unsigned long* const m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);

u64 slot_va(unsigned slot) { return reinterpret_cast<uptr>(g_window[slot]); }

}  // namespace

Result<OwnPte> own_pte(u64 pt_base, u64 virt_base, u64 va, int level) {
    const u64* table = reinterpret_cast<const u64*>(pt_base);
    for (int l = 3; l > level; --l) {
        const u64 e = table[(va >> (PAGE_SHIFT + 9 * static_cast<unsigned>(l))) & 511];
        if (!(e & PTE_P)) return error(XEN_EFAULT);
        const u64 table_mfn = (e & PTE_ADDR) >> PAGE_SHIFT;
        // Our own tables are in our bootstrap region: their VA follows from their pfn.
        table = reinterpret_cast<const u64*>(virt_base + (u64{m2p[table_mfn]} << PAGE_SHIFT));
        if (l - 1 == level) {
            const unsigned idx = (va >> (PAGE_SHIFT + 9 * static_cast<unsigned>(level))) & 511;
            return OwnPte{(table_mfn << PAGE_SHIFT) | (idx * sizeof(u64)), table[idx]};
        }
    }
    return error(XEN_EINVAL);  // the L4's own entries: not needed, its mfn is not at hand
}

Result<void> OwnPageTables::clear(u64 mfn, Diagnostics& diags) {
    mmuext_op_t op{};
    op.cmd = MMUEXT_CLEAR_PAGE;
    op.arg1.mfn = mfn;
    Result<long> r = hypercall_result(pvg::hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), "mmuext_op(MMUEXT_CLEAR_PAGE)",
                                      diags);
    return r ? ok() : error(r.error());
}

Result<void> OwnPageTables::update(const mmu_update_t* reqs, unsigned n, Diagnostics& diags) {
    unsigned done = 0;
    Result<long> r = hypercall_result(pvg::hc::mmu_update(reqs, n, &done, DOMID_SELF),
                                      "mmu_update (our own page tables)", diags);
    return r ? ok() : error(r.error());
}

Result<u64> ForeignWindow::slot_l1e_maddr(unsigned slot) {
    if (l1e_maddr_[slot]) return l1e_maddr_[slot];
    Result<OwnPte> e = own_pte(pt_base_, virt_base_, slot_va(slot), 0);
    if (!e) {
        diags_.error("foreign window: no L1 entry maps slot %u at 0x%lx", slot, slot_va(slot));
        return error(XEN_EFAULT);
    }
    l1e_maddr_[slot] = e->maddr;
    original_[slot] = e->value;
    return e->maddr;
}

Result<void> ForeignWindow::set_slot(unsigned slot, u64 pte, domid_t owner) {
    Result<u64> maddr = slot_l1e_maddr(slot);
    if (!maddr) return error(maddr.error());
    mmu_update_t req{};
    req.ptr = *maddr | MMU_NORMAL_PT_UPDATE;
    req.val = pte;
    unsigned done = 0;
    Result<long> r = hypercall_result(pvg::hc::mmu_update(&req, 1, &done, owner),
                                      owner == DOMID_SELF ? "mmu_update (restoring a window slot)"
                                                          : "mmu_update (foreign mapping)",
                                      diags_);
    if (!r) return error(r.error());
    mmuext_op_t flush{};
    flush.cmd = MMUEXT_INVLPG_LOCAL;
    flush.arg1.linear_addr = slot_va(slot);
    Result<long> f = hypercall_result(pvg::hc::mmuext_op(&flush, 1, nullptr, DOMID_SELF),
                                      "mmuext_op(MMUEXT_INVLPG_LOCAL)", diags_);
    if (!f) return error(f.error());
    return ok();
}

u8* ForeignWindow::map(u64 mfn) { return map_with(mfn, PTE_RW); }

u8* ForeignWindow::map_with(u64 mfn, u64 rw) {
    const unsigned slot = next_;
    next_ = (next_ + 1) % SLOTS;
    Result<u64> maddr = slot_l1e_maddr(slot);
    if (!maddr) return nullptr;
    const u64 pte = (original_[slot] & ~(PTE_ADDR | PTE_RW)) | (mfn << PAGE_SHIFT) | PTE_P | rw;
    if (!set_slot(slot, pte, dom_)) {
        diags_.error("cannot map frame 0x%lx of d%u", mfn, dom_);
        return nullptr;
    }
    in_use_[slot] = true;
    return g_window[slot];
}

Result<void> ForeignWindow::release() {
    Result<void> result;
    for (unsigned slot = 0; slot < SLOTS; ++slot) {
        if (!in_use_[slot]) continue;
        Result<void> r = set_slot(slot, original_[slot], DOMID_SELF);
        if (r) in_use_[slot] = false;
        else result = r;
    }
    next_ = 0;
    return result;
}

}  // namespace pvb
