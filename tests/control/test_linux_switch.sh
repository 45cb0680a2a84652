#!/usr/bin/env bash
# test_linux_switch.sh - live engine switching during a Linux boot: Debian's
# i686 kernel (cache/linux, as tests/run_linux.sh) boots on bt and is moved
# bt -> interp -> bt -> interp -> bt at SWITCH_TIMES (seconds after start,
# chosen to fall inside the boot); it passes when the boot reaches
# POPEK-LINUX-OK, popek ends with status 0, all switches happened (--stats
# engine_switches) with each engine running a real part of the boot, and
# the console output equals an unswitched boot on bt once the lines that
# depend on timing are dropped (kernel [timestamps], the delay-loop
# calibration, the TSC calibration against the PIT and the clocksource
# choices that follow from it (they depend on how fast the host runs the
# calibration loop), the wall-clock time in the RTC and audit lines, and the
# messages of the initramfs unpacking, which runs asynchronously and
# interleaves with other messages as timing has it), and the messages of
# timer checks a loaded host can fail (the PM timer rate check, a slow
# hrtimer interrupt, RTC interrupts the HPET emulation counted as lost).  Prints PASS/FAIL/SKIP lines.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
CACHE=${LINUX_CACHE:-cache/linux}
TIMES=${SWITCH_TIMES:-"2:interp 5:bt 7:interp 9:bt"}
kernel=$CACHE/vmlinuz-686
initrd=$CACHE/initramfs.gz
if [ ! -s "$kernel" ] || [ ! -s "$initrd" ]; then
    echo "SKIP linux-switch: $kernel or $initrd missing (scripts/setup.sh)"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# both boots use one copy (the shared cache may be rebuilt meanwhile)
cp "$initrd" "$out/initrd.gz" && initrd=$out/initrd.gz
boot() { # boot NAME [popek args...]
    local name=$1
    shift
    timeout -k 5 900 "$POPEK" run -e bt --kernel "$kernel" --initrd "$initrd" \
        --append "$(cat tests/linux/cmdline)" -m 256M --timeout 890 \
        --stats "$out/$name.json" "$@" </dev/null >"$out/$name.out" 2>"$out/$name.err"
    echo $? >"$out/$name.status"
}
filter() {
    sed -E 's/^\[ *[0-9]+\.[0-9]+\] //; s/audit\([0-9.]+:/audit(T:/' "$1" |
        grep -vE 'BogoMIPS|lpj=|PM-Timer running at invalid rate|hrtimer: interrupt took|hpet: Lost [0-9]+ RTC interrupts|setting system clock to|unpack rootfs|Freeing initrd memory|^tsc: |clocksource|sched_clock|Unstable clock detected|trace_clock=local|^on the kernel command line'
}
args=()
n=0
for t in $TIMES; do
    args+=(--switch-engine-after "$t")
    n=$((n + 1))
done
boot plain
boot switched "${args[@]}"
fails=0
for b in plain switched; do
    st=$(cat "$out/$b.status")
    if [ "$st" -ne 0 ] || ! grep -q '^POPEK-LINUX-OK' "$out/$b.out"; then
        echo "FAIL linux-switch: the $b boot ended with status $st:"
        tail -n 15 "$out/$b.out" "$out/$b.err" | sed 's/^/    /'
        fails=$((fails + 1))
    fi
done
got=$(grep -oE '"engine_switches": [0-9]+' "$out/switched.json" | grep -oE '[0-9]+$')
if [ "${got:-0}" -ne "$n" ]; then
    echo "FAIL linux-switch: $got engine switches, expected $n (the boot ended before the last?)"
    fails=$((fails + 1))
fi
secs=$(tr -d '\n ' <"$out/switched.json" | grep -oE '"engine_seconds":\{[^}]*\}')
if ! diff -u <(filter "$out/plain.out") <(filter "$out/switched.out") >"$out/diff"; then
    echo "FAIL linux-switch: the console output differs from an unswitched boot:"
    head -n 30 "$out/diff" | sed 's/^/    /'
    fails=$((fails + 1))
fi
if [ "$fails" -eq 0 ]; then
    echo "PASS linux-switch: bt boot switched $got times ($TIMES) reached POPEK-LINUX-OK with the same console output; $secs"
fi
[ "$fails" -eq 0 ]
