// pv::format against the host's snprintf over every combination of flags, width and precision
// that GCC's -Wformat accepts (the hypervisor builds with -Wformat=2 -Werror, so no other
// combination can reach pv::format).
#include "lib/format.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string fmt(const char* f, auto... args) {
    char buf[128];
    pv::format(buf, sizeof buf, f, args...);
    return buf;
}

TEST(FormatFlags, AltOctal) {
    // '#' with 'o' raises the precision only as far as needed for a leading 0.
    EXPECT_EQ(fmt("%#o", 8u), "010");
    EXPECT_EQ(fmt("%#o", 0u), "0");
    EXPECT_EQ(fmt("%#.3o", 8u), "010");
    EXPECT_EQ(fmt("%#.3o", 1u), "001");
    EXPECT_EQ(fmt("%#.2o", 8u), "010");
    EXPECT_EQ(fmt("%#6.3o", 8u), "   010");
    EXPECT_EQ(fmt("%#.0o", 0u), "0");  // value 0, precision 0: still one 0
    EXPECT_EQ(fmt("%.0o", 0u), "");
    EXPECT_EQ(fmt("%#06o", 8u), "000010");
}

TEST(FormatFlags, AltHex) {
    EXPECT_EQ(fmt("%#x", 0u), "0");
    EXPECT_EQ(fmt("%#.0x", 0u), "");
    EXPECT_EQ(fmt("%#.4x", 0xffu), "0x00ff");
    EXPECT_EQ(fmt("%#08x", 0xffu), "0x0000ff");
    EXPECT_EQ(fmt("%#-8X|", 0xffu), "0XFF    |");
}

struct Mismatch {
    std::string format, pv, libc;
};

template <typename T> void compare(const std::string& f, T v, std::vector<Mismatch>& bad, int& n) {
    char a[128], b[128];
    ++n;
    pv::usize ra = pv::format(a, sizeof a, f.c_str(), v);
    int rb = std::snprintf(b, sizeof b, f.c_str(), v);
    if (std::strcmp(a, b) != 0 || ra != static_cast<pv::usize>(rb)) bad.push_back({f, a, b});
}

TEST(FormatFlags, MatchesSnprintf) {
    const char* flags[] = {"", "-", "0", "+", " ", "#", "-#", "0#", "+0", " 0", "-+", "- ", "-0"};
    const char* widths[] = {"", "1", "5", "12", "25"};
    const char* precs[] = {"", ".", ".0", ".1", ".3", ".10", ".24"};
    const long long ivals[] = {0, 1, -1, 7, 8, 255, -255, 123456, LLONG_MIN, LLONG_MAX};
    const unsigned long long uvals[] = {0, 1, 7, 8, 255, 0x1000, ULLONG_MAX};
    std::vector<Mismatch> bad;
    int n = 0;
    for (const char* f : flags)
        for (const char* w : widths)
            for (const char* p : precs) {
                const bool sign = std::strpbrk(f, "+ ") != nullptr;
                const bool alt = std::strchr(f, '#') != nullptr;
                const bool zero = std::strchr(f, '0') != nullptr;
                const std::string spec = std::string("[%") + f + w + p;
                if (!alt) {
                    for (const char* c : {"lld]", "lli]"})
                        for (long long v : ivals) compare(spec + c, v, bad, n);
                    for (int v : {0, 1, -1, 0x1234, -0x8000, 0x18000}) {
                        compare(spec + "hd]", v, bad, n);
                        compare(spec + "hhd]", v, bad, n);
                    }
                }
                if (!sign)
                    for (const char* c : {"llu]", "llx]", "llX]", "llo]"}) {
                        if (alt && c[2] == 'u') continue;
                        for (unsigned long long v : uvals) compare(spec + c, v, bad, n);
                    }
                if (!sign && !alt && !zero) {
                    for (const char* s : {"", "a", "hello world"}) compare(spec + "s]", s, bad, n);
                    if (!*p) {
                        compare(spec + "c]", 'z', bad, n);
                        for (void* q : {reinterpret_cast<void*>(0x1234),
                                        reinterpret_cast<void*>(0xffff82d040000000)})
                            compare(spec + "p]", q, bad, n);
                    }
                }
            }
    EXPECT_GT(n, 10000);
    for (std::size_t i = 0; i < bad.size() && i < 20; ++i)
        ADD_FAILURE() << bad[i].format << ": pv '" << bad[i].pv << "', snprintf '" << bad[i].libc
                      << "'";
    EXPECT_EQ(bad.size(), 0u);
}

}  // namespace
