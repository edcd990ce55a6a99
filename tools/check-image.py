#!/usr/bin/env python3
"""Checks that pvisor.elf is bootable through Multiboot 1's address fields: the loadable
segments must form one linear run of the file (file offset - physical address constant), and
the Multiboot 1 header must lie in the first 8 KiB, the Multiboot 2 header in the first 32 KiB."""
import struct
import sys


def main(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        sys.exit(f"{path}: not an ELF64 file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    deltas = set()
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_filesz:
            deltas.add(p_paddr - p_offset)
    if len(deltas) != 1:
        sys.exit(f"{path}: loadable segments are not one linear run of the file ({sorted(hex(d) for d in deltas)})")
    mb1 = data.find(struct.pack("<I", 0x1BADB002))
    mb2 = data.find(struct.pack("<I", 0xE85250D6))
    if mb1 < 0 or mb1 >= 8192 or mb1 % 4:
        sys.exit(f"{path}: Multiboot 1 header not within the first 8 KiB")
    if mb2 < 0 or mb2 >= 32768 or mb2 % 8:
        sys.exit(f"{path}: Multiboot 2 header not within the first 32 KiB")


if __name__ == "__main__":
    main(sys.argv[1])
