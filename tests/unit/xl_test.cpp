// The xl command layer (guest/lib/xl) against a fake Backend that records every call: each
// command's output byte for byte as Xen 4.17's xl prints it (the format strings of tools/xl),
// its messages and exit status, option errors, domains by name and by number, create with good
// and bad configurations, and the prompt's tokenizer.  The number formatting is also checked
// against the host's printf, which is what xl's output comes from.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <libxl.h>

#include "guest/lib/xl/command.hpp"
#include "guest/lib/xl/numbers.hpp"
#include "guest/lib/xl/tokenize.hpp"
#include "guest/lib/xl/xl.hpp"

// xl prints libxl's error codes; guest/lib/xl cannot include libxl.h (hosted), so check here.
constexpr bool same(int ours, int libxl) { return ours == libxl; }
static_assert(same(xl::ERROR_FAIL, ::ERROR_FAIL) && same(xl::ERROR_NOMEM, ::ERROR_NOMEM) &&
              same(xl::ERROR_INVAL, ::ERROR_INVAL) && same(xl::ERROR_DOMAIN_NOTFOUND, ::ERROR_DOMAIN_NOTFOUND));

namespace {

using namespace xl;

class StringSink final : public pv::Sink {
public:
    void put(const char* s, size_t n) override { text.append(s, n); }
    std::string text;
};

// Every call is logged as "<method> <args>"; err_<method> makes that method fail.
class FakeBackend final : public Backend {
public:
    FakeBackend() {
        add("Domain-0", 0, 512 * 1024, 2);
        doms[0].running = true;
        doms[0].cpu_time_ns = 12'345'678'901;
        add("web", 3, 16 * 1024, 1);
        doms[1].blocked = true;
        doms[1].cpu_time_ns = 1'500'000'000;
        host.nr_cpus = 2;
        host.max_cpu_id = 1;
        host.nr_nodes = 1;
        host.cores_per_socket = 2;
        host.threads_per_core = 1;
        host.cpu_khz = 2'400'123;
        host.total_pages = 131072;
        host.free_pages = 40000;
        std::snprintf(host.host, sizeof(host.host), "pvisor");
        std::snprintf(host.xen_extra, sizeof(host.xen_extra), ".7");
        std::snprintf(host.xen_caps, sizeof(host.xen_caps), "xen-3.0-x86_64");
        std::snprintf(host.xen_scheduler, sizeof(host.xen_scheduler), "credit");
        std::snprintf(host.commandline, sizeof(host.commandline), "console=com1 dom0_mem=64M");
        std::snprintf(host.virt_caps, sizeof(host.virt_caps), " pv gnttab-v1");
        host.xen_major = 4;
        host.xen_minor = 17;
        files["/etc/xen/hello.cfg"] = "name = \"hello\"\nkernel = \"/boot/hello.elf\"\nmemory = 16\nvcpus = 2\n";
        files["/boot/hello.elf"] = "ELF";
    }

    void add(const char* name, u32 domid, u64 kib, u32 vcpus) {
        DomainInfo d;
        d.domid = domid;
        std::snprintf(d.name, sizeof(d.name), "%s", name);
        d.current_kib = d.max_kib = kib;
        d.vcpu_online = d.vcpu_max = vcpus;
        doms.push_back(d);
        credit[domid] = CreditParams{};
    }
    DomainInfo* find(u32 domid) {
        for (DomainInfo& d : doms)
            if (d.domid == domid) return &d;
        return nullptr;
    }

