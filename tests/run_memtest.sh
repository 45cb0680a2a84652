#!/usr/bin/env bash
# run_memtest.sh - a real guest written for PCs and QEMU: Debian's
# memtest86+ (the ia32 bzImage, /boot/memtest86+ia32.bin from the
# memtest86+ package) boots on each engine in MEMTEST_ENGINES (default bt)
# with console=ttyS0.  It passes when its screen (mirrored on the serial
# console) shows the banner and the first memory tests running with
# "Errors: 0" and no other error count, and popek is still running it (no
# crash, no stop) when the third test ("Moving inversions") starts, or when
# MEMTEST_TIMEOUT seconds (default 300) run out with tests under way.
# memtest86+ never ends by itself: the script stops popek (its own child).
# Prints PASS/FAIL/SKIP lines.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
IMAGE=${MEMTEST_IMAGE:-/boot/memtest86+ia32.bin}
ENGINES=${MEMTEST_ENGINES:-bt}
TIMEOUT=${MEMTEST_TIMEOUT:-300}
if [ ! -s "$IMAGE" ]; then
    echo "SKIP memtest: $IMAGE missing (apt-get install memtest86+)"
    exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP memtest on $e: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    "$POPEK" run -e "$e" -k "$IMAGE" -a console=ttyS0 --timeout "$TIMEOUT" \
        </dev/null >"$out" 2>&1 &
    pid=$!
    start=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        grep -aq '\[Moving inversions' "$out" && break
        sleep 1
    done
    running=no
    if kill -0 "$pid" 2>/dev/null; then
        running=yes
        kill "$pid"
    fi
    wait "$pid" 2>/dev/null
    st=$?
    took=$((SECONDS - start))
    tests=$(grep -aoE '#[0-9]+ +\[[^]]*\]' "$out" | uniq | tr -s ' ' | paste -sd, -)
    if ! grep -aq 'Memtest86+ v' "$out"; then
        echo "FAIL memtest on $e: no banner (status $st): $(tail -c 200 "$out" | tr -cd '[:print:]')"
    elif grep -aqE 'Errors: *[1-9]' "$out"; then
        echo "FAIL memtest on $e: memory errors reported: $(grep -aoE 'Errors: *[1-9][0-9]*' "$out" | head -n1)"
    elif [ "$running" = no ] && [ "$st" -ne 12 ]; then
        echo "FAIL memtest on $e: popek stopped with status $st after $took s (tests: $tests)"
    elif ! grep -aq '\[Address test' "$out"; then
        echo "FAIL memtest on $e: no test started in $took s"
    else
        echo "PASS memtest on $e ($took s; tests seen: $tests)"
    fi
done
