// libFuzzer target: the XZ and gzip decoders (hv/core/xz.hpp, inflate.hpp) on arbitrary streams,
// as the dom0 builder and the toolstack run them on an untrusted bzImage payload; an input
// starting with gzip's magic goes to gunzip, anything else to the XZ decoder.  Seeded with a
// small x86 BCJ + LZMA2 stream from liblzma and a small gzip member from zlib.  Properties beyond
// "no memory error, no undefined behaviour, no hang" (input and output are exactly-sized heap
// copies, so ASan sees any overrun):
//   * a refusal is EINVAL with an error in the diagnostics that names it;
//   * a success wrote at most the buffer, and decoding again into a buffer of exactly that
//     size gives the same bytes (no dependence on the spare room or on earlier calls).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/inflate.hpp"
#include "core/xz.hpp"
#include "fuzz_support.hpp"

namespace {

constexpr size_t OUT_SIZE = 256 * 1024;
pv::XzDecoder g_xz;

pv::Result<pv::usize> decode(const std::vector<uint8_t>& in, std::vector<uint8_t>& out, pv::Diagnostics& d) {
    if (in.size() >= 2 && in[0] == 0x1f && in[1] == 0x8b) return pv::gunzip(in.data(), in.size(), out.data(), out.size(), d);
    return g_xz.decode(in.data(), in.size(), out.data(), out.size(), d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<uint8_t> in(data, data + size);
    std::vector<uint8_t> out(OUT_SIZE);
    pv::Diagnostics diags;
    pv::Result<pv::usize> n = decode(in, out, diags);
    if (!n) {
        FUZZ_CHECK(n.error() == XEN_EINVAL);
        FUZZ_CHECK(diags.errors() > 0);
        return 0;
    }
    FUZZ_CHECK(*n <= OUT_SIZE);
    std::vector<uint8_t> exact(*n);
    pv::Diagnostics again;
    pv::Result<pv::usize> m = decode(in, exact, again);
    FUZZ_CHECK(m.ok() && *m == *n);
    FUZZ_CHECK(std::equal(exact.begin(), exact.end(), out.begin()));
    return 0;
}
