#!/usr/bin/env bash
# qemu_check.sh - fidelity check of the guest suite against QEMU TCG: runs
# every 32-bit test guest (tests/guests/*.c, built in $BUILD/guests) under
# qemu-system-i386 -accel tcg, with its --append from a popek-args
# annotation, and checks the exit status and the .expected console output
# exactly as tests/run_guests.sh does for popek's engines.  QEMU has no
# equivalent of popek's own statuses, so guests expecting an even status
# (4 = triple fault, 6 = hlt with interrupts off) are checked for their
# output only (QEMU -no-reboot exits 0 on a triple fault; cli; hlt hangs
# until the timeout).  ELF64 guests are skipped: QEMU's multiboot loader
# takes ELF32 only; a guest whose source says "qemu-skip: why" (something
# QEMU TCG is known not to emulate) is skipped.  popek-args --mem gives
# -m; "scratch-disk: SIZE" attaches a fresh image as the IDE master (as
# run_guests.sh does with --ide), "scratch-vdisk: SIZE" as a modern-only
# virtio-blk-pci (--disk); "qemu-args: ..." adds QEMU options (e.g.
# -device pc-testdev, which popek's PC always has).
# Usage: tests/guests/lib/qemu_check.sh [NAME...]
set -u
cd "$(dirname "$0")/../../.."
BUILD=${BUILD:-build}
QEMU=${QEMU:-qemu-system-i386}
TIMEOUT=${GUEST_TIMEOUT:-60}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
annot() { grep -m1 -oE "$2: .*" "$1" 2>/dev/null | sed -E "s/^$2: *//; s/ *(\*\/)? *$//"; }

names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(ls tests/guests/*.c | xargs -n1 basename | sed 's/\.c$//'))
fails=0
for name in "${names[@]}"; do
    src=tests/guests/$name.c elf=$BUILD/guests/$name.elf
    [ -f "$elf" ] || { echo "FAIL qemu/$name: $elf not built"; fails=$((fails + 1)); continue; }
    skip=$(annot "$src" qemu-skip)
    if [ -n "$skip" ]; then
        echo "SKIP qemu/$name: $skip"
        continue
    fi
    want=$(annot "$src" expect-status); want=${want:-1}
    eval "args=($(annot "$src" popek-args))"
    append="" qargs=()
    for ((i = 0; i < ${#args[@]}; i++)); do
        [ "${args[$i]}" = --append ] && append=${args[$((i + 1))]}
        [ "${args[$i]}" = --mem ] && qargs+=(-m "${args[$((i + 1))]}")
    done
    disk_size=$(annot "$src" scratch-disk)
    if [ -n "$disk_size" ]; then
        truncate -s "$disk_size" "$out/$name.disk"
        qargs+=(-drive "file=$out/$name.disk,format=raw,if=ide,index=0")
    fi
    disk_size=$(annot "$src" scratch-vdisk)
    if [ -n "$disk_size" ]; then
        truncate -s "$disk_size" "$out/$name.vdisk"
        qargs+=(-drive "file=$out/$name.vdisk,format=raw,if=none,id=vd0"
                -device virtio-blk-pci,drive=vd0,disable-legacy=on)
    fi
    eval "qargs+=($(annot "$src" qemu-args))"
    t=$TIMEOUT
    [ $((want % 2)) -eq 0 ] && t=5
    timeout -k 5 "$t" "$QEMU" -accel tcg -kernel "$elf" -append "$append" \
        -serial stdio -display none -monitor none -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 "${qargs[@]}" </dev/null \
        >"$out/$name.out" 2>"$out/$name.err"
    st=$?
    if [ $((want % 2)) -eq 1 ] && [ "$st" -ne "$want" ]; then
        echo "FAIL qemu/$name: exit status $st, expected $want: $(tail -n 3 "$out/$name.out" | tr '\n' '|')"
        fails=$((fails + 1))
        continue
    fi
    if [ -f tests/guests/$name.expected ] &&
        ! diff -u tests/guests/$name.expected "$out/$name.out" >"$out/diff" 2>&1; then
        echo "FAIL qemu/$name: console output differs from tests/guests/$name.expected:"
        head -n 20 "$out/diff" | sed 's/^/    /'
        fails=$((fails + 1))
        continue
    fi
    echo "PASS qemu/$name"
done
[ "$fails" -eq 0 ]
