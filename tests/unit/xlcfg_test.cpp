// xl.cfg: the syntax (guest/lib/xlcfg/config.hpp) and the PV domain keys (domain_config.hpp),
// with valid files as xl.cfg(5) writes them and invalid ones that must be refused with the
// line and key named.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "guest/lib/xlcfg/domain_config.hpp"

namespace {

using namespace xlcfg;

std::string dump(const pv::Diagnostics& d) {
    std::string s;
    for (size_t i = 0; i < d.count(); ++i) s += std::string(d.message(i)) + "\n";
    return s;
}

struct Parsed {
    std::unique_ptr<Config> cfg = std::make_unique<Config>();
    pv::Diagnostics diags;
    bool ok = false;
    explicit Parsed(const std::string& text) : text_(text) {
        ok = cfg->parse("guest.cfg", pv::StrView(text_.data(), text_.size()), diags);
    }
    std::string str(const char* key) const {
        const Setting* s = cfg->find(key);
        if (!s) return "(unset)";
        const Value& v = cfg->value_of(*s);
        return v.kind == Kind::string ? std::string(v.str.ptr, v.str.len) : "(list)";
    }

private:
    std::string text_;
};

TEST(XlCfgSyntax, SettingsStringsNumbersAndComments) {
    Parsed p("# a guest\n"
             "name = \"hello\"\n"
             "memory=16 ; vcpus = 2\n"
             "kernel='/guests/hello.elf'   # trailing comment\n"
             "extra = \"a \\\"quoted\\\" word\\tand\\x41\\101\"\n"
             "\n\n"
             "cap = 0x10");  // no final newline
    ASSERT_TRUE(p.ok) << dump(p.diags);
    EXPECT_EQ(p.str("name"), "hello");
    EXPECT_EQ(p.str("memory"), "16");
    EXPECT_EQ(p.str("vcpus"), "2");
    EXPECT_EQ(p.str("kernel"), "/guests/hello.elf");
    EXPECT_EQ(p.str("extra"), "a \"quoted\" word\tandAA");
    EXPECT_EQ(p.str("cap"), "0x10");
    EXPECT_EQ(p.cfg->find("kernel")->line, 4u);
    EXPECT_EQ(p.cfg->find("vcpus")->line, 3u);
}

TEST(XlCfgSyntax, ListsNestedWithNewlinesAndTrailingComma) {
    Parsed p("cpus = [ \"0\",\n"
             "         \"1-3,^2\",\n"
             "       ]\n"
             "vnuma = [ [\"pnode=0\", 1], [], ]\n");
    ASSERT_TRUE(p.ok) << dump(p.diags);
    const Value& cpus = p.cfg->value_of(*p.cfg->find("cpus"));
    ASSERT_EQ(cpus.kind, Kind::list);
    ASSERT_EQ(cpus.count, 2u);
    EXPECT_EQ(std::string(p.cfg->item(cpus, 1)->str.ptr), "1-3,^2");
    EXPECT_EQ(p.cfg->item(cpus, 2), nullptr);
    const Value& vn = p.cfg->value_of(*p.cfg->find("vnuma"));
    ASSERT_EQ(vn.count, 2u);
    const Value* inner = p.cfg->item(vn, 0);
    ASSERT_EQ(inner->kind, Kind::list);
    EXPECT_EQ(inner->count, 2u);
    EXPECT_EQ(std::string(p.cfg->item(*inner, 1)->str.ptr), "1");
    EXPECT_EQ(p.cfg->item(vn, 1)->count, 0u);
}

TEST(XlCfgSyntax, LastAssignmentWinsAndAppendCombines) {
    Parsed p("memory = 16\nmemory = 64\nextra = \"a\"\nextra += \" b\"\nl = [\"x\"]\nl += [\"y\", \"z\"]\n"
             "fresh += \"new\"\n");
    ASSERT_TRUE(p.ok) << dump(p.diags);
    EXPECT_EQ(p.str("memory"), "64");
    EXPECT_EQ(p.cfg->find("memory")->line, 2u);
    EXPECT_EQ(p.str("extra"), "a b");
    const Value& l = p.cfg->value_of(*p.cfg->find("l"));
    ASSERT_EQ(l.count, 3u);
    EXPECT_EQ(std::string(p.cfg->item(l, 0)->str.ptr), "x");
    EXPECT_EQ(std::string(p.cfg->item(l, 2)->str.ptr), "z");
    EXPECT_EQ(p.str("fresh"), "new");
    // The earlier list is unchanged by the append.
    EXPECT_EQ(p.cfg->value_of(p.cfg->setting(4)).count, 1u);
}

TEST(XlCfgSyntax, ErrorsNameTheLineTheTokenAndTheKey) {
    struct Case {
        const char* text;
        const char* message;
    } cases[] = {
        {"name = \"a\"\nmemory = = 3\n", "guest.cfg:2: config parsing error near `=' (in `memory'): syntax error"},
        {"name = \"a\"\n\nllc-colors = \"9\"\n", "guest.cfg:3: config parsing error near `-colors = \"9\"' (in `llc'): lexical error"},
        {"Name = \"x\"\n", "guest.cfg:1: config parsing error near `Name = \"x\"': lexical error"},
        {"kernel = \"/a\n", "guest.cfg:1: config parsing error near `\"/a' (in `kernel'): unterminated quoted string"},
        {"memory\n", "guest.cfg:1: config parsing error near <newline> (in `memory'): syntax error"},
        {"memory = 3 4\n", "guest.cfg:1: config parsing error near `4' (in `memory'): syntax error"},
        {"cpus = [\"1\" \"2\"]\n", "guest.cfg:1: config parsing error near `\"2\"' (in `cpus'): syntax error"},
        {"cpus = [\"1\",\n", "guest.cfg:2: config parsing error near <end of file> (in `cpus'): syntax error"},
        {"x = [[[[[[[[[1]]]]]]]]]\n", "guest.cfg:1: config parsing error near `[' (in `x'): lists nested too deeply"},
        {"s = \"\\x4\"\n", "(in `s'): invalid digit after backslash hex numerical character escape"},
        {"a = \"s\"\na += [\"l\"]\n", "guest.cfg:2: config parsing error near <newline> (in `a'): cannot add a list to a single value"},
    };
    for (const Case& c : cases) {
        Parsed p(c.text);
        EXPECT_FALSE(p.ok) << c.text;
        EXPECT_TRUE(p.diags.contains(c.message)) << c.text << "\n got: " << dump(p.diags);
    }
}

TEST(XlCfgSyntax, AFailedParseKeepsNothingAndLaterTextAppends) {
    auto cfg = std::make_unique<Config>();
    pv::Diagnostics d;
    ASSERT_TRUE(cfg->parse("a.cfg", "name = \"one\"\nmemory = 16\n", d));
    EXPECT_FALSE(cfg->parse("command line", "memory = 32\nbroken = \n", d));
    EXPECT_EQ(cfg->size(), 2u);
    ASSERT_TRUE(cfg->parse("command line", "memory=64", d));
    EXPECT_EQ(cfg->size(), 3u);
    const Setting* m = cfg->find("memory");
    EXPECT_EQ(std::string(cfg->value_of(*m).str.ptr), "64");
    EXPECT_EQ(std::string(m->source.ptr, m->source.len), "command line");
}

TEST(XlCfgSyntax, TablesAreBounded) {
    std::string many;
    for (int i = 0; i < 200; ++i) many += "k" + std::string(1, static_cast<char>('a' + i % 26)) + " = " + std::to_string(i) + "\n";
    Parsed p(many);
    EXPECT_FALSE(p.ok);
    EXPECT_TRUE(p.diags.contains("too many settings")) << dump(p.diags);

    std::string big = "s = \"" + std::string(20000, 'x') + "\"\n";
    Parsed q(big);
    EXPECT_FALSE(q.ok);
    EXPECT_TRUE(q.diags.contains("configuration too large")) << dump(q.diags);
}

// ---- the PV domain keys ----

struct Dom {
    Parsed p;
    DomainConfig d;
    pv::Diagnostics diags;
    bool ok = false;
    explicit Dom(const std::string& text) : p(text) {
        if (p.ok) ok = read_domain_config(*p.cfg, d, diags);
    }
};

TEST(XlCfgDomain, AFullPvConfiguration) {
    Dom c("name = \"web\"\ntype = \"pv\"\nmemory = 128\nmaxmem = 256\nvcpus = 2\nmaxvcpus = 4\n"
          "cpus = \"0-3,^1\"\nkernel = \"/guests/vmlinuz\"\nramdisk = \"/guests/initrd\"\n"
          "cmdline = \"console=hvc0\"\nroot = \"/dev/xvda\"\n"
          "on_poweroff = \"preserve\"\non_reboot = \"destroy\"\non_crash = \"restart\"\n"
          "cpu_weight = 512\ncap = 50\n");
    ASSERT_TRUE(c.p.ok) << dump(c.p.diags);
    ASSERT_TRUE(c.ok) << dump(c.diags);
    EXPECT_STREQ(c.d.name, "web");
    EXPECT_EQ(c.d.memory_mib, 128u);
    EXPECT_EQ(c.d.maxmem_mib, 256u);
    EXPECT_EQ(c.d.vcpus, 2u);
    EXPECT_EQ(c.d.maxvcpus, 4u);
    EXPECT_EQ(c.d.affinity[0], 0b1101u);
    EXPECT_EQ(c.d.affinity[3], 0b1101u);
    EXPECT_STREQ(c.d.kernel, "/guests/vmlinuz");
    EXPECT_STREQ(c.d.ramdisk, "/guests/initrd");
    EXPECT_STREQ(c.d.cmdline, "console=hvc0");  // cmdline wins over root/extra
    EXPECT_EQ(c.d.on_poweroff, Action::preserve);
    EXPECT_EQ(c.d.on_reboot, Action::destroy);
    EXPECT_EQ(c.d.on_crash, Action::restart);
    EXPECT_EQ(c.d.weight, 512u);
    EXPECT_EQ(c.d.cap, 50u);
    EXPECT_EQ(c.diags.count(), 0u) << dump(c.diags);
}

TEST(XlCfgDomain, DefaultsAsXlAndLibxl) {
    Dom c("name='a'\nkernel='/k'\nextra=\"quiet\"\n");
    ASSERT_TRUE(c.ok) << dump(c.diags);
    EXPECT_EQ(c.d.memory_mib, 32u);
    EXPECT_EQ(c.d.maxmem_mib, 32u);
    EXPECT_EQ(c.d.vcpus, 1u);
    EXPECT_EQ(c.d.maxvcpus, 1u);
    EXPECT_EQ(c.d.affinity[0], DomainConfig::ALL_CPUS);
    EXPECT_STREQ(c.d.cmdline, "quiet");
    EXPECT_EQ(c.d.on_poweroff, Action::destroy);
    EXPECT_EQ(c.d.on_reboot, Action::restart);
    EXPECT_EQ(c.d.on_crash, Action::destroy);
    EXPECT_EQ(c.d.weight, 256u);
    EXPECT_EQ(c.d.cap, 0u);
    EXPECT_STREQ(c.d.ramdisk, "");

    Dom r("name='a'\nkernel='/k'\nroot='/dev/xvda1'\nextra='ro'\nmemory=\"0x40\"\nweight=1024\n");
    ASSERT_TRUE(r.ok) << dump(r.diags);
    EXPECT_STREQ(r.d.cmdline, "root=/dev/xvda1 ro");
    EXPECT_EQ(r.d.memory_mib, 64u);  // a quoted number is a number, as in libxlu
    EXPECT_EQ(r.d.weight, 1024u);    // `weight' is cpu_weight's alias
}

TEST(XlCfgDomain, PerVcpuAffinityList) {
    Dom c("name='a'\nkernel='/k'\nvcpus=3\ncpus=[\"2\", \"0-1\"]\n");
    ASSERT_TRUE(c.ok) << dump(c.diags);
    EXPECT_EQ(c.d.affinity[0], 0b100u);
    EXPECT_EQ(c.d.affinity[1], 0b11u);
    EXPECT_EQ(c.d.affinity[2], DomainConfig::ALL_CPUS);
}

TEST(XlCfgDomain, BadValuesAreRefusedNamingLineAndKey) {
    struct Case {
        const char* text;
        const char* message;
    } cases[] = {
        {"kernel='/k'\n", "Domain name must be specified"},
        {"name='a'\n", "no kernel given"},
        {"name='a/b'\nkernel='/k'\n", "guest.cfg:1: name: the name may not contain '/'"},
        {"name=''\nkernel='/k'\n", "guest.cfg:1: name: the name is empty"},
        {"name='a'\nkernel='/k'\ntype=\"hvm\"\n", "guest.cfg:3: type: only type=\"pv\" domains are supported"},
        {"name='a'\nkernel='/k'\ntype=\"xyz\"\n", "guest.cfg:3: type: invalid domain type"},
        {"name='a'\nkernel='/k'\nmemory=\"lots\"\n", "guest.cfg:3: memory: `lots' is not a valid number"},
        {"name='a'\nkernel='/k'\nmemory=0\n", "guest.cfg:3: memory: 0 is out of range"},
        {"name='a'\nkernel='/k'\nmemory=08\n", "guest.cfg:3: memory: `08' is not a valid number"},
        {"name='a'\nkernel='/k'\nmemory=99999999999999999999\n", "memory: `99999999999999999999' is not a valid number"},
        {"name='a'\nkernel='/k'\nmemory=64\nmaxmem=32\n", "guest.cfg:4: maxmem: maxmem (32) is below memory (64)"},
        {"name='a'\nkernel='/k'\nvcpus=4\nmaxvcpus=2\n", "guest.cfg:4: maxvcpus: maxvcpus (2) is below vcpus (4)"},
        {"name='a'\nkernel='/k'\nvcpus=0\n", "guest.cfg:3: vcpus: 0 is out of range"},
        {"name='a'\nkernel='/k'\nmemory=[1]\n", "guest.cfg:3: memory: is a list but should be a single value"},
        {"name='a'\nkernel='/k'\ncpus=\"3-1\"\n", "guest.cfg:3: cpus: invalid CPU list `3-1'"},
        {"name='a'\nkernel='/k'\ncpus=\"64\"\n", "guest.cfg:3: cpus: invalid CPU list `64'"},
        {"name='a'\nkernel='/k'\ncpus=\"0,^0\"\n", "guest.cfg:3: cpus: invalid CPU list"},
        {"name='a'\nkernel='/k'\ncpus=[\"0\", [\"1\"]]\n", "guest.cfg:3: cpus: entry 1 is not a CPU list"},
        {"name='a'\nkernel='/k'\non_crash=\"explode\"\n", "guest.cfg:3: on_crash: unknown action \"explode\""},
        {"name='a'\nkernel='/k'\non_crash=\"coredump-destroy\"\n", "on_crash: action \"coredump-destroy\" is not supported"},
        {"name='a'\nkernel='/k'\ncpu_weight=0\n", "guest.cfg:3: cpu_weight: 0 is out of range (1 to 65535)"},
        {"name='a'\nkernel='/k'\ncap=\"-1\"\n", "guest.cfg:3: cap: -1 is out of range"},
        {"name='a'\nkernel=''\n", "guest.cfg:2: kernel: the kernel path is empty"},
        {"name='a'\nkernel='/k'\ncmdline=\"a\\0b\"\n", "guest.cfg:3: cmdline: value contains a NUL character"},
    };
    for (const Case& c : cases) {
        Dom d(c.text);
        ASSERT_TRUE(d.p.ok) << c.text << dump(d.p.diags);
        EXPECT_FALSE(d.ok) << c.text;
        EXPECT_TRUE(d.diags.contains(c.message)) << c.text << "\n got: " << dump(d.diags);
    }
}

TEST(XlCfgDomain, UnknownKeysWarnOnce) {
    Dom c("name='a'\nkernel='/k'\nvif=['bridge=xenbr0']\nvif=[]\n");
    ASSERT_TRUE(c.ok) << dump(c.diags);
    ASSERT_EQ(c.diags.count(), 1u) << dump(c.diags);
    EXPECT_TRUE(c.diags.contains("guest.cfg:4: vif: unknown key, ignored"));
}

TEST(XlCfgDomain, CpuListsAndNumbers) {
    u64 m;
    EXPECT_TRUE(parse_cpu_list("all", &m));
    EXPECT_EQ(m, ~u64{0});
    EXPECT_TRUE(parse_cpu_list("0-3,5,^1", &m));
    EXPECT_EQ(m, 0b101101u);
    EXPECT_TRUE(parse_cpu_list("63", &m));
    EXPECT_EQ(m, u64{1} << 63);
    for (const char* bad : {"", ",", "1,", "-1", "1-", "a", "^", "0x1", "1-2-3", "9999999999"})
        EXPECT_FALSE(parse_cpu_list(bad, &m)) << bad;
    long long n;
    EXPECT_TRUE(parse_long("0x1f", &n));
    EXPECT_EQ(n, 31);
    EXPECT_TRUE(parse_long("017", &n));
    EXPECT_EQ(n, 15);
    EXPECT_TRUE(parse_long("-9223372036854775808", &n));
    EXPECT_EQ(n, INT64_MIN);
    EXPECT_FALSE(parse_long("9223372036854775808", &n));
    EXPECT_FALSE(parse_long("0x", &n));
    EXPECT_FALSE(parse_long("12k", &n));
    EXPECT_FALSE(parse_long("", &n));
}

}  // namespace
