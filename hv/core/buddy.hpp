// FrameAllocator: the binary buddy allocator of machine frames, over the frame table.
//
// Memory is managed in blocks of 2^order frames whose first MFN is a multiple of 2^order, so a
// block's buddy (the other half of the block one order up) is mfn ^ 2^order and is found without
// searching.  Each order has a free list of block heads.  Allocation takes the smallest free block
// that fits and splits off halves onto lower lists; freeing merges the block with its buddy as long
// as the buddy is a free block of the same order.  Both walk at most MAX_ORDER orders.
//
// Only block heads carry state (see page_info.hpp), and every transition keeps the other frames
// marked tail, so free() can check a caller's claim in O(1): the frame must be the head of an
// allocated block of exactly that order, and nothing may still reference it (count_info zero).
// A free head's record holds its list link in place of the MMU's in-use fields; the allocator
// switches the two as heads join and leave the lists.  Frames never given to the allocator stay
// reserved and are never merged into a block, which is what lets ranges with holes sit side by
// side.
//
// One lock covers all lists, as Xen's heap_lock does; allocation is not allowed in interrupt
// context, so the lock does not mask interrupts.
#pragma once
#include "core/page_info.hpp"
#include "lib/format.hpp"
#include "lib/list.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

namespace pv {

class FrameAllocator {
public:
    // 2^18 frames: 1 GiB, the largest page a guest can be given.
    static constexpr unsigned MAX_ORDER = 18;

    FrameAllocator() = default;
    FrameAllocator(const FrameAllocator&) = delete;
    FrameAllocator& operator=(const FrameAllocator&) = delete;

    // Takes over table[0, nr_frames), constructing every record as reserved.  EINVAL for an empty
    // table, EBUSY when already initialized.
    Result<void> init(PageInfo* table, u64 nr_frames);
    // Hands [first_mfn, first_mfn + count) to the allocator.  The range is cut into the largest
    // aligned blocks and each is freed, so it merges with free neighbours added earlier.  ERANGE
    // when the range leaves the table, EEXIST (and nothing added) when any frame in it is
    // already managed.
    Result<void> add_free_range(u64 first_mfn, u64 count);

    // The first MFN of a free block of 2^order frames, aligned to its size.  ENOMEM when no block is
    // large enough, EINVAL for an order above MAX_ORDER.
    Result<u64> alloc(unsigned order);
    // Returns a block from alloc().  EINVAL for an order above MAX_ORDER, a misaligned MFN, an
    // MFN that is not the head of an allocated block of that order (double free, wrong order, middle
    // of a block), or a head something still holds a reference to; ERANGE for a block beyond the
    // table.  Rejected calls change nothing.
    Result<void> free(u64 mfn, unsigned order);
    // Turns an allocated block of 2^order frames into 2^order allocated blocks of one frame, each
    // to be freed on its own with free(m, 0) (a domain given a contiguous extent gives its frames
    // back one by one).  EINVAL when mfn is not the head of an allocated block of that order.
    Result<void> split(u64 mfn, unsigned order);

    u64 nr_frames() const { return nr_frames_; }
    // Frames added with add_free_range(), whether free or allocated now.
    u64 total_frames() const;
    u64 free_frames() const;
    // Free blocks on the list of the given order (0 above MAX_ORDER).
    u64 free_blocks(unsigned order) const;
    // Calls to free() rejected so far: each is a bug worth reporting.
    u64 bad_frees() const;
    // The frame's record, or nullptr beyond the table.
    const PageInfo* frame(u64 mfn) const { return mfn < nr_frames_ ? &table_[mfn] : nullptr; }

    void dump(Sink& out) const;

private:
    using FreeList = List<PageInfo::FreeLink, FreeListTag>;

    void free_block_locked(u64 mfn, unsigned order);

    mutable Spinlock lock_;
    PageInfo* table_ = nullptr;
    u64 nr_frames_ = 0;
    u64 total_ = 0;
    u64 free_ = 0;
    u64 bad_frees_ = 0;
    // FreeList::size() walks the list; these counts keep the statistics O(1).
    u64 nr_free_blocks_[MAX_ORDER + 1] = {};
    FreeList free_lists_[MAX_ORDER + 1];
};

}  // namespace pv
