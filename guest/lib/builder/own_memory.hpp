// Scratch memory for a control domain's toolstack: its own frames that its bootstrap mapping
// does not cover, mapped writable just past that mapping.
//
// A PV domain starts with pfns 0.. mapped 1:1 from VIRT_BASE up to a 4 MiB boundary (xen.h's
// "start of day" rules); its pfns above are populated but unmapped, and domain 0 uses none of
// them.  The builder needs that room for what grows with a domain: the p2m of a large domU (8
// bytes a page, 2 MiB for 1 GiB) and a compressed kernel's ELF (63 MiB for Debian's 6.1).
// reserve() maps frames 2 MiB at a time: one free frame becomes an L1 table (cleared with
// MMUEXT_CLEAR_PAGE, then entered into the L2 that maps the bootstrap region, which Xen
// validates and types as an L1), then the next 512 free frames go into it by mmu_update.
// Mappings are kept, so the area only grows and later reserve() calls reuse it; it stays within
// that one L2 table (the 1 GiB from VIRT_BASE).  A request that cannot fit is refused before
// anything is mapped.  take() hands out memory for good (xenstored's arena grows there): taken
// blocks sit at the bottom of the area, and the scratch reserve() returns starts above them.
//
// The page tables and hypercalls are reached through OwnTables: foreign.hpp's OwnPageTables in
// a guest, a model in the unit tests (tests/unit/own_memory_test.cpp).
#pragma once
#include "guest/lib/builder/layout.hpp"

namespace pvb {

// An entry of our own page tables: its machine address (for mmu_update) and value.
struct OwnPte {
    u64 maddr = 0;
    u64 value = 0;
};

class OwnTables {
public:
    // The entry that maps `va` at `level` (0 = L1, 1 = L2, 2 = L3); EFAULT (no message) when a
    // level above it is not present.
    virtual Result<OwnPte> pte(u64 va, int level) = 0;
    // MMUEXT_CLEAR_PAGE of one of our frames.
    virtual Result<void> clear(u64 mfn, Diagnostics& diags) = 0;
    // mmu_update of our own tables (MMU_NORMAL_PT_UPDATE requests).
    virtual Result<void> update(const mmu_update_t* reqs, unsigned n, Diagnostics& diags) = 0;

protected:
    ~OwnTables() = default;
};

class OwnMemory {
public:
    // `si` and `virt_base` describe our own (the control domain's) start of day.
    OwnMemory(const start_info_t* si, u64 virt_base, OwnTables& tables)
        : si_(si), virt_base_(virt_base), tables_(tables) {}
    OwnMemory(const OwnMemory&) = delete;
    OwnMemory& operator=(const OwnMemory&) = delete;

    // At least `bytes` of writable memory, page aligned; ENOMEM, with what is needed and what
    // is free in diags, when domain 0 has too few free frames.
    Result<u8*> reserve(u64 bytes, Diagnostics& diags);
    // `bytes` (rounded up to pages) for good, never handed out again.  It may lie where the last
    // reserve()d buffer was: take only while no such buffer is in use.
    Result<u8*> take(u64 bytes, Diagnostics& diags);

    static constexpr u64 CHUNK = 2 * MiB;  // what one L1 table maps

private:
    void init();
    Result<void> map_chunk(Diagnostics& diags);
    // Maps the area up to base_ + end.
    Result<void> ensure(u64 end, Diagnostics& diags);

    const start_info_t* si_;
    u64 virt_base_;
    OwnTables& tables_;
    bool ready_ = false;
    u64 base_ = 0;      // the area's first byte: the bootstrap mapping's end, rounded up to CHUNK
    u64 limit_ = 0;     // its end: the last byte the bootstrap L2 table maps, plus one
    u64 mapped_ = 0;    // bytes mapped from base_
    u64 taken_ = 0;     // bytes from base_ given away by take()
    u64 next_pfn_ = 0;  // the first of our free pfns not used yet
};

}  // namespace pvb
