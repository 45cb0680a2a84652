#!/usr/bin/env bash
# run_fuzz.sh [--check] FUZZ_BUILD [SECONDS] - run every libFuzzer harness
# built in FUZZ_BUILD/fuzz (make fuzz-build) for SECONDS each (default 60;
# --check: 4 s each with seed 1, as `make check` does).  Each starts from
# the generated seeds (tests/fuzz/mkseeds.py), the committed regression
# inputs (tests/fuzz/regress/NAME: every crash or divergence ever found)
# and, outside --check, the corpus kept in FUZZ_BUILD/corpus/NAME.  Prints
# one PASS/FAIL line per harness with its executions and crashes; a crash,
# sanitizer report, divergence or hang (> 30 s on one input) is a FAIL and
# leaves the input in FUZZ_BUILD/artifacts.
set -u
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
B=${1:-build-fuzz}
secs=${2:-60}
[ $check = 1 ] && secs=4
if ! ls "$B"/fuzz/fuzz_* >/dev/null 2>&1; then
    echo "SKIP fuzz: no harnesses in $B/fuzz (make fuzz-build)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tests/fuzz/mkseeds.py "$tmp/seeds"
mkdir -p "$B/artifacts"
total_runs=0
total_fail=0
for bin in "$B"/fuzz/fuzz_*; do
    case "$bin" in *.d) continue ;; esac
    name=${bin##*/fuzz_}
    case $name in
    diff) maxlen=1024 ;;
    devices) maxlen=4096 ;;
    hypercall) maxlen=2048 ;;
    *) maxlen=16384 ;;
    esac
    if [ $check = 1 ]; then
        corpus=$tmp/corpus-$name
    else
        corpus=$B/corpus/$name
    fi
    mkdir -p "$corpus"
    dirs=("$corpus")
    [ -d "$tmp/seeds/$name" ] && dirs+=("$tmp/seeds/$name")
    [ -d "tests/fuzz/regress/$name" ] && dirs+=("tests/fuzz/regress/$name")
    log=$tmp/$name.log
    timeout -k 10 $((secs + 120)) "$bin" "${dirs[@]}" -seed=1 \
        -max_total_time="$secs" -timeout=30 -len_control=0 -max_len=$maxlen \
        -artifact_prefix="$B/artifacts/$name-" -print_final_stats=1 \
        >/dev/null 2>"$log"
    rc=$?
    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n1)
    runs=${runs:-$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n1)}
    runs=${runs:-0}
    total_runs=$((total_runs + runs))
    if [ $rc = 0 ]; then
        echo "PASS fuzz/$name: $runs executions in ${secs} s, 0 crashes"
    else
        total_fail=$((total_fail + 1))
        art=$(grep -oE "Test unit written to [^ ]*" "$log" | tail -n1)
        why=$(grep -m1 -E 'ERROR|differ|deadly signal|timeout' "$log")
        echo "FAIL fuzz/$name: status $rc after $runs executions: $why; $art"
        grep -A6 -E 'differ|ERROR: AddressSanitizer|runtime error' "$log" | head -n 12 | sed 's/^/    /'
    fi
done
echo "fuzz: $total_runs executions, $total_fail harnesses with a crash or divergence"
