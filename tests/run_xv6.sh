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
#   A run that makes no progress (no console output and no disk write) for
# XV6_STALL seconds (default 900) has stalled.  xv6-public has a deadlock
# of its own that usertests' linkunlink/concreate can hit: create() holds
# the new inode's sleep lock while iput(dp) takes the directory's, and
# link/unlink take them in the other order (xv6-riscv's iput no longer
# locks an inode it does not free).  A timer tick must land in a window of
# a few dozen instructions, so the slower the engine runs against the timer
# (the interpreter, a loaded host) the likelier it is.  An engine whose
# first run stalls is run once more; the PASS line then says so, with the
# test that stalled.
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
STALL=${XV6_STALL:-900}
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

# alive: popek still runs, before the deadline, and the guest has written
# to the console or the disk in the last STALL seconds (else sets stalled)
alive() {
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    local now sig
    sig=$(stat -c '%s %Y' "$tmp/out" "$tmp/fs.img" | paste -sd' ' -)
    now=$SECONDS
    if [ "$sig" != "$last_sig" ]; then
        last_sig=$sig
        last_change=$now
    elif [ $((now - last_change)) -ge "$STALL" ]; then
        stalled=yes
        return 1
    fi
}

# wait_for PATTERN: until the console shows PATTERN (grep -E); returns 1
# if popek ends, the deadline passes or the guest stalls
wait_for() {
    while ! grep -aqE -- "$1" "$tmp/out"; do
        alive || return 1
        sleep 0.5
    done
}

# run CMD: type CMD at the prompt and wait for the next prompt
run() {
    local n
    n=$(prompts)
    printf '%s\n' "$1" >&3
    while [ "$(prompts)" -le "$n" ]; do
        alive || return 1
        sleep 0.5
    done
}

# attempt ENGINE: one boot and session; sets fail (empty on success),
# stalled, shell (s to the prompt) and took (s in all)
attempt() {
    local e=$1 c o last
    cp "$XV6_DIR/xv6.img" "$tmp/xv6.img"
    cp "$XV6_DIR/fs.img" "$tmp/fs.img"
    rm -f "$tmp/in" && mkfifo "$tmp/in"
    : >"$tmp/out"
    start=$SECONDS
    deadline=$((SECONDS + TIMEOUT))
    last_sig= last_change=$SECONDS stalled=no fail=
    "$POPEK" run -e "$e" -m 512M -k "$XV6_DIR/kernel" \
        --ide "$tmp/xv6.img" --ide "$tmp/fs.img" --timeout "$TIMEOUT" \
        <"$tmp/in" >"$tmp/out" 2>&1 &
    pid=$!
    exec 3>"$tmp/in"
    if ! wait_for '^init: starting sh' || ! wait_for '\$ $'; then
        fail="no shell prompt"
    fi
    shell=$((SECONDS - start))
    for c in "echo hello xv6" "ls" "cat README | wc" "forktest" "stressfs" \
             "ls" "usertests"; do
        [ -n "$fail" ] && break
        run "$c" || fail="'$c' did not come back to the prompt"
    done
    exec 3>&-
    last=$(grep -a . "$tmp/out" | tail -n 1 | tr -cd '[:print:]')
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    took=$((SECONDS - start))
    o="$tmp/out"
    if [ "$stalled" = yes ]; then
        fail="$fail: no progress for $STALL s after '$last'"
    elif [ -z "$fail" ]; then
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
}

for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP xv6 on $e: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    note=
    attempt "$e"
    if [ "$stalled" = yes ]; then
        note=" (second run: the first stalled: $fail)"
        attempt "$e"
    fi
    if [ -n "$fail" ]; then
        echo "FAIL xv6 on $e: $fail after $took s$note: $(tail -c 300 "$tmp/out" | tr -cd '[:print:]\n' | tail -n 4 | paste -sd'|' -)"
    else
        echo "PASS xv6 on $e (shell after $shell s, all steps and usertests in $took s)$note"
    fi
done
