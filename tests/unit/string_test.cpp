#include "lib/string.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using pv::u64;
using pv::usize;

// ---------------------------------------------------------------------------------------------
// Memory primitives.

TEST(String, MemCopy) {
    char src[] = "0123456789";
    char dst[11] = {};
    pv::mem_copy(dst, src, sizeof src);
    EXPECT_STREQ(dst, "0123456789");

    char untouched[4] = {'a', 'b', 'c', 'd'};
    pv::mem_copy(untouched, src, 0);
    EXPECT_EQ(std::string(untouched, 4), "abcd");
    pv::mem_copy(untouched + 1, src, 2);
    EXPECT_EQ(std::string(untouched, 4), "a01d");
}

TEST(String, MemMoveOverlapForward) {
    // dst above src: must copy from the end or the tail is smeared.
    char b[] = "abcdefghij";
    pv::mem_move(b + 3, b, 6);
    EXPECT_STREQ(b, "abcabcdefj");
}

TEST(String, MemMoveOverlapBackward) {
    // dst below src.
    char b[] = "abcdefghij";
    pv::mem_move(b, b + 3, 6);
    EXPECT_STREQ(b, "defghighij");
}

TEST(String, MemMoveOneByteShiftAndSelf) {
    char b[] = "abcdef";
    pv::mem_move(b + 1, b, 5);
    EXPECT_STREQ(b, "aabcde");
    pv::mem_move(b, b + 1, 5);
    EXPECT_STREQ(b, "abcdee");
    pv::mem_move(b, b, 6);
    EXPECT_STREQ(b, "abcdee");
    pv::mem_move(b, b + 2, 0);
    EXPECT_STREQ(b, "abcdee");
}

TEST(String, MemMoveDisjoint) {
    char a[] = "hello";
    char b[6] = {};
    pv::mem_move(b, a, 6);
    EXPECT_STREQ(b, "hello");
}

TEST(String, MemSet) {
    unsigned char b[8];
    std::memset(b, 0x11, sizeof b);
    pv::mem_set(b + 1, 0xab, 6);
    EXPECT_EQ(b[0], 0x11);
    for (int i = 1; i < 7; ++i) EXPECT_EQ(b[i], 0xab) << i;
    EXPECT_EQ(b[7], 0x11);
    // Only the low byte of the value is used, as memset.
    pv::mem_set(b, 0x1234, 2);
    EXPECT_EQ(b[0], 0x34);
    EXPECT_EQ(b[1], 0x34);
    pv::mem_set(b, -1, 1);
    EXPECT_EQ(b[0], 0xff);
    pv::mem_set(b, 0, 0);
    EXPECT_EQ(b[0], 0xff);
}

TEST(String, MemCompareSign) {
    EXPECT_EQ(pv::mem_compare("abc", "abc", 3), 0);
    EXPECT_LT(pv::mem_compare("abb", "abc", 3), 0);
    EXPECT_GT(pv::mem_compare("abd", "abc", 3), 0);
    EXPECT_EQ(pv::mem_compare("abX", "abY", 2), 0);
    EXPECT_EQ(pv::mem_compare("x", "y", 0), 0);
    // Bytes compare as unsigned: 0x80 is greater than 0x7f.
    const unsigned char hi[] = {0x80};
    const unsigned char lo[] = {0x7f};
    EXPECT_GT(pv::mem_compare(hi, lo, 1), 0);
    EXPECT_LT(pv::mem_compare(lo, hi, 1), 0);
    // Comparison goes past a NUL (it is memory, not a string).
    EXPECT_LT(pv::mem_compare("a\0b", "a\0c", 3), 0);
}

// ---------------------------------------------------------------------------------------------
// C strings.

