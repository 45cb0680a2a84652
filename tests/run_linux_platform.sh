#!/usr/bin/env bash
# run_linux_platform.sh - the PC platform as Linux sees it: boot Debian's
# i686 kernel with the busybox initramfs (as tests/run_linux.sh does) on
# each usable software engine with only the command line of
# tests/linux/cmdline (console=ttyS0 and the test's reboot=k panic=-1
# nokaslr: no acpi=off, nolapic or noapic) plus popek.exit=poweroff, which
# makes /init show the clocksource, the CPU MHz and /proc/interrupts and end
# with `poweroff -f`.  It passes when popek ends with status 0 through ACPI
# S5 and the log shows:
#   the ACPI tables found (RSDP, FACP, APIC = MADT, HPET lines);
#   the local APIC and the I/O APIC in use (symmetric I/O mode, IOAPIC[0],
#   local timer and IO-APIC lines in /proc/interrupts);
#   the HPET (hpet0 at 0xfed00000) and the ACPI PM timer (acpi_pm
#   clocksource registered);
#   the TSC calibrated (refined, or known from CPUID) and clocksource tsc
#   (switched, and current at the end), cpu MHz not 0;
# and none of the fallback warnings: "Local APIC disabled by BIOS", "A valid
# RSDP was not found", "Unable to calibrate against PIT", "Marking TSC
# unstable", "PM-Timer running at invalid rate", "IO-APIC + timer doesn't
# work".  Linux's PIT and PM-timer checks time the VMM: a host so busy that
# popek is descheduled for milliseconds inside them can fail them, so a run
# that fails only on those is tried once more (and says so).
# Prints PASS/FAIL/SKIP lines.
#   LINUX_ENGINES="interp bt"   engines to try (kvm is skipped where it
#                               cannot run the i686 kernel)
#   LINUX_CACHE=DIR             kernel, busybox and initramfs (cache/linux)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
CACHE=${LINUX_CACHE:-cache/linux}
ENGINES=${LINUX_ENGINES:-"interp bt kvm"}
TIMEOUT=${LINUX_TIMEOUT:-900}
kernel=$CACHE/vmlinuz-686
initrd=$CACHE/initramfs.gz
if [ ! -s "$kernel" ] || [ ! -s "$CACHE/busybox" ]; then
    echo "SKIP linux-platform: $kernel missing: run scripts/fetch-linux.sh (scripts/setup.sh does)"
    exit 0
fi
if [ ! -s "$initrd" ] || [ tests/linux/init -nt "$initrd" ] ||
    [ scripts/mkinitramfs.sh -nt "$initrd" ]; then
    scripts/mkinitramfs.sh "$CACHE" "$initrd" >/dev/null ||
        { echo "FAIL linux-platform: cannot build the initramfs"; exit 0; }
fi
out=$(mktemp)
trap 'rm -f "$out" "$out.txt"' EXIT

