#!/usr/bin/env python3
"""Makes dom0test's initrd: a cpio "newc" archive (Linux initramfs format) with the domU kernel,
a ramdisk for one of the domUs, and the `manifest` dom0test reads, one domU a line:

    <name> <kernel file> <memory> <expected shutdown> <ramdisk file or -> <domU command line...>

Usage: mkinitrd.py DOMU_ELF OUTPUT [NAME=FILE...]

Each NAME=FILE adds FILE to the archive as NAME (the attack and fuzz modes' kernels).
"""
from __future__ import annotations

import sys
from pathlib import Path

RAMDISK_MAGIC = b"pvisor-domu-ramdisk\n"  # guest/domutest/main.cpp checks it
RAMDISK_SIZE = 5000                       # not a page multiple: libxenguest's mod_len rounds up


def ramdisk() -> bytes:
    body = bytes(i & 0xFF for i in range(len(RAMDISK_MAGIC), RAMDISK_SIZE))
    return RAMDISK_MAGIC + body


def manifest() -> bytes:
    lines = [
        "# name      kernel     memory expect    ramdisk      command line",
        "poweroff    domu.elf   8M     poweroff  -            shutdown=poweroff expect_mem=8M",
        "crash       domu.elf   8M     crash     -            shutdown=crash expect_mem=8M",
        f"reboot      domu.elf   12M    reboot    ramdisk.bin  shutdown=reboot expect_mem=12M ramdisk={RAMDISK_SIZE}",
    ]
    return ("\n".join(lines) + "\n").encode()


def entry(name: str, data: bytes, mode: int, ino: int, rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One newc entry: the 110-byte header, the name (NUL-terminated) and data, each padded to 4.
    rdev is a device node's (major, minor)."""
    namez = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(namez), 0]
    head = b"070701" + b"".join(b"%08x" % f for f in fields) + namez
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any("=" not in a for a in argv[2:]):
        print(__doc__, file=sys.stderr)
        return 2
    domu, out = Path(argv[0]), Path(argv[1])
    files = [("manifest", manifest()), ("domu.elf", domu.read_bytes()), ("ramdisk.bin", ramdisk())]
    files += [(name, Path(path).read_bytes()) for name, path in (a.split("=", 1) for a in argv[2:])]
    archive = b"".join(entry(n, d, 0o100644, i + 1) for i, (n, d) in enumerate(files))
    archive += entry("TRAILER!!!", b"", 0, 0)
    out.write_bytes(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
