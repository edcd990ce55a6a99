// gzip decoder: zlib's members (tests/unit/gen_xz_vectors.py, written into the build tree at
// build time) decode to their originals — stored, fixed and dynamic blocks, every header field;
// hostile variants (every truncation, byte flips, short output, garbage) are refused without
// going out of bounds (exactly-sized heap buffers, so ASan sees any overrun).
#include "core/inflate.hpp"

#include <gtest/gtest.h>

#include "tests/unit/file_bytes.hpp"

#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace pv;

namespace {

std::vector<u8> vector_file(const std::string& name) { return file_bytes(std::string(PV_XZ_VECTORS) + "/" + name); }

// gunzip from an exact copy of `in` into a fresh buffer of `cap` bytes; the output on success.
bool inflate(const std::vector<u8>& in, usize cap, std::vector<u8>* out = nullptr, Diagnostics* d = nullptr) {
    std::unique_ptr<u8[]> src(new u8[in.size()]), dst(new u8[cap]);
    std::copy(in.begin(), in.end(), src.get());
    Diagnostics local;
    Result<usize> n = gunzip(src.get(), in.size(), dst.get(), cap, d ? *d : local);
    if (n && out) out->assign(dst.get(), dst.get() + *n);
    return n.ok();
}

class GzipVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(GzipVectors, DecodesToTheOriginal) {
    const std::string name = GetParam();
    std::vector<u8> gz = vector_file(name + ".gz"), want = vector_file(name + ".bin"), got;
    Diagnostics diags;
    ASSERT_TRUE(inflate(gz, want.size(), &got, &diags)) << diags.message(0);
    EXPECT_TRUE(got == want);
    if (!want.empty()) {
        Diagnostics small;
        EXPECT_FALSE(inflate(gz, want.size() - 1, nullptr, &small));
        EXPECT_TRUE(small.contains("output buffer too small")) << small.message(0);
    }
}

INSTANTIATE_TEST_SUITE_P(Zlib, GzipVectors,
                         ::testing::Values("gz_dynamic", "gz_stored", "gz_fixed", "gz_rle", "gz_headers", "gz_empty",
                                           "small"));

TEST(Gzip, RefusesEveryTruncation) {
    std::vector<u8> gz = vector_file("small.gz");
    for (usize n = 0; n < gz.size(); ++n) {
        Diagnostics diags;
        EXPECT_FALSE(inflate(std::vector<u8>(gz.begin(), gz.begin() + static_cast<long>(n)), 4096, nullptr, &diags))
            << "length " << n;
        EXPECT_GT(diags.errors(), 0u);
    }
}

// A flipped bit is caught, or yields the same data (never different data: CRC32 and ISIZE).
TEST(Gzip, BitFlipsAreCaughtOrHarmless) {
    std::vector<u8> gz = vector_file("small.gz"), want = vector_file("small.bin");
    usize refused = 0;
    for (usize i = 0; i < gz.size() * 8; ++i) {
        std::vector<u8> bad = gz, got;
        bad[i / 8] = static_cast<u8>(bad[i / 8] ^ (1u << (i % 8)));
        if (inflate(bad, 4096, &got))
            EXPECT_TRUE(got == want) << "bit " << i;
        else
            ++refused;
    }
    EXPECT_GT(refused, gz.size() * 8 * 9 / 10);
}

TEST(Gzip, RandomDeflateDataIsRefused) {
    std::mt19937 rng(5);
    for (int i = 0; i < 3000; ++i) {
        std::vector<u8> in = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        usize len = 8 + rng() % 400;
        for (usize k = 0; k < len; ++k) in.push_back(static_cast<u8>(rng()));
        // Invalid codes, a missing end, or (on the odd chance it decodes) a CRC32 mismatch.
        EXPECT_FALSE(inflate(in, 2048)) << "input " << i;
    }
}

TEST(Gzip, NamesHeaderProblems) {
    std::vector<u8> gz = vector_file("small.gz");
    struct Case {
        usize offset;
        u8 value;
        const char* message;
    } cases[] = {{0, 0x1e, "no gzip header"}, {2, 7, "compression method 7"}, {3, 0x20, "flags 0x20"},
                 {3, 0x08, "unterminated file name"}};
    for (const Case& c : cases) {
        std::vector<u8> bad = gz;
        bad[c.offset] = c.value;
        if (c.value == 0x08) std::fill(bad.begin() + 10, bad.end(), 0x41);  // no NUL anywhere
        Diagnostics diags;
        EXPECT_FALSE(inflate(bad, 4096, nullptr, &diags));
        EXPECT_TRUE(diags.contains(c.message)) << c.message << ": " << diags.message(0);
    }
}

}  // namespace
