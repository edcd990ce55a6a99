// What the fuzz targets share: the assertion (a property that fails is a finding, so it aborts:
// libFuzzer saves the input as crash-<sha1> and the message names the condition) and a reader
// that turns the input into a sequence of choices, yielding zeroes once it runs out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);     \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)

namespace fuzz {

class Input {
public:
    Input(const uint8_t* d, size_t n) : d_(d), n_(n) {}
    bool empty() const { return pos_ >= n_; }
    uint8_t byte() { return pos_ < n_ ? d_[pos_++] : 0; }
    uint32_t u16() { return byte() | uint32_t{byte()} << 8; }
    uint64_t u64() {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= uint64_t{byte()} << (8 * i);
        return v;
    }
    // Up to `want` bytes (fewer at the end of the input): their count in *got.
    const uint8_t* take(size_t want, size_t* got) {
        *got = want < n_ - pos_ ? want : n_ - pos_;
        const uint8_t* p = d_ + pos_;
        pos_ += *got;
        return p;
    }

private:
    const uint8_t* d_;
    size_t n_;
    size_t pos_ = 0;
};

}  // namespace fuzz
