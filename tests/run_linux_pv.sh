#!/usr/bin/env bash
# run_linux_pv.sh - Linux and popek's paravirtual clock: Debian's i686
# kernel boots with `--cpu kvm` (KVM's CPUID leaves and kvmclock, src/pv and
# src/devices/kvmclock.c) and must detect KVM and switch to clocksource
# kvm-clock by itself; without it, it must see no hypervisor and use another
# clocksource.  Both boots must reach POPEK-LINUX-OK.  With --cpu kvm Linux
# must also turn on PV EOI (MSR_KVM_PV_EOI_EN) and skip EOI writes through
# it: popek's --stats "lapic" object counts the EOIs it did for the guest
# (pv_eoi_taken > 0); a third boot with --cpu kvm,-pv-eoi must still use
# kvm-clock and never enable it.  Prints PASS/FAIL/SKIP.
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
stats=$(mktemp)
trap 'rm -f "$out" "$stats"' EXIT
# lapic_stat KEY: the value of "KEY" in the --stats lapic object (empty if
# there is none: PV EOI not offered)
lapic_stat() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("lapic", {}).get(sys.argv[2], ""))' "$stats" "$1" 2>/dev/null
}
for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP $e/linux-kvmclock: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    for mode in on off noeoi; do
        args=()
        [ $mode = on ] && args=(--cpu kvm)
        [ $mode = noeoi ] && args=(--cpu kvm,-pv-eoi)
        : >"$stats"
        timeout -k 5 $((TIMEOUT + 10)) "$POPEK" run --engine "$e" \
            --kernel "$kernel" --initrd "$initrd" \
            --append "$(cat tests/linux/cmdline)" -m 256M "${args[@]}" \
            --timeout "$TIMEOUT" --stats "$stats" </dev/null >"$out" 2>&1
        st=$?
        eoi_taken=$(lapic_stat pv_eoi_taken)
        cs=$(grep -o 'Switched to clocksource [a-z0-9-]*' "$out" | tail -n1)
        hv=$(grep -c 'Hypervisor detected: KVM' "$out")
        name="$e/linux-kvmclock-$mode"
        [ $mode = noeoi ] && name="$e/linux-kvmclock-on-pv-eoi-off"
        if [ $st -ne 0 ] || ! grep -q '^POPEK-LINUX-OK' "$out"; then
            echo "FAIL $name: status $st; last console lines:"
            tail -n 10 "$out" | sed 's/^/    /'
        elif [ $mode != off ] && { [ "$cs" != "Switched to clocksource kvm-clock" ] || [ "$hv" = 0 ]; }; then
            echo "FAIL $name: offered kvmclock, but: '${cs:-no clocksource switch}', KVM detected $hv times"
        elif [ $mode = on ] && ! [ "${eoi_taken:-0}" -gt 0 ]; then
            echo "FAIL $name: offered PV EOI, but Linux skipped no EOI through it (stats lapic: pv_eoi_taken '${eoi_taken}')"
        elif [ $mode = noeoi ] && [ -n "$eoi_taken" ]; then
            echo "FAIL $name: PV EOI turned off, but the lapic offers it (pv_eoi_taken '$eoi_taken')"
        elif [ $mode = off ] && { [ "$cs" = "Switched to clocksource kvm-clock" ] || [ "$hv" != 0 ]; }; then
            echo "FAIL $name: nothing offered, but: '$cs', KVM detected $hv times"
        else
            echo "PASS $name (${cs#Switched to }${eoi_taken:+, $eoi_taken EOIs skipped through PV EOI})"
        fi
    done
done
