#include "core/cmdline.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using pv::BootOptions;
using pv::Diagnostics;
using pv::LogLevel;
using pv::Severity;

struct Parsed {
    BootOptions o;
    Diagnostics d;

    std::vector<std::string> messages() const {
        std::vector<std::string> v;
        for (size_t i = 0; i < d.count(); ++i) v.emplace_back(d[i].message);
        return v;
    }
    // The only message, which must be an error.
    std::string error() const {
        EXPECT_EQ(d.count(), 1u) << ::testing::PrintToString(messages());
        if (d.count() == 0) return "";
        EXPECT_EQ(d[0].severity, Severity::error);
        return d[0].message;
    }
    std::string warning() const {
        EXPECT_EQ(d.count(), 1u) << ::testing::PrintToString(messages());
        if (d.count() == 0) return "";
        EXPECT_EQ(d[0].severity, Severity::warning);
        return d[0].message;
    }
};

std::unique_ptr<Parsed> parse(std::string_view line) {
    auto p = std::make_unique<Parsed>();
    pv::parse_cmdline(pv::StrView(line.data(), line.size()), p->o, p->d);
    return p;
}

std::unique_ptr<Parsed> parse_clean(std::string_view line) {
    auto p = parse(line);
    EXPECT_EQ(p->d.count(), 0u) << line << ": " << ::testing::PrintToString(p->messages());
    return p;
}

constexpr pv::u8 lvl(LogLevel l) { return static_cast<pv::u8>(l); }

TEST(CmdlineDefaults, MatchDocumentedValues) {
    BootOptions o;
    EXPECT_TRUE(o.console.com1);
    EXPECT_TRUE(o.console.vga);
    EXPECT_FALSE(o.console.com2);
    EXPECT_FALSE(o.com1.given);
    EXPECT_EQ(o.com1.baud, 115200u);
    EXPECT_EQ(o.com1.io_base, 0x3f8);
    EXPECT_EQ(o.com1.irq, 4);
    EXPECT_EQ(o.com2.io_base, 0x2f8);
    EXPECT_EQ(o.com2.irq, 3);
    EXPECT_EQ(o.loglvl.lower, lvl(LogLevel::info));
    EXPECT_EQ(o.loglvl.upper, lvl(LogLevel::info));
    EXPECT_EQ(o.guest_loglvl.lower, pv::LogLevels::NONE);  // Xen: none/warning
    EXPECT_EQ(o.guest_loglvl.upper, lvl(LogLevel::warning));
    EXPECT_FALSE(o.noreboot);
    EXPECT_FALSE(o.sync_console);
    EXPECT_FALSE(o.nosmp);
    EXPECT_EQ(o.maxcpus, UINT32_MAX);
    EXPECT_EQ(o.availmem, 0u);
    EXPECT_FALSE(o.dom0_mem.amount.set);
    EXPECT_FALSE(o.dom0_mem.min.set);
    EXPECT_FALSE(o.dom0_mem.max.set);
    EXPECT_EQ(o.dom0_max_vcpus.min, 1u);
    EXPECT_EQ(o.dom0_max_vcpus.max, UINT32_MAX);
    EXPECT_STREQ(o.selftest, "");
    EXPECT_STREQ(o.dom0_cmdline, "");
}

TEST(CmdlineParse, EmptyAndBlankLines) {
    parse_clean("");
    parse_clean("    ");
    parse_clean(" \t\r\n ");
    auto p = std::make_unique<Parsed>();
    pv::parse_cmdline(pv::StrView(), p->o, p->d);  // null view
    EXPECT_EQ(p->d.count(), 0u);
}

TEST(CmdlineParse, TypicalXenLine) {
    auto p = parse_clean(
        "console=com1,vga com1=115200,8n1 loglvl=all guest_loglvl=all "
        "dom0_mem=512M,max:1G dom0_max_vcpus=1-4 noreboot sync_console");
    EXPECT_TRUE(p->o.console.com1);
    EXPECT_TRUE(p->o.console.vga);
    EXPECT_TRUE(p->o.com1.given);
    EXPECT_EQ(p->o.loglvl.upper, lvl(LogLevel::debug));
    EXPECT_EQ(p->o.guest_loglvl.lower, lvl(LogLevel::debug));
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, 512 * pv::MiB);
    EXPECT_EQ(p->o.dom0_mem.max.bytes, pv::GiB);
    EXPECT_EQ(p->o.dom0_max_vcpus.min, 1u);
    EXPECT_EQ(p->o.dom0_max_vcpus.max, 4u);
    EXPECT_TRUE(p->o.noreboot);
    EXPECT_TRUE(p->o.sync_console);
}