    pv::Result<void> list_domains(DomainInfo* out, usize max, usize* count) override {
        if (fail("list_domains")) return pv::error(XEN_EIO);
        *count = 0;
        for (const DomainInfo& d : doms)
            if (*count < max) out[(*count)++] = d;
        return pv::ok();
    }
    pv::Result<void> host_info(HostInfo& out) override {
        out = host;
        return pv::ok();
    }
    pv::Result<const xlcfg::DomainConfig*> domain_config(u32 domid) override {
        auto it = configs.find(domid);
        if (it == configs.end()) return pv::error(XEN_ENOENT);
        return &it->second;
    }
    pv::Result<u32> create(const xlcfg::DomainConfig& cfg) override {
        log("create " + std::string(cfg.name) + " mem=" + std::to_string(cfg.memory_mib) +
            " vcpus=" + std::to_string(cfg.vcpus) + " kernel=" + cfg.kernel + " cmdline=" + cfg.cmdline);
        if (create_error) return pv::error(*create_error);
        u32 domid = next_domid++;
        add(cfg.name, domid, cfg.memory_mib * 1024, cfg.vcpus);
        find(domid)->paused = true;
        configs[domid] = cfg;
        return domid;
    }
    pv::Result<void> destroy(u32 domid) override { return simple("destroy", domid); }
    pv::Result<void> request_shutdown(u32 domid, ShutdownRequest what) override {
        return simple(what == ShutdownRequest::reboot ? "reboot" : "poweroff", domid);
    }
    pv::Result<DomainFate> wait_shutdown(u32 domid) override {
        log("wait " + std::to_string(domid));
        DomainFate f;
        f.reason = 0;
        return f;
    }
    pv::Result<void> pause(u32 domid) override { return simple("pause", domid); }
    pv::Result<void> unpause(u32 domid) override { return simple("unpause", domid); }
    pv::Result<void> rename(u32 domid, const char* name) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        log("rename " + std::to_string(domid) + " " + name);
        std::snprintf(find(domid)->name, NAME_LEN, "%s", name);
        return pv::ok();
    }
    pv::Result<CreditParams> sched_credit_get(u32 domid) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        return credit[domid];
    }
    pv::Result<void> sched_credit_set(u32 domid, const CreditParams& p) override {
        log("credit " + std::to_string(domid) + " " + std::to_string(p.weight) + " " + std::to_string(p.cap));
        credit[domid] = p;
        return pv::ok();
    }
    pv::Result<CreditPoolParams> sched_credit_pool_get() override { return pool; }
    pv::Result<void> sched_credit_pool_set(const CreditPoolParams& p) override {
        log("pool " + std::to_string(p.tslice_ms) + " " + std::to_string(p.ratelimit_us));
        pool = p;
        return pv::ok();
    }
    pv::Result<void> set_memory_target(u32 domid, u64 kib) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        if (kib > find(domid)->max_kib) return pv::error(XEN_EINVAL);
        log("target " + std::to_string(domid) + " " + std::to_string(kib));
        return pv::ok();
    }
    pv::Result<void> set_max_memory(u32 domid, u64 kib) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        if (kib < find(domid)->current_kib) return pv::error(XEN_EINVAL);  // below its target
        log("maxmem " + std::to_string(domid) + " " + std::to_string(kib));
        return pv::ok();
    }
    pv::Result<void> vcpu_list(u32 domid, VcpuInfo* out, usize max, usize* count) override {
        DomainInfo* d = find(domid);
        if (!d) return pv::error(XEN_ESRCH);
        *count = 0;
        for (u32 v = 0; v < d->vcpu_max && *count < max; ++v) {
            VcpuInfo& i = out[(*count)++];
            i = VcpuInfo{};
            i.vcpuid = v;
            i.online = v < d->vcpu_online;
            i.cpu = v % 2;
            i.running = v == 0 && d->running;
            i.blocked = d->blocked;
            i.time_ns = 250'000'000ull * (v + 1);
            i.hard_affinity = v == 1 ? 0x2 : ~u64{0};
            i.soft_affinity = ~u64{0};
        }
        return pv::ok();
    }
    pv::Result<void> vcpu_pin(u32 domid, u32 vcpu, const u64* hard, const u64* soft) override {
        log("pin " + std::to_string(domid) + " " + std::to_string(vcpu) + " " + (hard ? std::to_string(*hard) : "-") +
            " " + (soft ? std::to_string(*soft) : "-"));
        return pv::ok();
    }
    pv::Result<void> vcpu_set_online(u32 domid, u32 n) override {
        log("vcpus " + std::to_string(domid) + " " + std::to_string(n));
        return pv::ok();
    }
    pv::Result<void> read_hypervisor_console(pv::Sink& out, bool clear) override {
        out.put(ring.data(), ring.size());
        if (clear) ring.clear();
        return pv::ok();
    }
    pv::Result<u64> uptime_seconds(u32 domid) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        return domid == 0 ? u64{2 * 86400 + 3 * 3600 + 4 * 60 + 5} : u64{65};
    }
    u64 wallclock_seconds() override { return 1'700'000'000; }  // 22:13:20 UTC
    pv::Result<void> console(u32 domid) override { return simple("console", domid); }
    pv::Result<void> read_file(const char* path, const char** data, usize* size) override {
        auto it = files.find(path);
        if (it == files.end()) return pv::error(XEN_ENOENT);
        *data = it->second.data();
        *size = it->second.size();
        return pv::ok();
    }

    std::vector<DomainInfo> doms;
    std::map<u32, xlcfg::DomainConfig> configs;
    std::map<u32, CreditParams> credit;
    std::map<std::string, std::string> files;
    CreditPoolParams pool{30, 1000, 0};
    HostInfo host;
    std::string ring = "(XEN) Xen version 4.17\n(XEN) done\n";
    std::vector<std::string> calls;
    std::vector<std::string> failing;
    const pv::Errno* create_error = nullptr;
    u32 next_domid = 5;

private:
    void log(const std::string& s) { calls.push_back(s); }
    bool fail(const std::string& m) {
        for (const std::string& f : failing)
            if (f == m) return true;
        return false;
    }
    pv::Result<void> simple(const char* what, u32 domid) {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        log(std::string(what) + " " + std::to_string(domid));
        return pv::ok();
    }
};

struct XlRun {
    int status;
    std::string out, err;
};