# Lines that must appear: "regex ;; what it shows[ ;; timing]" (timing:
# Linux drops the line when its own timing check failed).
must=(
    'ACPI: RSDP 0x0+F0000 .*POPEK ;; ACPI tables: RSDP'
    'ACPI: FACP 0x ;; ACPI tables: FADT'
    'ACPI: APIC 0x ;; ACPI tables: MADT'
    'ACPI: HPET 0x ;; ACPI tables: HPET'
    'ACPI: PM-Timer IO Port: 0x608 ;; the PM timer from the FADT'
    'IOAPIC\[0\]: apic_id 1, version [0-9]+, address 0xfec00000, GSI 0-23 ;; the I/O APIC from the MADT'
    'Enabling APIC mode: +Flat\. +Using 1 I/O APICs ;; local APIC and I/O APIC in use'
    'hpet0: at MMIO 0xfed00000 ;; HPET in use'
    'clocksource: acpi_pm: mask ;; ACPI PM timer clocksource ;; timing'
    'tsc: (Refined TSC clocksource calibration|Detected) [1-9][0-9.]* MHz ;; TSC calibrated'
    'clocksource: Switched to clocksource tsc$ ;; clocksource tsc'
    'popek-init: clocksource: tsc$ ;; tsc still the clocksource at the end'
    'popek-init: cpu MHz[[:space:]]*: [1-9] ;; cpu MHz not 0'
    'popek-init: interrupts: +LOC: +[1-9] ;; local APIC timer interrupts'
    'popek-init: interrupts: .*IO-APIC ;; interrupts through the I/O APIC'
    'ACPI: PM: Preparing to enter system sleep state S5 ;; poweroff through ACPI S5'
    'popek: guest powered off \(ACPI S5\) ;; popek saw the S5 power-off'
    '^POPEK-LINUX-OK ;; the init script worked'
)
# Lines that must not appear: "regex[ ;; timing]"; the timing ones can
# appear on a host so busy that popek is descheduled inside Linux's
# measurement.
mustnot=(
    'Local APIC disabled by BIOS'
    'A valid RSDP was not found'
    'Unable to calibrate against PIT ;; timing'
    'Marking TSC unstable'
    "Marking clocksource 'tsc' as unstable"
    'PM-Timer running at invalid rate ;; timing'
    "IO-APIC \+ timer doesn't work"
    'No local APIC present'
)

check_log() { # check_log FILE: prints problems; returns 0 if none, 2 if only timing ones
    local f=$1.txt bad=0 timing=0 pat what kind rest
    tr -d '\r' <"$1" >"$f"   # the serial console ends lines with CR LF
    for m in "${must[@]}"; do
        pat=${m%% ;; *}; rest=${m#* ;; }; what=${rest%% ;; *}
        kind=""; [ "$rest" != "$what" ] && kind=${rest#* ;; }
        grep -qE -- "$pat" "$f" && continue
        echo "missing: $what ($pat)"
        if [ "$kind" = timing ]; then timing=1; else bad=1; fi
    done
    for m in "${mustnot[@]}"; do
        pat=${m%% ;; *}; what=""; [ "$pat" != "$m" ] && what=${m#* ;; }
        if grep -qE -- "$pat" "$f"; then
            echo "warning present: $(grep -m1 -E -- "$pat" "$f")"
            if [ "$what" = timing ]; then timing=1; else bad=1; fi
        fi
    done
    [ $bad = 1 ] && return 1
    [ $timing = 1 ] && return 2
    return 0
}

cmdline="$(cat tests/linux/cmdline) popek.exit=poweroff"
for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP $e/linux-platform: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    if grep -qE 'limits=[^ ]*paging32' <<<"$line"; then
        echo "SKIP $e/linux-platform: the i686 kernel needs 32-bit paging, which this engine lacks here ($line)" | sed 's/  */ /g'
        continue
    fi
    note=""
    for attempt in 1 2; do
        start=$(date +%s)
        timeout -k 5 $((TIMEOUT + 10)) "$POPEK" run --engine "$e" --kernel "$kernel" \
            --initrd "$initrd" --append "$cmdline" -m 256M \
            --timeout "$TIMEOUT" </dev/null >"$out" 2>&1
        st=$?
        secs=$(($(date +%s) - start))
        problems=$(check_log "$out"); rc=$?
        [ "$st" -eq 0 ] || { problems="exit status $st, expected 0
$problems"; rc=1; }
        if [ $rc = 2 ] && [ $attempt = 1 ]; then
            note=" (second try: the first failed Linux's timing checks: $(tr '\n' ' ' <<<"$problems"))"
            continue
        fi
        break
    done
    if [ $rc = 0 ]; then
        echo "PASS $e/linux-platform ($secs s to power-off)$note"
    else
        echo "FAIL $e/linux-platform:"
        sed 's/^/    /' <<<"$problems"
        echo "    last console lines:"
        tail -n 8 "$out" | sed 's/^/    /'
    fi
    if [ -n "${LINUX_PLATFORM_LOG:-}" ]; then
        cp "$out" "$LINUX_PLATFORM_LOG.$e"
    fi
done
