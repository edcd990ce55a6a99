#!/usr/bin/env bash
# Boots pvisor in QEMU (TCG) with its default configuration; the serial console is this terminal.
#
#   scripts/run-qemu.sh [--iso] [--smp N] [--mem MiB] [-- EXTRA_CMDLINE_OPTIONS...]
#
#   --iso       boot build/pvisor.iso through GRUB (Multiboot2) instead of build/pvisor.elf
#               (Multiboot1, QEMU -kernel).  The ISO's command line is fixed in its grub.cfg
#               (scripts/mkiso.sh), so extra options apply to the ELF boot only.
#   -- ...      words appended to the hypervisor command line, e.g. `-- noreboot loglvl=debug`.
#
# Environment: BUILD (build directory, default build), QEMU (default qemu-system-x86_64),
# QEMU_EXTRA (more QEMU arguments, word-split).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
QEMU=${QEMU:-qemu-system-x86_64}
DEFAULT_CMDLINE="console=com1 loglvl=info dom0_mem=64M"

# Boot modules of the default configuration, one "file args" entry each: the first is domain 0's
# kernel, the next its initrd (as with Xen).  The default domain 0 is dom0.elf, pvisor's own
# (guest/dom0): xenstored, the console backend and the xl toolstack, with its store (the example
# guests and their xl.cfg files) as initrd; the serial console lands at its prompt.  Entries
# whose file is missing are skipped (then pvisor says it has no domain 0 and powers off).
DEFAULT_MODULES=(
  "$BUILD/guest/dom0.elf"
  "$BUILD/guest/dom0-store.cpio"
)

use_iso=0
smp=2
mem=512
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --iso) use_iso=1 ;;
    --smp) smp=$2; shift ;;
    --mem) mem=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) extra+=("$1") ;;
  esac
  shift
done

command -v "$QEMU" >/dev/null || { echo "run-qemu: $QEMU not found (make deps installs it)" >&2; exit 1; }

args=(-accel tcg -cpu max -m "$mem" -smp "$smp" -nographic -no-reboot -nic none)
if [ "$use_iso" = 1 ]; then
  image=$BUILD/pvisor.iso
  [ -f "$image" ] || { echo "run-qemu: $image missing: run 'make iso'" >&2; exit 1; }
  [ ${#extra[@]} -eq 0 ] || echo "run-qemu: note: extra options are ignored with --iso (see grub.cfg)" >&2
  args+=(-cdrom "$image" -boot d)
  shown_cmdline="$DEFAULT_CMDLINE (from the ISO's grub.cfg)"
else
  image=$BUILD/pvisor.elf
  [ -f "$image" ] || { echo "run-qemu: $image missing: run 'make'" >&2; exit 1; }
  cmdline="$DEFAULT_CMDLINE${extra[*]:+ ${extra[*]}}"
  args+=(-kernel "$image" -append "$cmdline")
  shown_cmdline=$cmdline
  mods=()
  for m in "${DEFAULT_MODULES[@]}"; do
    [ -f "${m%% *}" ] || { echo "run-qemu: ${m%% *} missing: run 'make'" >&2; exit 1; }
    mods+=("${m//,/,,}")  # QEMU separates modules with ',' (',,' escapes one)
  done
  if [ ${#mods[@]} -gt 0 ]; then
    args+=(-initrd "$(IFS=,; echo "${mods[*]}")")
  fi
fi
# shellcheck disable=SC2206
args+=(${QEMU_EXTRA:-})

echo "run-qemu: booting $image (TCG, $smp CPUs, $mem MiB); command line: $shown_cmdline"
echo "run-qemu: quit with Ctrl-A X (Ctrl-A C toggles the QEMU monitor)"
exec "$QEMU" "${args[@]}"
