#!/usr/bin/env bash
# mkinitramfs.sh [--virtio] CACHE_DIR OUT - build popek's Linux test initramfs: a
# gzip'd cpio newc archive with the static i386 busybox from CACHE_DIR (see
# scripts/fetch-linux.sh), links to the applets /init uses, and /init from
# tests/linux/init.  The tree is archived with Debian's cpio; /dev/console is
# appended as a second cpio archive written here (no root needed for mknod;
# the kernel unpacks concatenated archives).
#
# With --virtio: the initramfs of the virtio test instead, /init from
# tests/linux/init-virtio, plus the kernel's virtio and ext4 modules from
# CACHE_DIR/modules-686 (scripts/fetch-linux.sh) in /lib/modules with
# their load order, and the busybox applets that test uses (network, HTTP).
#
# With --rootfs: the virtio modules as with --virtio, but /init from
# tests/linux/init-rootfs, which mounts the root disk (root=/dev/vda) and
# switch_roots into it (the Debian image of scripts/mkrootfs.sh).
#
# Kernel command line to use with it (popek --append, or QEMU -append); the
# same line is in tests/linux/cmdline for test scripts to read:
#   console=ttyS0 reboot=k panic=-1 nokaslr
# console=ttyS0: all output on COM1, popek's console;
# reboot=k: `reboot -f` resets through the i8042 (popek then exits 0);
# panic=-1: a panic reboots at once instead of hanging the test;
# nokaslr: the kernel runs where it is loaded (no random relocation, and no
# KASLR warnings about the small memory map).
# Nothing else is needed: popek's PC has the ACPI and MP tables, the local
# APIC and I/O APIC, the HPET and the ACPI PM timer that Linux looks for
# (before them the line needed acpi=off nolapic noapic).  With
# popek.exit=poweroff /init ends with `poweroff -f` (ACPI S5) instead of
# `reboot -f` (tests/run_linux_platform.sh).
# Example:
#   scripts/fetch-linux.sh && scripts/mkinitramfs.sh cache/linux cache/linux/initramfs.gz
#   build/popek run -e kvm -k cache/linux/vmlinuz-686 -i cache/linux/initramfs.gz \
#     -a "$(cat tests/linux/cmdline)" --timeout 600
set -euo pipefail

die() { echo "mkinitramfs: $*" >&2; exit 1; }

virtio=0
rootfs=0
if [ "${1:-}" = --virtio ]; then
    virtio=1
    shift
elif [ "${1:-}" = --rootfs ]; then
    virtio=1
    rootfs=1
    shift
fi
[ $# = 2 ] || die "usage: mkinitramfs.sh [--virtio|--rootfs] CACHE_DIR OUT"
cache=$1
out=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
init="$repo/tests/linux/init"
if [ $virtio = 1 ]; then
    init="$repo/tests/linux/init-virtio"
    [ $rootfs = 0 ] || init="$repo/tests/linux/init-rootfs"
    [ -s "$cache/modules-686/load-order" ] ||
        die "$cache/modules-686 is missing (run scripts/fetch-linux.sh first)"
fi
[ -f "$cache/busybox" ] || die "$cache/busybox is missing (run scripts/fetch-linux.sh first)"
[ -f "$init" ] || die "$init is missing"
if ! command -v cpio >/dev/null; then
    echo "mkinitramfs: installing cpio" >&2
    apt-get install -y -qq cpio >/dev/null || die "cpio is missing and 'apt-get install cpio' failed"
fi
command -v gzip >/dev/null || die "gzip is missing"

work=$(mktemp -d "${TMPDIR:-/tmp}/popek-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root}
cp "$cache/busybox" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
for applet in sh ls wc cat echo mount umount mkdir reboot poweroff true false \
              uname grep sed sleep seq test ps dmesg; do
    ln -s busybox "$root/bin/$applet"
done
ln -s bin/busybox "$root/linuxrc"
if [ $virtio = 1 ]; then
    for applet in insmod ifconfig route udhcpc wget httpd nc sync hexdump \
                  sha256sum tr cut head tail dd ip switch_root; do
        ln -sf busybox "$root/bin/$applet"
    done
    mkdir -p "$root/lib/modules" "$root/mnt" "$root/www"
    cp "$cache"/modules-686/*.ko "$cache/modules-686/load-order" "$root/lib/modules/"
fi
cp "$init" "$root/init"
chmod 755 "$root/init"
# The paper's forkwait benchmark, as a static i386 program (gcc-multilib).
gcc -m32 -static -O2 -o "$root/bin/forkwait" "$repo/tests/linux/forkwait.c" ||
    die "cannot build tests/linux/forkwait.c (needs gcc-multilib)"
gcc -m32 -static -O2 -o "$root/bin/userprog" "$repo/tests/linux/userprog.c" ||
    die "cannot build tests/linux/userprog.c (needs gcc-multilib)"

# One cpio newc entry: name mode uid gid nlink devmajor devminor.
newc_entry() {
    local name=$1 mode=$2 nlink=$3 rmaj=$4 rmin=$5
    local namesize=$(( ${#name} + 1 ))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
        0 "$mode" 0 0 "$nlink" 0 0 0 0 "$rmaj" "$rmin" "$namesize" 0 "$name"
    # header (110) + name padded to a multiple of 4
    local pad=$(( (4 - (110 + namesize) % 4) % 4 ))
    [ $pad = 0 ] || head -c $pad /dev/zero
}

{
    # Reproducible: fixed times, owners, inode numbers and order.
    find "$root" -mindepth 1 -exec touch -h -d @0 {} +
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
        cpio --quiet -o -H newc -R 0:0 --reproducible)
    newc_entry dev/console $((0020600)) 1 5 1
    newc_entry TRAILER!!! 0 1 0 0
} > "$work/initramfs.cpio"
gzip -9n < "$work/initramfs.cpio" > "$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out ($(wc -c < "$out") bytes)"