// Runs a prompt line through the tokenizer and xl_main, as domain 0's prompt will.
XlRun xl_run(FakeBackend& be, const std::string& line) {
    char buf[1024];
    char* argv[MAX_ARGS + 1];
    usize argc;
    EXPECT_EQ(tokenize(line.data(), line.size(), buf, sizeof(buf), argv, MAX_ARGS, &argc), TokenizeStatus::ok);
    StringSink out, err;
    Output o(out, err);
    int status = xl_main(static_cast<int>(argc), argv, be, o);
    return {status, out.text, err.text};
}

// A command that ends with status and exactly err on standard error.
void expect_run(FakeBackend& be, const std::string& line, int status, const std::string& err) {
    XlRun r = xl_run(be, line);
    EXPECT_EQ(r.status, status) << line;
    EXPECT_EQ(r.err, err) << line;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += x + "\n";
    return s;
}

// ---- tokenizer ----

std::vector<std::string> words(const std::string& line, TokenizeStatus want = TokenizeStatus::ok) {
    char buf[256];
    char* argv[9];
    usize argc = 0;
    EXPECT_EQ(tokenize(line.data(), line.size(), buf, sizeof(buf), argv, 8, &argc), want) << line;
    std::vector<std::string> v;
    for (usize i = 0; i < argc; ++i) v.emplace_back(argv[i]);
    if (want == TokenizeStatus::ok) {
        EXPECT_EQ(argv[argc], nullptr);
    }
    return v;
}

TEST(XlTokenize, ShellQuoting) {
    using V = std::vector<std::string>;
    EXPECT_EQ(words("  xl   list\t-l  \n"), (V{"xl", "list", "-l"}));
    EXPECT_EQ(words("xl create cfg 'extra=a b' \"name=x y\""), (V{"xl", "create", "cfg", "extra=a b", "name=x y"}));
    EXPECT_EQ(words("a\"b c\"d ''"), (V{"ab cd", ""}));
    EXPECT_EQ(words("\"q\\\"uote\\\\ \\n\" 'no\\escape' back\\ slash"), (V{"q\"uote\\ \\n", "no\\escape", "back slash"}));
    EXPECT_EQ(words("xl list # comment"), (V{"xl", "list"}));
    EXPECT_EQ(words("x#y"), (V{"x#y"}));
    EXPECT_EQ(words(""), V{});
    words("xl 'open", TokenizeStatus::unterminated_quote);
    words("xl \"open", TokenizeStatus::unterminated_quote);
    words("xl end\\", TokenizeStatus::trailing_backslash);
    words("1 2 3 4 5 6 7 8 9", TokenizeStatus::too_many_words);
    words(std::string(300, 'x'), TokenizeStatus::too_long);
}

// ---- getopt_long's permuting mode ----

TEST(XlGetOpt, PermutesClustersAndLongOptions) {
    static constexpr LongOption LONG[] = {{"weight", true, 'w'}, {"wait", false, 'W'}, {"cap", true, 'c'},
                                          {"help", false, 'h'}, {nullptr, false, 0}};
    std::vector<std::string> words = {"cmd", "a", "-pq", "-w512", "b", "--cap", "7", "--weig=9", "--wa",
                                      "-", "--", "-p", "--cap=1"};
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    GetOpt g(static_cast<int>(argv.size()), argv.data(), "pqw:c:", LONG);
    std::string seen;
    for (int opt; (opt = g.next()) != GetOpt::END;) {
        seen += static_cast<char>(opt);
        if (g.arg()) seen += std::string("=") + g.arg();
        seen += " ";
    }
    EXPECT_EQ(seen, "p q w=512 c=7 w=9 W ");
    std::string ops;
    for (int i = 0; i < g.operand_count(); ++i) ops += std::string(g.operand(i)) + " ";
    EXPECT_EQ(ops, "a b - -p --cap=1 ");

    std::vector<std::string> bad = {"cmd", "--w", "-x", "-c"};  // ambiguous, unknown, argument missing
    argv.clear();
    for (std::string& w : bad) argv.push_back(w.data());
    GetOpt b(static_cast<int>(argv.size()), argv.data(), "pqw:c:", LONG);
    EXPECT_EQ(b.next(), GetOpt::UNKNOWN);
    EXPECT_EQ(b.optopt(), 0);
    EXPECT_EQ(b.next(), GetOpt::UNKNOWN);
    EXPECT_EQ(b.optopt(), 'x');
    EXPECT_EQ(b.next(), GetOpt::UNKNOWN);
    EXPECT_EQ(b.optopt(), 'c');
    EXPECT_EQ(b.next(), GetOpt::END);
}

// ---- numbers ----

std::string cpu_seconds(u64 ns) {
    char buf[32];
    format_cpu_seconds(ns, buf, sizeof(buf));
    return buf;
}
std::string host_seconds(u64 ns) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(static_cast<float>(ns)) / 1e9);
    return buf;
}

