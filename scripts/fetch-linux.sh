#!/usr/bin/env bash
# fetch-linux.sh [--amd64] [CACHE_DIR] - fetch the Linux guest that popek's
# Linux tests boot: Debian's i686 kernel (behind the linux-image-686
# metapackage) and a static i386 busybox, with apt-get download + dpkg-deb.
# Leaves CACHE_DIR/vmlinuz-686 and CACHE_DIR/busybox (and, with --amd64,
# CACHE_DIR/vmlinuz-amd64 from linux-image-amd64), plus each kernel's
# uncompressed ELF as CACHE_DIR/vmlinux-686 (-amd64): popek boots that
# directly, skipping the in-guest decompression (very slow when emulated),
# and the virtio and ext4 modules of the i686 kernel with their
# dependencies in CACHE_DIR/modules-686 (*.ko and load-order, the insmod
# order; Debian builds these drivers as modules, and the .deb has no
# modules.dep: the order comes from each module's depends= field).
# CACHE_DIR defaults to cache/linux in the repository (git-ignored).  Idempotent: files already
# there are kept.  Needs root for `dpkg --add-architecture i386` and
# `apt-get update` the first time.  Build the initramfs next with
# scripts/mkinitramfs.sh.
set -euo pipefail

die() { echo "fetch-linux: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
amd64=0
cache=""
for a in "$@"; do
    case "$a" in
    --amd64) amd64=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) die "unknown option '$a' (usage: fetch-linux.sh [--amd64] [CACHE_DIR])" ;;
    *) [ -z "$cache" ] || die "more than one CACHE_DIR given"; cache=$a ;;
    esac
done
cache=${cache:-$repo/cache/linux}
mkdir -p "$cache" || die "cannot create $cache"
cache=$(cd "$cache" && pwd)

need=()
[ -s "$cache/vmlinuz-686" ] || need+=(k686)
[ -s "$cache/vmlinux-686" ] || need+=(x686)
[ -s "$cache/busybox" ] || need+=(busybox)
[ -s "$cache/modules-686/load-order" ] || need+=(m686)
if [ $amd64 = 1 ]; then
    [ -s "$cache/vmlinuz-amd64" ] || need+=(kamd64)
    [ -s "$cache/vmlinux-amd64" ] || need+=(xamd64)
