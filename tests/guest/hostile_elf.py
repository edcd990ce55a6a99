#!/usr/bin/env python3
"""Makes hostile variants of a PV kernel ELF for the dom0 builder's refusal tests.

Usage: hostile_elf.py KIND IN.elf OUT.elf [-- COMMAND ARGS...]
With a command after `--`, runs it (e.g. boottest.py booting OUT.elf) once OUT.elf is written.
KIND:
  truncated        the file cut inside its program header table
  hv-range         VIRT_BASE moved so the kernel lands in the hypervisor's range
  overlap          the second PT_LOAD moved onto the first
  huge-memsz       a PT_LOAD whose memory size runs far past any memory
  p2m-overlap      the INIT_P2M note (p2mtest.elf) moved to the bootstrap region's end (4 MiB
                   above VIRT_BASE), which Xen's inclusive overlap test refuses
"""
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
XEN_ELFNOTE_VIRT_BASE = 3
XEN_ELFNOTE_INIT_P2M = 15


def set_note(data, ph, ntype, value):
    """Sets every 8-byte Xen note of type ntype in the PT_NOTE segments to value."""
    for _, typ, _, off, _, _, filesz, _, _ in ph:
        if typ != PT_NOTE:
            continue
        pos = off
        while pos < off + filesz:
            namesz, descsz, t = struct.unpack_from("<III", data, pos)
            desc = pos + 12 + ((namesz + 3) & ~3)
            if t == ntype and descsz == 8:
                struct.pack_into("<Q", data, desc, value)
            pos = desc + ((descsz + 3) & ~3)


def phdrs(data):
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [(phoff + i * phentsize,) + struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]


def main(kind, src, dst):
    data = bytearray(open(src, "rb").read())
    ph = phdrs(data)
    loads = [p for p in ph if p[1] == PT_LOAD]
    if kind == "truncated":
        data = data[: struct.unpack_from("<Q", data, 0x20)[0] + 20]
    elif kind == "hv-range":
        set_note(data, ph, XEN_ELFNOTE_VIRT_BASE, 0xffff800000000000)
    elif kind == "p2m-overlap":
        set_note(data, ph, XEN_ELFNOTE_INIT_P2M, 0xffffffff80000000 + (4 << 20))
    elif kind == "overlap":
        first, second = loads[0], loads[1]
        # p_vaddr and p_paddr of the second segment := the first's.
        struct.pack_into("<QQ", data, second[0] + 16, first[4], first[5])
    elif kind == "huge-memsz":
        last = loads[-1]
        struct.pack_into("<Q", data, last[0] + 40, 1 << 40)
    else:
        sys.exit(f"unknown kind {kind}")
    open(dst, "wb").write(data)


if __name__ == "__main__":
    main(*sys.argv[1:4])
    if len(sys.argv) > 5 and sys.argv[4] == "--":
        import os
        os.execvp(sys.argv[5], sys.argv[5:])
