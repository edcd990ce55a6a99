// libFuzzer target: the xl.cfg parser and the PV domain keys (guest/lib/xlcfg), as domain 0's
// toolstack runs them on a user's file and `xl create` arguments.  The input is parsed after a
// valid base configuration.  Properties beyond "no memory error, no UB, no hang": a refused parse
// reports an error and keeps none of its settings; an accepted domain configuration is within
// every documented bound, and its strings are terminated inside their buffers.
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_support.hpp"
#include "guest/lib/xlcfg/domain_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto cfg = std::make_unique<xlcfg::Config>();
    pv::Diagnostics diags;
    FUZZ_CHECK(cfg->parse("base.cfg", "name = \"base\"\nkernel = \"/k\"\n", diags));
    std::vector<char> text(data, data + size);
    if (!cfg->parse("fuzz.cfg", pv::StrView(text.data(), text.size()), diags)) {
        FUZZ_CHECK(diags.errors() > 0 && cfg->size() == 2);
        return 0;
    }
    auto dom = std::make_unique<xlcfg::DomainConfig>();
    pv::Diagnostics d2;
    if (!xlcfg::read_domain_config(*cfg, *dom, d2)) {
        FUZZ_CHECK(d2.errors() > 0);
        return 0;
    }
    FUZZ_CHECK(dom->memory_mib >= 1 && dom->memory_mib <= dom->maxmem_mib);
    FUZZ_CHECK(dom->vcpus >= 1 && dom->vcpus <= dom->maxvcpus &&
               dom->maxvcpus <= xlcfg::DomainConfig::MAX_VCPUS);
    FUZZ_CHECK(dom->weight >= 1 && dom->weight <= 65535 && dom->cap <= 65535);
    FUZZ_CHECK(dom->name[0] && std::memchr(dom->name, '\0', sizeof(dom->name)) && !std::strchr(dom->name, '/'));
    FUZZ_CHECK(dom->kernel[0] && std::memchr(dom->kernel, '\0', sizeof(dom->kernel)));
    FUZZ_CHECK(std::memchr(dom->ramdisk, '\0', sizeof(dom->ramdisk)));
    FUZZ_CHECK(std::memchr(dom->cmdline, '\0', sizeof(dom->cmdline)));
    for (uint64_t a : dom->affinity) FUZZ_CHECK(a != 0);
    return 0;
}
