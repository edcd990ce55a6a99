#!/usr/bin/env python3
"""Makes dom0.elf's initrd: a cpio "newc" archive (Linux initramfs format) with the domU kernels
and the `manifest` dom0 reads (guest/dom0/main.cpp):

    domain <name> <kernel file> <memory> <ramdisk file or -> <command line...>
    device <type> <frontend domain> <backend domain>

This one holds issue 5's ring pairs: PAIRS (default 1) servers and clients (ringpair.elf), each
pair joined by a `ring` device, exchanging ROUNDS requests.  One pair is named server and client;
more are server1, client1, server2, ...

Usage: mkinitrd.py RINGPAIR_ELF OUTPUT [PAIRS]

With --store it makes the store of the user's domain 0 instead (dom0.elf without mode=batch):
the given kernels under their own names, the files of each --dir NAME=DIR under NAME/, and a
`manifest` with one "autostart <config>" line per --autostart (none by default):

Usage: mkinitrd.py --store OUTPUT KERNEL... [--dir NAME=DIR]... [--autostart CONFIG]...
                   [--gzip KERNEL]...

--gzip also packs a gzip-compressed copy of KERNEL as <name>.gz (a compressed kernel for xl).
"""
from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dom0test"))
from mkinitrd import entry  # noqa: E402  (the newc entry writer dom0test's initrd uses)

ROUNDS = 256


def manifest(pairs: int) -> bytes:
    names = [("server", "client")] if pairs == 1 else [(f"server{i}", f"client{i}") for i in range(1, pairs + 1)]
    lines = ["# domain <name> <kernel> <memory> <ramdisk> <command line>"]
    for server, client in names:
        lines.append(f"domain {server} ringpair.elf 8M - role=server rounds={ROUNDS}")
        lines.append(f"domain {client} ringpair.elf 8M - role=client rounds={ROUNDS}")
    lines.append("# device <type> <frontend> <backend>")
    lines += [f"device ring {server} {client}" for server, client in names]
    return ("\n".join(lines) + "\n").encode()


def pack(files: list[tuple[str, bytes]]) -> bytes:
    archive = b"".join(entry(n, d, 0o100644, i + 1) for i, (n, d) in enumerate(files))
    return archive + entry("TRAILER!!!", b"", 0, 0)


def store(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mkinitrd.py --store")
    parser.add_argument("output", type=Path)
    parser.add_argument("kernels", type=Path, nargs="+")
    parser.add_argument("--dir", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--autostart", action="append", default=[], metavar="CONFIG")
    parser.add_argument("--gzip", action="append", default=[], type=Path, metavar="KERNEL")
    args = parser.parse_args(argv)
    lines = ["# autostart <xl.cfg>: created at boot, as `xl create <xl.cfg>`"]
    lines += [f"autostart {cfg}" for cfg in args.autostart]
    files = [("manifest", ("\n".join(lines) + "\n").encode())]
    files += [(k.name, k.read_bytes()) for k in args.kernels]
    files += [(k.name + ".gz", gzip.compress(k.read_bytes(), mtime=0)) for k in args.gzip]
    for spec in args.dir:
        name, _, folder = spec.partition("=")
        files += [(f"{name}/{f.name}", f.read_bytes()) for f in sorted(Path(folder).iterdir()) if f.is_file()]
    args.output.write_bytes(pack(files))
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--store":
        return store(argv[1:])
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    ringpair, out = Path(argv[0]), Path(argv[1])
    pairs = int(argv[2]) if len(argv) == 3 else 1
    files = [("manifest", manifest(pairs)), ("ringpair.elf", ringpair.read_bytes())]
    out.write_bytes(pack(files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
