#!/usr/bin/env bash
# Boots a guest test kernel as domain 0 on Debian's Xen 4.17 (the oracle) under QEMU; the serial
# console is this terminal.  When the guest powers off, Xen halts the machine: quit with Ctrl-A X.
#
# Usage: guest/run-on-xen.sh [--build DIR] [--guest ELF] [--mem SIZE] [--xen ELF] [-- XEN-OPTIONS...]
#   --build DIR   the build tree (default: build); the guest and xen-4.17.elf are taken from it
#   --guest ELF   the guest kernel (default: DIR/guest/pvtest.elf)
#   --mem SIZE    dom0_mem, also passed to the guest as expect_mem= (default: 64M)
#   --xen ELF     the uncompressed Xen image (default: DIR/xen-4.17.elf, else /boot's, unpacked)
# Options after -- are appended to Xen's command line, e.g. `-- loglvl=all guest_loglvl=all`.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build guest="" mem=64M xen=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --guest) guest="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --xen) xen="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-on-xen: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
guest="${guest:-$build/guest/pvtest.elf}"
[ -f "$guest" ] || { echo "run-on-xen: $guest not found: build first (make)" >&2; exit 1; }

if [ -z "$xen" ]; then
  xen="$build/xen-4.17.elf"
  if [ ! -f "$xen" ]; then
    gz=/boot/xen-4.17-amd64.gz
    [ -f "$gz" ] || { echo "run-on-xen: $gz not found: run scripts/deps.sh" >&2; exit 1; }
    xen="$(mktemp --suffix=.elf)"
    trap 'rm -f "$xen"' EXIT
    gzip -dc "$gz" > "$xen"
  fi
fi

# Xen's dom0 command line is the module's, less its first word (the file name).
qemu=(qemu-system-x86_64 -accel tcg -cpu max -m 512 -display none -no-reboot -nic none
      -serial mon:stdio
      -kernel "$xen" -append "console=com1 dom0_mem=$mem noreboot $*"
      -initrd "$guest expect_mem=$mem")
"${qemu[@]}"
