#!/usr/bin/env bash
# run_cli.sh - popek's command line and clean stops, end to end: bad
# --timeout values and unwritable --stats/-D paths are refused before the
# guest runs (status 2); QEMU's single-dash spellings work or are refused
# naming popek's flag; SIGTERM/SIGINT/SIGHUP stop a running guest with
# status 16 and still write --stats; the seccomp filter is on while a guest
# runs (/proc/PID/status) and a forbidden system call from the vCPU thread
# ends popek with status 10 and a message; -d/-D log lines are labelled
# with the engine; --engine auto says what it chose.  Prints PASS/FAIL.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
G=$BUILD/guests
E=${CLI_ENGINE:-bt}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

pass() { echo "PASS cli/$1"; }
fail() { echo "FAIL cli/$1: $2"; }

# expect NAME STATUS STDERR-PATTERN -- popek args...
expect() {
    local name=$1 want=$2 pat=$3
    shift 4
    timeout -k 5 60 "$POPEK" "$@" </dev/null >"$t/out" 2>"$t/err"
    local rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$name" "status $rc, want $want: $(head -c 300 "$t/err" | tr '\n' '|')"
    elif [ -n "$pat" ] && ! grep -qE -- "$pat" "$t/err"; then
        fail "$name" "stderr lacks /$pat/: $(head -c 300 "$t/err" | tr '\n' '|')"
    else
        pass "$name"
    fi
}

for v in inf nan -1 0 abc 1e999 ''; do
    expect "timeout-'$v'-refused" 2 "bad --timeout" -- run -e "$E" -k "$G/hello.elf" --timeout "$v"
done
expect timeout-fraction-ok 1 "" -- run -e "$E" -k "$G/hello.elf" --timeout 0.75
expect stats-path-checked-first 2 "cannot open --stats" -- run -e "$E" -k "$G/hello.elf" --stats /nonexistent/dir/s.json
[ -s "$t/out" ] && fail stats-path-before-guest "the guest ran: $(head -c 100 "$t/out")" || pass stats-path-before-guest
expect log-path-checked-first 2 "cannot open log file" -- run -e "$E" -k "$G/hello.elf" -D /nonexistent/dir/log
expect qemu-spellings 1 "" -- run -e "$E" -kernel "$G/cmdline.elf" -append "n=123 name=abc hex=0x1f big=5k flag" -m 64 -nographic -serial stdio -no-reboot
cmp -s "$t/out" tests/guests/cmdline.expected && pass qemu-append-reached-guest || fail qemu-append-reached-guest "console differs"
expect qemu-serial-file-refused 2 "stdio" -- run -e "$E" -kernel "$G/hello.elf" -serial file:x
expect qemu-enable-kvm-refused 2 "--engine" -- run -kernel "$G/hello.elf" -enable-kvm
expect qemu-unknown-refused 2 "QEMU option popek does not have" -- run -kernel "$G/hello.elf" -smp 2
expect unknown-option-named 2 "unknown option '--frobnicate'" -- run -k "$G/hello.elf" --frobnicate
expect log-help 0 "" -- run -d help
grep -q '^  unimp' "$t/out" && pass log-help-lists || fail log-help-lists "no unimp line"
expect log-bad-category 2 "unknown log category" -- run -k "$G/hello.elf" -d bogus
expect unimp-silent-by-default 1 "" -- run -e "$E" -k "$G/safety_syscall.elf"
grep -q "not implemented" "$t/err" && fail unimp-off "logged without -d" || pass unimp-off
expect unimp-labelled 1 "^popek\[$E\] unimp: #UD" -- run -e "$E" -k "$G/safety_syscall.elf" -d unimp
expect unimp-to-file 1 "" -- run -e "$E" -k "$G/safety_syscall.elf" -d unimp -D "$t/log"
grep -q "^popek\[$E\] unimp: #UD" "$t/log" && pass unimp-file-labelled || fail unimp-file-labelled "$(head -c 200 "$t/log")"
expect engine-auto-says-why 1 "engine [a-z]+: auto: 32-bit multiboot" -- run -v -k "$G/hello.elf" --stats "$t/s.json"
grep -q '"engine_choice": "auto: ' "$t/s.json" && pass engine-auto-in-stats || fail engine-auto-in-stats "$(cat "$t/s.json")"
expect forbidden-syscall-killed 10 "forbidden system call 59 \(execve\)" -- run -e "$E" -k "$G/spin_timeout.elf" --timeout 20 --test-forbidden-syscall

