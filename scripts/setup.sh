#!/usr/bin/env bash
# setup.sh - install the Debian packages popek needs to build and test
# (idempotent; uses sudo when not root).  Fetching Debian's Linux kernel and
# busybox for the Linux tests is done separately by scripts/fetch-linux.sh.
set -euo pipefail
PKGS=(build-essential gcc-multilib nasm pkg-config libzydis-dev libunicorn-dev
      zlib1g-dev qemu-system-x86 gnuplot-nox cpio clang-14 libclang-rt-14-dev
      memtest86+ gdb libslirp-dev e2fsprogs python3 acpica-tools)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# Debian's i686 kernel and static busybox for the Linux tests (apt-get
# download into cache/linux, never committed), and the test initramfs.
cd "$(dirname "$0")/.."
scripts/fetch-linux.sh
scripts/mkinitramfs.sh cache/linux cache/linux/initramfs.gz
