// Bitmaps: BitmapView over caller-owned words, and Bitmap<N> with inline storage.
#pragma once
#include "lib/types.hpp"

namespace pv {

class BitmapView {
public:
    static constexpr usize BITS_PER_WORD = 64;
    static constexpr usize words_for(usize bits) { return (bits + BITS_PER_WORD - 1) / BITS_PER_WORD; }

    BitmapView(u64* words, usize bits) : w_(words), bits_(bits) {}

    usize size() const { return bits_; }
    bool test(usize i) const { return (w_[i / BITS_PER_WORD] >> (i % BITS_PER_WORD)) & 1; }
    void set(usize i) { w_[i / BITS_PER_WORD] |= bit(i); }
    void clear(usize i) { w_[i / BITS_PER_WORD] &= ~bit(i); }
    // Returns the previous value.
    bool test_and_set(usize i) {
        bool old = test(i);
        set(i);
        return old;
    }
    void fill(bool value) {
        for (usize k = 0; k < words_for(bits_); ++k) w_[k] = value ? ~u64{0} : 0;
        trim();
    }
    void set_range(usize from, usize n) {
        for (usize i = from; i < from + n; ++i) set(i);
    }
    // First set (or clear) bit at or after from; size() when none.
    usize find_next_set(usize from) const { return find(from, false); }
    usize find_next_clear(usize from) const { return find(from, true); }
    usize count() const {
        usize n = 0;
        for (usize k = 0; k < words_for(bits_); ++k) n += static_cast<usize>(__builtin_popcountll(w_[k]));
        return n;
    }

private:
    static u64 bit(usize i) { return u64{1} << (i % BITS_PER_WORD); }
    void trim() {
        if (bits_ % BITS_PER_WORD) w_[bits_ / BITS_PER_WORD] &= bit(bits_) - 1;
    }
    usize find(usize from, bool invert) const {
        while (from < bits_) {
            u64 w = w_[from / BITS_PER_WORD];
            if (invert) w = ~w;
            w &= ~u64{0} << (from % BITS_PER_WORD);
            if (w) {
                usize i = (from & ~(BITS_PER_WORD - 1)) + static_cast<usize>(__builtin_ctzll(w));
                return i < bits_ ? i : bits_;
            }
            from = (from & ~(BITS_PER_WORD - 1)) + BITS_PER_WORD;
        }
        return bits_;
    }

    u64* w_;
    usize bits_;
};

// A value type: copyable, with the set operations cpumasks need (Xen's cpumask_and, _or, _andnot,
// _intersects, _subset).
template <usize N> class Bitmap {
    static constexpr usize WORDS = BitmapView::words_for(N);

public:
    static constexpr usize bits() { return N; }
    BitmapView view() { return BitmapView(words_, N); }
    bool test(usize i) const { return (words_[i / 64] >> (i % 64)) & 1; }
    void set(usize i) { view().set(i); }
    void clear(usize i) { view().clear(i); }
    void fill(bool value) { view().fill(value); }
    // The read-only queries go through a view over our own words; they never write through it.
    usize find_next_set(usize from = 0) const { return cview().find_next_set(from); }
    usize find_next_clear(usize from = 0) const { return cview().find_next_clear(from); }
    usize count() const { return cview().count(); }
    bool empty() const { return find_next_set(0) == N; }

    Bitmap& operator&=(const Bitmap& o) {
        for (usize k = 0; k < WORDS; ++k) words_[k] &= o.words_[k];
        return *this;
    }
    Bitmap& operator|=(const Bitmap& o) {
        for (usize k = 0; k < WORDS; ++k) words_[k] |= o.words_[k];
        return *this;
    }
    Bitmap& and_not(const Bitmap& o) {
        for (usize k = 0; k < WORDS; ++k) words_[k] &= ~o.words_[k];
        return *this;
    }
    friend Bitmap operator&(Bitmap a, const Bitmap& b) { return a &= b; }
    bool intersects(const Bitmap& o) const {
        for (usize k = 0; k < WORDS; ++k)
            if (words_[k] & o.words_[k]) return true;
        return false;
    }
    bool subset_of(const Bitmap& o) const {
        for (usize k = 0; k < WORDS; ++k)
            if (words_[k] & ~o.words_[k]) return false;
        return true;
    }
    bool operator==(const Bitmap& o) const {
        for (usize k = 0; k < WORDS; ++k)
            if (words_[k] != o.words_[k]) return false;
        return true;
    }

private:
    BitmapView cview() const { return BitmapView(const_cast<u64*>(words_), N); }
    u64 words_[WORDS] = {};
};

}  // namespace pv
