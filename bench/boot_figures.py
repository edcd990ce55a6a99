#!/usr/bin/env python3
"""Boot figures of pvisor: time from the entry point to "Ready" and the hypervisor's memory
footprint, per CPU count, under QEMU TCG with -icount shift=0 (the TSC then counts guest
instructions at 1 GHz, so the figures are repeatable path lengths, not host-dependent times).

Usage: bench/boot_figures.py [--elf build/pvisor.elf] [--mem 512] [--smp 1,2,4] [--csv FILE]
Prints a Markdown table; with --csv also writes the figures as CSV."""
import argparse
import re
import subprocess
import sys

READY = re.compile(r"Ready in ([0-9.]+) ms \(TSC ([0-9]+) MHz\); footprint ([0-9]+) KiB")
DETAIL = re.compile(r"image ([0-9]+) KiB, page tables ([0-9]+) KiB, frame table ([0-9]+) KiB, heap ([0-9]+) KiB")
PHASE = re.compile(r"boot phase (.+?)\s+([0-9]+) us")


def boot(elf, mem, smp):
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-icount", "shift=0", "-cpu", "max", "-m", str(mem),
           "-smp", str(smp), "-display", "none", "-no-reboot", "-nic", "none", "-serial", "stdio",
           "-kernel", elf, "-append", "console=com1 loglvl=debug"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    m = READY.search(out)
    if not m:
        sys.exit(f"no 'Ready' line with -smp {smp}:\n{out}")
    d = DETAIL.search(out)
    return {
        "smp": smp,
        "ready_ms": float(m.group(1)),
        "footprint_kib": int(m.group(3)),
        "image_kib": int(d.group(1)) if d else 0,
        "pagetables_kib": int(d.group(2)) if d else 0,
        "frametable_kib": int(d.group(3)) if d else 0,
        "phases": PHASE.findall(out),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--elf", default="build/pvisor.elf")
    ap.add_argument("--mem", type=int, default=512)
    ap.add_argument("--smp", default="1,2,4")
    ap.add_argument("--csv")
    a = ap.parse_args()
    rows = [boot(a.elf, a.mem, int(n)) for n in a.smp.split(",")]
    print(f"pvisor boot figures, {a.mem} MiB, QEMU TCG -icount shift=0 (1 instruction = 1 ns of guest time)\n")
    print("| CPUs | entry to Ready (ms) | footprint (KiB) | image | page tables | frame table |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['smp']} | {r['ready_ms']:.3f} | {r['footprint_kib']} | {r['image_kib']} | "
              f"{r['pagetables_kib']} | {r['frametable_kib']} |")
    print("\nBoot phases (us), first configuration:\n")
    for name, us in rows[0]["phases"]:
        print(f"- {name.strip()}: {us}")
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("cpus,ready_ms,footprint_kib,image_kib,pagetables_kib,frametable_kib\n")
            for r in rows:
                f.write(f"{r['smp']},{r['ready_ms']},{r['footprint_kib']},{r['image_kib']},"
                        f"{r['pagetables_kib']},{r['frametable_kib']}\n")


if __name__ == "__main__":
    main()