TEST(String, StrLenNlen) {
    EXPECT_EQ(pv::str_len(""), 0u);
    EXPECT_EQ(pv::str_len("hello"), 5u);
    EXPECT_EQ(pv::str_len("ab\0cd"), 2u);
    EXPECT_EQ(pv::str_nlen("hello", 3), 3u);
    EXPECT_EQ(pv::str_nlen("hello", 5), 5u);
    EXPECT_EQ(pv::str_nlen("hello", 100), 5u);
    EXPECT_EQ(pv::str_nlen("hello", 0), 0u);
    // str_nlen must not read past max: an unterminated buffer.
    const char raw[3] = {'x', 'y', 'z'};
    EXPECT_EQ(pv::str_nlen(raw, sizeof raw), 3u);
}

TEST(String, StrCompare) {
    EXPECT_EQ(pv::str_compare("", ""), 0);
    EXPECT_EQ(pv::str_compare("abc", "abc"), 0);
    EXPECT_LT(pv::str_compare("abc", "abd"), 0);
    EXPECT_GT(pv::str_compare("abd", "abc"), 0);
    EXPECT_LT(pv::str_compare("ab", "abc"), 0);  // prefix sorts first
    EXPECT_GT(pv::str_compare("abc", "ab"), 0);
    EXPECT_LT(pv::str_compare("", "a"), 0);
    EXPECT_GT(pv::str_compare("\x80", "\x7f"), 0);  // unsigned, as strcmp
}

TEST(String, StrNcompare) {
    EXPECT_EQ(pv::str_ncompare("abcX", "abcY", 3), 0);
    EXPECT_LT(pv::str_ncompare("abcX", "abcY", 4), 0);
    EXPECT_GT(pv::str_ncompare("abcY", "abcX", 10), 0);
    EXPECT_EQ(pv::str_ncompare("abc", "abc", 10), 0);  // stops at the NUL
    EXPECT_LT(pv::str_ncompare("ab", "abc", 3), 0);
    EXPECT_EQ(pv::str_ncompare("ab", "abc", 2), 0);
    EXPECT_EQ(pv::str_ncompare("x", "y", 0), 0);
    EXPECT_GT(pv::str_ncompare("\xff", "a", 1), 0);
}

TEST(String, StrCopyFits) {
    char buf[8];
    std::memset(buf, 'Z', sizeof buf);
    EXPECT_EQ(pv::str_copy(buf, "abc", sizeof buf), 3u);
    EXPECT_STREQ(buf, "abc");
    EXPECT_EQ(buf[4], 'Z');  // nothing written past the terminator

    EXPECT_EQ(pv::str_copy(buf, "", sizeof buf), 0u);
    EXPECT_STREQ(buf, "");
}

TEST(String, StrCopyTruncatesAndTerminates) {
    char buf[8];
    std::memset(buf, 'Z', sizeof buf);
    EXPECT_EQ(pv::str_copy(buf, "abcdefgh", sizeof buf), 8u);  // exactly one too long
    EXPECT_STREQ(buf, "abcdefg");

    EXPECT_EQ(pv::str_copy(buf, "abcdefg", sizeof buf), 7u);  // exactly fits
    EXPECT_STREQ(buf, "abcdefg");

    EXPECT_EQ(pv::str_copy(buf, "a much longer string", 4), 20u);
    EXPECT_STREQ(buf, "a m");

    char one[1] = {'Z'};
    EXPECT_EQ(pv::str_copy(one, "abc", 1), 3u);
    EXPECT_EQ(one[0], '\0');

    char none[1] = {'Z'};
    EXPECT_EQ(pv::str_copy(none, "abc", 0), 3u);  // size 0: nothing written
    EXPECT_EQ(none[0], 'Z');
}

// ---------------------------------------------------------------------------------------------
// StrView.

TEST(String, StrViewConstruction) {
    pv::StrView empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.len, 0u);

    pv::StrView null_view(static_cast<const char*>(nullptr));
    EXPECT_TRUE(null_view.empty());

    pv::StrView c("hello");
    EXPECT_EQ(c.len, 5u);
    EXPECT_EQ(c[0], 'h');
    EXPECT_EQ(c[4], 'o');

    pv::StrView part("hello world", 5);  // not NUL-terminated at len
    EXPECT_EQ(part.len, 5u);
    EXPECT_TRUE(part.equals("hello"));
}

