#!/usr/bin/env bash
# Fetches Debian's stock kernel (the linux-image-*-amd64 that linux-image-amd64 depends on) into
# DIR, cached: DIR/vmlinuz is the bzImage.  Used by the debian-kernel-fetch test fixture (issue 7);
# needs apt's package lists (apt-get update) and network access to a Debian mirror.
set -euo pipefail
dir=${1:?usage: fetch-debian-kernel.sh DIR}
[ -s "$dir/vmlinuz" ] && exit 0
pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
[ -n "$pkg" ] || { echo "fetch-debian-kernel: linux-image-amd64's kernel package not found (apt-get update?)" >&2; exit 1; }
"$(dirname "$0")/fetch-debian-package.sh" "$pkg" "$dir"
cd "$dir"
ln -sf "$(ls x/boot/vmlinuz-*)" vmlinuz.tmp
mv -f vmlinuz.tmp vmlinuz
echo "fetch-debian-kernel: $pkg -> $dir/vmlinuz"
