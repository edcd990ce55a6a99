#include "core/ratelimit.hpp"

#include <gtest/gtest.h>

namespace {

constexpr pv::u64 SEC = 1'000'000'000ull;

TEST(RateLimit, BurstThenSteadyRateThenCountsDrops) {
    pv::RateLimit rl(3, 2);
    pv::u64 dropped = 99;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.allow(0, &dropped));
    EXPECT_EQ(dropped, 0u);
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(rl.allow(SEC / 10, &dropped));
    // Half a second more gives one token (2 per second): the next message reports 10 dropped.
    EXPECT_TRUE(rl.allow(SEC / 10 + SEC / 2, &dropped));
    EXPECT_EQ(dropped, 10u);
    EXPECT_FALSE(rl.allow(SEC / 10 + SEC / 2, &dropped));
}

TEST(RateLimit, RefillsToTheBurstOnlyAndSurvivesClockGoingBack) {
    pv::RateLimit rl(2, 1000);
    pv::u64 dropped = 0;
    EXPECT_TRUE(rl.allow(100 * SEC, &dropped));
    EXPECT_TRUE(rl.allow(100 * SEC, &dropped));
    EXPECT_FALSE(rl.allow(100 * SEC, &dropped));
    EXPECT_TRUE(rl.allow(200 * SEC, &dropped));  // a long pause refills to 2, not to 100000
    EXPECT_TRUE(rl.allow(200 * SEC, &dropped));
    EXPECT_FALSE(rl.allow(200 * SEC, &dropped));
    EXPECT_FALSE(rl.allow(50 * SEC, &dropped));  // an earlier time gains nothing
}

}  // namespace
