#include "core/buddy.hpp"

#include <new>

namespace pv {

namespace {

unsigned floor_log2(u64 v) { return 63u - static_cast<unsigned>(__builtin_clzll(v)); }

}  // namespace

Result<void> FrameAllocator::init(PageInfo* table, u64 nr_frames) {
    if (!table || nr_frames == 0) return error(XEN_EINVAL);
    SpinGuard guard(lock_);
    if (table_) return error(XEN_EBUSY);
    // The table is raw boot memory: construct the records (and their self-pointing links) in place.
    for (u64 i = 0; i < nr_frames; ++i) new (&table[i]) PageInfo();
    table_ = table;
    nr_frames_ = nr_frames;
    return ok();
}

Result<void> FrameAllocator::add_free_range(u64 first_mfn, u64 count) {
    SpinGuard guard(lock_);
    if (first_mfn > nr_frames_ || count > nr_frames_ - first_mfn) return error(XEN_ERANGE);
    // Check everything before changing anything, so an overlapping call has no effect.
    for (u64 m = first_mfn; m < first_mfn + count; ++m)
        if (table_[m].state != PageState::reserved) return error(XEN_EEXIST);

    u64 m = first_mfn;
    u64 left = count;
    while (left) {
        unsigned order = floor_log2(left);
        if (m) order = min(order, static_cast<unsigned>(__builtin_ctzll(m)));
        order = min(order, MAX_ORDER);
        u64 n = u64{1} << order;
        for (u64 i = 1; i < n; ++i) table_[m + i].state = PageState::tail;
        free_block_locked(m, order);
        m += n;
        left -= n;
    }
    total_ += count;
    free_ += count;
    return ok();
}

Result<u64> FrameAllocator::alloc(unsigned order) {
    if (order > MAX_ORDER) return error(XEN_EINVAL);
    SpinGuard guard(lock_);
    unsigned k = order;
    PageInfo::FreeLink* link = nullptr;
    while (k <= MAX_ORDER && !(link = free_lists_[k].pop_front())) ++k;
    if (!link) return error(XEN_ENOMEM);

    PageInfo* head = &PageInfo::from_free_link(*link);
    head->end_free_link();
    --nr_free_blocks_[k];
    u64 mfn = static_cast<u64>(head - table_);
    // Keep the lower half each time; the upper halves, tails until now, become free heads.
    while (k > order) {
        --k;
        PageInfo& upper = table_[mfn + (u64{1} << k)];
        upper.state = PageState::free;
        upper.order = static_cast<u8>(k);
        free_lists_[k].push_front(upper.begin_free_link());
        ++nr_free_blocks_[k];
    }
    head->state = PageState::allocated;
    head->order = static_cast<u8>(order);
    free_ -= u64{1} << order;
    return mfn;
}

Result<void> FrameAllocator::free(u64 mfn, unsigned order) {
    SpinGuard guard(lock_);
    Errno err;
    if (order > MAX_ORDER) {
        err = XEN_EINVAL;
    } else if (mfn >= nr_frames_ || (u64{1} << order) > nr_frames_ - mfn) {
        err = XEN_ERANGE;
    } else if (!is_aligned(mfn, u64{1} << order) || table_[mfn].state != PageState::allocated ||
               table_[mfn].order != order ||
               table_[mfn].count_info.load(std::memory_order_relaxed) != 0) {
        err = XEN_EINVAL;
    } else {
        free_block_locked(mfn, order);
        free_ += u64{1} << order;
        return ok();
    }
    ++bad_frees_;
    return error(err);
}

Result<void> FrameAllocator::split(u64 mfn, unsigned order) {
    SpinGuard guard(lock_);
    if (order > MAX_ORDER || mfn >= nr_frames_ || (u64{1} << order) > nr_frames_ - mfn ||
        !is_aligned(mfn, u64{1} << order) || table_[mfn].state != PageState::allocated ||
        table_[mfn].order != order)
        return error(XEN_EINVAL);
    for (u64 i = 0; i < (u64{1} << order); ++i) {
        table_[mfn + i].state = PageState::allocated;
        table_[mfn + i].order = 0;
    }
    return ok();
}

// The block's frames other than its head are already tails.  Each merge demotes the upper of the
// two heads to a tail, so that invariant survives the merge.
void FrameAllocator::free_block_locked(u64 mfn, unsigned order) {
    while (order < MAX_ORDER) {
        u64 buddy = mfn ^ (u64{1} << order);
        // A free head of this order lies wholly inside the table, so checking the head is enough.
        if (buddy >= nr_frames_) break;
        PageInfo& b = table_[buddy];
        if (b.state != PageState::free || b.order != order) break;
        FreeList::remove(b.free_link);
        b.end_free_link();
        --nr_free_blocks_[order];
        table_[max(mfn, buddy)].state = PageState::tail;
        mfn = min(mfn, buddy);
        ++order;
    }
    PageInfo& head = table_[mfn];
    head.state = PageState::free;
    head.order = static_cast<u8>(order);
    free_lists_[order].push_front(head.begin_free_link());
    ++nr_free_blocks_[order];
}

u64 FrameAllocator::total_frames() const {
    SpinGuard guard(lock_);
    return total_;
}

u64 FrameAllocator::free_frames() const {
    SpinGuard guard(lock_);
    return free_;
}

u64 FrameAllocator::free_blocks(unsigned order) const {
    if (order > MAX_ORDER) return 0;
    SpinGuard guard(lock_);
    return nr_free_blocks_[order];
}

u64 FrameAllocator::bad_frees() const {
    SpinGuard guard(lock_);
    return bad_frees_;
}

void FrameAllocator::dump(Sink& out) const {
    // Copy under the lock, print outside it: the console may be slow.
    u64 blocks[MAX_ORDER + 1];
    u64 total, free_now, bad;
    {
        SpinGuard guard(lock_);
        for (unsigned k = 0; k <= MAX_ORDER; ++k) blocks[k] = nr_free_blocks_[k];
        total = total_;
        free_now = free_;
        bad = bad_frees_;
    }
    format(out, "frames: %lu free of %lu managed (%lu in the table), %lu bad frees\n",
           static_cast<unsigned long>(free_now), static_cast<unsigned long>(total),
           static_cast<unsigned long>(nr_frames_), static_cast<unsigned long>(bad));
    for (unsigned k = 0; k <= MAX_ORDER; ++k)
        if (blocks[k])
            format(out, "  order %2u: %lu free blocks\n", k, static_cast<unsigned long>(blocks[k]));
}

}  // namespace pv
