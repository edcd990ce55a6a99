// Arena: a bounded first-fit allocator over one block of memory the caller hands it.  XenStore
// in domain 0 has no heap: every node, watch, transaction and queued message comes from here,
// so a hostile domain can at worst fill its quotas, never the address space of domain 0.
//
// Blocks carry a 16-byte header (size, free flag); free blocks form an address-ordered list and
// merge with their neighbours when freed.  On the host (ASan) the arena is poisoned except for
// the bytes handed out, so an overrun inside the arena is still reported.
#pragma once
#include "lib/types.hpp"

namespace xs {

class Arena {
public:
    Arena(void* mem, pv::usize size);
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // n bytes aligned to 16, or nullptr when no free block is large enough.
    void* alloc(pv::usize n);
    // p from alloc (or nullptr).
    void free(void* p);

    pv::usize capacity() const { return capacity_; }
    pv::usize used() const { return used_; }  // bytes in live blocks, headers included

private:
    struct Block {
        pv::usize size;  // of the whole block, header included
        Block* next;     // next free block (free blocks only)
    };
    static constexpr pv::usize HEADER = 16;
    static_assert(sizeof(Block) == HEADER);

    Block* free_list_ = nullptr;
    pv::usize capacity_ = 0;
    pv::usize used_ = 0;
};

}  // namespace xs