TEST(String, StrViewEqualsStartsWith) {
    pv::StrView v("console=com1");
    EXPECT_TRUE(v.equals("console=com1"));
    EXPECT_FALSE(v.equals("console=com"));
    EXPECT_FALSE(v.equals("console=com12"));
    EXPECT_FALSE(v.equals("Console=com1"));
    EXPECT_TRUE(v.starts_with("console="));
    EXPECT_TRUE(v.starts_with(""));
    EXPECT_TRUE(v.starts_with(v));
    EXPECT_FALSE(v.starts_with("console=com1x"));
    EXPECT_FALSE(v.starts_with("com"));
    EXPECT_TRUE(pv::StrView().equals(""));
    EXPECT_TRUE(pv::StrView("").equals(pv::StrView()));
}

TEST(String, StrViewSubstr) {
    pv::StrView v("abcdef");
    EXPECT_TRUE(v.substr(2).equals("cdef"));
    EXPECT_TRUE(v.substr(2, 2).equals("cd"));
    EXPECT_TRUE(v.substr(0, 100).equals("abcdef"));
    EXPECT_TRUE(v.substr(4, 100).equals("ef"));
    EXPECT_TRUE(v.substr(6).empty());
    pv::StrView past = v.substr(100);  // clamped, not out of bounds
    EXPECT_TRUE(past.empty());
    EXPECT_EQ(past.ptr, v.ptr + v.len);
    EXPECT_TRUE(v.substr(3, 0).empty());
}

TEST(String, StrViewFind) {
    pv::StrView v("a,b,,c");
    EXPECT_EQ(v.find(','), 1u);
    EXPECT_EQ(v.find(',', 1), 1u);
    EXPECT_EQ(v.find(',', 2), 3u);
    EXPECT_EQ(v.find(',', 4), 4u);
    EXPECT_EQ(v.find(',', 5), v.len);
    EXPECT_EQ(v.find('z'), v.len);
    EXPECT_EQ(v.find(',', 100), v.len);
    // find stops at len even if the underlying buffer has the character later.
    pv::StrView part("abc,", 3);
    EXPECT_EQ(part.find(','), 3u);
}

// ---------------------------------------------------------------------------------------------
// parse_u64.

bool pu(const char* s, u64* out) { return pv::parse_u64(pv::StrView(s), out); }

TEST(String, ParseU64Decimal) {
    u64 v = 0;
    ASSERT_TRUE(pu("0", &v));
    EXPECT_EQ(v, 0u);
    ASSERT_TRUE(pu("7", &v));
    EXPECT_EQ(v, 7u);
    ASSERT_TRUE(pu("1234567890", &v));
    EXPECT_EQ(v, 1234567890u);
    ASSERT_TRUE(pu("18446744073709551615", &v));
    EXPECT_EQ(v, ~u64{0});
}

TEST(String, ParseU64Hex) {
    u64 v = 0;
    ASSERT_TRUE(pu("0x0", &v));
    EXPECT_EQ(v, 0u);
    ASSERT_TRUE(pu("0x1f", &v));
    EXPECT_EQ(v, 0x1fu);
    ASSERT_TRUE(pu("0XABCdef", &v));
    EXPECT_EQ(v, 0xabcdefu);
    ASSERT_TRUE(pu("0xffffffffffffffff", &v));
    EXPECT_EQ(v, ~u64{0});
    ASSERT_TRUE(pu("0x00000000000000000001", &v));  // leading zeros do not overflow
    EXPECT_EQ(v, 1u);
    EXPECT_FALSE(pu("0x", &v));
    EXPECT_FALSE(pu("0xg", &v));
    EXPECT_FALSE(pu("0x1g", &v));
    EXPECT_FALSE(pu("ff", &v));  // hex digits need the prefix
}

