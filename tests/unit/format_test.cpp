#include "lib/format.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string fmt(const char* f, auto... args) {
    char buf[256];
    pv::usize n = pv::format(buf, sizeof buf, f, args...);
    EXPECT_EQ(n, std::string(buf).size());
    return buf;
}

TEST(Format, Integers) {
    EXPECT_EQ(fmt("%d %i %u", -42, 7, 3000000000u), "-42 7 3000000000");
    EXPECT_EQ(fmt("%x %X %#x %o", 0xbeefu, 0xbeefu, 255u, 8u), "beef BEEF 0xff 10");
    EXPECT_EQ(fmt("%lx %llu %zu", 0xffff82d040000000ul, 18446744073709551615ull, size_t{12}),
              "ffff82d040000000 18446744073709551615 12");
    EXPECT_EQ(fmt("%ld", static_cast<long>(-9223372036854775807L - 1)), "-9223372036854775808");
    EXPECT_EQ(fmt("%hhx %hd", 0x1ff, 0x18000), "ff -32768");
}

TEST(Format, WidthPrecisionFlags) {
    EXPECT_EQ(fmt("[%5d][%-5d][%05d]", 42, 42, -42), "[   42][42   ][-0042]");
    EXPECT_EQ(fmt("[%016lx]", 0x1234ul), "[0000000000001234]");
    EXPECT_EQ(fmt("[%.3d][%+d][% d]", 7, 7, 7), "[007][+7][ 7]");
    EXPECT_EQ(fmt("[%*d][%-*d]", 4, 1, 3, 2), "[   1][2  ]");
    EXPECT_EQ(fmt("[%.0d]", 0), "[]");
}

TEST(Format, StringsCharsPointers) {
    EXPECT_EQ(fmt("%s|%8s|%-8s|%.2s", "abc", "abc", "abc", "abc"), "abc|     abc|abc     |ab");
    EXPECT_EQ(fmt("%s", static_cast<const char*>(nullptr)), "(null)");
    EXPECT_EQ(fmt("%c%c%3c", 'a', 'b', 'c'), "ab  c");
    EXPECT_EQ(fmt("%p", reinterpret_cast<void*>(0x1000)), "0x1000");
    EXPECT_EQ(fmt("100%%"), "100%");
}

TEST(Format, TruncatesAndCounts) {
    char buf[8];
    EXPECT_EQ(pv::format(buf, sizeof buf, "%s", "hello world"), 11u);
    EXPECT_STREQ(buf, "hello w");
    EXPECT_EQ(pv::format(buf, 0, "%d", 12345), 5u);
    char one[1] = {'x'};
    EXPECT_EQ(pv::format(one, 1, "abc"), 3u);
    EXPECT_EQ(one[0], '\0');
}

}  // namespace

namespace {
TEST(Format, IntmaxAndPtrdiff) {
    EXPECT_EQ(fmt("%jd %td %ju", static_cast<intmax_t>(-5), static_cast<ptrdiff_t>(7), static_cast<uintmax_t>(9)),
              "-5 7 9");
}
}  // namespace
