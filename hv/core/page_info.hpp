// PageInfo: what the hypervisor knows about one machine frame, kept in a single array indexed by
// MFN, the frame table (Xen's struct page_info and frame_table).
//
// The record is per frame, so its size is a fixed fraction of RAM: at 32 bytes per 4 KiB frame the
// table costs 0.8% of memory.  That is why it is a handful of small fields and must stay so.
//
// Today it carries what the buddy allocator needs.  The allocator keeps meaning only in the record
// of a block's first frame (its head): whether the block is free or allocated, and its order.  The
// other frames of a block are marked tail, so a free() aimed at the middle of a block is caught
// without visiting the block's frames one by one.
#pragma once
#include "lib/list.hpp"
#include "lib/types.hpp"

namespace pv {

struct FreeListTag;

enum class PageState : u8 {
    reserved,   // not managed by the allocator: holes, firmware, the hypervisor image, boot memory
    free,       // head of a free block, on the free list of its order
    allocated,  // head of a block handed out by the allocator
    tail,       // inside a free or allocated block, not its first frame
};

struct PageInfo : ListLink<FreeListTag> {
    PageState state = PageState::reserved;
    u8 order = 0;  // for free and allocated heads: the block holds 2^order frames

    // Later fields, as Xen's struct page_info (xen/arch/x86/include/asm/mm.h):
    //   count_info  general reference count and PGC_* flags (allocated, xen heap, broken, ...)
    //   type_info   PGT_* type (writable, page table level, segdesc) and its type count
    //   owner       the domain the frame belongs to
    // They only mean something while the frame is allocated, and the free-list link only while it is
    // free, so when they arrive the link becomes a union member with them (compressed to two u32
    // frame numbers as Xen's page_list_entry does) to stay within 32 bytes.
};

static_assert(sizeof(PageInfo) <= 32, "the frame table costs sizeof(PageInfo) per 4 KiB of RAM");

}  // namespace pv
