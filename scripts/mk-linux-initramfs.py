#!/usr/bin/env python3
"""Makes the initramfs that the Linux tests boot (issue 7): Debian's static busybox,
tests/linux/init as /init and the TSC reader (tests/linux/tsc.S, built by CMake) as /bin/tsc, in a
gzip'd cpio "newc" archive written here (no root needed: the device nodes /dev/console and
/dev/null are archive entries, not files on the host).

Usage: mk-linux-initramfs.py DIR --tsc FILE [--init FILE]

DIR caches the busybox-static package (fetched with scripts/fetch-debian-package.sh when
DIR/x/bin/busybox is missing: `apt-get download`, never installed); the archive goes to
DIR/initramfs.cpio.gz, rewritten on every run (it is small, and /init may have changed).
"""
from __future__ import annotations

import argparse
import gzip
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "guest" / "dom0test"))
from mkinitrd import entry  # noqa: E402  (the newc entry writer of the guest initrds)

PACKAGE = "busybox-static"
DIRS = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root"]
# (path, permissions, major, minor): what the kernel needs before /init mounts devtmpfs on /dev.
NODES = [("dev/console", 0o600, 5, 1), ("dev/null", 0o666, 1, 3)]


def archive(busybox: bytes, init: bytes, tsc: bytes) -> bytes:
    """The newc archive: directories, device nodes, /bin/busybox, /bin/sh -> busybox, /bin/tsc
    and /init.  /init's first act is `busybox --install -s`, which links the other applets."""
    items: list[tuple[str, bytes, int, tuple[int, int]]] = []
    items += [(d, b"", stat.S_IFDIR | 0o755, (0, 0)) for d in DIRS]
    items += [(p, b"", stat.S_IFCHR | perm, (major, minor)) for p, perm, major, minor in NODES]
    items += [("bin/busybox", busybox, stat.S_IFREG | 0o755, (0, 0)),
              ("bin/sh", b"busybox", stat.S_IFLNK | 0o777, (0, 0)),
              ("bin/tsc", tsc, stat.S_IFREG | 0o755, (0, 0)),
              ("init", init, stat.S_IFREG | 0o755, (0, 0))]
    out = b"".join(entry(name, data, mode, ino, rdev) for ino, (name, data, mode, rdev) in enumerate(items, 1))
    return out + entry("TRAILER!!!", b"", 0, 0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--tsc", type=Path, required=True, help="the TSC reader (<build>/tests/linux/tsc)")
    ap.add_argument("--init", type=Path, default=ROOT / "tests" / "linux" / "init")
    a = ap.parse_args(argv)
    busybox = a.dir / "x" / "bin" / "busybox"
    if not busybox.is_file():
        subprocess.run([str(ROOT / "scripts" / "fetch-debian-package.sh"), PACKAGE, str(a.dir)], check=True)
    out = a.dir / "initramfs.cpio.gz"
    tmp = out.with_suffix(".tmp")
    # mtime 0: the same inputs give the same bytes.
    tmp.write_bytes(gzip.compress(archive(busybox.read_bytes(), a.init.read_bytes(), a.tsc.read_bytes()), mtime=0))
    tmp.replace(out)
    print(f"mk-linux-initramfs: {out} ({out.stat().st_size} bytes; /init from {a.init})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