TEST(CmdlineParse, AnyWhitespaceSeparates) {
    auto p = parse_clean("\tnoreboot\n\nnosmp\r maxcpus=2  ");
    EXPECT_TRUE(p->o.noreboot);
    EXPECT_TRUE(p->o.nosmp);
    EXPECT_EQ(p->o.maxcpus, 2u);
}

TEST(CmdlineParse, NoQuoting) {
    // Xen has no quoting: the quotes are part of the value, and the second word is an option.
    auto p = parse("selftest=\"a b\"");
    EXPECT_STREQ(p->o.selftest, "\"a");
    EXPECT_EQ(p->warning(), "unknown option 'b\"'");
}

TEST(CmdlineParse, StopsAtNul) {
    std::string line("noreboot\0nosmp", 14);
    auto p = parse_clean(line);
    EXPECT_TRUE(p->o.noreboot);
    EXPECT_FALSE(p->o.nosmp);
}

TEST(CmdlineParse, LaterOccurrenceWins) {
    auto p = parse_clean("maxcpus=2 noreboot maxcpus=3 no-noreboot");
    EXPECT_EQ(p->o.maxcpus, 3u);
    EXPECT_FALSE(p->o.noreboot);
}

// ---------------------------------------------------------------------------------------------
// Booleans

TEST(CmdlineBool, ParseBoolSpellings) {
    for (const char* y : {"1", "on", "yes", "true", "enable"}) EXPECT_EQ(pv::parse_bool(y), 1) << y;
    for (const char* n : {"0", "no", "off", "false", "disable"})
        EXPECT_EQ(pv::parse_bool(n), 0) << n;
    for (const char* b : {"", "2", "On", "YES", "enabled", "nope", "tru", "1 "})
        EXPECT_EQ(pv::parse_bool(b), -1) << b;
}

TEST(CmdlineBool, BareNameAndValues) {
    EXPECT_TRUE(parse_clean("noreboot")->o.noreboot);
    for (const char* y : {"1", "on", "yes", "true", "enable"})
        EXPECT_TRUE(parse_clean(std::string("noreboot=") + y)->o.noreboot) << y;
    for (const char* n : {"0", "no", "off", "false", "disable"})
        EXPECT_FALSE(parse_clean(std::string("noreboot=1 noreboot=") + n)->o.noreboot) << n;
}

TEST(CmdlineBool, NoPrefix) {
    EXPECT_FALSE(parse_clean("sync_console no-sync_console")->o.sync_console);
    // Xen inverts an explicit value after "no-" (documented as undefined; this is what it does).
    EXPECT_TRUE(parse_clean("no-sync_console=0")->o.sync_console);
    EXPECT_FALSE(parse_clean("sync_console no-sync_console=yes")->o.sync_console);
}

TEST(CmdlineBool, BadValueKeepsSetting) {
    auto p = parse("sync_console sync_console=maybe");
    EXPECT_EQ(p->error(), "sync_console: bad value 'maybe'");
    EXPECT_TRUE(p->o.sync_console);
    auto q = parse("nosmp=");
    EXPECT_EQ(q->error(), "nosmp: bad value ''");
    EXPECT_FALSE(q->o.nosmp);
}

// ---------------------------------------------------------------------------------------------
// Unsigned integers and sizes

TEST(CmdlineUint, Bases) {
    EXPECT_EQ(parse_clean("maxcpus=4")->o.maxcpus, 4u);
    EXPECT_EQ(parse_clean("maxcpus=0x10")->o.maxcpus, 16u);
    EXPECT_EQ(parse_clean("maxcpus=010")->o.maxcpus, 8u);  // leading 0: octal, as Xen
    EXPECT_EQ(parse_clean("maxcpus=4294967295")->o.maxcpus, 4294967295u);
}

TEST(CmdlineUint, Errors) {
    auto p = parse("maxcpus=2 maxcpus=0");
    EXPECT_EQ(p->error(), "maxcpus: bad value '0' (range 1-4294967295)");
    EXPECT_EQ(p->o.maxcpus, 2u);
    EXPECT_EQ(parse("maxcpus=4294967296")->error(),
              "maxcpus: bad value '4294967296' (range 1-4294967295)");
    EXPECT_EQ(parse("maxcpus=99999999999999999999999")->error(),
              "maxcpus: bad value '99999999999999999999999'");
    EXPECT_EQ(parse("maxcpus=-1")->error(), "maxcpus: bad value '-1'");
    EXPECT_EQ(parse("maxcpus=4k")->error(), "maxcpus: bad value '4k'");
    EXPECT_EQ(parse("maxcpus=")->error(), "maxcpus: bad value ''");
    EXPECT_EQ(parse("maxcpus")->error(), "maxcpus: missing value");
    EXPECT_EQ(parse("no-maxcpus")->error(), "no-maxcpus: not a boolean option");
    EXPECT_EQ(parse("maxcpus")->o.maxcpus, UINT32_MAX);
}

