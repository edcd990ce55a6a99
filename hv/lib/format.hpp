// printf-style formatting into a sink, checked by the compiler (-Wformat).
// Conversions: d i u x X o p s c %, length modifiers hh h l ll z j t, flags '-' '0' '+' ' ' '#',
// width and precision (also as '*').  No floating point: the hypervisor has none.
#pragma once
#include <stdarg.h>

#include "lib/types.hpp"

namespace pv {

// Where formatted characters go.  put() receives runs of characters, not necessarily terminated.
class Sink {
public:
    virtual void put(const char* s, usize n) = 0;

protected:
    ~Sink() = default;
};

// A sink over a fixed buffer: truncates, always NUL-terminates, counts what would have been written.
class BufferSink final : public Sink {
public:
    BufferSink(char* buf, usize size) : buf_(buf), size_(size) {
        if (size_) buf_[0] = '\0';
    }
    void put(const char* s, usize n) override;
    usize written() const { return total_; }

private:
    char* buf_;
    usize size_;
    usize used_ = 0;
    usize total_ = 0;
};

usize vformat(Sink& sink, const char* fmt, va_list ap);
usize format(Sink& sink, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// snprintf: returns the length the full output would have had.
usize format(char* buf, usize size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
usize vformat(char* buf, usize size, const char* fmt, va_list ap);

}  // namespace pv