TEST(String, ParseU64Octal) {
    u64 v = 0;
    ASSERT_TRUE(pu("010", &v));
    EXPECT_EQ(v, 8u);
    ASSERT_TRUE(pu("0777", &v));
    EXPECT_EQ(v, 0777u);
    ASSERT_TRUE(pu("00", &v));
    EXPECT_EQ(v, 0u);
    ASSERT_TRUE(pu("01777777777777777777777", &v));
    EXPECT_EQ(v, ~u64{0});
    EXPECT_FALSE(pu("08", &v));
    EXPECT_FALSE(pu("019", &v));
    EXPECT_FALSE(pu("02000000000000000000000", &v));  // 2^64
}

TEST(String, ParseU64Binary) {
    u64 v = 0;
    ASSERT_TRUE(pu("0b0", &v));
    EXPECT_EQ(v, 0u);
    ASSERT_TRUE(pu("0b101", &v));
    EXPECT_EQ(v, 5u);
    ASSERT_TRUE(pu("0B11", &v));
    EXPECT_EQ(v, 3u);
    ASSERT_TRUE(pu(std::string("0b" + std::string(64, '1')).c_str(), &v));
    EXPECT_EQ(v, ~u64{0});
    EXPECT_FALSE(pu(std::string("0b1" + std::string(64, '0')).c_str(), &v));  // 2^64
    EXPECT_FALSE(pu("0b", &v));
    EXPECT_FALSE(pu("0b2", &v));
    EXPECT_FALSE(pu("0b12", &v));
}

TEST(String, ParseU64RejectsBadInput) {
    u64 v = 12345;
    EXPECT_FALSE(pu("", &v));
    EXPECT_FALSE(pv::parse_u64(pv::StrView(), &v));
    EXPECT_FALSE(pu("abc", &v));
    EXPECT_FALSE(pu("12a", &v));
    EXPECT_FALSE(pu("12 ", &v));
    EXPECT_FALSE(pu(" 12", &v));
    EXPECT_FALSE(pu("-1", &v));
    EXPECT_FALSE(pu("+1", &v));
    EXPECT_FALSE(pu("1.5", &v));
    EXPECT_FALSE(pu("1K", &v));
    EXPECT_EQ(v, 12345u);  // untouched on failure
}

TEST(String, ParseU64OverflowAt2To64) {
    u64 v = 7;
    EXPECT_FALSE(pu("18446744073709551616", &v));  // 2^64
    EXPECT_FALSE(pu("18446744073709551620", &v));
    EXPECT_FALSE(pu("99999999999999999999", &v));
    EXPECT_FALSE(pu("0x10000000000000000", &v));
    EXPECT_EQ(v, 7u);
}

TEST(String, ParseU64UsesOnlyTheView) {
    // The view ends before the stray characters: they must not be looked at.
    u64 v = 0;
    ASSERT_TRUE(pv::parse_u64(pv::StrView("42,junk", 2), &v));
    EXPECT_EQ(v, 42u);
    ASSERT_TRUE(pv::parse_u64(pv::StrView("0x1fzz", 4), &v));
    EXPECT_EQ(v, 0x1fu);
}

// ---------------------------------------------------------------------------------------------
// parse_size: Xen's parse_size_and_unit.

bool ps(const char* s, u64* out) { return pv::parse_size(pv::StrView(s), out); }

TEST(String, ParseSizeSuffixes) {
    u64 v = 0;
    ASSERT_TRUE(ps("512B", &v));
    EXPECT_EQ(v, 512u);
    ASSERT_TRUE(ps("512b", &v));
    EXPECT_EQ(v, 512u);
    ASSERT_TRUE(ps("4K", &v));
    EXPECT_EQ(v, 4 * pv::KiB);
    ASSERT_TRUE(ps("4k", &v));
    EXPECT_EQ(v, 4 * pv::KiB);
    ASSERT_TRUE(ps("16M", &v));
    EXPECT_EQ(v, 16 * pv::MiB);
    ASSERT_TRUE(ps("16m", &v));
    EXPECT_EQ(v, 16 * pv::MiB);
    ASSERT_TRUE(ps("2G", &v));
    EXPECT_EQ(v, 2 * pv::GiB);
    ASSERT_TRUE(ps("2g", &v));
    EXPECT_EQ(v, 2 * pv::GiB);
    ASSERT_TRUE(ps("3T", &v));
    EXPECT_EQ(v, 3 * pv::GiB * 1024);
    ASSERT_TRUE(ps("3t", &v));
    EXPECT_EQ(v, 3 * pv::GiB * 1024);
}

