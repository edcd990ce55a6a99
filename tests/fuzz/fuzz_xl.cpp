// libFuzzer target: a typed prompt line through xl's tokenizer and command layer (guest/lib/xl),
// as domain 0's prompt will run it, against a small in-memory Backend holding a few domains and
// a config file.  Properties beyond "no memory error, no UB, no hang": the tokenizer's words
// quoted back ('...' with '\'' for a quote) tokenize to the same words; xl's exit status is one
// xl gives (0, 1, 2, 3, 6, 255); the backend is never asked to create or rename to a name in use,
// to shut down a domain it does not hold, or to set credit parameters out of libxl's ranges, and
// its domain table stays within bounds.
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "guest/lib/xl/tokenize.hpp"
#include "guest/lib/xl/xl.hpp"

namespace {

class NullSink final : public pv::Sink {
public:
    void put(const char*, size_t) override {}
};

class MemBackend final : public xl::Backend {
public:
    MemBackend() {
        add("Domain-0", 0);
        add("web", 3);
        cfg_file = "name = \"hello\"\nkernel = \"/k\"\nmemory = 8\nvcpus = 2\n";
    }
    void add(const char* name, uint32_t domid) {
        xl::DomainInfo d;
        d.domid = domid;
        std::snprintf(d.name, sizeof(d.name), "%s", name);
        d.current_kib = d.max_kib = 8192;
        d.vcpu_online = d.vcpu_max = 2;
        doms.push_back(d);
    }
    xl::DomainInfo* find(uint32_t domid) {
        for (auto& d : doms)
            if (d.domid == domid) return &d;
        return nullptr;
    }
    pv::Result<void> known(uint32_t domid) { return find(domid) ? pv::ok() : pv::Result<void>(pv::error(XEN_ESRCH)); }

    pv::Result<void> list_domains(xl::DomainInfo* out, size_t max, size_t* count) override {
        *count = 0;
        for (auto& d : doms)
            if (*count < max) out[(*count)++] = d;
        return pv::ok();
    }
    pv::Result<void> host_info(xl::HostInfo& h) override {
        h = xl::HostInfo{};
        h.nr_cpus = 2;
        h.max_cpu_id = 1;
        h.total_pages = 65536;
        h.free_pages = 30000;
        return pv::ok();
    }
    pv::Result<const xlcfg::DomainConfig*> domain_config(uint32_t) override { return pv::error(XEN_ENOENT); }
    pv::Result<uint32_t> create(const xlcfg::DomainConfig& c) override {
        FUZZ_CHECK(c.name[0] && !std::strchr(c.name, '/'));
        for (auto& d : doms) FUZZ_CHECK(std::strcmp(d.name, c.name) != 0);
        if (doms.size() >= 8) return pv::error(XEN_ENOMEM);
        add(c.name, next++);
        return next - 1;
    }
    pv::Result<void> destroy(uint32_t domid) override {
        for (size_t i = 0; i < doms.size(); ++i)
            if (doms[i].domid == domid && domid != 0) {
                doms.erase(doms.begin() + static_cast<long>(i));
                return pv::ok();
            }
        return pv::error(XEN_ESRCH);
    }
    pv::Result<void> request_shutdown(uint32_t domid, xl::ShutdownRequest) override {
        FUZZ_CHECK(find(domid));
        return pv::ok();
    }
    pv::Result<xl::DomainFate> wait_shutdown(uint32_t domid) override {
        FUZZ_CHECK(find(domid));
        return xl::DomainFate{};
    }
    pv::Result<void> pause(uint32_t domid) override { return known(domid); }
    pv::Result<void> unpause(uint32_t domid) override { return known(domid); }
    pv::Result<void> rename(uint32_t domid, const char* name) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);  // xl passes a domain ID on unchecked
        for (auto& d : doms) FUZZ_CHECK(d.domid == domid || std::strcmp(d.name, name) != 0);
        if (!*name || std::strchr(name, '/') || std::strlen(name) >= xl::NAME_LEN) return pv::error(XEN_EINVAL);
        std::snprintf(find(domid)->name, xl::NAME_LEN, "%s", name);
        return pv::ok();
    }
    pv::Result<xl::CreditParams> sched_credit_get(uint32_t domid) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        return xl::CreditParams{};
    }
    pv::Result<void> sched_credit_set(uint32_t domid, const xl::CreditParams& p) override {
        FUZZ_CHECK(find(domid) && p.weight >= 1 && p.weight <= 65535 && p.cap <= find(domid)->vcpu_max * 100);
        return pv::ok();
    }
    pv::Result<xl::CreditPoolParams> sched_credit_pool_get() override { return xl::CreditPoolParams{30, 1000, 0}; }
    pv::Result<void> sched_credit_pool_set(const xl::CreditPoolParams&) override { return pv::ok(); }
    pv::Result<void> set_memory_target(uint32_t domid, uint64_t) override { return known(domid); }
    pv::Result<void> set_max_memory(uint32_t domid, uint64_t) override { return known(domid); }
    pv::Result<void> vcpu_list(uint32_t domid, xl::VcpuInfo* out, size_t max, size_t* count) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        *count = 0;
        for (uint32_t v = 0; v < 2 && *count < max; ++v) {
            out[*count] = xl::VcpuInfo{};
            out[(*count)++].vcpuid = v;
        }
        return pv::ok();
    }
    pv::Result<void> vcpu_pin(uint32_t domid, uint32_t, const uint64_t*, const uint64_t*) override { return known(domid); }
    pv::Result<void> vcpu_set_online(uint32_t domid, uint32_t n) override {
        FUZZ_CHECK(!find(domid) || n <= find(domid)->vcpu_max);
        return known(domid);
    }
    pv::Result<void> read_hypervisor_console(pv::Sink& out, bool) override {
        out.put("(XEN) x\n", 8);
        return pv::ok();
    }
    pv::Result<uint64_t> uptime_seconds(uint32_t domid) override {
        if (!find(domid)) return pv::error(XEN_ESRCH);
        return uint64_t{12345};
    }
    uint64_t wallclock_seconds() override { return 1'700'000'000; }
    pv::Result<void> console(uint32_t domid) override { return known(domid); }
    pv::Result<void> read_file(const char* path, const char** data, size_t* size) override {
        if (!std::strcmp(path, "/k")) {
            *data = "ELF";
            *size = 3;
            return pv::ok();
        }
        if (std::strcmp(path, "g.cfg")) return pv::error(XEN_ENOENT);
        *data = cfg_file.data();
        *size = cfg_file.size();
        return pv::ok();
    }

    std::vector<xl::DomainInfo> doms;
    std::string cfg_file;
    uint32_t next = 5;
};

