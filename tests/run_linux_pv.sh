#!/usr/bin/env bash
# run_linux_pv.sh - Linux and popek's paravirtual clock: Debian's i686
# kernel boots with `--cpu kvm` (KVM's CPUID leaves and kvmclock, src/pv and
# src/devices/kvmclock.c) and must detect KVM and switch to clocksource
# kvm-clock by itself; without it, it must see no hypervisor and use another
# clocksource.  Both boots must reach POPEK-LINUX-OK.  Prints PASS/FAIL/SKIP.
#   LINUX_PV_ENGINES="bt"   engines to try (interp works too, in minutes)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
CACHE=${LINUX_CACHE:-cache/linux}
ENGINES=${LINUX_PV_ENGINES:-bt}
TIMEOUT=${LINUX_TIMEOUT:-900}
kernel=$CACHE/vmlinux-686
initrd=$CACHE/initramfs.gz
if [ ! -s "$kernel" ] || [ ! -s "$initrd" ]; then
    echo "SKIP linux-pv: $kernel or $initrd missing: run scripts/setup.sh"
    exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP $e/linux-kvmclock: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    for mode in on off; do
        args=()
        [ $mode = on ] && args=(--cpu kvm)
        timeout -k 5 $((TIMEOUT + 10)) "$POPEK" run --engine "$e" \
            --kernel "$kernel" --initrd "$initrd" \
            --append "$(cat tests/linux/cmdline)" -m 256M "${args[@]}" \
            --timeout "$TIMEOUT" </dev/null >"$out" 2>&1
        st=$?
        cs=$(grep -o 'Switched to clocksource [a-z0-9-]*' "$out" | tail -n1)
        hv=$(grep -c 'Hypervisor detected: KVM' "$out")
        name="$e/linux-kvmclock-$mode"
        if [ $st -ne 0 ] || ! grep -q '^POPEK-LINUX-OK' "$out"; then
            echo "FAIL $name: status $st; last console lines:"
            tail -n 10 "$out" | sed 's/^/    /'
        elif [ $mode = on ] && { [ "$cs" != "Switched to clocksource kvm-clock" ] || [ "$hv" = 0 ]; }; then
            echo "FAIL $name: offered kvmclock, but: '${cs:-no clocksource switch}', KVM detected $hv times"
        elif [ $mode = off ] && { [ "$cs" = "Switched to clocksource kvm-clock" ] || [ "$hv" != 0 ]; }; then
            echo "FAIL $name: nothing offered, but: '$cs', KVM detected $hv times"
        else
            echo "PASS $name (${cs#Switched to })"
        fi
    done
done