TEST(String, ParseSizeBareNumberIsKiB) {
    u64 v = 0;
    ASSERT_TRUE(ps("1", &v));
    EXPECT_EQ(v, pv::KiB);
    ASSERT_TRUE(ps("262144", &v));
    EXPECT_EQ(v, 256 * pv::MiB);
    ASSERT_TRUE(ps("0", &v));
    EXPECT_EQ(v, 0u);
}

TEST(String, ParseSizeWithPrefixes) {
    u64 v = 0;
    ASSERT_TRUE(ps("0x10M", &v));
    EXPECT_EQ(v, 16 * pv::MiB);
    ASSERT_TRUE(ps("010K", &v));
    EXPECT_EQ(v, 8 * pv::KiB);
    // As simple_strtoull in Xen, hex digits eat a 'B': 0x1B is 27 (KiB), not 1 byte.
    ASSERT_TRUE(ps("0x1B", &v));
    EXPECT_EQ(v, 27 * pv::KiB);
}

TEST(String, ParseSizeZeroBytes) {
    // "0b"/"0B" is zero bytes (Xen: simple_strtoull reads "0", then the 'b' unit), not an empty
    // binary literal.
    u64 v = 99;
    ASSERT_TRUE(ps("0b", &v));
    EXPECT_EQ(v, 0u);
    v = 99;
    ASSERT_TRUE(ps("0B", &v));
    EXPECT_EQ(v, 0u);
}

TEST(String, ParseSizeRejectsBadInput) {
    u64 v = 5;
    EXPECT_FALSE(ps("", &v));
    EXPECT_FALSE(ps("M", &v));
    EXPECT_FALSE(ps("12X", &v));
    EXPECT_FALSE(ps("12MB", &v));  // one suffix only
    EXPECT_FALSE(ps("12 M", &v));
    EXPECT_FALSE(ps("-1M", &v));
    EXPECT_FALSE(ps("1.5G", &v));
    EXPECT_FALSE(ps("0x", &v));
    EXPECT_FALSE(ps("0xM", &v));
    EXPECT_EQ(v, 5u);
}

TEST(String, ParseSizeOverflow) {
    u64 v = 5;
    // Largest values that fit with each shift, then one more.
    ASSERT_TRUE(ps("16777215T", &v));  // 2^24 - 1 TiB
    EXPECT_EQ(v, ((u64{1} << 24) - 1) << 40);
    EXPECT_FALSE(ps("16777216T", &v));  // 2^64
    ASSERT_TRUE(ps("17179869183G", &v));
    EXPECT_EQ(v, ((u64{1} << 34) - 1) << 30);
    EXPECT_FALSE(ps("17179869184G", &v));
    ASSERT_TRUE(ps("17592186044415M", &v));
    EXPECT_EQ(v, ((u64{1} << 44) - 1) << 20);
    EXPECT_FALSE(ps("17592186044416M", &v));
    ASSERT_TRUE(ps("18014398509481983K", &v));
    EXPECT_EQ(v, ((u64{1} << 54) - 1) << 10);
    EXPECT_FALSE(ps("18014398509481984K", &v));
    EXPECT_FALSE(ps("18014398509481984", &v));  // bare number: KiB, so also overflows
    ASSERT_TRUE(ps("18446744073709551615B", &v));
    EXPECT_EQ(v, ~u64{0});
    v = 5;
    EXPECT_FALSE(ps("18446744073709551616B", &v));  // the number itself overflows
    EXPECT_FALSE(ps("0xffffffffffffffffK", &v));
    EXPECT_EQ(v, 5u);
}

}  // namespace
