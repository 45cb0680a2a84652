#!/usr/bin/env bash
# run_guests.sh - the guest suite: every self-checking test guest in
# $BUILD/guests (built from tests/guests/*.c and *.asm) on every engine that
# is built and usable here.  A guest passes when popek's exit status is the
# expected one (1 = the guest wrote 0 to isa-debug-exit, unless the source
# says "expect-status: N") and, if tests/guests/NAME.expected exists, its
# console output matches that file exactly on every engine.
# Source annotations (anywhere in the guest's source):
#   expect-status: N     expected popek exit status
#   engines: a b         run only on these engines
#   popek-args: ...      extra arguments for popek run
#   needs: paging32      skipped on an engine whose `popek engines` line
#                        declares that limit (limits=paging32: kvm_pvm)
#   scratch-disk: SIZE   a fresh zero-filled disk image of SIZE (truncate(1)
#                        syntax: 1M) attached with --ide, deleted afterwards.
#                        Each "# disk-expect: LBA TEXT" line the guest prints
#                        is then checked: sector LBA of the image must start
#                        with TEXT (the writes reached the host file).
#   scratch-vdisk: SIZE  the same image, attached as a virtio-blk disk
#                        (--disk) instead.
# Benchmark guests (bench/guests) run here too, once, with the small N their
# popek-args annotation gives, as correctness tests (no timing asserted).
# Prints PASS/FAIL/SKIP lines.  ENGINES="kvm interp" limits the engines.
# SWITCH=1: live engine switching; each guest starts on its engine and is
# moved to the other of interp/bt and back at 0.05 ms, 0.1 ms, 0.2 ms, ...
# (--switch-engine-after), and must still pass; the PASS line says how
# many switches happened (from --stats).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
ENGINES=${ENGINES:-"kvm interp bt"}
TIMEOUT=${GUEST_TIMEOUT:-120}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

annot() { # annot FILE KEY
    grep -m1 -oE "$2: .*" "$1" 2>/dev/null | sed -E "s/^$2: *//; s/ *(\*\/)? *$//"
}

# disk_check IMAGE OUTPUT: every "# disk-expect: LBA TEXT" line of OUTPUT
# holds in IMAGE (sector LBA starts with TEXT).  Prints what does not.
disk_check() {
    local ok=0 lba text got
    while read -r lba text; do
        got=$(dd if="$1" bs=512 skip="$lba" count=1 status=none | head -c "${#text}" | tr -d '\0')
        if [ "$got" != "$text" ]; then
            echo "sector $lba: want '$text', got '$got'"
            ok=1
        fi
    done < <(sed -n 's/^# disk-expect: //p' "$2")
    return $ok
}

for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP guests on $e: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    limits=$(grep -oE 'limits=[^ ]*' <<<"$line" | cut -d= -f2 | tr ',' ' ')
    for elf in "$BUILD"/guests/*.elf; do
        name=$(basename "$elf" .elf)
        src=$(ls tests/guests/"$name".c tests/guests/"$name".asm bench/guests/"$name".c 2>/dev/null | head -n1)
        [ -n "$src" ] || continue
        only=$(annot "$src" engines)
        if [ -n "$only" ] && [[ " $only " != *" $e "* ]]; then
            echo "SKIP $e/$name: runs only on: $only"
            continue
        fi
        needs=$(annot "$src" needs)
        lacking=""
        for n in $needs; do
            [[ " $limits " == *" $n "* ]] && lacking="$lacking $n"
        done
        if [ -n "$lacking" ]; then
            echo "SKIP $e/$name: needs$lacking, which this engine lacks here ($line)" | sed 's/  */ /g'
            continue
        fi
        want=$(annot "$src" expect-status); want=${want:-1}
        args=$(annot "$src" popek-args)
        # popek-args may quote words: --append "a=1 b=2"
        eval "extra=($args)"
        disk=""
        disk_size=$(annot "$src" scratch-disk)
        if [ -n "$disk_size" ]; then
            disk="$out/$e.$name.disk"
            rm -f "$disk"
            truncate -s "$disk_size" "$disk"
            extra+=(--ide "$disk")
        fi
        disk_size=$(annot "$src" scratch-vdisk)
        if [ -n "$disk_size" ]; then
            disk="$out/$e.$name.disk"
            rm -f "$disk"
            truncate -s "$disk_size" "$disk"
            extra+=(--disk "$disk")
        fi
        sw=()
        [ "$e" = bt ] && other=interp || other=bt
        # A guest limited to some engines (engines: interp) is not
        # switched to one it cannot run on (SMAP is interp-only).
        if [ "${SWITCH:-0}" = 1 ] && [ -n "$only" ] && [[ " $only " != *" $other "* ]]; then
            echo "SKIP $e/$name: not switched: runs only on: $only"
            continue
        fi
        if [ "${SWITCH:-0}" = 1 ]; then
            t=0.00005 to=$other
            sw=(--stats "$out/stats")
            for _ in $(seq 16); do
                sw+=(--switch-engine-after "$t:$to")
                t=$(awk -v t="$t" 'BEGIN { print t * 2 }')
                [ "$to" = "$other" ] && to=$e || to=$other
            done
        fi
        timeout -k 5 $((TIMEOUT + 10)) "$POPEK" run --engine "$e" --kernel "$elf" \
            --timeout "$TIMEOUT" "${extra[@]}" "${sw[@]}" </dev/null >"$out/$e.$name.out" 2>"$out/$e.$name.err"
        st=$?
        if [ "$st" -ne "$want" ]; then
            echo "FAIL $e/$name: exit status $st, expected $want: $(tail -n 3 "$out/$e.$name.out" | tr '\n' '|') $(tail -n 2 "$out/$e.$name.err" | tr '\n' '|')"
            continue
        fi
        if [ -n "$disk" ] && ! disk_check "$disk" "$out/$e.$name.out" >"$out/diskcheck"; then
            echo "FAIL $e/$name: the disk image does not hold what the guest wrote: $(head -n 3 "$out/diskcheck" | tr '\n' '|')"
            rm -f "$disk"
            continue
        fi
        [ -n "$disk" ] && rm -f "$disk"
        if [ -f tests/guests/"$name".expected ] &&
            ! diff -u tests/guests/"$name".expected "$out/$e.$name.out" >"$out/diff" 2>&1; then
            echo "FAIL $e/$name: console output differs from tests/guests/$name.expected:"
            head -n 20 "$out/diff" | sed 's/^/    /'
            continue
        fi
        if [ "${SWITCH:-0}" = 1 ]; then
            echo "PASS $e/$name ($(grep -oE '"engine_switches": [0-9]+' "$out/stats" 2>/dev/null | grep -oE '[0-9]+$') engine switches)"
            continue
        fi
        echo "PASS $e/$name"
    done
done
