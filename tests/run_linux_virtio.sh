#!/usr/bin/env bash
# run_linux_virtio.sh - the virtio test: Debian's i686 kernel with the
# virtio initramfs (scripts/mkinitramfs.sh --virtio: Debian's own virtio
# and ext4 modules, /init from tests/linux/init-virtio), a small ext4 image
# made here with mke2fs -d, user networking and virtio-rng.  Checks, with
# fresh random tokens each run:
#   - bad input is refused before the guest starts with status 2: missing,
#     odd-sized, empty and (when the OS enforces it) read-only images, a
#     bad --net spec, a host port that is already bound;
#   - the guest reads the known file from the disk, writes a new one and
#     syncs (the host reads it back with debugfs), reads virtio-rng, gets
#     10.0.2.15 by DHCP, fetches a page from a server on the host's
#     loopback through 10.0.2.2, and serves a page the host fetches through
#     hostfwd; then it reports POPEK-VIRTIO-OK and reboots (status 0);
#     the interrupts it took must be INTx (XT-PIC/IO-APIC) with the
#     command line of tests/linux/cmdline when that says nolapic, and the
#     run is repeated without nolapic, where they must be MSI-X through
#     the local APIC; with the usual command line (ACPI and the APICs on:
#     the PCI bus found through the DSDT's \_SB.PCI0) the run is repeated
#     with pci=nomsi, where they must be INTx routed by the DSDT's _PRT;
#   - --net tap,ifname=NAME (where /dev/net/tun and network namespaces
#     are available, else SKIP with the reason): in a namespace with a
#     tap interface (10.9.0.1), the guest (static 10.9.0.2) fetches a page
#     from the host side and serves one to it; a name that is not a tap
#     and a missing /dev/net/tun are refused with status 2;
#   - durability: a guest that wrote and synced, after which popek is
#     killed with SIGKILL, leaves the file in the image (e2fsck replays the
#     journal, then debugfs reads it).
# Prints PASS/FAIL/SKIP lines.
#   LINUX_VIRTIO_ENGINES="bt interp"   engines (default bt; on engines
#       other than bt only the main run and durability, unless
#       LINUX_VIRTIO_ALL=1)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
CACHE=${LINUX_CACHE:-cache/linux}
ENGINES=${LINUX_VIRTIO_ENGINES:-bt}
TIMEOUT=${LINUX_TIMEOUT:-600}
kernel=$CACHE/vmlinux-686
[ -s "$kernel" ] || kernel=$CACHE/vmlinuz-686
if [ ! -s "$kernel" ] || [ ! -s "$CACHE/busybox" ] ||
   [ ! -s "$CACHE/modules-686/load-order" ]; then
    echo "SKIP linux-virtio: kernel, busybox or modules-686 missing in $CACHE: run scripts/fetch-linux.sh"
    exit 0
fi
for t in mke2fs debugfs e2fsck python3; do
    command -v $t >/dev/null || { echo "SKIP linux-virtio: $t not found (scripts/setup.sh installs it)"; exit 0; }
