// libFuzzer target: the ELF loader's three steps (hv/core/elf.hpp) on arbitrary bytes, as the
// hypervisor's dom0 builder and the toolstack's domain builder run them on an untrusted kernel
// image.  Properties beyond "no memory error, no undefined behaviour, no hang":
//   * a refusal is EINVAL with an error in the diagnostics that names it;
//   * an accepted image's segments lie inside the file and inside [pstart, pend), which spans at
//     most MAX_IMAGE_SPAN, and the parameters put the entry inside the kernel's extent;
//   * loading writes only inside [virt_kstart, virt_kend) and nothing twice.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/elf.hpp"
#include "fuzz_support.hpp"

namespace {

using pv::u64;

// Records the extent each write touches; writes nothing (the image may be 1 GiB of p_memsz).
class ExtentTarget final : public pv::ElfLoadTarget {
public:
    ExtentTarget(u64 lo, u64 hi) : lo_(lo), hi_(hi) {}
    pv::Result<void> copy(u64 dest, const pv::u8*, u64 len) override { return note(dest, len); }
    pv::Result<void> zero(u64 dest, u64 len) override { return note(dest, len); }

private:
    pv::Result<void> note(u64 dest, u64 len) {
        FUZZ_CHECK(dest >= lo_ && dest <= hi_ && len <= hi_ - dest);
        for (auto [a, b] : done_) FUZZ_CHECK(dest + len <= a || dest >= b);  // no overlap
        done_.push_back({dest, dest + len});
        return pv::ok();
    }
    u64 lo_, hi_;
    std::vector<std::pair<u64, u64>> done_;
};

void refused(const pv::Result<void>& r, const pv::Diagnostics& d) {
    FUZZ_CHECK(r.error() == XEN_EINVAL);
    bool named = false;
    for (pv::usize i = 0; i < d.count(); ++i) named |= d[i].severity == pv::Severity::error;
    FUZZ_CHECK(named);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A private copy: the parser must never rely on anything past `size`, and ASan sees it so.
    std::vector<uint8_t> image(data, data + size);
    pv::ElfInfo elf;
    pv::Diagnostics diags;
    auto parsed = pv::elf_parse(image.data(), image.size(), elf, diags);
    if (!parsed) {
        refused(parsed, diags);
        return 0;
    }
    FUZZ_CHECK(elf.load_count <= pv::ElfInfo::MAX_LOAD_SEGMENTS);
    FUZZ_CHECK(elf.pstart <= elf.pend && elf.pend - elf.pstart <= pv::ElfInfo::MAX_IMAGE_SPAN);
    for (pv::usize i = 0; i < elf.load_count; ++i) {
        const pv::ElfSegment& s = elf.load[i];
        FUZZ_CHECK(s.offset <= size && s.filesz <= size - s.offset);
        FUZZ_CHECK(s.filesz <= s.memsz);
        FUZZ_CHECK(s.paddr >= elf.pstart && s.paddr + s.memsz <= elf.pend);
    }

    pv::XenGuestParams params;
    auto guest = pv::xen_parse_guest(elf, params, diags);
    if (!guest) {
        refused(guest, diags);
        return 0;
    }
    FUZZ_CHECK(params.virt_kstart <= params.virt_entry && params.virt_entry < params.virt_kend);
    ExtentTarget target(params.virt_kstart, params.virt_kend);
    auto loaded = pv::elf_load(elf, params, target, diags);
    FUZZ_CHECK(loaded.ok());
    return 0;
}
