#!/usr/bin/env bash
# demo.sh - what popek does, in one command (`make demo`): boot Debian's i686
# Linux (fetched by scripts/setup.sh) with a busybox initramfs on the bt
# engine, the binary translator, then the hello guest on every engine that
# is usable here; after each run, the engine's statistics (translation
# cache and shadow-paging events on bt, exits by reason on kvm,
# instructions and MIPS on interp).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
show_stats() { # show_stats ENGINE FILE
    echo "== $1: statistics from $2:"
    sed -n '/^  "'"$1"'": {/,/^  }/p' "$2" | head -n 40
}
usable() { "$POPEK" engines | awk -v e="$1" '$1 == e && $2 == "usable"' | grep -q .; }

cache=cache/linux
if [ -s "$cache/vmlinuz-686" ] && [ -s "$cache/initramfs.gz" ] && usable bt; then
    echo "== Debian i686 Linux on the bt engine:"
    echo "== $POPEK run -e bt -k $cache/vmlinuz-686 -i $cache/initramfs.gz -a \"$(cat tests/linux/cmdline)\" -m 256M"
    "$POPEK" run -e bt -k "$cache/vmlinuz-686" -i "$cache/initramfs.gz" \
        -a "$(cat tests/linux/cmdline) quiet" -m 256M --timeout 300 \
        --stats "$BUILD/demo-linux-bt.json" </dev/null
    echo "== exit status $? (0 = the guest rebooted itself through the i8042)"
    show_stats bt "$BUILD/demo-linux-bt.json"
else
    echo "== (Linux demo skipped: run scripts/fetch-linux.sh and scripts/mkinitramfs.sh)"
fi

ran=0
while read -r engine state rest; do
    if [ "$state" != usable ]; then
        echo "== $engine: skipped: $state $rest"
        continue
    fi
    echo
    echo "== hello guest on $engine${rest:+ ($rest)}: $POPEK run -e $engine -k $BUILD/guests/hello.elf"
    "$POPEK" run --engine "$engine" --kernel "$BUILD/guests/hello.elf" --timeout 60 \
        --stats "$BUILD/demo-$engine.json" </dev/null
    echo "== exit status $? (1 = the guest reported success through isa-debug-exit)"
    show_stats "$engine" "$BUILD/demo-$engine.json"
    ran=$((ran + 1))
done < <("$POPEK" engines)
[ "$ran" -gt 0 ] || { echo "no engine is usable here" >&2; exit 1; }