done
initrd=$BUILD/linux/initramfs-virtio.gz
mkdir -p "$BUILD/linux"
if [ ! -s "$initrd" ] || [ tests/linux/init-virtio -nt "$initrd" ] ||
   [ scripts/mkinitramfs.sh -nt "$initrd" ] ||
   [ "$CACHE/modules-686/load-order" -nt "$initrd" ]; then
    scripts/mkinitramfs.sh --virtio "$CACHE" "$initrd" >/dev/null ||
        { echo "FAIL linux-virtio: cannot build the virtio initramfs"; exit 0; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/popek-virtio.XXXXXX")
pids=()
ns=""
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
    chattr -i "$work"/*.img 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
token() { od -An -tx8 -N8 /dev/urandom | tr -d ' '; }
cmdline=$(cat tests/linux/cmdline)
# With ACPI on (the default), Linux finds the PCI bus through the DSDT's
# root bridge \_SB.PCI0 and routes INTx through its _PRT.
cmdline="${VIRTIO_CMDLINE:-$cmdline}"
# With only the PIC (no local APIC), Linux cannot use MSI-X: keep it from
# trying (and warning); the devices fall back to INTx.
case " $cmdline " in *" nolapic "*) cmdline="$cmdline pci=nomsi" ;; esac

# ---- bad input: status 2 before the guest starts ----
bad() { # NAME EXPECTED-MESSAGE POPEK-ARGS...
    local name=$1 msg=$2
    shift 2
    local out st
    out=$(timeout 20 "$POPEK" run -e bt -k "$kernel" --timeout 5 "$@" 2>&1 </dev/null)
    st=$?
    if [ $st -eq 2 ] && grep -q -- "$msg" <<<"$out" && ! grep -q 'Linux version' <<<"$out"; then
        echo "PASS linux-virtio/bad-$name"
    else
        echo "FAIL linux-virtio/bad-$name: status $st, output: $(head -c 300 <<<"$out")"
    fi
}
truncate -s 1000 "$work/odd.img"
: > "$work/empty.img"
truncate -s 1M "$work/ro.img"
chmod 444 "$work/ro.img"
bad missing-disk "cannot open disk image" --disk "$work/nonexistent.img"
bad odd-disk "not a non-zero multiple of 512" --disk "$work/odd.img"
bad empty-disk "not a non-zero multiple of 512" --disk "$work/empty.img"
bad disk-option "unknown option" --disk "$work/ro.img,rw"
# root ignores file modes: make the file immutable instead, if allowed
if [ "$(id -u)" = 0 ] && ! chattr +i "$work/ro.img" 2>/dev/null; then
    echo "SKIP linux-virtio/bad-ro-disk: running as root and chattr +i is not possible here"
else
    bad ro-disk "read-only: use --disk" --disk "$work/ro.img"
fi
bad net-spec "expected user" --net bogus
bad hostfwd-spec "bad 'hostfwd=tcp:1.2.3:80'" --net user,hostfwd=tcp:1.2.3:80
# a listener that holds a port (it picks the port itself and tells it)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(120)' >"$work/busy" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/busy" ] && break; sleep 0.1; done
busy=$(cat "$work/busy")
bad port-in-use "cannot forward host TCP port 127.0.0.1:$busy" --net "user,hostfwd=tcp:127.0.0.1:$busy-:80"

# ---- tap networking: a network namespace with a tap interface ----
tap_if=ptap0 tap_hport=8080 tap_skip=""
if [ ! -c /dev/net/tun ]; then
    tap_skip="/dev/net/tun is absent"
elif ! command -v ip >/dev/null; then
    tap_skip="ip (iproute2) not found"
elif ! ip netns add "popek-tap-$$" 2>/dev/null; then
    tap_skip="cannot create a network namespace (needs root)"
else
    ns=popek-tap-$$
    { ip -n "$ns" link set lo up && ip -n "$ns" tuntap add dev $tap_if mode tap &&
      ip -n "$ns" addr add 10.9.0.1/24 dev $tap_if && ip -n "$ns" link set $tap_if up; } ||
        tap_skip="cannot set up the tap interface $tap_if in namespace $ns"
fi
if [ -n "$tap_skip" ]; then
    echo "SKIP linux-virtio/tap: $tap_skip"
else
    # an interface that is not a tap, and no /dev/net/tun: status 2
    out=$(ip netns exec "$ns" timeout 20 "$POPEK" run -e bt -k "$kernel" --timeout 5 --net tap,ifname=lo 2>&1 </dev/null)
    st=$?
    if [ $st -eq 2 ] && grep -q "cannot attach to tap interface 'lo'" <<<"$out"; then
        echo "PASS linux-virtio/bad-tap-not-a-tap"
    else
        echo "FAIL linux-virtio/bad-tap-not-a-tap: status $st, output: $(head -c 300 <<<"$out")"
    fi
    if command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
        out=$(unshare -m sh -c 'mount -t tmpfs none /dev/net && exec "$@"' sh \
              timeout 20 "$POPEK" run -e bt -k "$kernel" --timeout 5 --net tap,ifname=$tap_if 2>&1 </dev/null)
        st=$?
        if [ $st -eq 2 ] && grep -q "cannot open /dev/net/tun" <<<"$out"; then
            echo "PASS linux-virtio/bad-tap-no-tun"
        else
            echo "FAIL linux-virtio/bad-tap-no-tun: status $st, output: $(head -c 300 <<<"$out")"
        fi
    else
        echo "SKIP linux-virtio/bad-tap-no-tun: cannot make a mount namespace (unshare -m)"
    fi
fi

# ---- the guest ----
hport=$(free_port)
mkdir -p "$work/www" "$work/root"
host_page="hello-from-host-$(token)"
echo "$host_page" > "$work/www/hello.txt"
head -c 8M /dev/zero > "$work/www/big.bin" # the guest's throughput probe
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)
if [ -z "$tap_skip" ]; then
    ip netns exec "$ns" python3 -m http.server "$tap_hport" --bind 10.9.0.1 --directory "$work/www" >/dev/null 2>&1 &
    pids+=($!)
fi

make_image() { # IMG KNOWN
    rm -rf "$work/root" && mkdir -p "$work/root"
    echo "$2" > "$work/root/known.txt"
    rm -f "$1"
    truncate -s 32M "$1"
    mke2fs -q -t ext4 -d "$work/root" -F "$1" >/dev/null 2>&1
}

wait_marker() { # FILE MARKER PID: until the marker shows or the process ends
    while kill -0 "$3" 2>/dev/null; do
        grep -q "^$2" "$1" && return 0
        sleep 0.5
    done
    grep -q "^$2" "$1"
}

# One full guest run: NAME CMDLINE IRQMODE (intx or msix: how the virtio
# devices must have interrupted, from the guest's /proc/interrupts).
# With NET=tap (6th argument) the guest is on the tap interface $tap_if
# of the network namespace $ns (10.9.0.1, the guest 10.9.0.2): popek and
# the host side run in that namespace, the guest has a static address.
full_run() {
    local e=$1 name=$2 cl=$3 mode=$4 net=${5:-user}
    local img=$work/disk-$e.img known tok p80 p81 out start pid served st secs why got
    local in_ns=() netarg gaddr=10.0.2.15 ghost=127.0.0.1 port=$hport
    known="known-$(token)"
    make_image "$img" "$known" || { echo "FAIL $e/$name: mke2fs failed"; return; }
    tok=$(token)
    p80=$(free_port)
    p81=$(free_port)
    netarg="user,hostfwd=tcp:127.0.0.1:$p80-:80,hostfwd=tcp:127.0.0.1:$p81-:81"
    if [ "$net" = tap ]; then
        in_ns=(ip netns exec "$ns")
        netarg="tap,ifname=$tap_if"
        gaddr=10.9.0.2 ghost=10.9.0.2 p80=80 p81=81 port=$tap_hport
        cl="$cl popek.ip=10.9.0.2 popek.hostip=10.9.0.1"
    fi
    out=$work/out-$e.txt
    : > "$out"
    start=$(date +%s)
    timeout -k 5 $((TIMEOUT + 10)) "${in_ns[@]}" "$POPEK" run -e "$e" -k "$kernel" -i "$initrd" -m 256M \
        --disk "$img" --rng --net "$netarg" \
        -a "$cl popek.token=$tok popek.hostport=$port" \
        --timeout "$TIMEOUT" </dev/null >"$out" 2>&1 &
    pid=$!
    served=""
    if wait_marker "$out" POPEK-VIRTIO-SERVING $pid; then
        served=$("${in_ns[@]}" python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode().strip())' \
                 "http://$ghost:$p80/index.html" 2>&1)
        "${in_ns[@]}" python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=30); s.sendall(b"done\n"); s.close()' "$ghost" "$p81"
    fi
    wait $pid
    st=$?
    secs=$(($(date +%s) - start))
    tr -d '\r' < "$out" > "$out.txt" && mv "$out.txt" "$out" # serial CRLF
    why=""
    [ $st -eq 0 ] || why="$why status=$st"
    grep -q '^POPEK-VIRTIO-OK' "$out" || why="$why no-OK-marker"
    grep -qx "popek-virtio: known: $known" "$out" || why="$why known-file"
    grep -qx "popek-virtio: fetched: $host_page" "$out" || why="$why host-fetch"
    grep -qx "popek-virtio: eth0 $gaddr" "$out" || why="$why eth0-address"
    [ "$served" = "served-by-guest $tok" ] || why="$why hostfwd(got '$served')"
    got=$(debugfs -R "cat /guest.txt" "$img" 2>/dev/null)
    [ "$got" = "guest-wrote $tok" ] || why="$why written-file(got '$got')"
    # interrupts that were taken, by kind: "popek-virtio: irq: N: COUNT KIND NAME"
    local kinds
    kinds=$(awk '$2 == "irq:" && $4 > 0 {print $5}' "$out" | sort -u | tr '\n' ' ')
    case "$mode" in
    msix) grep -q 'PCI-MSI' <<<"$kinds" || why="$why no-MSI-X-interrupts(saw '$kinds')" ;;
    *) grep -qE 'XT-PIC|IO-APIC' <<<"$kinds" || why="$why no-INTx-interrupts(saw '$kinds')" ;;
    esac
    # throughput lines, for information
    grep -E '^popek-virtio: (dd-read|dd-write|net-fetch):' "$out" | sed "s/^/    [$e\/$name] /"
    if [ -z "$why" ]; then
        echo "PASS $e/$name ($secs s: disk, rng, $([ "$net" = tap ] && echo "tap $tap_if" || echo "DHCP, host fetch, hostfwd"); interrupts: ${kinds% })"
    else
        echo "FAIL $e/$name:$why; last console lines:"
        tail -n 15 "$out" | sed 's/^/    /'
    fi
}

for e in $ENGINES; do
    line=$("$POPEK" engines | awk -v e="$e" '$1 == e')
    if [ "$(awk '{print $2}' <<<"$line")" != usable ]; then
        echo "SKIP $e/linux-virtio: ${line#"$e"}" | sed 's/  */ /g'
        continue
    fi
    img=$work/disk-$e.img
    known="known-$(token)"
    out=$work/out-$e.txt
    # bt runs every variant; slower engines the main run and durability
    # (LINUX_VIRTIO_ALL=1: every variant on every engine)
    all=0
    [ "$e" = bt ] || [ "${LINUX_VIRTIO_ALL:-0}" = 1 ] && all=1
    case " $cmdline " in
    *" nolapic "*)
        full_run "$e" linux-virtio "$cmdline" intx
        # the same with the local APIC: MSI-X
        [ $all = 1 ] && full_run "$e" linux-virtio-msix "$(sed 's/ nolapic//; s/ pci=nomsi//' <<<"$cmdline")" msix ;;
    *)
        full_run "$e" linux-virtio "$cmdline" msix
        # INTx through the DSDT's _PRT (GSI 10/11 on the I/O APIC)
        [ $all = 1 ] && full_run "$e" linux-virtio-intx "$cmdline pci=nomsi" intx ;;
    esac
    # the host's tap interface instead of slirp
    [ $all = 1 ] && [ -z "$tap_skip" ] && full_run "$e" linux-virtio-tap "$cmdline" msix tap

    # Durability: SIGKILL right after the guest says it synced.
    make_image "$img" "$known"
    tok=$(token)
    : > "$out" # no marker left from the run before
    "$POPEK" run -e "$e" -k "$kernel" -i "$initrd" -m 256M --disk "$img" \
        -a "$cmdline popek.token=$tok popek.mode=durable" \
        --timeout "$TIMEOUT" </dev/null >"$out" 2>&1 &
    pid=$!
    if wait_marker "$out" POPEK-VIRTIO-SYNCED $pid; then
        kill -KILL $pid
        wait $pid 2>/dev/null
        e2fsck -fy "$img" >/dev/null 2>&1 # replays the journal
        got=$(debugfs -R "cat /guest.txt" "$img" 2>/dev/null)
        if [ "$got" = "guest-wrote $tok" ] && grep -q 'popek-virtio: disk: ok' "$out"; then
            echo "PASS $e/linux-virtio-durable (file survived SIGKILL after sync)"
        else
            echo "FAIL $e/linux-virtio-durable: image has '$got'"
            tail -n 8 "$out" | sed 's/^/    /'
        fi
    else
        wait $pid
        echo "FAIL $e/linux-virtio-durable: popek ended before the guest synced; last console lines:"
        tail -n 8 "$out" | sed 's/^/    /'
    fi
done