fi
if [ ${#need[@]} = 0 ]; then
    echo "fetch-linux: $cache is complete"
    exit 0
fi

for t in apt-get apt-cache dpkg dpkg-deb; do
    command -v $t >/dev/null || die "$t not found (this script needs Debian's apt and dpkg)"
done

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "'$*' needs root"; fi
}

updated=0
apt_update() {
    [ $updated = 1 ] && return 0
    echo "fetch-linux: apt-get update" >&2
    # A failing mirror (e.g. one index mid-sync) is only a warning: the
    # packages may still resolve from the other indexes; if not, the
    # look-ups below fail with their own message.
    as_root apt-get update -qq ||
        echo "fetch-linux: warning: apt-get update reported errors; going on" >&2
    updated=1
}

# The i386 kernel and busybox are i386 packages.
if ! dpkg --print-foreign-architectures | grep -qx i386 &&
   [ "$(dpkg --print-architecture)" != i386 ]; then
    echo "fetch-linux: adding the i386 architecture to dpkg" >&2
    as_root dpkg --add-architecture i386 || die "dpkg --add-architecture i386 failed"
    updated=0
    apt_update
fi

# The versioned kernel package a metapackage (linux-image-686:i386,
# linux-image-amd64) depends on, e.g. linux-image-6.1.0-28-686.
resolve_kernel() {
    local meta=$1 dep
    if ! apt-cache show "$meta" >/dev/null 2>&1; then
        apt_update
        apt-cache show "$meta" >/dev/null 2>&1 ||
            die "apt does not know $meta (are Debian's main sources configured?)"
    fi
    dep=$(apt-cache depends "$meta" 2>/dev/null |
          sed -n '/^ *Depends: linux-image-[0-9]/{s/^ *Depends: \([^ <>:]*\).*/\1/p;q}')
    [ -n "$dep" ] || die "cannot find the kernel package behind $meta"
    echo "$dep"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/popek-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt's sandbox user must be able to write here

download() { # package -> path of the .deb
    local pkg=$1 deb
    echo "fetch-linux: downloading $pkg" >&2
    # As root, apt would drop to its _apt user, which cannot write here.
    local opt=()
    [ "$(id -u)" = 0 ] && opt=(-o APT::Sandbox::User=root)
    (cd "$work" && apt-get download -q "${opt[@]}" "$pkg" >&2) ||
        { apt_update; (cd "$work" && apt-get download -q "${opt[@]}" "$pkg" >&2); } ||
        die "apt-get download $pkg failed"
    deb=$(ls -t "$work"/*.deb 2>/dev/null | sed -n 1p)
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb"
    echo "$deb"
}

extract_kernel() { # metapackage, arch-qualified suffix, output name
    local meta=$1 out=$2 pkg deb dir
    pkg=$(resolve_kernel "$meta")
    case "$meta" in *:*) pkg="$pkg:${meta#*:}" ;; esac
    deb=$(download "$pkg")
    dir="$work/x-$out"
    dpkg-deb -x "$deb" "$dir" || die "dpkg-deb -x $deb failed"
    local k
    k=$(ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -n1)
    [ -n "$k" ] || die "$pkg contains no /boot/vmlinuz-*"
    cp "$k" "$cache/$out.tmp" && mv "$cache/$out.tmp" "$cache/$out"
    echo "$(basename "$k")" > "$cache/$out.version"
    rm -f "$deb"
    echo "fetch-linux: $cache/$out <- $pkg ($(basename "$k"))"
}

u8() { od -An -tu1 -j"$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j"$2" -N4 "$1" | tr -d ' '; }

# Unpack the vmlinux ELF inside a bzImage: the payload (payload_offset and
# payload_length in the setup header, boot protocol 2.08+) is the compressed
# ELF followed by its uncompressed size (4 bytes, little endian).
extract_vmlinux() { # bzImage, output
    local bz=$1 out=$2 sects po pl want got
    sects=$(u8 "$bz" $((0x1f1)))
    [ "$sects" = 0 ] && sects=4
    po=$(u32 "$bz" $((0x248)))
    pl=$(u32 "$bz" $((0x24c)))
    [ "$pl" -gt 4 ] || die "$bz has no payload (boot protocol before 2.08?)"
    dd if="$bz" of="$work/payload" iflag=skip_bytes,count_bytes status=none \
        skip=$(( (sects + 1) * 512 + po )) count="$pl" || die "cannot read $bz"
    want=$(u32 "$work/payload" $((pl - 4)))
    case "$(od -An -tx1 -N2 "$work/payload" | tr -d ' ')" in
    fd37) command -v xz >/dev/null || die "xz is needed (apt-get install xz-utils)"
          # xz stops at the size trailer with "unexpected end of input";
          # the size check below is what counts.
          xz -dc < "$work/payload" > "$out.tmp" 2>/dev/null || true ;;
    1f8b) gzip -dc < "$work/payload" > "$out.tmp" 2>/dev/null || true ;;
    *) die "$bz: payload is neither xz nor gzip compressed" ;;
    esac
    got=$(wc -c < "$out.tmp")
    [ "$got" = "$want" ] || die "$bz: unpacked payload is $got bytes, expected $want"
    [ "$(od -An -c -j1 -N3 "$out.tmp" | tr -d ' ')" = ELF ] || die "$bz: payload is not an ELF file"
    mv "$out.tmp" "$out"
    rm -f "$work/payload"
    echo "fetch-linux: $out <- $(basename "$bz") (uncompressed vmlinux ELF)"
}

# The modules the virtio initramfs loads (scripts/mkinitramfs.sh
# --virtio), in a working order; dependencies named by depends= are added
# before their users.  A module that is not there (built in, or not split
# out in this kernel version) is skipped.
VIRTIO_MODULES="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev
  virtio_pci virtio_blk failover net_failover virtio_net virtio-rng crc16
  mbcache jbd2 crc32c_generic libcrc32c ext4"

extract_modules() { # kernel metapackage
    local pkg deb dir mdir out=$cache/modules-686 order=()
    pkg=$(resolve_kernel "$1")
    case "$1" in *:*) pkg="$pkg:${1#*:}" ;; esac
    deb=$(download "$pkg")
    dir="$work/x-modules"
    dpkg-deb -x "$deb" "$dir" || die "dpkg-deb -x $deb failed"
    rm -f "$deb"
    mdir=$(ls -d "$dir"/lib/modules/*/ 2>/dev/null | head -n1)
    [ -n "$mdir" ] || die "$pkg contains no /lib/modules"
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    add_module() {
        local n=$1 f d deps x
        for x in "${order[@]}"; do [ "$x" = "$n" ] && return 0; done
        f=$(find "$mdir" \( -name "$n.ko*" -o -name "${n//_/-}.ko*" \
                -o -name "${n//-/_}.ko*" \) | head -n1)
        if [ -z "$f" ]; then
            echo "fetch-linux: module $n not in $pkg (built in?): skipped" >&2
            return 0
        fi
        case "$f" in
        *.ko) cp "$f" "$out.tmp/$n.ko" ;;
        *.ko.xz) xz -dc "$f" > "$out.tmp/$n.ko" ;;
        *.ko.zst) zstd -qdc "$f" > "$out.tmp/$n.ko" ;;
        *.ko.gz) gzip -dc "$f" > "$out.tmp/$n.ko" ;;
        *) die "unknown module format $f" ;;
        esac
        deps=$(tr '\0' '\n' < "$out.tmp/$n.ko" | sed -n 's/^depends=//p')
        for d in ${deps//,/ }; do add_module "$d"; done
        order+=("$n")
    }
    for n in $VIRTIO_MODULES; do add_module "$n"; done
    printf '%s\n' "${order[@]}" > "$out.tmp/load-order"
    echo "$(basename "$mdir")" > "$out.tmp/version"
    rm -rf "$out" && mv "$out.tmp" "$out"
    echo "fetch-linux: $out <- $pkg (${#order[@]} modules: ${order[*]})"
}

