#!/usr/bin/env bash
# Installs the Debian packages pvisor needs to build, boot and test, if any is missing.
set -euo pipefail
# xen-hypervisor-4.17-amd64: Debian's Xen 4.17, the oracle the guest tests run on (tests/guest).
# python3-matplotlib: the benchmark suite's chart (bench/run.py).
# clang, libclang-rt-14-dev: libFuzzer for the host-side fuzz targets (tests/fuzz).
# (The debian-vmlinuz test fetches Debian's kernel package with apt-get download and dpkg-deb,
# both essential; its XZ test vectors come from python3's lzma module.  The Linux tests fetch
# busybox-static the same way, tests/linux.)
pkgs=(build-essential cmake ninja-build python3 libgtest-dev libxen-dev
      qemu-system-x86 grub-pc-bin grub-common xorriso mtools xen-hypervisor-4.17-amd64
      python3-matplotlib clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
