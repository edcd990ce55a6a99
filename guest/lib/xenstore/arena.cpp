#include "guest/lib/xenstore/arena.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define XS_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define XS_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define XS_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define XS_POISON(p, n) ((void)(p), (void)(n))
#define XS_UNPOISON(p, n) ((void)(p), (void)(n))
#define XS_NO_ASAN
#endif

namespace xs {

using pv::uptr;
using pv::usize;

XS_NO_ASAN Arena::Arena(void* mem, usize size) {
    uptr start = pv::align_up(reinterpret_cast<uptr>(mem), uptr{HEADER});
    uptr end = pv::align_down(reinterpret_cast<uptr>(mem) + size, uptr{HEADER});
    if (end <= start + 2 * HEADER) return;
    capacity_ = end - start;
    free_list_ = reinterpret_cast<Block*>(start);
    free_list_->size = capacity_;
    free_list_->next = nullptr;
    XS_POISON(mem, size);
}

XS_NO_ASAN void* Arena::alloc(usize n) {
    if (n == 0) n = 1;
    if (n > capacity_) return nullptr;
    usize need = pv::align_up(n, HEADER) + HEADER;
    if (used_ + need > limit_) return nullptr;
    Block** link = &free_list_;
    for (Block* b = free_list_; b; link = &b->next, b = b->next) {
        if (b->size < need) continue;
        // Charged for what it takes: the block may come out larger than asked, by a tail too
        // small to split off.
        const usize taken = b->size - need >= 2 * HEADER ? need : b->size;
        if (ledger_ && !ledger_->charge(tag_, taken)) return nullptr;
        if (b->size - need >= 2 * HEADER) {  // split: the tail stays free
            auto* rest = reinterpret_cast<Block*>(reinterpret_cast<uptr>(b) + need);
            rest->size = b->size - need;
            rest->next = b->next;
            *link = rest;
            b->size = need;
        } else {
            *link = b->next;
        }
        b->owner = tag_;
        used_ += b->size;
        void* p = reinterpret_cast<void*>(reinterpret_cast<uptr>(b) + HEADER);
        XS_UNPOISON(p, n);
        return p;
    }
    return nullptr;
}

XS_NO_ASAN void Arena::grow(void* mem, usize size) {
    uptr start = pv::align_up(reinterpret_cast<uptr>(mem), uptr{HEADER});
    uptr end = pv::align_down(reinterpret_cast<uptr>(mem) + size, uptr{HEADER});
    if (end <= start + 2 * HEADER) return;
    XS_POISON(mem, size);
    auto* b = reinterpret_cast<Block*>(start);
    b->size = end - start;
    capacity_ += b->size;
    insert_free(b);
}

XS_NO_ASAN void Arena::free(void* p) {
    if (!p) return;
    auto* b = reinterpret_cast<Block*>(reinterpret_cast<uptr>(p) - HEADER);
    used_ -= b->size;
    if (ledger_) ledger_->credit(static_cast<pv::u32>(b->owner), b->size);
    XS_POISON(p, b->size - HEADER);
    insert_free(b);
}

XS_NO_ASAN void Arena::insert_free(Block* b) {
    Block* prev = nullptr;
    Block* cur = free_list_;
    while (cur && cur < b) {
        prev = cur;
        cur = cur->next;
    }
    b->next = cur;
    if (prev)
        prev->next = b;
    else
        free_list_ = b;
    if (cur && reinterpret_cast<uptr>(b) + b->size == reinterpret_cast<uptr>(cur)) {
        b->size += cur->size;
        b->next = cur->next;
    }
    if (prev && reinterpret_cast<uptr>(prev) + prev->size == reinterpret_cast<uptr>(b)) {
        prev->size += b->size;
        prev->next = b->next;
    }
}

}  // namespace xs
