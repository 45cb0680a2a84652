#!/usr/bin/env bash
# run_xv6.sh - a real guest written for PCs and QEMU: MIT's xv6 (x86) boots
# from its own IDE disks (the kernel by multiboot, as QEMU's -kernel would;
# xv6.img as primary master, fs.img as primary slave, as xv6's Makefile
# gives them to QEMU) on each engine in XV6_ENGINES (default "interp bt"),
# with 512 MiB as in xv6's Makefile (xv6 uses physical memory up to
# 224 MiB).  A script types into the serial console: echo, ls, cat README
# | wc (checked against the host's wc), forktest, stressfs (and ls of the 5
# files it writes), then usertests, which must print "ALL TESTS PASSED".
# Each step waits for the shell's next "$ " prompt.  Prints PASS/FAIL/SKIP
# lines.
#   XV6_DIR=DIR       a built xv6-public tree (kernel, xv6.img, fs.img,
#                     README); xv6 is not part of popek, so without it the
#                     test is skipped.  The images are copied (usertests
#                     refuses to run twice on one fs.img).
#   XV6_ENGINES       engines to try
#   XV6_TIMEOUT=SECS  limit for each engine's whole run (default 3600)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
ENGINES=${XV6_ENGINES:-"interp bt"}
TIMEOUT=${XV6_TIMEOUT:-3600}
if [ -z "${XV6_DIR:-}" ]; then
    echo "SKIP xv6: XV6_DIR is not set (a built xv6-public tree with kernel, xv6.img and fs.img)"
    exit 0
fi
for f in kernel xv6.img fs.img README; do
    if [ ! -s "$XV6_DIR/$f" ]; then
        echo "SKIP xv6: $XV6_DIR/$f missing (run make xv6.img fs.img in the xv6 tree)"
        exit 0
    fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
read -r wl ww wc_ <<<"$(wc -l -w -c <"$XV6_DIR/README")"

# prompts: how many shell prompts the console shows so far
prompts() { grep -ao '\$ ' "$tmp/out" | wc -l; }

# wait_for PATTERN: until the console shows PATTERN (grep -E), popek ends
# or the deadline passes; returns 1 in the last two cases
wait_for() {
    while ! grep -aqE -- "$1" "$tmp/out"; do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# run CMD: type CMD at the prompt and wait for the next prompt
run() {
    local n
    n=$(prompts)
    printf '%s\n' "$1" >&3
    while [ "$(prompts)" -le "$n" ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP xv6 on $e: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    cp "$XV6_DIR/xv6.img" "$tmp/xv6.img"
    cp "$XV6_DIR/fs.img" "$tmp/fs.img"
    rm -f "$tmp/in" && mkfifo "$tmp/in"
    : >"$tmp/out"
    start=$SECONDS
    deadline=$((SECONDS + TIMEOUT))
    "$POPEK" run -e "$e" -m 512M -k "$XV6_DIR/kernel" \
        --ide "$tmp/xv6.img" --ide "$tmp/fs.img" --timeout "$TIMEOUT" \
        <"$tmp/in" >"$tmp/out" 2>&1 &
    pid=$!
    exec 3>"$tmp/in"
    fail=
    if ! wait_for '^init: starting sh' || ! wait_for '\$ $'; then
        fail="no shell prompt"
    fi
    shell=$((SECONDS - start))
    steps=("echo hello xv6" "ls" "cat README | wc" "forktest" "stressfs" "ls"
           "usertests")
    for c in "${steps[@]}"; do
        [ -n "$fail" ] && break
        run "$c" || fail="'$c' did not come back to the prompt"
    done
    exec 3>&-
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    took=$((SECONDS - start))
    o="$tmp/out"
    if [ -z "$fail" ]; then
        if ! grep -aq '^hello xv6' "$o"; then
            fail="echo printed nothing"
        elif ! grep -aqE '^usertests +2 ' "$o"; then
            fail="ls does not list usertests"
        elif ! grep -aqE "^$wl $ww $wc_ \$" "$o"; then
            fail="cat README | wc is not '$wl $ww $wc_'"
        elif ! grep -aq '^fork test OK' "$o"; then
            fail="forktest did not print 'fork test OK'"
        elif [ "$(grep -acE '^stressfs[0-4] +2 [0-9]+ 10240$' "$o")" -ne 5 ]; then
            fail="stressfs did not leave 5 files of 10240 bytes"
        elif ! grep -aq '^ALL TESTS PASSED' "$o"; then
            fail="usertests did not pass"
        elif grep -aq 'panic' "$o"; then
            fail="kernel panic"
        fi
    fi
    if [ -n "$fail" ]; then
        echo "FAIL xv6 on $e: $fail after $took s: $(tail -c 300 "$o" | tr -cd '[:print:]\n' | tail -n 4 | paste -sd'|' -)"
    else
        echo "PASS xv6 on $e (shell after $shell s, all steps and usertests in $took s)"
    fi
done
