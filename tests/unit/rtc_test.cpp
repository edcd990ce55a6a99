#include <gtest/gtest.h>

#include "core/rtc.hpp"

using pv::rtc::Registers;
using pv::rtc::to_unix;

namespace {

constexpr pv::u8 B24_BCD = pv::rtc::STATUS_B_24H;
constexpr pv::u8 B24_BIN = pv::rtc::STATUS_B_24H | pv::rtc::STATUS_B_BINARY;

TEST(Rtc, DaysFromCivil) {
    static_assert(pv::rtc::days_from_civil(1970, 1, 1) == 0);
    static_assert(pv::rtc::days_from_civil(2000, 3, 1) == 11017);
    static_assert(pv::rtc::days_from_civil(1969, 12, 31) == -1);
    EXPECT_EQ(pv::rtc::days_from_civil(2024, 2, 29), 19782);
}

TEST(Rtc, BcdTwentyFourHour) {
    // 2026-11-21 22:07:38 UTC
    Registers r{0x38, 0x07, 0x22, 0x21, 0x11, 0x26, 0x20, B24_BCD};
    EXPECT_EQ(to_unix(r), 1795298858);
}

TEST(Rtc, BinaryAndNoCentury) {
    Registers r{38, 7, 22, 21, 11, 26, 0, B24_BIN};
    EXPECT_EQ(to_unix(r), 1795298858);
    Registers old{0, 0, 0, 1, 1, 70, 0, B24_BIN};  // 70 without a century is 1970
    EXPECT_EQ(to_unix(old), 0);
}

TEST(Rtc, TwelveHourClock) {
    // 12 AM is midnight, 12 PM is noon, bit 7 marks PM.
    Registers midnight{0, 0, 0x12, 0x01, 0x01, 0x00, 0x20, 0};
    Registers noon{0, 0, 0x92, 0x01, 0x01, 0x00, 0x20, 0};
    Registers ten_pm{0, 0, 0x90, 0x01, 0x01, 0x00, 0x20, 0};
    EXPECT_EQ(to_unix(midnight), 946684800);
    EXPECT_EQ(to_unix(noon), 946684800 + 12 * 3600);
    EXPECT_EQ(to_unix(ten_pm), 946684800 + 22 * 3600);
}

TEST(Rtc, GarbageIsRefused) {
    EXPECT_EQ(to_unix(Registers{0x3a, 0, 0, 1, 1, 0, 0x20, B24_BCD}), -1);  // not BCD
    EXPECT_EQ(to_unix(Registers{0x60, 0, 0, 1, 1, 0, 0x20, B24_BCD}), -1);  // second 60
    EXPECT_EQ(to_unix(Registers{0, 0, 0, 0, 1, 0, 0x20, B24_BCD}), -1);     // day 0
    EXPECT_EQ(to_unix(Registers{0, 0, 0, 1, 0x13, 0, 0x20, B24_BCD}), -1);  // month 13
    EXPECT_EQ(to_unix(Registers{0, 0, 0, 1, 1, 0, 0, 0}), -1);              // 12-hour clock, hour 0
    EXPECT_EQ(to_unix(Registers{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, B24_BIN}), -1);  // floating bus
}

}  // namespace
