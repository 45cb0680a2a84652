#!/usr/bin/env bash
# mkrootfs.sh [IMAGE] - build popek's Debian i386 root filesystem: an ext4
# image (default cache/debian-i386.img, 2 GiB sparse; ROOTFS_SIZE=...) with
# Debian bookworm minbase plus what the macrobenchmarks need (gcc, make,
# libc6-dev, busybox: its httpd is the web server), and the initramfs that
# mounts it (cache/linux/initramfs-rootfs.gz: Debian's virtio and ext4
# modules, scripts/mkinitramfs.sh --rootfs).  Run on demand, as root (not by
# scripts/setup.sh: it downloads ~70 MB of packages and takes a few minutes).
#
# No loop device or chroot is needed, and the host need not run 32-bit
# programs:
#   1. debootstrap --foreign --arch=i386 unpacks the packages into a
#      directory (the .debs are kept in cache/debootstrap-i386 for re-runs);
#   2. scripts/rootfs/popek-init becomes /sbin/init (minbase has no init);
#   3. mke2fs -d turns the directory into the ext4 image;
#   4. the image is booted (popek bt by default, ROOTFS_VMM=qemu for
#      qemu-system-i386 TCG) with init=/popek-stage2, which runs
#      debootstrap's second stage (dpkg configures everything) inside the
#      guest, sets the hostname and an empty root password, and powers off.
# Then:
#   build/popek run -e bt -k cache/linux/vmlinuz-686 -i cache/linux/initramfs-rootfs.gz \
#     --disk cache/debian-i386.img --net user -m 512M -a "root=/dev/vda console=ttyS0"
# boots to a root shell on the serial console (README "Debian root
# filesystem").  Environment: ROOTFS_MIRROR (default http://deb.debian.org/debian),
# ROOTFS_SUITE (bookworm), ROOTFS_SIZE (2G), ROOTFS_VMM (popek|qemu),
# LINUX_CACHE (cache/linux), BUILD (build).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "mkrootfs: $*" >&2; exit 1; }

img=${1:-cache/debian-i386.img}
cache=${LINUX_CACHE:-cache/linux}
build=${BUILD:-build}
mirror=${ROOTFS_MIRROR:-http://deb.debian.org/debian}
suite=${ROOTFS_SUITE:-bookworm}
size=${ROOTFS_SIZE:-2G}
vmm=${ROOTFS_VMM:-popek}
pkgs=gcc,make,libc6-dev,busybox
initrd=$cache/initramfs-rootfs.gz
kernel=$cache/vmlinuz-686

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and mke2fs -d keep file owners)"
[ -s "$kernel" ] && [ -s "$cache/modules-686/load-order" ] ||
    die "$kernel or $cache/modules-686 missing: run scripts/fetch-linux.sh"
need=(debootstrap mke2fs)
[ "$vmm" = qemu ] && need+=(qemu-system-i386)
missing=()
for t in "${need[@]}"; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "mkrootfs: installing debootstrap e2fsprogs qemu-system-x86 (missing: ${missing[*]})" >&2
    apt-get install -y -q debootstrap e2fsprogs qemu-system-x86 >/dev/null ||
        die "cannot install ${missing[*]}"
fi
if [ "$vmm" = popek ] && [ ! -x "$build/popek" ]; then
    die "$build/popek not built (make), or use ROOTFS_VMM=qemu"
fi

scripts/mkinitramfs.sh --rootfs "$cache" "$initrd"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/popek-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
debs=$(dirname "$img")/debootstrap-i386
mkdir -p "$debs"
echo "mkrootfs: debootstrap (first stage) of $suite i386 minbase + $pkgs"
debootstrap --foreign --arch=i386 --variant=minbase --include="$pkgs" \
    --cache-dir="$(cd "$debs" && pwd)" "$suite" "$tree" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

install -D -m 755 scripts/rootfs/popek-init "$tree/usr/local/sbin/popek-init"
ln -sf /usr/local/sbin/popek-init "$tree/sbin/init"
cat > "$tree/popek-stage2" <<'EOF'
#!/bin/sh
# Second stage of scripts/mkrootfs.sh, run inside the guest as init.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "POPEK-STAGE2-BEGIN"
if /debootstrap/debootstrap --second-stage; then
    echo popek > /etc/hostname
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tpopek\n' > /etc/hosts
    passwd -d root >/dev/null
    printf '/dev/vda / ext4 defaults 0 1\n' > /etc/fstab
    apt-get clean
    rm -f /var/log/*.log
    echo "POPEK-STAGE2-OK"
else
    tail -n 30 /debootstrap/debootstrap.log
    echo "POPEK-STAGE2-FAILED"
fi
rm -f /popek-stage2
sync
mount -o remount,ro /
busybox reboot -f
EOF
chmod 755 "$tree/popek-stage2"

echo "mkrootfs: making $img ($size, ext4)"
rm -f "$img.tmp"
truncate -s "$size" "$img.tmp"
mke2fs -q -t ext4 -L debian-i386 -d "$tree" -F "$img.tmp" >/dev/null ||
    die "mke2fs -d failed"

echo "mkrootfs: debootstrap's second stage inside the guest ($vmm; a few minutes)"
log=$work/stage2.log
# reboot=k: the stage's `reboot -f` ends popek, and QEMU with -no-reboot.
append="root=/dev/vda rw console=ttyS0 init=/popek-stage2 panic=-1 nokaslr reboot=k"
if [ "$vmm" = qemu ]; then
    timeout 3600 qemu-system-i386 -accel tcg -m 512 -nographic -no-reboot \
        -kernel "$kernel" -initrd "$initrd" -append "$append" \
        -drive file="$img.tmp",if=virtio,format=raw </dev/null >"$log" 2>&1 || true
else
    "$build/popek" run -e bt -m 512M -k "$kernel" -i "$initrd" --disk "$img.tmp" \
        -a "$append" --timeout 3600 </dev/null >"$log" 2>&1 || true
fi
tr -d '\r' < "$log" > "$log.txt"
if ! grep -q '^POPEK-STAGE2-OK' "$log.txt"; then
    tail -n 30 "$log.txt" >&2
    die "the second stage did not finish (log above)"
fi
e2fsck -fy "$img.tmp" >/dev/null 2>&1 || true
mv "$img.tmp" "$img"
echo "mkrootfs: $img ready ($(du -h --apparent-size "$img" | cut -f1), $(du -h "$img" | cut -f1) used); initramfs $initrd"
