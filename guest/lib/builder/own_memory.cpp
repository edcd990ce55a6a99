#include "guest/lib/builder/own_memory.hpp"

namespace pvb {

namespace {

constexpr u64 L2_SPAN = u64{1} << 30;  // what one L2 table maps
constexpr u64 ENTRIES = OwnMemory::CHUNK / PAGE_SIZE;
constexpr u64 DATA_PROT = PTE_P | PTE_RW | PTE_A | PTE_D;
constexpr unsigned BATCH = 64;  // mmu_update requests a call

}  // namespace

void OwnMemory::init() {
    // The bootstrap mapping ends after the page tables, the boot stack and the padding: walk
    // our tables from the last table frame to the first page nothing maps.
    const u64 region_limit = virt_base_ + si_->nr_pages * PAGE_SIZE;
    u64 va = si_->pt_base + si_->nr_pt_frames * PAGE_SIZE;
    for (; va < region_limit; va += PAGE_SIZE) {
        Result<OwnPte> e = tables_.pte(va, 0);
        if (!e || !(e->value & PTE_P)) break;
    }
    next_pfn_ = (va - virt_base_) >> PAGE_SHIFT;
    if (si_->flags & SIF_MOD_START_PFN)  // an unmapped initrd follows the bootstrap region
        next_pfn_ = max(next_pfn_, si_->mod_start + ((si_->mod_len + PAGE_SIZE - 1) >> PAGE_SHIFT));
    base_ = align_up(va, CHUNK);
    limit_ = max(base_, align_down(virt_base_, L2_SPAN) + L2_SPAN);
    ready_ = true;
}

Result<void> OwnMemory::map_chunk(Diagnostics& diags) {
    const u64 va = base_ + mapped_;
    Result<OwnPte> l2e = tables_.pte(va, 1);
    if (!l2e || (l2e->value & PTE_P)) {
        diags.error("domain 0's scratch area at 0x%lx: no free L2 entry", va);
        return error(XEN_EFAULT);
    }
    const auto* p2m = reinterpret_cast<const unsigned long*>(si_->mfn_list);
    const u64 l1_mfn = p2m[next_pfn_++];
    // The frame becomes a page table: it must hold no stale entries, and Xen validates it as
    // an L1 when the L2 entry is written.
    if (Result<void> r = tables_.clear(l1_mfn, diags); !r) return r;
    mmu_update_t reqs[BATCH];
    reqs[0] = {l2e->maddr | MMU_NORMAL_PT_UPDATE, (l1_mfn << PAGE_SHIFT) | UPPER_PROT};
    if (Result<void> r = tables_.update(reqs, 1, diags); !r) return r;
    for (u64 i = 0; i < ENTRIES; i += BATCH) {
        for (unsigned j = 0; j < BATCH; ++j)
            reqs[j] = {((l1_mfn << PAGE_SHIFT) + (i + j) * sizeof(u64)) | MMU_NORMAL_PT_UPDATE,
                       (u64{p2m[next_pfn_ + j]} << PAGE_SHIFT) | DATA_PROT};
        if (Result<void> r = tables_.update(reqs, BATCH, diags); !r) return r;
        next_pfn_ += BATCH;
    }
    mapped_ += CHUNK;
    return ok();
}

Result<void> OwnMemory::ensure(u64 end, Diagnostics& diags) {
    if (!ready_) init();
    // Each chunk costs its L1 table as well as its 512 frames.
    const u64 frames = si_->nr_pages - min(next_pfn_, si_->nr_pages);
    const u64 capacity = mapped_ + min(frames / (ENTRIES + 1) * CHUNK, limit_ - base_ - mapped_);
    if (end > capacity) {
        diags.error("domain 0 has %lu MiB of spare memory for the %lu MiB needed (see dom0_mem)",
                    (capacity - taken_) / MiB, (end - taken_ + MiB - 1) / MiB);
        return error(XEN_ENOMEM);
    }
    while (mapped_ < end)
        if (Result<void> r = map_chunk(diags); !r) return r;
    return ok();
}

Result<u8*> OwnMemory::reserve(u64 bytes, Diagnostics& diags) {
    if (Result<void> r = ensure(taken_ + bytes, diags); !r) return error(r.error());
    return reinterpret_cast<u8*>(base_ + taken_);
}

Result<u8*> OwnMemory::take(u64 bytes, Diagnostics& diags) {
    const u64 n = align_up(bytes, PAGE_SIZE);
    if (Result<void> r = ensure(taken_ + n, diags); !r) return error(r.error());
    u8* p = reinterpret_cast<u8*>(base_ + taken_);
    taken_ += n;
    return p;
}

}  // namespace pvb
