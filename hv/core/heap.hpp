// The hypervisor heap (Xen's xmalloc/xfree): small objects from slab pages, large ones straight
// from pages.
//
// Small requests round up to a size class.  A slab is one page with a 32-byte header at its start
// and objects of one class after it; free objects are chained through their first word.  free()
// finds the header by rounding the pointer down to its page, which is why a slab is a single page
// and why the largest class is 2032 bytes (two objects after the header) rather than 2048.  Slab
// objects are therefore never page-aligned, while large blocks always are: that tells the two
// apart.  A large block's order is kept in a small record from the heap itself, in a hash by
// address, so a page-aligned pointer that the heap never returned is recognised exactly.
//
// Checks on free(), cheap enough to keep on: a slab pointer must hit a page whose header carries
// this heap's magic for that page, and the start of an object in it; an object whose poison word
// says "free" is looked up on its slab's free list, which makes double-free detection exact.
// Rejected pointers change nothing and are counted.  A pointer into a slab already given back
// to the page source cannot be checked: the page may now belong to someone else.
//
// One lock covers the heap; the page source is called outside it (as Xen's xmem_pool drops its
// lock around get_mem), so a slow page allocation never holds up frees on other CPUs.
#pragma once
#include <atomic>
#include <new>
#include <utility>

#include "lib/list.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

namespace pv {

// Where the heap gets its pages: the frame allocator through the direct map in the hypervisor, the
// C library in the unit tests.
class PageSource {
public:
    // A block of 2^order pages, aligned to its size (as buddy blocks are), or nullptr.
    virtual void* alloc_pages(unsigned order) = 0;
    virtual void free_pages(void* p, unsigned order) = 0;

protected:
    ~PageSource() = default;
};

namespace heap_detail {
struct FreeObject;
struct Slab;
struct LargeBlock;
struct SlabListTag;
struct LargeListTag;
}  // namespace heap_detail

struct HeapStats {
    usize bytes_in_use;  // size-class bytes of live small objects plus the pages of large ones
    usize pages_held;    // pages taken from the page source and not given back
    usize live_allocations;
    u64 invalid_frees;  // pointers that are not a live allocation of this heap
    u64 double_frees;   // small objects that were already free
};

class Heap {
public:
    // The largest request served from a slab; bigger ones take whole pages.
    static constexpr usize MAX_SMALL = 2032;
    static constexpr usize MIN_ALIGN = 16;

    Heap() = default;
    Heap(const Heap&) = delete;
    Heap& operator=(const Heap&) = delete;

    // Once, before the first alloc(): until then every alloc() fails.
    void init(PageSource& source);

    // size bytes aligned to align (a power of two; below MIN_ALIGN counts as MIN_ALIGN).  A size of
    // 0 gives a minimal object.  nullptr when out of memory or align is not a power of two.
    void* alloc(usize size, usize align = MIN_ALIGN);
    // nullptr is ignored, as is anything that is not a live allocation (see above).
    void free(void* p);
    // The bytes usable at p (its class size, or the whole large block), 0 when p is not a live
    // allocation of this heap.
    usize usable_size(const void* p) const;
    HeapStats stats() const;

    // Size classes from 16 to MAX_SMALL bytes (listed in heap.cpp).
    static constexpr usize NR_CLASSES = 13;

private:
    using FreeObject = heap_detail::FreeObject;
    using Slab = heap_detail::Slab;
    using LargeBlock = heap_detail::LargeBlock;
    using SlabList = List<Slab, heap_detail::SlabListTag>;
    using LargeList = List<LargeBlock, heap_detail::LargeListTag>;
    static constexpr usize NR_LARGE_BUCKETS = 64;
    static usize bucket_of(uptr a) { return static_cast<usize>(a >> PAGE_SHIFT) % NR_LARGE_BUCKETS; }

    PageSource* source() const;
    void* alloc_small(usize cls);
    void* take_object_locked(Slab* s);
    // Returns the slab when it became empty and must be given back, unlinked and unmarked.
    Slab* release_object_locked(Slab* s, FreeObject* o);
    void* alloc_large(usize size, usize align);
    void free_large(void* p);
    void free_object(void* p);
    Slab* slab_of(const void* p) const;  // nullptr when p is not an object of a live slab
    LargeBlock* find_large(const void* p) const;
    u32 slab_magic(const Slab* s) const;

    mutable Spinlock lock_;
    std::atomic<PageSource*> source_{nullptr};
    SlabList partial_[NR_CLASSES];  // slabs with at least one free object
    LargeList large_[NR_LARGE_BUCKETS];
    usize bytes_in_use_ = 0;
    usize pages_held_ = 0;
    usize live_ = 0;
    usize large_blocks_ = 0;
    u64 invalid_frees_ = 0;
    u64 double_frees_ = 0;
};

// The hypervisor's heap.  The kernel gives it a page source at boot with hv_heap().init(...).
Heap& hv_heap();

// new and delete for the heap: construction in place, nullptr when out of memory.  heap_delete must
// get the pointer heap_new returned (the most derived object): there is no RTTI to find it.
template <typename T, typename... Args> T* heap_new(Heap& heap, Args&&... args) {
    void* p = heap.alloc(sizeof(T), alignof(T));
    if (!p) return nullptr;
    return new (p) T(std::forward<Args>(args)...);
}

template <typename T> void heap_delete(Heap& heap, T* obj) {
    if (!obj) return;
    obj->~T();
    heap.free(obj);
}

}  // namespace pv
