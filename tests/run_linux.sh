#!/usr/bin/env bash
# run_linux.sh - the Linux test: boot Debian's i686 kernel with the busybox
# initramfs (scripts/fetch-linux.sh + scripts/mkinitramfs.sh, in cache/linux)
# on each usable software engine; it passes when the console shows the
# marker POPEK-LINUX-OK (printed by tests/linux/init only if ls, a pipe and a
# fork loop all worked) and popek ends with status 0 (the guest's reboot
# through the i8042).  Prints PASS/FAIL/SKIP lines.
#   LINUX_KERNEL=bzimage|vmlinux   which form of the kernel to boot
#                                  (bzImage: the real thing, with the
#                                  kernel's own decompression; vmlinux:
#                                  the same kernel, already uncompressed)
#   LINUX_ENGINES="interp bt"      engines to try; kvm is skipped with its
#                                  reason where it cannot run it
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
CACHE=${LINUX_CACHE:-cache/linux}
KIND=${LINUX_KERNEL:-bzimage}
ENGINES=${LINUX_ENGINES:-"interp bt kvm"}
TIMEOUT=${LINUX_TIMEOUT:-900}
case "$KIND" in
bzimage) kernel=$CACHE/vmlinuz-686 ;;
vmlinux) kernel=$CACHE/vmlinux-686 ;;
*) echo "FAIL linux: LINUX_KERNEL must be bzimage or vmlinux"; exit 0 ;;
esac
initrd=$CACHE/initramfs.gz
if [ ! -s "$kernel" ] || [ ! -s "$CACHE/busybox" ]; then
    echo "SKIP linux/$KIND: $kernel missing: run scripts/fetch-linux.sh (scripts/setup.sh does)"
    exit 0
fi
if [ ! -s "$initrd" ] || [ tests/linux/init -nt "$initrd" ]; then
    scripts/mkinitramfs.sh "$CACHE" "$initrd" >/dev/null ||
        { echo "FAIL linux/$KIND: cannot build the initramfs"; exit 0; }
fi
out=$(mktemp)
trap 'rm -f "$out" "$out.json"' EXIT
for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP $e/linux-$KIND: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    # The i686 kernel needs 32-bit paging, which kvm_pvm refuses.
    if grep -qE 'limits=[^ ]*paging32' <<<"$line"; then
        echo "SKIP $e/linux-$KIND: the i686 kernel needs 32-bit paging, which this engine lacks here ($line)" | sed 's/  */ /g'
        continue
    fi
    start=$(date +%s)
    timeout -k 5 $((TIMEOUT + 10)) "$POPEK" run --engine "$e" --kernel "$kernel" \
        --initrd "$initrd" --append "$(cat tests/linux/cmdline)" -m 256M \
        --timeout "$TIMEOUT" --stats "$out.json" </dev/null >"$out" 2>&1
    st=$?
    secs=$(($(date +%s) - start))
    if [ "$st" -eq 0 ] && grep -q '^POPEK-LINUX-OK' "$out"; then
        echo "PASS $e/linux-$KIND ($secs s to reboot)"
    else
        echo "FAIL $e/linux-$KIND: status $st; last console lines:"
        tail -n 15 "$out" | sed 's/^/    /'
    fi
done