TEST(CmdlineSize, Suffixes) {
    EXPECT_EQ(parse_clean("availmem=4G")->o.availmem, 4 * pv::GiB);
    EXPECT_EQ(parse_clean("availmem=4g")->o.availmem, 4 * pv::GiB);
    EXPECT_EQ(parse_clean("availmem=1024M")->o.availmem, pv::GiB);
    EXPECT_EQ(parse_clean("availmem=512")->o.availmem, 512 * pv::KiB);  // bare: KiB, as Xen
    EXPECT_EQ(parse_clean("availmem=64k")->o.availmem, 64 * pv::KiB);
    EXPECT_EQ(parse_clean("availmem=4096B")->o.availmem, 4096u);
    EXPECT_EQ(parse_clean("availmem=2T")->o.availmem, 2 * 1024 * pv::GiB);
    EXPECT_EQ(parse_clean("availmem=0")->o.availmem, 0u);
}

TEST(CmdlineSize, Errors) {
    EXPECT_EQ(parse("availmem=1Q")->error(), "availmem: bad value '1Q'");
    EXPECT_EQ(parse("availmem=1GB")->error(), "availmem: bad value '1GB'");
    EXPECT_EQ(parse("availmem=M")->error(), "availmem: bad value 'M'");
    EXPECT_EQ(parse("availmem=17179869184G")->error(), "availmem: bad value '17179869184G'");
    EXPECT_EQ(parse("availmem")->error(), "availmem: missing value");
}

// ---------------------------------------------------------------------------------------------
// Strings and choices

TEST(CmdlineString, Values) {
    EXPECT_STREQ(parse_clean("selftest=double_fault")->o.selftest, "double_fault");
    EXPECT_STREQ(parse_clean("selftest=a selftest=")->o.selftest, "");
    EXPECT_STREQ(parse_clean("selftest=a selftest")->o.selftest, "");  // Xen: empty value
    std::string max(BootOptions::SELFTEST_LEN - 1, 'x');
    EXPECT_EQ(parse_clean("selftest=" + max)->o.selftest, max);
}

TEST(CmdlineString, TooLongKeepsValue) {
    std::string big(BootOptions::SELFTEST_LEN, 'y');
    auto p = parse("selftest=ok selftest=" + big);
    EXPECT_EQ(p->error(), "selftest: bad value '" + big + "' (too long)");
    EXPECT_STREQ(p->o.selftest, "ok");
    EXPECT_EQ(parse("no-selftest")->error(), "no-selftest: not a boolean option");
}

TEST(CmdlineChoice, Values) {
    EXPECT_EQ(parse_clean("console_timestamps=boot")->o.console_timestamps,
              pv::ConsoleTimestamps::boot);
    EXPECT_EQ(parse_clean("console_timestamps=datems")->o.console_timestamps,
              pv::ConsoleTimestamps::datems);
    EXPECT_EQ(parse_clean("console_timestamps=raw console_timestamps=none")->o.console_timestamps,
              pv::ConsoleTimestamps::none);
    // Xen's compatibility with the old boolean: the bare name means "date".
    EXPECT_EQ(parse_clean("console_timestamps")->o.console_timestamps, pv::ConsoleTimestamps::date);
}

TEST(CmdlineChoice, Errors) {
    auto p = parse("console_timestamps=boot console_timestamps=Boot");
    EXPECT_EQ(p->error(), "console_timestamps: bad value 'Boot'");
    EXPECT_EQ(p->o.console_timestamps, pv::ConsoleTimestamps::boot);
    EXPECT_EQ(parse("no-console_timestamps")->error(),
              "no-console_timestamps: not a boolean option");
    EXPECT_EQ(parse("console_timestamps=")->error(), "console_timestamps: bad value ''");
}

// ---------------------------------------------------------------------------------------------
// console= and com1= / com2=

TEST(CmdlineConsole, Lists) {
    auto p = parse_clean("console=com2");
    EXPECT_FALSE(p->o.console.com1);
    EXPECT_TRUE(p->o.console.com2);
    EXPECT_FALSE(p->o.console.vga);
    p = parse_clean("console=vga,com1,com2");
    EXPECT_TRUE(p->o.console.com1 && p->o.console.com2 && p->o.console.vga);
    p = parse_clean("console=none");
    EXPECT_FALSE(p->o.console.com1 || p->o.console.com2 || p->o.console.vga);
    p = parse_clean("console=com1,com1");
    EXPECT_TRUE(p->o.console.com1);
    EXPECT_FALSE(p->o.console.vga);
}

