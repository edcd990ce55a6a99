#!/usr/bin/env bash
# Downloads Debian package PKG with `apt-get download` (not installed; needs apt's package lists
# and a Debian mirror; stale lists are refreshed once) and unpacks it into DIR/x, replacing what
# DIR held before.  Callers cache: they run this only when the file they want is missing.
set -euo pipefail
pkg=${1:?usage: fetch-debian-package.sh PKG DIR}
dir=${2:?usage: fetch-debian-package.sh PKG DIR}
mkdir -p "$dir"
cd "$dir"
rm -f ./*.deb
if ! apt-get download "$pkg"; then
  # Lists older than the mirror name versions it no longer has: refresh them once.
  echo "fetch-debian-package: refreshing apt's package lists and trying again" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  apt-get download "$pkg"
fi
rm -rf x
dpkg-deb -x ./*.deb x
