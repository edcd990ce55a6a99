#!/usr/bin/env python3
"""Writes the XZ and gzip decoders' test vectors (tests/unit/xz_test.cpp, inflate_test.cpp) into
a directory, made with Python's lzma and zlib modules (liblzma, zlib) so that the decoders are
checked against the reference encoders.

Each vector is NAME.xz with its expected output NAME.bin.  The multi-block vectors are assembled
here from raw LZMA2 blocks (liblzma's one-shot API writes a single block), which also checks the
container code against an independent writer of the .xz format (spec 1.1.0).
"""
import gzip
import lzma
import random
import struct
import sys
import zlib
from pathlib import Path


def x86_like(size, seed):
    """Bytes resembling code: calls and jumps (E8/E9 + displacement) among text and noise, so
    that the x86 BCJ filter converts many displacements."""
    rnd = random.Random(seed)
    out = bytearray()
    words = [b"mov ", b"push rbp", b"xen_start_info", b"hypercall_page", b"\x00\x00\x00\x00"]
    while len(out) < size:
        r = rnd.random()
        if r < 0.3:
            out += bytes([rnd.choice((0xE8, 0xE9))]) + struct.pack("<i", rnd.randint(-(1 << 20), 1 << 20))
        elif r < 0.6:
            out += rnd.choice(words)
        elif r < 0.7:
            out += bytes([0xE8, 0xFF, 0xE8, 0x00, 0xE9, 0xFF])
        else:
            out += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
    return bytes(out[:size])


def vli(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pad4(b):
    return b + bytes(-len(b) % 4)


def dict_byte(size):
    for b in range(41):
        if (2 | (b & 1)) << (b // 2 + 11) >= size:
            return b
    raise ValueError(size)


def multi_block(chunks, dict_size, x86):
    """An .xz stream (CRC32 check) with one block per element of `chunks`."""
    flags = b"\x00\x01"
    out = bytearray(b"\xfd7zXZ\x00" + flags + struct.pack("<I", zlib.crc32(flags)))
    records = []
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": dict_size}]
    if x86:
        filters.insert(0, {"id": lzma.FILTER_X86})
    for i, data in enumerate(chunks):
        comp = lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)
        fl = b"\x21\x01" + bytes([dict_byte(dict_size)])
        if x86:
            fl = b"\x04\x00" + fl
        # Odd blocks carry both sizes in their header, even ones none.
        sizes = vli(len(comp)) + vli(len(data)) if i % 2 else b""
        bflags = (len(filters) - 1) | (0xC0 if i % 2 else 0)
        body = bytes([bflags]) + sizes + fl
        hsize = (len(body) + 1 + 4 + 3) // 4 * 4
        hdr = bytes([hsize // 4 - 1]) + body
        hdr += bytes(hsize - 4 - len(hdr))
        hdr += struct.pack("<I", zlib.crc32(hdr))
        out += hdr + pad4(comp) + struct.pack("<I", zlib.crc32(data))
        records.append((len(hdr) + len(comp) + 4, len(data)))
    index = bytearray(b"\x00" + vli(len(records)))
    for unpadded, unc in records:
        index += vli(unpadded) + vli(unc)
    index = pad4(bytes(index))
    index += struct.pack("<I", zlib.crc32(index))
    out += index
    tail = struct.pack("<I", len(index) // 4 - 1) + flags
    out += struct.pack("<I", zlib.crc32(tail)) + tail + b"YZ"
    return bytes(out)


def bzimage(payload, size):
    """A minimal bzImage (boot protocol 2.15) around a compressed payload, as Linux lays one out:
    boot sector with the setup header, setup sectors, then the payload and its size appended."""
    sects, payload_offset = 3, 0x100
    img = bytearray(b"MZ" + bytes((sects + 1) * 512 + payload_offset - 2))
    img[0x1F1] = sects
    struct.pack_into("<H", img, 0x1FE, 0xAA55)
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, 0x020F)
    struct.pack_into("<II", img, 0x248, payload_offset, len(payload) + 4)
    return bytes(img) + payload + struct.pack("<I", size)


def main(outdir):
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)

    def write(name, xz, data):
        (d / f"{name}.xz").write_bytes(xz)
        (d / f"{name}.bin").write_bytes(data)

    code = x86_like(300_000, 1)
    noise = random.Random(2).randbytes(70_000)  # incompressible: uncompressed LZMA2 chunks
    mixed = code[:100_000] + noise + code[100_000:]
    for dict_size, tag in ((4096, "4k"), (1 << 20, "1m"), (32 << 20, "32m")):
        filters = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "dict_size": dict_size}]
        write(f"x86_{tag}", lzma.compress(mixed, check=lzma.CHECK_CRC32, filters=filters), mixed)
    for check, tag in ((lzma.CHECK_NONE, "none"), (lzma.CHECK_CRC32, "crc32"), (lzma.CHECK_CRC64, "crc64")):
        write(f"check_{tag}", lzma.compress(code[:50_000], check=check), code[:50_000])
    # Literal and position context extremes: lc + lp = 4 with pb = 4, and lc = lp = pb = 0.
    for lc, lp, pb, tag in ((0, 4, 4, "lp4"), (4, 0, 0, "lc4"), (0, 0, 0, "lc0")):
        f = [{"id": lzma.FILTER_LZMA2, "lc": lc, "lp": lp, "pb": pb, "dict_size": 1 << 16}]
        write(f"props_{tag}", lzma.compress(code[:80_000], filters=f), code[:80_000])
    write("sha256", lzma.compress(b"abc", check=lzma.CHECK_SHA256), b"abc")
    write("delta", lzma.compress(code[:1000], filters=[{"id": lzma.FILTER_DELTA}, {"id": lzma.FILTER_LZMA2}]),
          code[:1000])
    write("arm", lzma.compress(code[:1000], filters=[{"id": lzma.FILTER_ARM}, {"id": lzma.FILTER_LZMA2}]),
          code[:1000])
    write("empty", lzma.compress(b""), b"")
    # Two streams with stream padding between and after them.
    a, b = code[:3000], code[3000:9000]
    write("two_streams", lzma.compress(a) + bytes(8) + lzma.compress(b, check=lzma.CHECK_CRC64) + bytes(4), a + b)
    parts = [code[:40_000], noise[:20_000], code[40_000:41_000], b"", code[41_000:100_000]]
    write("multi_block", multi_block(parts, 1 << 16, False), b"".join(parts))
    write("multi_block_x86", multi_block(parts, 1 << 16, True), b"".join(parts))
    # The fuzzing seed and the corruption tests' base: small, with every structure present.
    write("small", lzma.compress(code[:2000], check=lzma.CHECK_CRC32,
                                 filters=[{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "dict_size": 4096}]),
          code[:2000])
    # The bzImage fuzzing seed.
    (d / "small.bzImage").write_bytes(bzimage((d / "small.xz").read_bytes(), 2000))
    gzip_vectors(d, code, noise, mixed)