for n in "${need[@]}"; do
    case $n in
    m686) extract_modules linux-image-686:i386 ;;
    k686) extract_kernel linux-image-686:i386 vmlinuz-686 ;;
    kamd64) extract_kernel linux-image-amd64:amd64 vmlinuz-amd64 ;;
    x686) extract_vmlinux "$cache/vmlinuz-686" "$cache/vmlinux-686" ;;
    xamd64) extract_vmlinux "$cache/vmlinuz-amd64" "$cache/vmlinux-amd64" ;;
    busybox)
        deb=$(download busybox-static:i386)
        dpkg-deb -x "$deb" "$work/x-busybox" || die "dpkg-deb -x $deb failed"
        bb="$work/x-busybox/bin/busybox"
        [ -f "$bb" ] || die "busybox-static:i386 contains no /bin/busybox"
        # ELF32 (class 1), i386 (machine 3), and no program interpreter.
        [ "$(od -An -tx1 -j4 -N1 "$bb" | tr -d ' ')" = 01 ] &&
        [ "$(od -An -tx1 -j18 -N1 "$bb" | tr -d ' ')" = 03 ] ||
            die "$bb is not an i386 ELF32 binary"
        if command -v readelf >/dev/null && readelf -l "$bb" | grep -q INTERP; then
            die "$bb is not a static binary"
        fi
        cp "$bb" "$cache/busybox.tmp" && chmod 755 "$cache/busybox.tmp" &&
            mv "$cache/busybox.tmp" "$cache/busybox"
        echo "fetch-linux: $cache/busybox <- busybox-static:i386"
        ;;
    esac
done