TEST(XlNumbers, CpuSecondsAsPrintfOfAFloat) {
    for (u64 ns : {0ull, 1ull, 49'999'999ull, 50'000'000ull, 150'000'000ull, 250'000'000ull, 350'000'000ull,
                   750'000'000ull, 1'050'000'000ull, 12'345'678'901ull, 99'950'000'000ull, 16'777'217ull,
                   123'456'789'012'345ull})
        EXPECT_EQ(cpu_seconds(ns), host_seconds(ns)) << ns;
    std::mt19937_64 rng(6);
    for (int i = 0; i < 200000; ++i) {
        u64 ns = rng() >> (rng() % 40 + 10);
        ASSERT_EQ(cpu_seconds(ns), host_seconds(ns)) << ns;
        u64 tie = (rng() % 2'000'000 * 2 + 1) * 50'000'000ull;  // an odd multiple of 0.05 s
        ASSERT_EQ(cpu_seconds(tie), host_seconds(tie)) << tie;
    }
}

TEST(XlNumbers, MemSizeAsXlParsesIt) {
    EXPECT_EQ(parse_mem_size_kb("256"), 256 * 1024);
    EXPECT_EQ(parse_mem_size_kb("256m"), 256 * 1024);
    EXPECT_EQ(parse_mem_size_kb("2G"), 2 * 1024 * 1024);
    EXPECT_EQ(parse_mem_size_kb("1t"), 1ll << 30);
    EXPECT_EQ(parse_mem_size_kb("4096k"), 4096);
    EXPECT_EQ(parse_mem_size_kb("1048576b"), 1024);
    EXPECT_EQ(parse_mem_size_kb("12mb"), -1);
    EXPECT_EQ(parse_mem_size_kb("12x"), -1);
    EXPECT_EQ(parse_mem_size_kb("lots"), -1);
    EXPECT_EQ(parse_mem_size_kb(""), 0);  // strtoll reads nothing, no suffix: 0 MiB, as xl
}

TEST(XlNumbers, CpumapAndUptime) {
    char buf[64];
    format_cpumap(~u64{0}, 4, buf, sizeof(buf));
    EXPECT_STREQ(buf, "all");
    format_cpumap(0, 4, buf, sizeof(buf));
    EXPECT_STREQ(buf, "none");
    format_cpumap(0b1011'0111, 8, buf, sizeof(buf));
    EXPECT_STREQ(buf, "0-2,4-5,7");
    format_cpumap(0b1110, 4, buf, sizeof(buf));
    EXPECT_STREQ(buf, "1-3");
    format_uptime(65, false, buf, sizeof(buf));
    EXPECT_STREQ(buf, " 0:01:05");
    format_uptime(86400 + 3600, true, buf, sizeof(buf));
    EXPECT_STREQ(buf, "1 day,  1:00");
    format_uptime(3 * 86400 + 59, false, buf, sizeof(buf));
    EXPECT_STREQ(buf, "3 days,  0:00:59");
}

// ---- list, info ----

constexpr const char* LIST_HEADER = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n";

TEST(XlList, TableAsXl) {
    FakeBackend be;
    be.doms[1].shutdown = true;
    be.doms[1].shutdown_reason = 3;  // crash
    be.doms[1].dying = true;
    XlRun r = xl_run(be, "xl list");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out, std::string(LIST_HEADER) +
                         "Domain-0                                     0   512     2     r-----      12.3\n"
                         "web                                          3    16     1     -b-scd       1.5\n");
    r = xl_run(be, "xl list web");
    EXPECT_EQ(r.out, std::string(LIST_HEADER) +
                         "web                                          3    16     1     -b-scd       1.5\n");
    EXPECT_EQ(xl_run(be, "xl list 3").out, r.out);
}

TEST(XlList, VerboseAndErrors) {
    FakeBackend be;
    be.doms[1].handle[0] = 0xab;
    be.doms[1].handle[15] = 0x01;
    XlRun r = xl_run(be, "xl list -v web");
    EXPECT_EQ(r.out, "Name                                        ID   Mem VCPUs\tState\tTime(s)"
                     "   UUID                            Reason-Code\tSecurity Label\n"
                     "web                                          3    16     1     -b----       1.5"
                     " ab000000-0000-0000-0000-000000000001        -                -\n");
    expect_run(be, "xl list nosuch", 1, "nosuch is an invalid domain identifier (rc=-6)\n");
    expect_run(be, "xl list 42", 1, "Error: Domain '42' does not exist.\n");
    r = xl_run(be, "xl list web Domain-0");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out.rfind("Usage: xl [-vtT] list [options] [Domain]\n\n\nList information about all/some domains.\n\n", 0), 0u);
    expect_run(be, "xl list -x", 2, "option `x' not supported.\n");
    be.failing = {"list_domains"};
    expect_run(be, "xl list", 1, "libxl_list_domain failed.\n");
}

