#include "core/heap.hpp"

namespace pv {

namespace heap_detail {

struct FreeObject {
    FreeObject* next;
    u64 poison;  // FREE_POISON while on a free list
};

// The header at the start of a slab page.
struct Slab : ListLink<SlabListTag> {
    u32 magic;
    u16 cls;
    u16 in_use;
    FreeObject* free;
};

// The record of a large block, itself a small object of this heap.
struct LargeBlock : ListLink<LargeListTag> {
    uptr addr;
    unsigned order;
};

}  // namespace heap_detail

namespace {

constexpr usize SLAB_HEADER = 32;
constexpr u32 SLAB_MAGIC = 0x51ab5eedu;
constexpr u64 FREE_POISON = 0xfee1f4eefee1f4eeull;
// Large blocks above 2^30 pages (4 TiB) are a bug, not a request.
constexpr unsigned MAX_LARGE_ORDER = 30;

struct ClassInfo {
    u16 size;
    u16 first;  // offset of the first object in the page
    u16 count;  // objects per page
    u16 align;  // every object's address is a multiple of this
};

constexpr usize lowest_bit(usize v) { return v & (~v + 1); }

// Each size is the largest multiple of 16 that keeps its number of objects per page, so a page
// wastes little.  An object starts at a multiple of the largest power of two dividing its size, up
// to the page: power-of-two classes get natural alignment, and it costs no object per page.
constexpr u16 kClassSizes[] = {16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1344, 2032};

constexpr ClassInfo make_class(u16 size) {
    usize first = align_up<usize>(SLAB_HEADER, lowest_bit(size));
    return ClassInfo{size, static_cast<u16>(first), static_cast<u16>((PAGE_SIZE - first) / size),
                     static_cast<u16>(min(lowest_bit(size), lowest_bit(first)))};
}

struct ClassTable {
    ClassInfo c[array_size(kClassSizes)];
};

constexpr ClassTable make_table() {
    ClassTable t{};
    for (usize i = 0; i < array_size(kClassSizes); ++i) t.c[i] = make_class(kClassSizes[i]);
    return t;
}

constexpr ClassTable kClasses = make_table();

constexpr bool classes_sound() {
    for (usize i = 0; i < array_size(kClassSizes); ++i) {
        const ClassInfo& c = kClasses.c[i];
        if (c.size % 16 || c.count < 2 || u64{c.first} + u64{c.count} * c.size > PAGE_SIZE) return false;
        if (c.first < SLAB_HEADER || c.align < 16) return false;
        if (i && c.size <= kClasses.c[i - 1].size) return false;
    }
    return true;
}
static_assert(classes_sound());
static_assert(kClasses.c[array_size(kClassSizes) - 1].size == Heap::MAX_SMALL);

static_assert(sizeof(heap_detail::Slab) == SLAB_HEADER);
static_assert(array_size(kClassSizes) == Heap::NR_CLASSES);

// The smallest class that holds size bytes at the minimum alignment.
constexpr usize class_for(usize size) {
    usize i = 0;
    while (kClasses.c[i].size < size) ++i;
    return i;
}
constexpr usize LARGE_RECORD_CLASS = class_for(sizeof(heap_detail::LargeBlock));

uptr addr_of(const void* p) { return reinterpret_cast<uptr>(p); }

}  // namespace

void Heap::init(PageSource& source) { source_.store(&source, std::memory_order_release); }

u32 Heap::slab_magic(const Slab* s) const {
    // Mixing in the page and the heap makes a stray copy of a header, or another heap's slab, fail
    // the check.
    u64 mix = (addr_of(s) >> PAGE_SHIFT) ^ (addr_of(this) >> 4);
    return SLAB_MAGIC ^ static_cast<u32>(mix) ^ static_cast<u32>(mix >> 32);
}

// Acquire pairs with init()'s release: a CPU that sees the source sees it constructed.
PageSource* Heap::source() const { return source_.load(std::memory_order_acquire); }

void* Heap::alloc(usize size, usize align) {
    if (align & (align - 1)) return nullptr;
    align = max(align, MIN_ALIGN);
    if (size == 0) size = 1;
    if (!source()) return nullptr;
    for (usize i = 0; i < NR_CLASSES; ++i)
        if (kClasses.c[i].size >= size && kClasses.c[i].align >= align) return alloc_small(i);
    return alloc_large(size, align);
}

void* Heap::alloc_small(usize cls) {
    {
        SpinGuard guard(lock_);
        if (Slab* s = partial_[cls].front()) return take_object_locked(s);
    }
    PageSource* src = source();
    void* page = src->alloc_pages(0);
    if (!page) return nullptr;
    if (!is_aligned(addr_of(page), PAGE_SIZE)) {
        src->free_pages(page, 0);
        return nullptr;
    }

    // Build the slab before publishing it.  Another CPU may have added a slab of this class
    // meanwhile; both stay, and the emptier one goes back when it drains.
    const ClassInfo& ci = kClasses.c[cls];
    auto* s = new (page) Slab();
    s->magic = slab_magic(s);
    s->cls = static_cast<u16>(cls);
    s->in_use = 0;
    s->free = nullptr;
    // Chain from the top down so allocation proceeds in address order.
    auto* base = static_cast<u8*>(page);
    for (usize k = ci.count; k-- > 0;) {
        auto* o = reinterpret_cast<FreeObject*>(base + ci.first + k * ci.size);
        o->next = s->free;
        o->poison = FREE_POISON;
        s->free = o;
    }
    SpinGuard guard(lock_);
    partial_[cls].push_front(*s);
    ++pages_held_;
    return take_object_locked(s);
}

void* Heap::take_object_locked(Slab* s) {
    FreeObject* o = s->free;
    s->free = o->next;
    o->poison = 0;
    ++s->in_use;
    if (!s->free) SlabList::remove(*s);
    bytes_in_use_ += kClasses.c[s->cls].size;
    ++live_;
    return o;
}

Heap::Slab* Heap::release_object_locked(Slab* s, FreeObject* o) {
    bool was_full = !s->free;
    o->next = s->free;
    o->poison = FREE_POISON;
    s->free = o;
    --s->in_use;
    bytes_in_use_ -= kClasses.c[s->cls].size;
    --live_;
    if (s->in_use == 0) {
        if (!was_full) SlabList::remove(*s);
        // A stale pointer into this page must not pass for a slab object later.
        s->magic = 0;
        --pages_held_;
        return s;
    }
    if (was_full) partial_[s->cls].push_front(*s);
    return nullptr;
}

void* Heap::alloc_large(usize size, usize align) {
    usize pages = size / PAGE_SIZE + (size % PAGE_SIZE != 0);
    unsigned order = 0;
    while (order <= MAX_LARGE_ORDER && ((usize{1} << order) < pages || (PAGE_SIZE << order) < align))
        ++order;
    if (order > MAX_LARGE_ORDER) return nullptr;

    // The record first: if even that fails, no pages need giving back.
    void* obj = alloc_small(LARGE_RECORD_CLASS);
    if (!obj) return nullptr;
    PageSource* src = source();
    void* p = src->alloc_pages(order);
    if (!p || !is_aligned(addr_of(p), PAGE_SIZE << order)) {
        if (p) src->free_pages(p, order);
        free_object(obj);
        return nullptr;
    }
    auto* rec = new (obj) LargeBlock();
    rec->addr = addr_of(p);
    rec->order = order;
    SpinGuard guard(lock_);
    large_[bucket_of(rec->addr)].push_front(*rec);
    ++large_blocks_;
    bytes_in_use_ += PAGE_SIZE << order;
    pages_held_ += usize{1} << order;
    return p;
}

Heap::LargeBlock* Heap::find_large(const void* p) const {
    uptr a = addr_of(p);
    // List iteration needs a non-const list; walking it changes nothing.
    auto& bucket = const_cast<LargeList&>(large_[bucket_of(a)]);
    for (LargeBlock& b : bucket)
        if (b.addr == a) return &b;
    return nullptr;
}

Heap::Slab* Heap::slab_of(const void* p) const {
    uptr a = addr_of(p);
    auto* s = reinterpret_cast<Slab*>(align_down(a, uptr{PAGE_SIZE}));
    if (s->magic != slab_magic(s) || s->cls >= NR_CLASSES) return nullptr;
    const ClassInfo& ci = kClasses.c[s->cls];
    uptr off = a - addr_of(s);
    if (off < ci.first) return nullptr;
    off -= ci.first;
    if (off % ci.size || off / ci.size >= ci.count) return nullptr;
    return s;
}

void Heap::free(void* p) {
    if (!p) return;
    if (is_aligned(addr_of(p), uptr{PAGE_SIZE})) {
        free_large(p);
        return;
    }
    Slab* empty = nullptr;
    {
        SpinGuard guard(lock_);
        Slab* s = slab_of(p);
        if (!s) {
            ++invalid_frees_;
            return;
        }
        auto* o = static_cast<FreeObject*>(p);
        if (o->poison == FREE_POISON) {
            // Most likely a double free, but live data may hold the poison value: only the free
            // list can tell.  It is short (at most a page's worth of objects).
            for (FreeObject* f = s->free; f; f = f->next) {
                if (f == o) {
                    ++double_frees_;
                    return;
                }
            }
        }
        empty = release_object_locked(s, o);
    }
    if (empty) source()->free_pages(empty, 0);
}

// Frees a heap-internal object (a large block's record), which is known to be valid.
void Heap::free_object(void* p) {
    Slab* empty;
    {
        SpinGuard guard(lock_);
        empty = release_object_locked(slab_of(p), static_cast<FreeObject*>(p));
    }
    if (empty) source()->free_pages(empty, 0);
}

void Heap::free_large(void* p) {
    unsigned order;
    Slab* empty;
    {
        SpinGuard guard(lock_);
        LargeBlock* rec = find_large(p);
        if (!rec) {
            // Never allocated here, or already freed: the record is gone either way.
            ++invalid_frees_;
            return;
        }
        order = rec->order;
        LargeList::remove(*rec);
        --large_blocks_;
        bytes_in_use_ -= PAGE_SIZE << order;
        pages_held_ -= usize{1} << order;
        empty = release_object_locked(slab_of(rec), reinterpret_cast<FreeObject*>(rec));
    }
    PageSource* src = source();
    src->free_pages(p, order);
    if (empty) src->free_pages(empty, 0);
}

usize Heap::usable_size(const void* p) const {
    if (!p) return 0;
    SpinGuard guard(lock_);
    if (is_aligned(addr_of(p), uptr{PAGE_SIZE})) {
        const LargeBlock* rec = find_large(p);
        return rec ? PAGE_SIZE << rec->order : 0;
    }
    const Slab* s = slab_of(p);
    if (!s) return 0;
    for (FreeObject* f = s->free; f; f = f->next)
        if (f == p) return 0;
    return kClasses.c[s->cls].size;
}

HeapStats Heap::stats() const {
    SpinGuard guard(lock_);
    // A large block's record is an object of the heap like any other, and it counts once in live_
    // for the block; but the caller's bytes are the block's alone.
    usize records = large_blocks_ * kClasses.c[LARGE_RECORD_CLASS].size;
    return HeapStats{bytes_in_use_ - records, pages_held_, live_, invalid_frees_, double_frees_};
}

Heap& hv_heap() {
    static Heap heap;
    return heap;
}

}  // namespace pv
