// Arena: a bounded first-fit allocator over one block of memory the caller hands it.  XenStore
// in domain 0 has no heap: every node, watch, transaction and queued message comes from here,
// so a hostile domain can at worst fill its quotas, never the address space of domain 0.
//
// Blocks carry a 16-byte header (size, then the next free block or, while allocated, the tag it
// was charged to); free blocks form an address-ordered list and merge with their neighbours when
// freed.  On the host (ASan) the arena is poisoned except for the bytes handed out, so an overrun
// inside the arena is still reported.
//
// Accounting: each allocation is charged to the current tag (set_tag; the XenStore core uses the
// domain whose request it handles) through a Ledger, which may refuse it (a quota), and the
// block's bytes go back to the same tag when it is freed, whoever frees it.
#pragma once
#include "lib/types.hpp"

namespace xs {

class Arena {
public:
    class Ledger {
    public:
        // May `tag` take `bytes` more?  If so they are charged to it.
        virtual bool charge(pv::u32 tag, pv::usize bytes) = 0;
        virtual void credit(pv::u32 tag, pv::usize bytes) = 0;
    protected:
        ~Ledger() = default;
    };

    Arena(void* mem, pv::usize size);
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // n bytes aligned to 16, or nullptr when no free block is large enough.
    void* alloc(pv::usize n);
    // Adds a block of memory the caller hands over for good (disjoint from the others): the
    // arena grows by it (domain 0's xenstored takes more of its memory as domains use theirs).
    void grow(void* mem, pv::usize size);
    // p from alloc (or nullptr).
    void free(void* p);

    pv::usize capacity() const { return capacity_; }
    pv::usize used() const { return used_; }  // bytes in live blocks, headers included

    // Allocations fail once used() would pass `limit` (capacity() by default): what lets the
    // XenStore core keep a reserve that only domain 0's requests may use.
    void set_limit(pv::usize limit) { limit_ = limit; }
    pv::usize limit() const { return limit_; }

    void set_ledger(Ledger* l) { ledger_ = l; }
    void set_tag(pv::u32 tag) { tag_ = tag; }
    pv::u32 tag() const { return tag_; }

private:
    struct Block {
        pv::usize size;  // of the whole block, header included
        union {
            Block* next;    // free blocks: the next free block
            pv::u64 owner;  // allocated blocks: the tag charged
        };
    };
    static constexpr pv::usize HEADER = 16;
    static_assert(sizeof(Block) == HEADER);

    // Puts a block on the free list in address order, merged with adjacent free neighbours.
    void insert_free(Block* b);

    Block* free_list_ = nullptr;
    pv::usize capacity_ = 0;
    pv::usize used_ = 0;
    pv::usize limit_ = ~pv::usize{0};
    Ledger* ledger_ = nullptr;
    pv::u32 tag_ = 0;
};

}  // namespace xs