TEST(XlList, LongIsTheConfigAsJson) {
    FakeBackend be;
    EXPECT_EQ(xl_run(be, "xl list -l").out, "[\n\n]\n");  // domains without a stored config are left out
    XlRun c = xl_run(be, "xl create /etc/xen/hello.cfg 'extra=\"a \\\"b\\\"\"'");
    ASSERT_EQ(c.status, 0) << c.err;
    XlRun r = xl_run(be, "xl list -l");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "[\n"
                     "    {\n"
                     "        \"domid\": 5,\n"
                     "        \"config\": {\n"
                     "            \"c_info\": {\n"
                     "                \"type\": \"pv\",\n"
                     "                \"name\": \"hello\"\n"
                     "            },\n"
                     "            \"b_info\": {\n"
                     "                \"max_vcpus\": 2,\n"
                     "                \"avail_vcpus\": [\n"
                     "                    0,\n"
                     "                    1\n"
                     "                ],\n"
                     "                \"max_memkb\": 16384,\n"
                     "                \"target_memkb\": 16384,\n"
                     "                \"sched_params\": {\n"
                     "                    \"weight\": 256,\n"
                     "                    \"cap\": 0\n"
                     "                },\n"
                     "                \"kernel\": \"/boot/hello.elf\",\n"
                     "                \"cmdline\": \"a \\\"b\\\"\"\n"
                     "            },\n"
                     "            \"on_poweroff\": \"destroy\",\n"
                     "            \"on_reboot\": \"restart\",\n"
                     "            \"on_watchdog\": \"destroy\",\n"
                     "            \"on_crash\": \"destroy\"\n"
                     "        }\n"
                     "    }\n"
                     "]\n");
}

TEST(XlInfo, KeysAsXlAndOneItem) {
    FakeBackend be;
    XlRun r = xl_run(be, "xl info");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("host                   : pvisor\n"), std::string::npos);
    EXPECT_NE(r.out.find("nr_cpus                : 2\n"), std::string::npos);
    EXPECT_NE(r.out.find("cpu_mhz                : 2400.123\n"), std::string::npos);
    EXPECT_NE(r.out.find("virt_caps              : pv gnttab-v1\n"), std::string::npos);
    EXPECT_NE(r.out.find("total_memory           : 512\nfree_memory            : 156\n"), std::string::npos);
    EXPECT_NE(r.out.find("xen_major              : 4\nxen_minor              : 17\nxen_extra              : .7\n"
                         "xen_version            : 4.17.7\nxen_caps               : xen-3.0-x86_64\n"
                         "xen_scheduler          : credit\n"),
              std::string::npos);
    EXPECT_NE(r.out.find("xen_commandline        : console=com1 dom0_mem=64M\n"), std::string::npos);
    EXPECT_EQ(r.out.substr(r.out.size() - 27), "xend_config_format     : 4\n");
    r = xl_run(be, "xl info xen_version");
    EXPECT_EQ(r.out, "4.17.7\n");
}

// ---- create ----

TEST(XlCreate, BuildsUnpausesAndTakesExtraSettings) {
    FakeBackend be;
    XlRun r = xl_run(be, "xl create /etc/xen/hello.cfg memory=8 'cmdline=\"x=1 y\"'");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "Parsing config from /etc/xen/hello.cfg\n");
    EXPECT_EQ(join(be.calls), "create hello mem=8 vcpus=2 kernel=/boot/hello.elf cmdline=x=1 y\nunpause 5\n");
    EXPECT_EQ(xl_run(be, "xl domid hello").out, "5\n");
}

TEST(XlCreate, PausedConsoleQuietAndOptionOrder) {
    FakeBackend be;
    XlRun r = xl_run(be, "xl create -q -p /etc/xen/hello.cfg");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(join(be.calls), "create hello mem=16 vcpus=2 kernel=/boot/hello.elf cmdline=\n");
    be.calls.clear();
    r = xl_run(be, "xl create /etc/xen/hello.cfg -c name='\"two\"'");  // options after the file, as getopt permutes
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(join(be.calls), "create two mem=16 vcpus=2 kernel=/boot/hello.elf cmdline=\nunpause 6\nconsole 6\n");
    be.calls.clear();
    r = xl_run(be, "xl create -f /etc/xen/hello.cfg 'name=\"three\"'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(be.calls.size(), 2u);
}

TEST(XlCreate, BadConfigsNameLineAndKeyAndCreateNothing) {
    FakeBackend be;
    be.files["/bad-syntax.cfg"] = "name = \"x\"\nkernel = \"/boot/hello.elf\"\nmemory = = 3\n";
    be.files["/bad-value.cfg"] = "name = \"x\"\nkernel = \"/boot/hello.elf\"\n\nvcpus = \"lots\"\n";
    be.files["/no-kernel-file.cfg"] = "name = \"x\"\nkernel = \"/boot/missing.elf\"\n";
    XlRun r = xl_run(be, "xl create /bad-syntax.cfg");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "Parsing config from /bad-syntax.cfg\n"
                     "/bad-syntax.cfg:3: config parsing error near `=' (in `memory'): syntax error\n"
                     "Failed to parse config: Invalid argument\n");
    r = xl_run(be, "xl create /bad-value.cfg");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("/bad-value.cfg:4: vcpus: `lots' is not a valid number\n"), std::string::npos) << r.err;
    r = xl_run(be, "xl create /etc/xen/hello.cfg memory=");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("command line:1: config parsing error"), std::string::npos) << r.err;
    r = xl_run(be, "xl create /no-kernel-file.cfg");
    EXPECT_EQ(r.status, 3);
    EXPECT_NE(r.err.find("libxl: error: xc_dom_kernel_file failed: No such file or directory\n"), std::string::npos);
    expect_run(be, "xl create /missing.cfg", 3, "Failed to read config file: /missing.cfg: No such file or directory\n");
    expect_run(be, "xl create", 6, "Config file not specified and none in save file\n");
    r = xl_run(be, "xl create a.cfg b.cfg");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.out.rfind("Usage: xl [-vtTfN] create <ConfigFile> [options] [vars]\n", 0), 0u);
    EXPECT_TRUE(be.calls.empty()) << join(be.calls);
}