TEST(CmdlineConsole, XenOnlyNamesWarn) {
    auto p = parse("console=com1H");
    EXPECT_EQ(p->warning(), "console: 'com1H' not supported, using com1");
    EXPECT_TRUE(p->o.console.com1);
    EXPECT_FALSE(p->o.console.vga);
    p = parse("console=com2L");
    EXPECT_TRUE(p->o.console.com2);
    p = parse("console=vga,dbgp");
    EXPECT_EQ(p->warning(), "console: 'dbgp' not supported, ignored");
    EXPECT_TRUE(p->o.console.vga);
    EXPECT_FALSE(p->o.console.com1);
}

TEST(CmdlineConsole, BadListKeepsDefault) {
    for (const char* bad : {"console=com3", "console=com1,,vga", "console=com1,",
                            "console=", "console=COM1", "console=com1X"}) {
        auto p = parse(bad);
        EXPECT_EQ(p->d.errors(), 1u) << bad;
        EXPECT_TRUE(p->o.console.com1 && p->o.console.vga && !p->o.console.com2) << bad;
    }
    EXPECT_EQ(parse("console=com3")->error(), "console: bad value 'com3'");
    EXPECT_EQ(parse("console")->error(), "console: missing value");
    // Negated custom options get the value "no", as in Xen.
    EXPECT_EQ(parse("no-console")->error(), "no-console: bad value 'no'");
    EXPECT_EQ(parse("no-console=vga")->error(), "no-console: bad value 'vga'");
}

TEST(CmdlineSerial, XenForms) {
    auto p = parse_clean("com1=115200,8n1");
    EXPECT_TRUE(p->o.com1.given);
    EXPECT_EQ(p->o.com1.baud, 115200u);
    EXPECT_EQ(p->o.com1.data_bits, 8);
    EXPECT_EQ(p->o.com1.parity, 'n');
    EXPECT_EQ(p->o.com1.stop_bits, 1);
    EXPECT_EQ(p->o.com1.io_base, 0x3f8);
    EXPECT_FALSE(p->o.com2.given);

    p = parse_clean("com1=auto");
    EXPECT_EQ(p->o.com1.baud, pv::SerialConfig::BAUD_AUTO);

    p = parse_clean("com2=9600/1843200,7e2,0x2e8,5");
    EXPECT_TRUE(p->o.com2.given);
    EXPECT_EQ(p->o.com2.baud, 9600u);
    EXPECT_EQ(p->o.com2.base_baud, 1843200u);
    EXPECT_EQ(p->o.com2.data_bits, 7);
    EXPECT_EQ(p->o.com2.parity, 'e');
    EXPECT_EQ(p->o.com2.stop_bits, 2);
    EXPECT_EQ(p->o.com2.io_base, 0x2e8);
    EXPECT_EQ(p->o.com2.irq, 5);

    p = parse_clean("com1=115200,8n1,0x3f8,0");  // irq 0: polled
    EXPECT_EQ(p->o.com1.irq, 0);
    p = parse_clean("com1=,,0x3e8");  // empty fields keep their defaults
    EXPECT_EQ(p->o.com1.baud, 115200u);
    EXPECT_EQ(p->o.com1.io_base, 0x3e8);
    p = parse_clean("com1=auto/1843200");
    EXPECT_EQ(p->o.com1.baud, pv::SerialConfig::BAUD_AUTO);
    EXPECT_EQ(p->o.com1.base_baud, 1843200u);
    for (char par : std::string("noems"))
        EXPECT_EQ(parse_clean(std::string("com1=9600,5") + par + "1")->o.com1.parity, par);
}

TEST(CmdlineSerial, BadValues) {
    for (const char* bad :
         {"com1=fast", "com1=0", "com1=115200,9n1", "com1=115200,4n1", "com1=115200,8x1",
          "com1=115200,8n3", "com1=115200,8N1", "com1=115200,8n", "com1=115200,8n1,pci",
          "com1=115200,8n1,amt", "com1=115200,8n1,0", "com1=115200,8n1,0x10000",
          "com1=115200,8n1,0x3f8,256", "com1=115200,8n1,0x3f8,4,00:1f.0",
          "com1=baud=115200,parity=n", "com1=230400", "com1=9600/", "com1=9600/0",
          "com1=99999999999999999999"}) {
        auto p = parse(std::string("com1=38400 ") + bad);
        EXPECT_EQ(p->d.errors(), 1u) << bad;
        EXPECT_EQ(p->o.com1.baud, 38400u) << bad;  // untouched by the bad value
        EXPECT_EQ(p->o.com1.io_base, 0x3f8) << bad;
    }
    EXPECT_EQ(parse("com1=115200,8n1,pci")->error(), "com1: bad value '115200,8n1,pci'");
    // As Xen: an empty value enables the port with its defaults.
    auto e = parse_clean("com1=");
    EXPECT_TRUE(e->o.com1.given);
    EXPECT_EQ(e->o.com1.baud, 115200u);
    // A baud above the base baud would make a zero divisor; with a faster clock it is fine.
    EXPECT_EQ(parse_clean("com1=230400/1843200")->o.com1.baud, 230400u);
}