std::string quote(const char* w) {
    std::string q = "'";
    for (const char* c = w; *c; ++c) q += *c == '\'' ? std::string("'\\''") : std::string(1, *c);
    return q + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<char> line(data, data + size);
    char buf[512];
    char* argv[xl::MAX_ARGS + 1];
    size_t argc = 0;
    // The first word is the xl program name slot.
    static char prog[] = "xl";
    if (xl::tokenize(line.data(), line.size(), buf, sizeof(buf), argv + 1, xl::MAX_ARGS - 1, &argc) !=
        xl::TokenizeStatus::ok)
        return 0;
    std::string requoted;
    for (size_t i = 1; i <= argc; ++i) {
        FUZZ_CHECK(argv[i] >= buf && argv[i] + std::strlen(argv[i]) < buf + sizeof(buf));
        requoted += quote(argv[i]) + " ";
    }
    FUZZ_CHECK(argv[argc + 1] == nullptr);
    char buf2[4096];
    char* argv2[xl::MAX_ARGS + 1];
    size_t argc2 = 0;
    FUZZ_CHECK(xl::tokenize(requoted.data(), requoted.size(), buf2, sizeof(buf2), argv2, xl::MAX_ARGS - 1, &argc2) ==
               xl::TokenizeStatus::ok);
    FUZZ_CHECK(argc2 == argc);
    for (size_t i = 0; i < argc; ++i) FUZZ_CHECK(!std::strcmp(argv2[i], argv[i + 1]));

    argv[0] = prog;
    MemBackend be;
    NullSink out, err;
    xl::Output o(out, err);
    int status = xl::xl_main(static_cast<int>(argc + 1), argv, be, o);
    FUZZ_CHECK(status == 0 || status == 1 || status == 2 || status == 3 || status == 6 || status == 255);
    FUZZ_CHECK(be.doms.size() <= 8 && be.find(0));
    return 0;
}
