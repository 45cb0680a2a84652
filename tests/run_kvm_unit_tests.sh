#!/bin/bash
# run_kvm_unit_tests.sh - run kvm-unit-tests (i386 build) on popek's engines,
# and optionally on QEMU TCG for comparison, as x86/unittests.cfg says QEMU
# runs each test (-kernel x86/T.flat, -append ARGS, -m SIZE; -smp N).
#
#   KUT_DIR=/path/to/kvm-unit-tests [ENGINES="interp bt"] [QEMU=1]
#   [TESTS="msr smap ..."] [POPEK=build/popek] tests/run_kvm_unit_tests.sh
#
# KUT_DIR is a kvm-unit-tests tree built with ./configure --arch=i386 (the
# .flat files in $KUT_DIR/x86).  Not part of the repository; without it this
# script prints SKIP and exits 0.  One line per test and engine:
#   RESULT test engine [detail]
# RESULT is PASS (isa-debug-exit status 1: the test's exit(0)), SKIP (status
# 155: exit(77), every check skipped; or a test this machine cannot run:
# accel=kvm, -device hyperv-testdev, arch x86_64, .flat not built) or FAIL
# (any other status, with the status and the failing report lines).  popek
# has one CPU, so smp = N is not passed to it (QEMU gets -smp N).  Ends with
# a summary per engine; exit status 1 if any test failed on a popek engine.
set -u
cd "$(dirname "$0")/.."
if [ -z "${KUT_DIR:-}" ]; then
    echo "SKIP kvm-unit-tests (set KUT_DIR to a kvm-unit-tests tree built for i386)"
    exit 0
fi
CFG=$KUT_DIR/x86/unittests.cfg
[ -f "$CFG" ] || { echo "run_kvm_unit_tests: no $CFG" >&2; exit 2; }
POPEK=${POPEK:-build/popek}
ENGINES=${ENGINES-interp bt}
QEMU=${QEMU:-0}
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/kut-logs.XXXXXX)}
mkdir -p "$LOGDIR"
declare -A npass nfail nskip
failed_popek=0

# result ENGINE NAME STATUS LOG: print the line for one run
result() {
    local engine=$1 name=$2 st=$3 log=$4 res detail=""
    case $st in
        1) res=PASS ;;
        155) res=SKIP; detail="(all checks skipped)" ;;
        *) res=FAIL
           detail="status $st: $(grep -aE '^(FAIL|ABORT)|Unhandled|assert' "$log" | head -3 | tr -d '\r' | tr '\n' ';')"
           [ "$engine" != qemu ] && failed_popek=1 ;;
    esac
    printf '%-5s %-26s %-6s %s\n' "$res" "$name" "$engine" "$detail"
    case $res in PASS) npass[$engine]=$((${npass[$engine]:-0} + 1)) ;;
        FAIL) nfail[$engine]=$((${nfail[$engine]:-0} + 1)) ;;
        SKIP) nskip[$engine]=$((${nskip[$engine]:-0} + 1)) ;; esac
}

skip_all() {
    local name=$1 why=$2 e
    for e in $ENGINES $([ "$QEMU" = 1 ] && echo qemu); do
        printf '%-5s %-26s %-6s %s\n' SKIP "$name" "$e" "($why)"
        nskip[$e]=$((${nskip[$e]:-0} + 1))
    done
}

run_one() {
    local name=$1 file=$2 smp=$3 extra=$4 arch=$5 accel=$6 timeout=$7
    local flat=$KUT_DIR/x86/$file
    if [ -n "${TESTS:-}" ] && ! [[ " $TESTS " == *" $name "* ]]; then return; fi
    [ "$arch" = x86_64 ] && return
    [ -f "$flat" ] || { skip_all "$name" "not built"; return; }
    [ "$accel" = kvm ] && { skip_all "$name" "accel = kvm"; return; }
    [[ "$extra" == *hyperv-testdev* ]] && { skip_all "$name" "needs -device hyperv-testdev"; return; }
    # the parameters, split as the shell would (quotes in -append)
    local -a params=() append=() mem=()
    eval "params=($extra)"
    local i=0
    while [ $i -lt ${#params[@]} ]; do
        case ${params[$i]} in
            -append|--append) append=(-a "${params[$((i + 1))]}"); i=$((i + 1)) ;;
            -m) mem=(-m "${params[$((i + 1))]}M"); i=$((i + 1)) ;;
            *) ;;
        esac
        i=$((i + 1))
    done
    local e log st
    for e in $ENGINES; do
        log=$LOGDIR/$name.$e.log
        nice "$POPEK" run -q -e "$e" --timeout "$timeout" -k "$flat" "${append[@]}" "${mem[@]}" \
            </dev/null >"$log" 2>&1
        st=$?
        result "$e" "$name" "$st" "$log"
    done
    if [ "$QEMU" = 1 ]; then
        log=$LOGDIR/$name.qemu.log
        timeout "$timeout" nice qemu-system-i386 -accel tcg -nodefaults -nographic \
            -device pc-testdev -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
            -serial stdio -kernel "$flat" -smp "${smp:-1}" "${params[@]}" \
            </dev/null >"$log" 2>&1
        st=$?
        result qemu "$name" "$st" "$log"
    fi
}

name="" file="" smp="" extra="" arch="" accel="" tmo=""
flush() {
    [ -n "$name" ] && run_one "$name" "$file" "$smp" "$extra" "$arch" "$accel" "${tmo:-${KUT_TIMEOUT:-90}}"
    name="" file="" smp="" extra="" arch="" accel="" tmo=""
}
while IFS= read -r line; do
    case $line in
        \#*|"") continue ;;
        \[*\]) flush; name=${line#[}; name=${name%]} ;;
        file\ =*) file=${line#*= } ;;
        smp\ =*) smp=${line#*= } ;;
        extra_params\ =*) extra=${line#*= } ;;
        arch\ =*) arch=${line#*= } ;;
        accel\ =*) accel=${line#*= } ;;
        timeout\ =*) tmo=${line#*= } ;;
    esac
done <"$CFG"
flush

for e in $ENGINES $([ "$QEMU" = 1 ] && echo qemu); do
    echo "SUMMARY $e: ${npass[$e]:-0} passed, ${nfail[$e]:-0} failed, ${nskip[$e]:-0} skipped (logs in $LOGDIR)"
done
exit $failed_popek