// ---------------------------------------------------------------------------------------------
// loglvl= / guest_loglvl=

TEST(CmdlineLoglvl, Levels) {
    struct Case {
        const char* value;
        pv::u8 lower, upper;
    } cases[] = {
        {"none", 0, 0},       {"error", 1, 1}, {"warning", 2, 2},       {"info", 3, 3},
        {"debug", 4, 4},      {"all", 4, 4},   {"error/warning", 1, 2}, {"none/all", 0, 4},
        {"info/error", 3, 3},  // the rate-limited level never sits below the other, as Xen
    };
    for (const auto& c : cases) {
        auto p = parse_clean(std::string("loglvl=") + c.value);
        EXPECT_EQ(p->o.loglvl.lower, c.lower) << c.value;
        EXPECT_EQ(p->o.loglvl.upper, c.upper) << c.value;
        auto g = parse_clean(std::string("guest_loglvl=") + c.value);
        EXPECT_EQ(g->o.guest_loglvl.lower, c.lower) << c.value;
        EXPECT_EQ(g->o.guest_loglvl.upper, c.upper) << c.value;
        EXPECT_EQ(g->o.loglvl.upper, lvl(LogLevel::info));
    }
}

TEST(CmdlineLoglvl, BadValues) {
    for (const char* bad : {"verbose", "warning/", "/info", "Info", "info/debug/all", "", "4"}) {
        auto p = parse(std::string("loglvl=") + bad);
        EXPECT_EQ(p->error(), std::string("loglvl: bad value '") + bad + "'");
        EXPECT_EQ(p->o.loglvl.lower, lvl(LogLevel::info));
    }
    EXPECT_EQ(parse("guest_loglvl")->error(), "guest_loglvl: missing value");
}

// ---------------------------------------------------------------------------------------------
// dom0_mem=

TEST(CmdlineDom0Mem, PlainSize) {
    auto p = parse_clean("dom0_mem=64M");
    EXPECT_TRUE(p->o.dom0_mem.amount.set);
    EXPECT_FALSE(p->o.dom0_mem.amount.minus);
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, 64 * pv::MiB);
    EXPECT_EQ(p->o.dom0_mem.amount.percent, 0u);
    EXPECT_FALSE(p->o.dom0_mem.min.set);
    EXPECT_FALSE(p->o.dom0_mem.max.set);
    EXPECT_EQ(parse_clean("dom0_mem=262144")->o.dom0_mem.amount.bytes, 256 * pv::MiB);  // KiB
}

TEST(CmdlineDom0Mem, MinMaxAndAmount) {
    auto p = parse_clean("dom0_mem=min:32M,max:512M,256M");
    EXPECT_EQ(p->o.dom0_mem.min.bytes, 32 * pv::MiB);
    EXPECT_EQ(p->o.dom0_mem.max.bytes, 512 * pv::MiB);
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, 256 * pv::MiB);
    EXPECT_TRUE(p->o.dom0_mem.min.set && p->o.dom0_mem.max.set && p->o.dom0_mem.amount.set);

    p = parse_clean("dom0_mem=512M,max:1G");  // the documentation's example; order is free
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, 512 * pv::MiB);
    EXPECT_EQ(p->o.dom0_mem.max.bytes, pv::GiB);
    EXPECT_FALSE(p->o.dom0_mem.min.set);
}

TEST(CmdlineDom0Mem, NegativeMeansAllBut) {
    auto p = parse_clean("dom0_mem=-1G");
    EXPECT_TRUE(p->o.dom0_mem.amount.minus);
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, pv::GiB);
    p = parse_clean("dom0_mem=min:-2G,max:-512M");
    EXPECT_TRUE(p->o.dom0_mem.min.minus);
    EXPECT_TRUE(p->o.dom0_mem.max.minus);
    EXPECT_EQ(p->o.dom0_mem.max.bytes, 512 * pv::MiB);
}

