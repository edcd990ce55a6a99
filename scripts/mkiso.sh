#!/usr/bin/env bash
# Usage: scripts/mkiso.sh ELF ISO
# Builds a GRUB rescue ISO (BIOS boot) whose grub.cfg loads ELF with Multiboot2, console on COM1.
# Needs grub-mkrescue (grub-common), the BIOS GRUB modules (grub-pc-bin), xorriso and mtools:
# scripts/deps.sh installs them.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 ELF ISO" >&2
  exit 2
fi
elf=$1
iso=$2
cmdline="console=com1 loglvl=info"

[ -f "$elf" ] || { echo "mkiso: $elf: no such file" >&2; exit 1; }
for tool in grub-mkrescue xorriso mformat; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "mkiso: $tool not found: install grub-common, grub-pc-bin, xorriso and mtools (scripts/deps.sh)" >&2
    exit 1
  }
done
[ -d /usr/lib/grub/i386-pc ] || {
  echo "mkiso: /usr/lib/grub/i386-pc missing: install grub-pc-bin (scripts/deps.sh)" >&2
  exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvisor-iso.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/boot/grub"
cp "$elf" "$tmp/root/boot/pvisor.elf"
cat >"$tmp/root/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
set default=0

menuentry "pvisor" {
    multiboot2 /boot/pvisor.elf $cmdline
    boot
}
EOF

mkdir -p "$(dirname "$iso")"
# Only the BIOS platform: an EFI GRUB would need grub-efi-amd64-bin and is not what we test.
if ! grub-mkrescue -d /usr/lib/grub/i386-pc -o "$tmp/out.iso" "$tmp/root" >"$tmp/log" 2>&1; then
  cat "$tmp/log" >&2
  echo "mkiso: grub-mkrescue failed" >&2
  exit 1
fi
mv "$tmp/out.iso" "$iso"
echo "mkiso: $iso ($(du -k "$iso" | cut -f1) KiB)"
