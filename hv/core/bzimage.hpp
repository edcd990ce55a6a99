// Kernel image formats a PV domain builder accepts (issue 7): a plain ELF, or a Linux bzImage
// whose payload is the ELF vmlinux, compressed.  Distributions ship bzImages (Debian's vmlinuz is
// one, with an XZ payload); Xen's dom0 builder (xen/arch/x86/bzimage.c) and toolstack
// (tools/libs/guest/xg_dom_bzimageloader.c) accept them, and so does pvisor.
//
// bzImage layout (Linux Documentation/arch/x86/boot.rst): the real-mode setup header at 0x1f1 —
// setup_sects (0 means 4), boot_flag 0xaa55 at 0x1fe, "HdrS" at 0x202 and the protocol version
// at 0x206; from protocol 2.08 on, payload_offset and payload_length (0x248, 0x24c) locate the
// compressed vmlinux relative to the protected-mode code, which starts after the 1 + setup_sects
// 512-byte sectors.  The payload's last 4 bytes are the ELF's size, little-endian: Linux's build
// appends it to an XZ stream (scripts/Makefile.lib size_append), and a gzip member ends with it
// (ISIZE); as Xen does, that is how much memory the caller must provide.  (setup_sects 0 counts
// as 4, as boot.rst says; Xen takes it literally, which only matters for pre-2.08 kernels.)
//
// Like Xen, protocols before 2.08 are refused (no payload fields).  Payload formats are recognised
// by magic; XZ (xz.hpp), gzip (inflate.hpp) and uncompressed ELF are decoded, the other
// compressors Linux offers (bzip2, LZMA, LZO, LZ4, Zstandard) are named and refused.  Everything read is bounds-checked
// against the image; errors are EINVAL plus a Diagnostics error.
#pragma once
#include "core/diagnostics.hpp"
#include "core/xz.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

enum class KernelCompression : u8 { none, xz, gzip, bzip2, lzma, lzo, lz4, zstd };

struct KernelImage {
    // The ELF to parse: the image itself, or a bzImage's uncompressed payload.  Null when the
    // payload is compressed: kernel_decompress produces the ELF.
    const u8* elf = nullptr;
    usize elf_size = 0;
    bool bzimage = false;
    u16 protocol = 0;  // the bzImage boot protocol version, e.g. 0x020f
    KernelCompression compression = KernelCompression::none;
    const u8* payload = nullptr;
    usize payload_size = 0;      // without the trailing size word
    usize decompressed_size = 0; // what kernel_decompress needs and writes
};

// Recognises `data` as an ELF (passed through), a gzip-compressed ELF (a raw gzip member, as
// Xen and libxenguest accept one) or a bzImage; anything else is refused.
Result<KernelImage> kernel_probe(const u8* data, usize size, Diagnostics& diags);

// Decompresses a compressed bzImage payload into `out` (at least decompressed_size bytes) with
// the caller's XZ decoder workspace (unused for gzip); the result must be exactly
// decompressed_size bytes.
Result<void> kernel_decompress(const KernelImage& k, XzDecoder& xz, u8* out, usize out_size, Diagnostics& diags);

}  // namespace pv
