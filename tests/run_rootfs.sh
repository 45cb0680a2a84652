#!/usr/bin/env bash
# run_rootfs.sh - the Debian root filesystem test: boots Debian's i686
# kernel with the rootfs initramfs (scripts/mkinitramfs.sh --rootfs) into
# the image of scripts/mkrootfs.sh (cache/debian-i386.img, attached
# read-only so the test never changes it), with user networking, waits for
# init's POPEK-ROOTFS-READY line, then types commands into the root shell on
# the serial console (popek's stdin): the machine, gcc's version, a value
# the shell computes, the network address; `exit` makes init power off, and
# popek must exit 0.  SKIPs when the image (built on demand, not by
# scripts/setup.sh) or the kernel is missing.  Prints PASS/FAIL/SKIP lines
# and the time to the READY line.
#   ROOTFS_IMAGE=F            the image (default cache/debian-i386.img)
#   ROOTFS_ENGINES="bt interp" engines (default bt)
#   ROOTFS_APPEND="..."       extra kernel options
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
CACHE=${LINUX_CACHE:-cache/linux}
IMAGE=${ROOTFS_IMAGE:-cache/debian-i386.img}
ENGINES=${ROOTFS_ENGINES:-bt}
TIMEOUT=${ROOTFS_TIMEOUT:-900}
kernel=$CACHE/vmlinuz-686
if [ ! -s "$IMAGE" ]; then
    echo "SKIP rootfs: no Debian image $IMAGE (built on demand: scripts/mkrootfs.sh)"
    exit 0
fi
if [ ! -s "$kernel" ] || [ ! -s "$CACHE/modules-686/load-order" ]; then
    echo "SKIP rootfs: kernel or modules-686 missing in $CACHE: run scripts/fetch-linux.sh"
    exit 0
fi
initrd=$CACHE/initramfs-rootfs.gz
if [ ! -s "$initrd" ] || [ tests/linux/init-rootfs -nt "$initrd" ]; then
    initrd=$BUILD/linux/initramfs-rootfs.gz
    mkdir -p "$BUILD/linux"
    if [ ! -s "$initrd" ] || [ tests/linux/init-rootfs -nt "$initrd" ]; then
        scripts/mkinitramfs.sh --rootfs "$CACHE" "$initrd" >/dev/null ||
            { echo "FAIL rootfs: cannot build the rootfs initramfs"; exit 0; }
    fi
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/popek-rootfs.XXXXXX")
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    exec 3>&- 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
# ACPI on: Linux finds the virtio devices through the DSDT's PCI root
# bridge, and init's poweroff ends popek with status 0 (ACPI S5).
# ROOTFS_APPEND adds to the command line (acpi=off: MP table, then a reset).
cmdline="$(cat tests/linux/cmdline) root=/dev/vda ro ${ROOTFS_APPEND-}"

for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP $e/rootfs: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    out=$work/out-$e.txt
    rm -f "$work/in"
    mkfifo "$work/in"
    start=$(date +%s.%N)
    timeout -k 5 $((TIMEOUT + 10)) "$POPEK" run -e "$e" -k "$kernel" -i "$initrd" -m 512M \
        --disk "$IMAGE,ro" --net user -a "$cmdline" --timeout "$TIMEOUT" \
        <"$work/in" >"$out" 2>&1 &
    pid=$!
    exec 3>"$work/in" # the shell's keyboard; held open until we are done
    ready=""
    while kill -0 $pid 2>/dev/null; do
        if grep -q '^POPEK-ROOTFS-READY' "$out"; then
            ready=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
            break
        fi
        sleep 0.2
    done
    if [ -n "$ready" ]; then
        # wait for the prompt, then type
        for _ in $(seq 150); do grep -q 'root@popek' "$out" && break; sleep 0.2; done
        printf 'uname -m; gcc --version | head -n 1\n' >&3
        sleep 1
        printf 'echo POPEK-ROOTFS-CMD-$((6 * 7)) $(cat /proc/net/route | wc -l)\n' >&3
        sleep 1
        printf 'exit\n' >&3
    fi
    wait $pid
    st=$?
    exec 3>&-
    pid=""
    # no CRs, no terminal escapes (bash's bracketed-paste mode)
    tr -d '\r' < "$out" | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' > "$out.txt"
    why=""
    [ -n "$ready" ] || why="$why no-READY-line"
    [ $st -eq 0 ] || why="$why status=$st"
    grep -qx 'i686' "$out.txt" || why="$why uname"
    grep -q '^gcc (Debian' "$out.txt" || why="$why gcc"
    grep -qE '^POPEK-ROOTFS-CMD-42 [3-9]' "$out.txt" || why="$why shell-or-route"
    if [ -z "$why" ]; then
        echo "PASS $e/rootfs (READY after ${ready} s; $(grep -m1 '^POPEK-ROOTFS-READY' "$out.txt" | cut -d' ' -f2-))"
    else
        echo "FAIL $e/rootfs:$why; last console lines:"
        tail -n 15 "$out.txt" | sed 's/^/    /'
    fi
done
