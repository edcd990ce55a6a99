// XZ decoder: vectors made by liblzma (tests/unit/gen_xz_vectors.py, written into the build
// tree at build time) decode to their originals; hostile variants (every truncation, byte flips,
// small output buffers, unsupported filters and checks) are refused without reading or writing
// out of bounds (inputs sit in exactly-sized heap buffers, so ASan sees any overrun).
#include "core/xz.hpp"

#include <gtest/gtest.h>

#include "tests/unit/file_bytes.hpp"

#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace pv;

namespace {

std::vector<u8> vec(const std::string& name) { return file_bytes(std::string(PV_XZ_VECTORS) + "/" + name); }

struct Decoded {
    bool ok;
    std::vector<u8> out;
    Diagnostics diags;
};

// Decodes from an exactly-sized copy of `in` into an exactly-sized buffer of `out_size` bytes.
std::unique_ptr<Decoded> decode(const std::vector<u8>& in, usize out_size) {
    static XzDecoder dec;
    auto r = std::make_unique<Decoded>();
    std::unique_ptr<u8[]> inb(new u8[in.size()]);
    std::copy(in.begin(), in.end(), inb.get());
    std::unique_ptr<u8[]> outb(new u8[out_size]);
    Result<usize> n = dec.decode(inb.get(), in.size(), outb.get(), out_size, r->diags);
    r->ok = n.ok();
    if (n) r->out.assign(outb.get(), outb.get() + *n);
    return r;
}

class XzVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(XzVectors, DecodesToTheOriginal) {
    std::vector<u8> xz = vec(std::string(GetParam()) + ".xz"), want = vec(std::string(GetParam()) + ".bin");
    auto r = decode(xz, want.size() + 1);
    ASSERT_TRUE(r->ok) << r->diags.message(0);
    EXPECT_EQ(r->diags.count(), 0u);
    EXPECT_TRUE(r->out == want);
    // The exact size suffices; one byte less does not (unless there is nothing to write).
    EXPECT_TRUE(decode(xz, want.size())->ok);
    if (!want.empty()) {
        auto small = decode(xz, want.size() - 1);
        EXPECT_FALSE(small->ok);
        EXPECT_TRUE(small->diags.contains("output buffer")) << small->diags.message(0);
    }
}

INSTANTIATE_TEST_SUITE_P(Liblzma, XzVectors,
                         ::testing::Values("x86_4k", "x86_1m", "x86_32m", "check_none", "check_crc32", "check_crc64",
                                           "props_lp4", "props_lc4", "props_lc0", "empty", "two_streams",
                                           "multi_block", "multi_block_x86", "small"));

TEST(Xz, RefusesUnsupportedFiltersAndChecksByName) {
    struct Case {
        const char* name;
        const char* message;
    } cases[] = {{"delta", "filter 0x3 (delta) not supported"},
                 {"arm", "filter 0x7 (ARM BCJ) not supported"},
                 {"sha256", "check type 10 unsupported"}};
    for (const Case& c : cases) {
        auto r = decode(vec(std::string(c.name) + ".xz"), 1 << 16);
        EXPECT_FALSE(r->ok) << c.name;
        EXPECT_TRUE(r->diags.contains(c.message)) << c.name << ": " << r->diags.message(0);
    }
}

TEST(Xz, RefusesEveryTruncation) {
    std::vector<u8> xz = vec("small.xz");
    for (usize n = 0; n < xz.size(); ++n) {
        std::vector<u8> cut(xz.begin(), xz.begin() + static_cast<long>(n));
        auto r = decode(cut, 4096);
        EXPECT_FALSE(r->ok) << "length " << n;
        EXPECT_GT(r->diags.errors(), 0u);
    }
}

// A flipped byte is either caught or (rarely, where the encoding has slack) decodes to the same
// data; it never yields different data, since every structure and the data itself are checked.
TEST(Xz, ByteFlipsAreCaughtOrHarmless) {
    std::vector<u8> xz = vec("small.xz"), want = vec("small.bin");
    std::mt19937 rng(7);
    usize refused = 0;
    for (usize i = 0; i < xz.size(); ++i) {
        std::vector<u8> bad = xz;
        bad[i] = static_cast<u8>(bad[i] ^ (1u << (rng() % 8)));
        auto r = decode(bad, 4096);
        if (r->ok)
            EXPECT_TRUE(r->out == want) << "offset " << i;
        else
            ++refused;
    }
    EXPECT_GT(refused, xz.size() * 9 / 10);
}

TEST(Xz, RandomGarbageAfterAValidHeaderIsRefused) {
    std::vector<u8> head = vec("small.xz");
    head.resize(12);
    std::mt19937 rng(11);
    for (int i = 0; i < 2000; ++i) {
        std::vector<u8> in = head;
        usize len = rng() % 600;
        for (usize k = 0; k < len; ++k) in.push_back(static_cast<u8>(rng()));
        auto r = decode(in, 1024);
        EXPECT_FALSE(r->ok);
    }
}

TEST(Xz, RefusesBadStreamPaddingAndTrailingGarbage) {
    std::vector<u8> xz = vec("small.xz");
    std::vector<u8> pad3 = xz;
    pad3.insert(pad3.end(), 3, 0);
    auto r = decode(pad3, 4096);
    EXPECT_FALSE(r->ok);
    EXPECT_TRUE(r->diags.contains("multiple of four")) << r->diags.message(0);
    std::vector<u8> junk = xz;
    junk.insert(junk.end(), 4, 0);
    junk.insert(junk.end(), 32, 'j');
    r = decode(junk, 4096);
    EXPECT_FALSE(r->ok);
    EXPECT_TRUE(r->diags.contains("no stream header magic")) << r->diags.message(0);
}

TEST(Xz, Crc32AndCrc64MatchTheStandardCheckValues) {
    const u8 digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    EXPECT_EQ(crc32(digits, sizeof digits), 0xcbf43926u);
    EXPECT_EQ(crc64(digits, sizeof digits), 0x995dc9bbdf1939faull);
    // Continuing a CRC over a split buffer gives the same value.
    EXPECT_EQ(crc32(digits + 4, 5, crc32(digits, 4)), 0xcbf43926u);
}

}  // namespace