TEST(XlCreate, DuplicateNameAndMemoryRefused) {
    FakeBackend be;
    XlRun r = xl_run(be, "xl create -q /etc/xen/hello.cfg 'name=\"web\"'");
    EXPECT_EQ(r.status, 3);
    EXPECT_EQ(r.err, "libxl: error: Domain with name \"web\" already exists.\nlibxl: error: cannot make domain: -6\n");
    r = xl_run(be, "xl create -q /etc/xen/hello.cfg memory=4096");  // 156 MiB free
    EXPECT_EQ(r.status, 3);
    EXPECT_EQ(r.err, "failed to free memory for the domain\n");
    EXPECT_TRUE(be.calls.empty()) << join(be.calls);
    static const pv::Errno ENOMEM_ = XEN_ENOMEM;
    be.create_error = &ENOMEM_;  // the hypervisor has less than it said
    expect_run(be, "xl create -q /etc/xen/hello.cfg", 3, "failed to free memory for the domain\n");
    EXPECT_EQ(be.doms.size(), 2u);
}

// ---- destroy, shutdown, reboot, pause, unpause, console, rename ----

TEST(XlControl, DestroyByNameAndNumber) {
    FakeBackend be;
    EXPECT_EQ(xl_run(be, "xl destroy web").status, 0);
    EXPECT_EQ(join(be.calls), "destroy 3\n");
    XlRun r = xl_run(be, "xl destroy 0");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "Not destroying domain 0; use -f to force.\n"
                     "This can only be done when using a disaggregated hardware domain and toolstack.\n\n");
    expect_run(be, "xl destroy 77", 1, "libxl: error: Domain 77:Non-existant domain\ndestroy failed (rc=-21)\n");
    r = xl_run(be, "xl destroy");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.err, "'xl destroy' requires at least 1 argument.\n\n");
    EXPECT_EQ(r.out, "Usage: xl [-vtTN] destroy [options] <Domain>\n\n\nTerminate a domain immediately.\n\n"
                     "Options:\n\n-f                      Permit destroying domain 0, which will only succeed\n"
                     "                        when run from disaggregated toolstack domain with a\n"
                     "                        hardware domain distinct from domain 0.\n");
}

TEST(XlControl, ShutdownRebootAndWait) {
    FakeBackend be;
    XlRun r = xl_run(be, "xl shutdown -w web");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.err, "Shutting down domain 3\nWaiting for 1 domains\nDomain 3 has been shut down, reason code 0\n");
    EXPECT_EQ(join(be.calls), "poweroff 3\nwait 3\n");
    be.calls.clear();
    r = xl_run(be, "xl reboot 3");
    EXPECT_EQ(r.err, "Rebooting domain 3\n");
    be.add("db", 4, 8192, 1);
    be.calls.clear();
    r = xl_run(be, "xl shutdown -a");
    EXPECT_EQ(join(be.calls), "poweroff 3\npoweroff 4\n");
    expect_run(be, "xl shutdown", 1, "You must specify -a or a domain id.\n\n");
    expect_run(be, "xl reboot 99", 1, "Rebooting domain 99\nlibxl: error: unable to get domain type for domid=99\nreboot failed (rc=-3)\n");
}

TEST(XlControl, PauseUnpauseConsoleRename) {
    FakeBackend be;
    EXPECT_EQ(xl_run(be, "xl pause web").status, 0);
    EXPECT_EQ(xl_run(be, "xl unpause 3").status, 0);
    XlRun r = xl_run(be, "xl pause 42");  // xl ignores libxl's failure
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.err, "libxl: error: Domain 42:Pausing domain: No such process\n");
    expect_run(be, "xl unpause ghost", 1, "ghost is an invalid domain identifier (rc=-6)\n");
    EXPECT_EQ(xl_run(be, "xl console web").status, 0);
    expect_run(be, "xl console -t serial web", 1, "Unable to attach console\n");
    r = xl_run(be, "xl console -t vga web");
    EXPECT_EQ(r.err, "console type supported are: pv, serial, vuart\n");
    EXPECT_EQ(xl_run(be, "xl rename web www").status, 0);
    expect_run(be, "xl rename www Domain-0", 1, "libxl: error: Domain 3:Domain with name \"Domain-0\" already exists.\nCan't rename domain 'www'.\n");
    EXPECT_EQ(join(be.calls), "pause 3\nunpause 3\nconsole 3\nrename 3 www\n");
    EXPECT_EQ(xl_run(be, "xl domname 3").out, "www\n");
}

