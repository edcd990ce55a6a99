#include "core/bzimage.hpp"

#include "core/elf.hpp"
#include "core/inflate.hpp"
#include "lib/string.hpp"

namespace pv {

namespace {

Err invalid() { return error(XEN_EINVAL); }

u32 le(const u8* p, usize n) {
    u32 v = 0;
    for (usize i = 0; i < n; ++i) v |= u32{p[i]} << (8 * i);
    return v;
}

// Setup header fields (boot.rst, "The Real-Mode Kernel Header").
constexpr usize SETUP_SECTS = 0x1f1, BOOT_FLAG = 0x1fe, HEADER = 0x202, VERSION = 0x206;
constexpr usize PAYLOAD_OFFSET = 0x248, PAYLOAD_LENGTH = 0x24c, SETUP_END = 0x250;
constexpr u16 MIN_PROTOCOL = 0x0208;  // the first with payload_offset/length
constexpr usize SECTOR = 512;

struct Magic {
    KernelCompression kind;
    const char* name;
    u8 len;
    u8 bytes[6];
};
// Linux's payload compressors, by the magic their streams start with.
constexpr Magic MAGICS[] = {
    {KernelCompression::xz, "xz", 6, {0xfd, '7', 'z', 'X', 'Z', 0x00}},
    {KernelCompression::gzip, "gzip", 2, {0x1f, 0x8b}},
    {KernelCompression::bzip2, "bzip2", 3, {'B', 'Z', 'h'}},
    {KernelCompression::lzma, "lzma", 3, {0x5d, 0x00, 0x00}},
    {KernelCompression::lzo, "lzo", 4, {0x89, 'L', 'Z', 'O'}},
    {KernelCompression::lz4, "lz4", 4, {0x02, 0x21, 0x4c, 0x18}},
    {KernelCompression::zstd, "zstd", 4, {0x28, 0xb5, 0x2f, 0xfd}},
};

bool starts_with(const u8* p, usize size, const u8* magic, usize len) {
    return size >= len && mem_compare(p, magic, len) == 0;
}

}  // namespace

Result<KernelImage> kernel_probe(const u8* data, usize size, Diagnostics& diags) {
    KernelImage k;
    if (starts_with(data, size, elf64::ELFMAG, sizeof elf64::ELFMAG)) {
        k.elf = data;
        k.elf_size = size;
        return k;
    }
    // A gzip-compressed ELF, as Xen's dom0 builder (bzimage_headroom) and libxenguest
    // (xc_dom_try_gunzip) take it: the size is the member's trailer (ISIZE).
    static constexpr u8 GZIP_MAGIC[] = {0x1f, 0x8b};
    if (starts_with(data, size, GZIP_MAGIC, sizeof GZIP_MAGIC)) {
        if (size < 6 || (k.decompressed_size = le(data + size - 4, 4)) == 0) {
            diags.error("gzip image: too short, or it declares an uncompressed size of zero");
            return invalid();
        }
        k.compression = KernelCompression::gzip;
        k.payload = data;
        k.payload_size = size;
        return k;
    }
    if (size < SETUP_END || le(data + BOOT_FLAG, 2) != 0xaa55 || mem_compare(data + HEADER, "HdrS", 4) != 0) {
        diags.error("neither an ELF nor a bzImage nor a gzip-compressed ELF (no ELF or gzip magic, no boot sector with \"HdrS\")");
        return invalid();
    }
    k.bzimage = true;
    k.protocol = static_cast<u16>(le(data + VERSION, 2));
    if (k.protocol < MIN_PROTOCOL) {
        diags.error("bzImage: boot protocol %u.%02u, at least 2.08 is needed", k.protocol >> 8, k.protocol & 0xff);
        return invalid();
    }
    const usize sects = data[SETUP_SECTS] ? data[SETUP_SECTS] : 4;
    const u64 start = u64{sects + 1} * SECTOR + le(data + PAYLOAD_OFFSET, 4);
    const u64 len = le(data + PAYLOAD_LENGTH, 4);
    if (start > size || len > size - start) {
        diags.error("bzImage: payload [0x%llx, +0x%llx) lies outside the %zu-byte image",
                    static_cast<unsigned long long>(start), static_cast<unsigned long long>(len), size);
        return invalid();
    }
    const u8* payload = data + start;
    if (starts_with(payload, len, elf64::ELFMAG, sizeof elf64::ELFMAG)) {
        k.elf = payload;
        k.elf_size = len;
        return k;
    }
    for (const Magic& m : MAGICS) {
        if (!starts_with(payload, len, m.bytes, m.len)) continue;
        if (m.kind != KernelCompression::xz && m.kind != KernelCompression::gzip) {
            diags.error("bzImage: %s-compressed payload not supported (xz, gzip and uncompressed are)", m.name);
            return invalid();
        }
        if (len < u64{4} + m.len) break;
        k.compression = m.kind;
        k.payload = payload;
        // gzip's own trailer ends with the size; Linux appends it to an XZ stream.
        k.payload_size = m.kind == KernelCompression::gzip ? len : len - 4;
        k.decompressed_size = le(payload + len - 4, 4);
        if (k.decompressed_size == 0) {
            diags.error("bzImage: payload declares an uncompressed size of zero");
            return invalid();
        }
        return k;
    }
    diags.error("bzImage: payload format not recognised (neither ELF nor a known compressor's magic)");
    return invalid();
}

Result<void> kernel_decompress(const KernelImage& k, XzDecoder& xz, u8* out, usize out_size, Diagnostics& diags) {
    if (k.compression != KernelCompression::xz && k.compression != KernelCompression::gzip) {
        diags.error("no compressed payload to decompress");
        return invalid();
    }
    if (out_size < k.decompressed_size) {
        diags.error("bzImage: payload needs %zu bytes, the buffer has %zu", k.decompressed_size, out_size);
        return error(XEN_ENOMEM);
    }
    Result<usize> n = k.compression == KernelCompression::xz
                          ? xz.decode(k.payload, k.payload_size, out, k.decompressed_size, diags)
                          : gunzip(k.payload, k.payload_size, out, k.decompressed_size, diags);
    if (!n) return invalid();
    if (*n != k.decompressed_size) {
        diags.error("bzImage: payload decompressed to %zu bytes, its trailer says %zu", *n, k.decompressed_size);
        return invalid();
    }
    return ok();
}

}  // namespace pv
