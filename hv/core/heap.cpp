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

void Heap::init(PageSource& source) {
    SpinGuard guard(lock_);
    source_ = &source;
}

u32 Heap::slab_magic(const Slab* s) const {
    // Mixing in the page and the heap makes a stray copy of a header, or another heap's slab, fail
    // the check.
    u64 mix = (addr_of(s) >> PAGE_SHIFT) ^ (addr_of(this) >> 4);
    return SLAB_MAGIC ^ static_cast<u32>(mix) ^ static_cast<u32>(mix >> 32);
}

void* Heap::alloc(usize size, usize align) {
    if (align & (align - 1)) return nullptr;
    align = max(align, MIN_ALIGN);
    if (size == 0) size = 1;
    SpinGuard guard(lock_);
    if (!source_) return nullptr;
    for (usize i = 0; i < NR_CLASSES; ++i)
        if (kClasses.c[i].size >= size && kClasses.c[i].align >= align) return alloc_small_locked(i);
    return alloc_large_locked(size, align);
}

void* Heap::alloc_small_locked(usize cls) {
    const ClassInfo& ci = kClasses.c[cls];
    Slab* s = partial_[cls].front();
    if (!s) {
        void* page = source_->alloc_pages(0);
        if (!page) return nullptr;
        if (!is_aligned(addr_of(page), PAGE_SIZE)) {
            source_->free_pages(page, 0);
            return nullptr;
        }
        s = new (page) Slab();
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
        partial_[cls].push_front(*s);
        ++pages_held_;
    }
    FreeObject* o = s->free;
    s->free = o->next;
    o->poison = 0;
    ++s->in_use;
    if (!s->free) SlabList::remove(*s);
    bytes_in_use_ += ci.size;
    ++live_;
    return o;
}

void* Heap::alloc_large_locked(usize size, usize align) {
    usize pages = size / PAGE_SIZE + (size % PAGE_SIZE != 0);
    unsigned order = 0;
    while (order <= MAX_LARGE_ORDER && ((usize{1} << order) < pages || (PAGE_SIZE << order) < align)) ++order;
    if (order > MAX_LARGE_ORDER) return nullptr;

    // The record first: if even that fails, no pages need giving back.
    auto* rec = static_cast<LargeBlock*>(alloc_small_locked(LARGE_RECORD_CLASS));
    if (!rec) return nullptr;
    void* p = source_->alloc_pages(order);
    if (!p || !is_aligned(addr_of(p), PAGE_SIZE << order)) {
        if (p) source_->free_pages(p, order);
        free_small_locked(slab_of(rec), LARGE_RECORD_CLASS, reinterpret_cast<FreeObject*>(rec));
        return nullptr;
    }
    new (rec) LargeBlock();
    rec->addr = addr_of(p);
    rec->order = order;
    large_[bucket_of(rec->addr)].push_front(*rec);
    // The record is bookkeeping, not the caller's allocation.
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
    if (off < ci.first || (off - ci.first) % ci.size || (off - ci.first) / ci.size >= ci.count) return nullptr;
    return s;
}

void Heap::free(void* p) {
    if (!p) return;
    SpinGuard guard(lock_);
    if (is_aligned(addr_of(p), uptr{PAGE_SIZE})) {
        free_large_locked(p);
        return;
    }
    Slab* s = slab_of(p);
    if (!s) {
        ++invalid_frees_;
        return;
    }
    auto* o = static_cast<FreeObject*>(p);
    if (o->poison == FREE_POISON) {
        // Most likely a double free, but live data may hold the poison value: only the free list
        // can tell.  It is short (at most a page's worth of objects).
        for (FreeObject* f = s->free; f; f = f->next) {
            if (f == o) {
                ++double_frees_;
                return;
            }
        }
    }
    free_small_locked(s, s->cls, o);
}

void Heap::free_small_locked(Slab* s, usize cls, FreeObject* o) {
    const ClassInfo& ci = kClasses.c[cls];
    bool was_full = !s->free;
    o->next = s->free;
    o->poison = FREE_POISON;
    s->free = o;
    --s->in_use;
    bytes_in_use_ -= ci.size;
    --live_;
    if (s->in_use == 0) {
        if (!was_full) SlabList::remove(*s);
        // A stale pointer into this page must not pass for a slab object later.
        s->magic = 0;
        source_->free_pages(s, 0);
        --pages_held_;
    } else if (was_full) {
        partial_[cls].push_front(*s);
    }
}

void Heap::free_large_locked(void* p) {
    LargeBlock* rec = find_large(p);
    if (!rec) {
        // Never allocated here, or already freed: the record is gone either way.
        ++invalid_frees_;
        return;
    }
    unsigned order = rec->order;
    LargeList::remove(*rec);
    source_->free_pages(p, order);
    bytes_in_use_ -= PAGE_SIZE << order;
    pages_held_ -= usize{1} << order;
    Slab* s = slab_of(rec);
    free_small_locked(s, s->cls, reinterpret_cast<FreeObject*>(rec));
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
    return HeapStats{bytes_in_use_, pages_held_, live_, invalid_frees_, double_frees_};
}

Heap& hv_heap() {
    static Heap heap;
    return heap;
}

}  // namespace pv
