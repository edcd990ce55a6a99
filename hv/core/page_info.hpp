// PageInfo: what the hypervisor knows about one machine frame, kept in a single array indexed by
// MFN, the frame table (Xen's struct page_info and frame_table).
//
// The record is per frame, so its size is a fixed fraction of RAM: at 32 bytes per 4 KiB frame the
// table costs 0.8% of memory.  That is why it is a handful of small fields and must stay so.
//
// Two users share it.  The buddy allocator (core/buddy.hpp) keeps meaning only in the record of a
// block's first frame (its head): whether the block is free or allocated, its order, and while the
// block is free the link on its free list.  The other frames of a block are marked tail, so a
// free() aimed at the middle of a block is caught without visiting the block's frames one by one.
// The PV MMU (core/page_types.hpp) keeps, for every frame a domain owns, the general reference
// count (count_info), the owner and the type with its own count (type_info).
//
// A free frame has no owner and no type, and a frame in use is on no free list, so the link and
// the in-use fields share storage, as Xen's page_list_entry shares its words with per-state data.
// `use` is the active member of the union for every frame except the head of a free block, where
// `free_link` is; the buddy switches them (begin_free_link/end_free_link) as blocks come and go.
// count_info stays outside the union: it is the one word any path may read for any frame, and a
// zero there is what tells the MMU that the rest means nothing.  A guest naming a free frame, or
// one the hypervisor uses itself, finds count 0 and is refused before anything else is read.
#pragma once
#include <stddef.h>

#include <atomic>
#include <new>
#include <type_traits>

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

// The domain owning a frame, as the frame table records it: an opaque handle chosen by the domain
// layer (domid + 1, say), never Owner::none for a frame in use.  32 bits, like Xen's compressed
// domain pointer, to keep the record small.
enum class Owner : u32 { none = 0 };

// A frame's types, mutually exclusive (Xen's PGT_*): what the frame is used as right now.  The
// values are Xen's, so type_info words read the same in a debugger.
enum class PageType : u8 {
    none = 0,      // no use that needs a type: fresh, or only mapped read-only
    l1 = 1,        // page table of level 1..4, validated against the PV entry rules
    l2 = 2,
    l3 = 3,
    l4 = 4,
    seg_desc = 5,  // part of a GDT or LDT, every descriptor checked
    writable = 7,  // mapped writable somewhere (or written by the hypervisor for the guest)
};

constexpr bool is_page_table(PageType t) { return t >= PageType::l1 && t <= PageType::l4; }
// Page tables and descriptor pages are checked when they gain their type; the others are not.
constexpr bool needs_validation(PageType t) { return is_page_table(t) || t == PageType::seg_desc; }
constexpr PageType table_type(unsigned level) { return static_cast<PageType>(level); }
constexpr unsigned table_level(PageType t) { return static_cast<unsigned>(t); }

// count_info: the general reference count in the low bits and flags above it (Xen's PGC_*).
namespace pgc {
inline constexpr u64 ALLOCATED = u64{1} << 63;  // the owner's allocation reference is held
inline constexpr u64 COUNT_MASK = (u64{1} << 54) - 1;
}  // namespace pgc

// type_info: the type in the top bits, flags, and the type count in the low bits (Xen's PGT_*).
namespace pgt {
inline constexpr unsigned TYPE_SHIFT = 61;
inline constexpr u64 TYPE_MASK = u64{7} << TYPE_SHIFT;
inline constexpr u64 LOCKED = u64{1} << 60;     // an entry update holds the page lock
inline constexpr u64 PINNED = u64{1} << 59;     // the owner pinned the type (holds one reference)
inline constexpr u64 VALIDATED = u64{1} << 58;  // contents checked for the current type
inline constexpr u64 COUNT_MASK = (u64{1} << 54) - 1;

constexpr u64 bits(PageType t) { return u64{static_cast<u8>(t)} << TYPE_SHIFT; }
constexpr PageType type(u64 type_info) { return static_cast<PageType>(type_info >> TYPE_SHIFT); }
constexpr u64 count(u64 type_info) { return type_info & COUNT_MASK; }
}  // namespace pgt

struct PageInfo {
    // The buddy's free-list link, while this frame heads a free block.
    struct FreeLink : ListLink<FreeListTag> {};
    // The MMU's per-frame state, while the frame is not a free head.  Meaningful only while
    // count_info is non-zero: owner is written before the count is published and read only by
    // holders of a reference.
    struct InUse {
        std::atomic<u64> type_info{0};
        Owner owner = Owner::none;
    };

    union {
        FreeLink free_link;
        InUse use;
    };
    std::atomic<u64> count_info{0};
    PageState state = PageState::reserved;
    u8 order = 0;  // for free and allocated heads: the block holds 2^order frames
    // Not RAM to the MMU: device memory, firmware, holes, and the first MiB (Xen's dom_io
    // frames).  Such a frame is never owned; privileged domains map it as I/O.  Set at boot
    // before any domain runs, never changed after, so it is read without synchronisation.
    bool io = false;

    PageInfo() : use() {}
    PageInfo(const PageInfo&) = delete;
    PageInfo& operator=(const PageInfo&) = delete;

    // The buddy's side of the union: a frame becoming a free head gets a fresh link; a free head
    // leaving its list (allocated, or merged into a bigger block as a tail) gets its in-use fields
    // back, cleared.  Both members are trivially destructible, so ending one's lifetime is just
    // constructing the other.
    FreeLink& begin_free_link() { return *new (&free_link) FreeLink(); }
    void end_free_link() { new (&use) InUse(); }
    static PageInfo& from_free_link(FreeLink& link) { return *reinterpret_cast<PageInfo*>(&link); }
};

static_assert(sizeof(PageInfo) <= 32, "the frame table costs sizeof(PageInfo) per 4 KiB of RAM");
// from_free_link relies on the link sitting at offset 0 of a standard-layout record (the record,
// its union and the union's members are then pointer-interconvertible).
static_assert(std::is_standard_layout_v<PageInfo> && offsetof(PageInfo, free_link) == 0);
static_assert(std::atomic<u64>::is_always_lock_free);

}  // namespace pv