# Signals and /proc/PID/status while the spinning guest runs.
for sig in TERM INT HUP; do
    rm -f "$t/s.json"
    "$POPEK" run -e "$E" -k "$G/spin_timeout.elf" --timeout 60 --stats "$t/s.json" </dev/null >"$t/out" 2>"$t/err" &
    pid=$!
    for _ in $(seq 50); do grep -q spinning "$t/out" 2>/dev/null && break; sleep 0.1; done
    if [ "$sig" = TERM ]; then
        grep -q "^Seccomp:[[:space:]]*2" /proc/$pid/status && pass seccomp-on-while-running ||
            fail seccomp-on-while-running "$(grep Seccomp /proc/$pid/status)"
    fi
    kill -$sig $pid
    wait $pid; rc=$?
    if [ $rc = 16 ] && grep -q "stopped by SIG$sig" "$t/s.json" && grep -q "stopped by SIG$sig" "$t/err"; then
        pass "sig$sig-clean-stop"
    else
        fail "sig$sig-clean-stop" "status $rc; $(tr '\n' ' ' <"$t/err") $(head -c 300 "$t/s.json" 2>/dev/null)"
    fi
done
# The same with the gdb stub and the monitor listening: their threads must
# not take the stop signals (a SIGTERM there killed popek, no stats).
for ctl in gdb monitor; do
    rm -f "$t/s.json"
    arg="--gdb tcp:127.0.0.1:0"
    [ $ctl = monitor ] && arg="--monitor unix:$t/mon.sock"
    "$POPEK" run -e "$E" -k "$G/spin_timeout.elf" --timeout 60 --stats "$t/s.json" $arg </dev/null >"$t/out" 2>"$t/err" &
    pid=$!
    for _ in $(seq 50); do grep -q spinning "$t/out" 2>/dev/null && break; sleep 0.1; done
    kill -TERM $pid
    wait $pid; rc=$?
    if [ $rc = 16 ] && grep -q "stopped by SIGTERM" "$t/s.json"; then
        pass "sigTERM-clean-stop-with-$ctl"
    else
        fail "sigTERM-clean-stop-with-$ctl" "status $rc; $(tr '\n' ' ' <"$t/err")"
    fi
done
"$POPEK" run -e "$E" -k "$G/spin_timeout.elf" --timeout 60 --no-sandbox </dev/null >"$t/out" 2>"$t/err" &
pid=$!
for _ in $(seq 50); do grep -q spinning "$t/out" 2>/dev/null && break; sleep 0.1; done
grep -q "^Seccomp:[[:space:]]*0" /proc/$pid/status && pass no-sandbox-flag || fail no-sandbox-flag "$(grep Seccomp /proc/$pid/status)"
kill -TERM $pid; wait $pid

# popek-bench's Debian macrobenchmark rows (--macro): bad values are
# refused, and without the image every row is a clear SKIP (exit 0).
B=$BUILD/popek-bench
timeout 30 "$B" --macro-timeout 0 </dev/null >"$t/out" 2>"$t/err"
[ $? = 2 ] && grep -q "bad --macro-timeout" "$t/err" && pass bench-macro-timeout-refused ||
    fail bench-macro-timeout-refused "$(head -c 200 "$t/err")"
timeout 120 "$B" --quick --only macro --engines "$E" --macro-image "$t/no-such.img" \
    --out "$t/bench" </dev/null >"$t/out" 2>"$t/err"
rc=$?
if [ $rc = 0 ] && [ "$(grep -c "SKIP: no Debian root filesystem ($t/no-such.img" "$t/bench/results.md")" = 1 ] &&
   grep -q '^| \*\*compile\*\* ' "$t/bench/results.md" &&
   ! grep -q '^| \*\*callret\*\* ' "$t/bench/results.md"; then
    pass bench-macro-skips-without-image
else
    fail bench-macro-skips-without-image "status $rc: $(head -c 300 "$t/bench/results.md" 2>/dev/null) $(tail -c 200 "$t/err")"
fi