// ---- sched-credit, mem-set, mem-max, vcpu-* ----

TEST(XlSched, CreditTableGetAndSet) {
    FakeBackend be;
    be.credit[3] = CreditParams{512, 50};
    XlRun r = xl_run(be, "xl sched-credit");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us\n"
                     "Name                                ID Weight  Cap\n"
                     "Domain-0                             0    256    0\n"
                     "web                                  3    512   50\n");
    r = xl_run(be, "xl sched-credit -d web");
    EXPECT_EQ(r.out, "Name                                ID Weight  Cap\nweb                                  3    512   50\n");
    EXPECT_EQ(xl_run(be, "xl sched-credit -d web -w 1024").status, 0);
    EXPECT_EQ(xl_run(be, "xl sched-credit --domain=3 --cap=20").status, 0);
    EXPECT_EQ(join(be.calls), "credit 3 1024 50\ncredit 3 1024 20\n");
    expect_run(be, "xl sched-credit -d web -w 0", 1, "libxl: error: Domain 3:Cpu weight out of range, valid values are within range from 1 to 65535\n"
                     "libxl_domain_sched_params_set failed.\n");
    r = xl_run(be, "xl sched-credit -d web -c 101");
    EXPECT_EQ(r.err, "libxl: error: Domain 3:Cpu cap out of range, valid range is from 0 to 100 for specified number of vcpus\n"
                     "libxl_domain_sched_params_set failed.\n");
    EXPECT_EQ(xl_run(be, "xl sched-credit -w 5").err, "Must specify a domain.\n");
    EXPECT_EQ(xl_run(be, "xl sched-credit -s -d web").err,
              "Specifying a cpupool or schedparam is not allowed with domain options.\n");
    EXPECT_EQ(xl_run(be, "xl sched-credit -t 5").err, "Must specify schedparam to set schedule parameter values.\n");
    EXPECT_EQ(xl_run(be, "xl sched-credit -s").out, "Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us\n");
    be.calls.clear();
    EXPECT_EQ(xl_run(be, "xl sched-credit -s -t 10").status, 0);
    EXPECT_EQ(join(be.calls), "pool 10 1000\n");
    EXPECT_EQ(xl_run(be, "xl sched-credit -p other").err, "unknown cpupool 'other'\n");
    EXPECT_EQ(xl_run(be, "xl sched-credit -d").err, "option `d' not supported.\n");
    expect_run(be, "xl sched-credit -d 9 -w 5", 1, "libxl_domain_sched_params_set failed.\n");
    expect_run(be, "xl sched-credit -d 9", 1,
               "libxl: error: Domain 9:Getting domain sched credit: No such process\n"
               "libxl_domain_sched_params_get failed.\n");
}

TEST(XlMemory, SetAndMax) {
    FakeBackend be;
    EXPECT_EQ(xl_run(be, "xl mem-set web 8").status, 0);
    EXPECT_EQ(xl_run(be, "xl mem-set web 4096k").status, 0);
    EXPECT_EQ(xl_run(be, "xl mem-max 3 1g").status, 0);
    EXPECT_EQ(join(be.calls), "target 3 8192\ntarget 3 4096\nmaxmem 3 1048576\n");
    XlRun r = xl_run(be, "xl mem-set web 12q");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "invalid memory size: 12q\n");
    expect_run(be, "xl mem-set web 64", 1, "libxl: error: Domain 3:memory_dynamic_max must be less than or equal to memory_static_max\n\n"
                     "cannot set domid 3 dynamic max memory to : 64\n");
    expect_run(be, "xl mem-max web 4", 1,
               "libxl: error: Domain 3:memory_static_max must be greater than or or equal to memory_dynamic_max\n"
               "cannot set domid 3 static max memory to : 4\n");
    r = xl_run(be, "xl mem-max 9 64");
    EXPECT_EQ(r.err, "libxl: error: Domain 9:Setting maximum memory: No such process\n"
                     "cannot set domid 9 static max memory to : 64\n");
    expect_run(be, "xl mem-set web", 2, "'xl mem-set' requires at least 2 arguments.\n\n");
}

