// Serial input switching (core/serial_input.hpp): Xen's Ctrl-A x3 rule, domain 0's ring, and
// conswitch=.
#include <gtest/gtest.h>

#include <string>

#include "core/cmdline.hpp"
#include "core/serial_input.hpp"

namespace {

using pv::SerialInput;
using Target = SerialInput::Target;

std::string keys(const SerialInput::Result& r) { return std::string(r.keys, r.nkeys); }
std::string drain(SerialInput& in) {
    char buf[256];
    return std::string(buf, in.read(buf, sizeof buf));
}

TEST(SerialInput, ThreeSwitchCharactersFlipTheTarget) {
    SerialInput in;
    EXPECT_EQ(in.target(), Target::hypervisor);
    EXPECT_FALSE(in.feed(0x01).switched);
    EXPECT_FALSE(in.feed(0x01).switched);
    auto r = in.feed(0x01);
    EXPECT_TRUE(r.switched);
    EXPECT_EQ(r.nkeys, 0u);
    EXPECT_EQ(in.target(), Target::dom0);
    for (int i = 0; i < 3; ++i) r = in.feed(0x01);
    EXPECT_TRUE(r.switched);
    EXPECT_EQ(in.target(), Target::hypervisor);
}

TEST(SerialInput, KeysGoToTheHypervisorAndTextToDom0) {
    SerialInput in;
    auto r = in.feed('q');
    EXPECT_EQ(keys(r), "q");
    EXPECT_FALSE(r.dom0_input);
    EXPECT_EQ(in.pending(), 0u);
    in.set_target(Target::dom0);
    r = in.feed('l');
    EXPECT_TRUE(r.dom0_input);
    EXPECT_EQ(r.nkeys, 0u);
    in.feed('s');
    in.feed('\r');
    EXPECT_EQ(in.pending(), 3u);
    EXPECT_EQ(drain(in), "ls\r");
    EXPECT_EQ(in.pending(), 0u);
}

TEST(SerialInput, SwitchCharactersNotInThreesArePassedOn) {
    SerialInput in(0x01, Target::dom0);
    in.feed(0x01);
    in.feed(0x01);
    auto r = in.feed('x');  // two ^A then x: all three go to domain 0, in order
    EXPECT_FALSE(r.switched);
    EXPECT_EQ(drain(in), "\x01\x01x");
    in.set_target(Target::hypervisor);
    in.feed(0x01);
    r = in.feed('h');
    EXPECT_EQ(keys(r), "\x01h");
}

TEST(SerialInput, AFullRingDropsAndReadsInPieces) {
    SerialInput in(0x01, Target::dom0);
    for (pv::usize i = 0; i < SerialInput::RING_SIZE; ++i) EXPECT_EQ(in.feed(static_cast<char>('a' + i % 26)).dropped, 0u);
    auto r = in.feed('!');
    EXPECT_EQ(r.dropped, 1u);
    EXPECT_FALSE(r.dom0_input);
    char buf[100];
    EXPECT_EQ(in.read(buf, 100), 100u);
    EXPECT_EQ(buf[0], 'a');
    EXPECT_EQ(in.read(buf, 100), SerialInput::RING_SIZE - 100);
    EXPECT_EQ(in.read(buf, 100), 0u);
    // Free-running indices: many times round the ring.
    for (int round = 0; round < 1000; ++round) {
        in.feed('y');
        in.feed('z');
        ASSERT_EQ(drain(in), "yz");
    }
}

TEST(SerialInput, NoSwitchCharacterNeverSwitches) {
    SerialInput in(0, Target::dom0);
    for (int i = 0; i < 6; ++i) EXPECT_FALSE(in.feed(0x01).switched);
    EXPECT_EQ(in.target(), Target::dom0);
    EXPECT_EQ(drain(in), std::string(6, '\x01'));
}

TEST(SerialInput, Conswitch) {
    auto parse = [](const char* line) {
        pv::BootOptions o;
        pv::Diagnostics d;
        pv::parse_cmdline(line, o, d);
        return std::make_pair(o.conswitch, d.errors());
    };
    auto [b, e1] = parse("conswitch=b");
    EXPECT_EQ(e1, 0u);
    EXPECT_EQ(b.switch_char, 0x02);
    EXPECT_TRUE(b.to_dom0_at_boot);
    auto [ax, e2] = parse("conswitch=ax");
    EXPECT_EQ(ax.switch_char, 0x01);
    EXPECT_FALSE(ax.to_dom0_at_boot);
    auto [none, e3] = parse("conswitch=`");
    EXPECT_EQ(none.switch_char, 0);
    auto [dflt, e4] = parse("");
    EXPECT_EQ(dflt.switch_char, 0x01);
    EXPECT_TRUE(dflt.to_dom0_at_boot);
    for (const char* bad : {"conswitch=", "conswitch=A", "conswitch=1", "conswitch=ay", "conswitch=axx"}) {
        auto [c, errs] = parse(bad);
        EXPECT_EQ(errs, 1u) << bad;
        EXPECT_EQ(c.switch_char, 0x01) << bad;  // a bad value leaves the default
    }
}

}  // namespace