TEST(CmdlineDom0Mem, Percentages) {
    auto p = parse_clean("dom0_mem=1G+25%");
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, pv::GiB);
    EXPECT_EQ(p->o.dom0_mem.amount.percent, 25u);
    p = parse_clean("dom0_mem=-10%,max:99%");
    EXPECT_TRUE(p->o.dom0_mem.amount.minus);
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, 0u);
    EXPECT_EQ(p->o.dom0_mem.amount.percent, 10u);
    EXPECT_EQ(p->o.dom0_mem.max.percent, 99u);
}

TEST(CmdlineDom0Mem, GarbageKeepsPreviousValue) {
    for (const char* bad : {"abc", "64Mx", "", "min:", "max:abc", "min:32M,", ",64M", "--1G", "-",
                            "100%", "1G+", "+25%", "1G+25", "25%+1G", "1G+2G", "med:64M",
                            "64M 128M", "99999999999999999999999G", "1G+25%%"}) {
        auto p = parse(std::string("dom0_mem=64M dom0_mem=") + bad);
        // The space case splits into two tokens; everything else is one bad value.
        if (std::string(bad) == "64M 128M") {
            EXPECT_EQ(p->warning(), "unknown option '128M'");
            continue;
        }
        EXPECT_EQ(p->error(), std::string("dom0_mem: bad value '") + bad + "'");
        EXPECT_EQ(p->o.dom0_mem.amount.bytes, 64 * pv::MiB) << bad;
        EXPECT_FALSE(p->o.dom0_mem.min.set) << bad;
        EXPECT_FALSE(p->o.dom0_mem.max.set) << bad;
    }
}

TEST(CmdlineDom0Mem, RepeatedOptionsAccumulate) {
    auto p = parse_clean("dom0_mem=max:2G dom0_mem=1G");
    EXPECT_EQ(p->o.dom0_mem.max.bytes, 2 * pv::GiB);
    EXPECT_EQ(p->o.dom0_mem.amount.bytes, pv::GiB);
}

TEST(CmdlineDom0Mem, Resolve) {
    constexpr pv::u64 G = pv::GiB, M = pv::MiB;
    auto resolve = [](const char* value, pv::u64 avail) {
        auto p = parse_clean(std::string("dom0_mem=") + value);
        return p->o.dom0_mem.resolve(avail);
    };
    // Not given: all but min(1/16, 128 MiB).
    EXPECT_EQ(pv::Dom0Mem{}.resolve(4 * G), 4 * G - 128 * M);
    EXPECT_EQ(pv::Dom0Mem{}.resolve(1 * G), G - 64 * M);
    EXPECT_EQ(pv::Dom0Mem{}.resolve(0), 0u);
    EXPECT_EQ(resolve("512M", 4 * G), 512 * M);
    EXPECT_EQ(resolve("8G", 4 * G), 4 * G);  // never more than there is
    EXPECT_EQ(resolve("-1G", 4 * G), 3 * G);
    EXPECT_EQ(resolve("-8G", 4 * G), 4 * G - 128 * M);  // nothing left: as if not given
    EXPECT_EQ(resolve("0", 4 * G), 4 * G - 128 * M);    // zero means not given, as Xen
    EXPECT_EQ(resolve("min:2G,512M", 4 * G), 2 * G);
    EXPECT_EQ(resolve("max:1G", 4 * G), G);
    EXPECT_EQ(resolve("512M,max:256M", 4 * G), 256 * M);
    EXPECT_EQ(resolve("min:2G,max:1G,512M", 4 * G), G);  // max wins over min
    EXPECT_EQ(resolve("min:-1G", 4 * G), 4 * G - 128 * M);
    EXPECT_EQ(resolve("min:-1G,1G", 4 * G), 3 * G);
    EXPECT_EQ(resolve("25%", 4 * G), G);
    EXPECT_EQ(resolve("1G+25%", 4 * G), 2 * G);
    EXPECT_EQ(resolve("-1G+25%", 8 * G), 5 * G);
    EXPECT_EQ(resolve("99%", 100), 99u);
    EXPECT_EQ(resolve("16777215T", UINT64_MAX), 16777215ull * 1024 * G);
    // Percentages of huge amounts must not overflow.
    EXPECT_EQ(resolve("50%", UINT64_MAX), UINT64_MAX / 2);
    pv::MemAmount huge{.set = true, .minus = false, .bytes = UINT64_MAX, .percent = 99};
    EXPECT_EQ(huge.resolve(UINT64_MAX), UINT64_MAX);
}

// ---------------------------------------------------------------------------------------------
// dom0_max_vcpus=