def gzip_member(raw, data, flags=0, header_extra=b""):
    """A gzip member (RFC 1952) around raw DEFLATE data, with the given header flags."""
    hdr = bytes([0x1F, 0x8B, 8, flags]) + bytes(4) + b"\x00\x03" + header_extra
    if flags & 0x02:
        hdr += struct.pack("<H", zlib.crc32(hdr) & 0xFFFF)
    return hdr + raw + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def deflate_raw(data, level=9, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    return c.compress(data) + c.flush()


def gzip_vectors(d, code, noise, mixed):
    """The gzip decoder's vectors (tests/unit/inflate_test.cpp), made by zlib: NAME.gz and
    NAME.bin; the three block types, every header field, and an empty member."""
    def write(name, gz, data):
        (d / f"{name}.gz").write_bytes(gz)
        (d / f"{name}.bin").write_bytes(data)

    write("gz_dynamic", gzip.compress(mixed, 9, mtime=0), mixed)
    write("gz_stored", gzip.compress(code[:70_000], 0, mtime=0), code[:70_000])
    write("gz_fixed", gzip_member(deflate_raw(code[:50_000], strategy=zlib.Z_FIXED), code[:50_000]), code[:50_000])
    write("gz_rle", gzip_member(deflate_raw(code[:50_000], strategy=zlib.Z_RLE), code[:50_000]), code[:50_000])
    extra = struct.pack("<H", 6) + b"AB\x02\x00xy" + b"vmlinux\x00" + b"a comment\x00"
    write("gz_headers", gzip_member(deflate_raw(noise[:5000]), noise[:5000], 0x1E, extra), noise[:5000])
    write("gz_empty", gzip.compress(b"", mtime=0), b"")
    write("small", gzip.compress(code[:2000], 9, mtime=0), code[:2000])


if __name__ == "__main__":
    main(sys.argv[1])