// xl's row format puts the CPU right after the VCPU ("%5u" then "%5u "), one column left of its
// header's "CPU": the rows below are as xl prints them.
TEST(XlVcpu, ListPinSet) {
    FakeBackend be;
    XlRun r = xl_run(be, "xl vcpu-list");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)\n"
                     "Domain-0                             0     0    0   r--       0.2  all / all\n"
                     "Domain-0                             0     1    1   ---       0.5  1 / all\n"
                     "web                                  3     0    0   -b-       0.2  all / all\n");
    be.doms[1].vcpu_max = 2;
    r = xl_run(be, "xl vcpu-list web");
    EXPECT_EQ(r.out, "Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)\n"
                     "web                                  3     0    0   -b-       0.2  all / all\n"
                     "web                                  3     1    -   --p       0.5  1 / all\n");
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web 0 1").status, 0);
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web all 0-1 -").status, 0);
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web 1 - 1").status, 0);
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web 0 0-3,^1,,2 all").status, 0);  // in order: 0,2,3 then 2 again
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web 0 70-80").status, 0);  // CPUs past the map are dropped
    EXPECT_EQ(join(be.calls), "pin 3 0 2 -\npin 3 0 3 -\npin 3 1 3 -\npin 3 1 - 2\n"
                              "pin 3 0 13 18446744073709551615\npin 3 0 0 -\n");
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web 0 3-1").err, "Invalid pcpu range: 3-1.\n");
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web 0 ^x").err, "Invalid pcpu range: x.\n");
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web 0 1 ^all").err, "Can't combine \"^\" and \"all\".\n");
    EXPECT_EQ(xl_run(be, "xl vcpu-pin web x 1").err, "Error: Invalid argument x as VCPU.\n");
    EXPECT_EQ(xl_run(be, "xl vcpu-pin -f web all 1").err, "Error: --force and 'all' as VCPU not allowed.\n");
    be.calls.clear();
    EXPECT_EQ(xl_run(be, "xl vcpu-set web 2").status, 0);
    EXPECT_EQ(join(be.calls), "vcpus 3 2\n");
    expect_run(be, "xl vcpu-set web 4", 1, "You are overcommmitting! You have 2 physical CPUs and want 4 vCPUs! Aborting, use --ignore-host to continue\n");
    r = xl_run(be, "xl vcpu-set -i web 4");
    EXPECT_EQ(r.err, "libxl: error: Domain 3:Requested 4 VCPUs, however maxcpus is 2!\n"
                     "libxl_set_vcpuonline failed domid=3 max_vcpus=4, rc: -3\n");
    EXPECT_EQ(xl_run(be, "xl vcpu-set web many").err, "Error: Invalid argument.\n");
    expect_run(be, "xl vcpu-set web 0", 1,
               "libxl: error: Domain 3:Requested 0 VCPUs!\nlibxl_set_vcpuonline failed domid=3 max_vcpus=0, rc: -3\n");
}

// ---- dmesg, uptime, domid, domname, help ----

TEST(XlMisc, DmesgUptimeNamesHelp) {
    FakeBackend be;
    EXPECT_EQ(xl_run(be, "xl dmesg").out, "(XEN) Xen version 4.17\n(XEN) done\n");
    EXPECT_EQ(xl_run(be, "xl dmesg -c").status, 0);
    EXPECT_EQ(xl_run(be, "xl dmesg").out, "");
    EXPECT_EQ(xl_run(be, "xl uptime").out, "Name                                ID Uptime\n"
                                           "Domain-0                             0 2 days,  3:04:05\n"
                                           "web                                  3  0:01:05\n");
    EXPECT_EQ(xl_run(be, "xl uptime -s web").out, " 22:13:20 up  0:01, web (3)\n");
    EXPECT_EQ(xl_run(be, "xl domid Domain-0").out, "0\n");
    XlRun r = xl_run(be, "xl domid nope");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "Can't get domid of domain name 'nope', maybe this domain does not exist.\n");
    EXPECT_EQ(xl_run(be, "xl domname 7").err, "Can't get domain name of domain id '7', maybe this domain does not exist.\n");
    EXPECT_EQ(xl_run(be, "xl domname x").err, "Invalid domain id.\n\n");
    r = xl_run(be, "xl help");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out.rfind("Usage xl [-vfNtT] <subcommand> [args]\n\nxl full list of subcommands:\n\n"
                          " create              Create a domain from config file <filename>\n"
                          " list                List information about all/some domains\n", 0), 0u);
    EXPECT_NE(r.out.find(" sched-credit        Get/set credit scheduler parameters\n"), std::string::npos);
    EXPECT_EQ(xl_run(be, "xl help pause").out, "Usage: xl [-vtTN] pause <Domain>\n\nPause execution of a domain.\n\n");
    EXPECT_EQ(xl_run(be, "xl pause -h").out, "Usage: xl [-vtTN] pause <Domain>\n\nPause execution of a domain.\n\n");
    EXPECT_EQ(xl_run(be, "xl pause --help").status, 0);
    EXPECT_EQ(xl_run(be, "xl help nosuch").out, "command \"nosuch\" not implemented\n");
    expect_run(be, "xl frobnicate", 1, "command not implemented\n");
    r = xl_run(be, "xl");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out.rfind("Usage xl [-vfNtT]", 0), 0u);
    EXPECT_EQ(xl_run(be, "xl -v list web").status, 0);
    EXPECT_EQ(xl_run(be, "xl -x list").err, "unknown global option\n");
}

}  // namespace