TEST(CmdlineDom0Vcpus, Forms) {
    struct Case {
        const char* value;
        pv::u32 min, max;
    } cases[] = {
        {"4", 4, 4},   {"0", 1, 1},   {"2-8", 2, 8},    {"4-", 4, UINT32_MAX},
        {"-8", 1, 8},  {"0-2", 1, 2}, {"0x10", 16, 16}, {"4294967295", UINT32_MAX, UINT32_MAX},
        {"3-3", 3, 3},
    };
    for (const auto& c : cases) {
        auto p = parse_clean(std::string("dom0_max_vcpus=") + c.value);
        EXPECT_EQ(p->o.dom0_max_vcpus.min, c.min) << c.value;
        EXPECT_EQ(p->o.dom0_max_vcpus.max, c.max) << c.value;
    }
    // Across options, one-sided forms keep the other bound (as Xen's separate variables do).
    auto p = parse_clean("dom0_max_vcpus=2-8 dom0_max_vcpus=-4");
    EXPECT_EQ(p->o.dom0_max_vcpus.min, 2u);
    EXPECT_EQ(p->o.dom0_max_vcpus.max, 4u);
}

TEST(CmdlineDom0Vcpus, BadValues) {
    for (const char* bad : {"8-2", "-", "x", "4-x", "1-2-3", "", "-0", "0-0", "4294967296",
                            "1-99999999999", "4--8"}) {
        auto p = parse(std::string("dom0_max_vcpus=") + bad);
        EXPECT_EQ(p->error(), std::string("dom0_max_vcpus: bad value '") + bad + "'");
        EXPECT_EQ(p->o.dom0_max_vcpus.min, 1u) << bad;
        EXPECT_EQ(p->o.dom0_max_vcpus.max, UINT32_MAX) << bad;
    }
}

// ---------------------------------------------------------------------------------------------
// Unknown options, "--", overlong input

TEST(CmdlineUnknown, WarnsAndGoesOn) {
    auto p = parse("foo noreboot bar=1 no-baz");
    ASSERT_EQ(p->d.count(), 3u);
    EXPECT_EQ(p->messages(),
              (std::vector<std::string>{"unknown option 'foo'", "unknown option 'bar'",
                                        "unknown option 'no-baz'"}));
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(p->d[i].severity, Severity::warning);
    EXPECT_EQ(p->d.errors(), 0u);
    EXPECT_TRUE(p->o.noreboot);
    // Options are case sensitive, as in Xen.
    EXPECT_EQ(parse("NoReboot")->warning(), "unknown option 'NoReboot'");
    EXPECT_EQ(parse("=1")->warning(), "unknown option ''");
    EXPECT_EQ(parse("no-")->warning(), "unknown option 'no-'");
}

TEST(CmdlineDashes, RestGoesToDom0) {
    auto p = parse_clean("noreboot -- console=hvc0 root=/dev/xvda1  ro ");
    EXPECT_TRUE(p->o.noreboot);
    EXPECT_TRUE(p->o.console.com1);  // dom0's console= is not ours
    EXPECT_STREQ(p->o.dom0_cmdline, "console=hvc0 root=/dev/xvda1  ro");

    p = parse_clean("-- nosmp");
    EXPECT_FALSE(p->o.nosmp);
    EXPECT_STREQ(p->o.dom0_cmdline, "nosmp");

    p = parse_clean("nosmp --");
    EXPECT_TRUE(p->o.nosmp);
    EXPECT_STREQ(p->o.dom0_cmdline, "");

    p = parse_clean("nosmp -- b -- c");  // only the first separates
    EXPECT_STREQ(p->o.dom0_cmdline, "b -- c");
}

// XENVER_commandline's text: the hypervisor's own part, without dom0's.
TEST(CmdlineDashes, SavedLineIsTheHypervisorsPart) {
    EXPECT_STREQ(parse_clean("noreboot  -- console=hvc0")->o.saved_cmdline, "noreboot");
    EXPECT_STREQ(parse_clean("console=com1 dom0_mem=64M ")->o.saved_cmdline, "console=com1 dom0_mem=64M");
    EXPECT_STREQ(parse_clean("")->o.saved_cmdline, "");
}

TEST(CmdlineDashes, OnlyAWholeToken) {
    auto p = parse("--foo noreboot");
    EXPECT_EQ(p->warning(), "unknown option '--foo'");
    EXPECT_TRUE(p->o.noreboot);
    EXPECT_STREQ(p->o.dom0_cmdline, "");
}

