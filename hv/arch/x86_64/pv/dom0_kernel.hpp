// The dom0 kernel module as the ELF the dom0 builder parses (issue 7): the module itself when it
// is an ELF, or the payload of a bzImage (Debian's vmlinuz), decompressed into frames from the
// frame allocator.  Xen does the same in its dom0 builder (bzimage_parse, into headroom it kept
// after the module); those frames go back when the module images are discarded after the build,
// so dom0 does not get them either.  Here the caller unpacks before it sizes dom0's memory and
// releases right after build_dom0, which copied the segments.
#pragma once
#include "lib/types.hpp"

namespace pv::arch::pv {

class Dom0Kernel {
public:
    // Recognises and, for a compressed bzImage, decompresses the module; false (reported on the
    // console) when it is not a kernel pvisor can load or memory is short.
    bool unpack(const u8* module, usize len);
    const u8* elf() const { return elf_; }
    usize size() const { return size_; }
    // Gives the decompression frames back (nothing when the module was used in place).
    void release();

private:
    const u8* elf_ = nullptr;
    usize size_ = 0;
    void* frames_ = nullptr;
    unsigned order_ = 0;
};

}  // namespace pv::arch::pv
