#!/usr/bin/env python3
"""Checks that pvisor.elf is bootable through Multiboot 1's address fields: the loadable
segments must form one linear run of the file (file offset - physical address constant), and
the Multiboot 1 header must lie in the first 8 KiB, the Multiboot 2 header in the first 32 KiB.
With --same-text-as PASS1, also checks every function has the address it had in the first link
pass, so the symbol table made from that pass describes this image."""
import struct
import subprocess
import sys


def text_symbols(path):
    out = subprocess.run(["nm", "-n", "--defined-only", path], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split(" ")[1:2] and line.split(" ")[1] in "tTwW"]


def main(path, pass1=None):
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
    if pass1 and text_symbols(path) != text_symbols(pass1):
        sys.exit(f"{path}: text differs from the first link pass; functions moved between link passes; the symbol table would be wrong")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--same-text-as":
        main(sys.argv[1], sys.argv[3])
    else:
        main(sys.argv[1])
