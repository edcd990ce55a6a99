// libFuzzer target: kernel image probing and bzImage payload extraction (hv/core/bzimage.hpp),
// then the ELF parser on what comes out, as the dom0 builder and the toolstack run them on an
// untrusted kernel.  Seeded with a minimal bzImage around a small XZ payload.  Properties beyond
// "no memory error, no undefined behaviour, no hang":
//   * a refusal is EINVAL (ENOMEM for a too-small buffer) with an error that names it;
//   * what the probe returns (the ELF, the payload) lies inside the image;
//   * a decompressed payload has exactly the size the bzImage declares.
#include <cstdint>
#include <vector>

#include "core/bzimage.hpp"
#include "core/elf.hpp"
#include "fuzz_support.hpp"

namespace {

constexpr pv::usize MAX_OUT = 1024 * 1024;
pv::XzDecoder g_dec;

bool inside(const uint8_t* p, pv::usize n, const std::vector<uint8_t>& img) {
    return p >= img.data() && p <= img.data() + img.size() && n <= static_cast<pv::usize>(img.data() + img.size() - p);
}

void parse_elf(const uint8_t* p, pv::usize n) {
    pv::ElfInfo elf;
    pv::XenGuestParams params;
    pv::Diagnostics diags;
    if (pv::elf_parse(p, n, elf, diags)) (void)pv::xen_parse_guest(elf, params, diags);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<uint8_t> img(data, data + size);
    pv::Diagnostics diags;
    pv::Result<pv::KernelImage> k = pv::kernel_probe(img.data(), img.size(), diags);
    if (!k) {
        FUZZ_CHECK(k.error() == XEN_EINVAL && diags.errors() > 0);
        return 0;
    }
    if (k->elf) {
        FUZZ_CHECK(inside(k->elf, k->elf_size, img));
        parse_elf(k->elf, k->elf_size);
        return 0;
    }
    FUZZ_CHECK(inside(k->payload, k->payload_size + 4, img));
    FUZZ_CHECK(k->decompressed_size > 0);
    if (k->decompressed_size > MAX_OUT) {
        std::vector<uint8_t> small(MAX_OUT);
        pv::Result<void> r = pv::kernel_decompress(*k, g_dec, small.data(), small.size(), diags);
        FUZZ_CHECK(r.error() == XEN_ENOMEM && diags.errors() > 0);
        return 0;
    }
    std::vector<uint8_t> out(k->decompressed_size);
    pv::Result<void> r = pv::kernel_decompress(*k, g_dec, out.data(), out.size(), diags);
    if (!r) {
        FUZZ_CHECK(r.error() == XEN_EINVAL && diags.errors() > 0);
        return 0;
    }
    parse_elf(out.data(), out.size());
    return 0;
}
