// libFuzzer target: the cpio "newc" reader (guest/lib/builder/cpio.hpp) that domain 0 uses on its
// initrd, and the hypervisor's boot command-line parser (core/cmdline.hpp): the input's first
// byte picks one.  Properties beyond "no memory error, no UB, no hang": every entry the reader
// returns lies inside the archive (name and data), the walk ends within one step per 110-byte
// header, and a failed walk says why.
#include <cstdint>
#include <vector>

#include "core/cmdline.hpp"
#include "fuzz_support.hpp"
#include "guest/lib/builder/cpio.hpp"

namespace {

void walk(const uint8_t* data, size_t size) {
    pvb::CpioReader reader(data, size);
    pv::Diagnostics diags;
    pvb::CpioEntry e;
    size_t entries = 0;
    while (reader.next(e, diags)) {
        FUZZ_CHECK(++entries <= size / 110);
        auto inside = [&](const void* p, size_t n) {
            auto* b = static_cast<const uint8_t*>(p);
            return b >= data && b <= data + size && n <= static_cast<size_t>(data + size - b);
        };
        FUZZ_CHECK(inside(e.name.ptr, e.name.len));
        FUZZ_CHECK(e.size == 0 || inside(e.data, e.size));
    }
    if (reader.failed()) FUZZ_CHECK(diags.count() > 0);
    pvb::CpioEntry found;
    (void)pvb::cpio_find(data, size, "manifest", found, diags);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::vector<uint8_t> copy(data + 1, data + size);  // exact bounds for ASan
    if (data[0] & 1) {
        walk(copy.data(), copy.size());
    } else {
        pv::BootOptions opts;
        pv::Diagnostics diags;
        pv::parse_cmdline(pv::StrView(reinterpret_cast<const char*>(copy.data()), copy.size()), opts, diags);
    }
    return 0;
}