TEST(CmdlineDashes, Dom0LineTruncated) {
    std::string rest(3000, 'z');
    auto p = parse("-- " + rest);
    EXPECT_EQ(p->warning(), "dom0 command line truncated to 1023 characters");
    EXPECT_EQ(std::string(p->o.dom0_cmdline), rest.substr(0, BootOptions::DOM0_CMDLINE_LEN - 1));
}

TEST(CmdlineOverlong, LongTokensAreBoundedInMessages) {
    std::string name(10000, 'q');
    auto p = parse(name + " noreboot");
    std::string msg = p->warning();
    EXPECT_LT(msg.size(), pv::Diagnostic::MESSAGE_LEN);
    EXPECT_EQ(msg, "unknown option '" + std::string(48, 'q') + "...'");
    EXPECT_TRUE(p->o.noreboot);

    std::string digits(5000, '9');
    auto q = parse("maxcpus=" + digits);
    EXPECT_EQ(q->d.errors(), 1u);
    EXPECT_EQ(q->o.maxcpus, UINT32_MAX);
    auto r = parse("dom0_mem=" + digits + "M");
    EXPECT_EQ(r->d.errors(), 1u);
    EXPECT_FALSE(r->o.dom0_mem.amount.set);
}

TEST(CmdlineOverlong, ControlCharactersAreNotEchoed) {
    auto p = parse(std::string("loglvl=\x1b[2J\x07"));
    EXPECT_EQ(p->error(), "loglvl: bad value '?[2J?'");
}

TEST(CmdlineOverlong, DiagnosticsOverflowIsCounted) {
    std::string line;
    for (int i = 0; i < 50; ++i) line += "maxcpus=0 ";
    for (int i = 0; i < 10; ++i) line += "junk ";
    auto p = parse(line);
    EXPECT_EQ(p->d.count(), Diagnostics::CAPACITY);
    EXPECT_EQ(p->d.dropped(), 60 - Diagnostics::CAPACITY);
    EXPECT_EQ(p->d.errors(), 50u);
}

TEST(CmdlineDiagnostics, Contains) {
    auto p = parse("dom0_mem=abc");
    EXPECT_TRUE(p->d.contains("dom0_mem"));
    EXPECT_TRUE(p->d.contains("'abc'"));
    EXPECT_FALSE(p->d.contains("maxcpus"));
    EXPECT_TRUE(p->d.contains(""));
    EXPECT_FALSE(Diagnostics().contains(""));
}

TEST(CmdlineTable, WellFormed) {
    pv::OptionTable t = pv::boot_option_table();
    ASSERT_GT(t.count, 0u);
    std::set<std::string> names;
    std::set<pv::OptionKind> kinds;
    for (size_t i = 0; i < t.count; ++i) {
        const pv::OptionSpec& o = t.items[i];
        ASSERT_NE(o.name, nullptr);
        EXPECT_TRUE(names.insert(o.name).second) << "duplicate " << o.name;
        EXPECT_NE(std::string(o.name).rfind("no-", 0), 0u) << o.name;
        EXPECT_EQ(std::string(o.name).find_first_of(" =\t"), std::string::npos) << o.name;
        ASSERT_NE(o.help, nullptr);
        EXPECT_GT(std::string(o.help).size(), 5u) << o.name;
        kinds.insert(o.kind);
        switch (o.kind) {
        case pv::OptionKind::custom:
            EXPECT_NE(o.parse, nullptr);
            break;
        case pv::OptionKind::string:
            EXPECT_NE(o.store_string, nullptr);
            EXPECT_GT(o.capacity, 1u);
            break;
        default:
            EXPECT_NE(o.store_number, nullptr);
            EXPECT_LE(o.min, o.max);
        }
    }
    EXPECT_EQ(kinds.size(), 6u);  // every kind is in use
    for (const char* must :
         {"console", "com1", "com2", "loglvl", "guest_loglvl", "dom0_mem", "dom0_max_vcpus",
          "noreboot", "sync_console", "maxcpus", "nosmp", "selftest"})
        EXPECT_TRUE(names.count(must)) << must;
}

TEST(CmdlineTable, EveryOptionParsesSomething) {
    // Each option given a plausible value parses without a diagnostic.
    const std::vector<std::string> good = {
        "console=com1",     "com1=115200,8n1",   "com2=auto",
        "loglvl=debug",     "guest_loglvl=none", "console_timestamps=boot",
        "sync_console",     "noreboot=0",        "nosmp=yes",
        "maxcpus=8",        "availmem=2G",       "dom0_mem=1G",
        "dom0_max_vcpus=2", "conswitch=bx",      "selftest=nmi"};
    pv::OptionTable t = pv::boot_option_table();
    EXPECT_EQ(good.size(), t.count);
    for (const auto& g : good) parse_clean(g);
}

}  // namespace
