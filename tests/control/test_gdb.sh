#!/usr/bin/env bash
# test_gdb.sh - the gdb stub with Debian's gdb: on each engine (ENGINES,
# default "interp bt"), popek -S waits for gdb, which breaks on a function
# of tests/guests/gdb_target.c (software breakpoint), continues to its
# second call, reads variables, single-steps, reads memory only mapped at a
# high alias (the stub's page walk), writes a variable (the guest prints
# it), stops at a hardware breakpoint, and continues to the guest's normal
# end (exit code 1 = the guest passed).  Then Ctrl-C (0x03) stops a
# running guest over a raw connection.  Prints PASS/FAIL lines; exit
# status 1 if any failed.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
POPEK=$BUILD/popek
ELF=$PWD/$BUILD/guests/gdb_target.elf
ENGINES=${ENGINES:-"interp bt"}
command -v gdb >/dev/null || { echo "SKIP gdb: gdb is not installed (scripts/setup.sh)"; exit 0; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fails=0
port=$((20000 + $$ % 20000))

check() { # check NAME FILE PATTERN...
    local name=$1 file=$2
    shift 2
    for pat in "$@"; do
        if ! grep -qE -- "$pat" "$file"; then
            echo "FAIL $name: no '$pat' in the output:"
            sed 's/^/    /' "$file" | tail -n 30
            fails=$((fails + 1))
            return
        fi
    done
    echo "PASS $name"
}

for e in $ENGINES; do
    port=$((port + 1))
    cat >"$out/cmds" <<EOG
set confirm off
file $ELF
target remote 127.0.0.1:$port
info registers eip
break step_target
continue
print gdb_counter
continue
print gdb_counter
print i
info registers eip
stepi
info registers eip
x/wx 0x40000000
set var gdb_poke = 0x1234
delete
hbreak gdb_done
continue
print gdb_counter
continue
EOG
    timeout 60 "$POPEK" run -e "$e" -k "$ELF" --gdb "tcp:127.0.0.1:$port" -S \
        --stats "$out/$e.stats" </dev/null >"$out/$e.console" 2>"$out/$e.err" &
    pid=$!
    for _ in $(seq 50); do
        grep -q listening "$out/$e.err" 2>/dev/null && break
        sleep 0.1
    done
    timeout 60 gdb -q -batch -nx -x "$out/cmds" >"$out/$e.gdb" 2>&1
    wait "$pid"
    echo "popek exit status $?" >>"$out/$e.gdb"
    check "gdb/$e: stopped at the first instruction" "$out/$e.gdb" \
        'eip +0x10000c +0x10000c <_start>'
    check "gdb/$e: software breakpoint and a variable" "$out/$e.gdb" \
        'Breakpoint 1, step_target \(i=1\)' '^\$1 = 0$' \
        'Breakpoint 1, step_target \(i=2\)' '^\$2 = 1$' '^\$3 = 2$'
    check "gdb/$e: single step" "$out/$e.gdb" \
        'eip +0x100040 .*<step_target>' 'eip +0x10004[1-9a-f] .*<step_target\+[0-9]+>'
    check "gdb/$e: memory through the guest's paging" "$out/$e.gdb" \
        '0x40000000:[[:space:]]+0xfeedf00d'
    check "gdb/$e: hardware breakpoint" "$out/$e.gdb" \
        'Breakpoint 2, gdb_done \(\)' '^\$4 = 15$'
    check "gdb/$e: runs to its normal end" "$out/$e.gdb" \
        'exited with code 01' 'popek exit status 1'
    check "gdb/$e: memory write seen by the guest" "$out/$e.console" \
        '^gdb_poke=0x1234$' '# 2 checks, 0 failed'
    if [ "$e" = bt ]; then
        # the software breakpoint was reached from bt's dispatcher (int3
        # called out of translated code), not only by the interpreter
        check "gdb/bt: int3 reached through the translator" "$out/bt.stats" \
            '"cc": [1-9]' '"fragments_translated": [1-9]'
    fi
done

# Ctrl-C: a running guest (bench_tsc.elf spins for a second or two) stops with
# T02 (-S: it waits for the client, however slowly python starts); then
# k ends popek (status 14), or D detaches and the guest runs to its end.
e=${ENGINES%% *}
for last in k D; do
port=$((port + 1))
timeout 60 "$POPEK" run -e "$e" -k "$BUILD/guests/bench_tsc.elf" -a n=1 -S \
    --gdb "tcp:127.0.0.1:$port" </dev/null >"$out/cc.console" 2>"$out/cc.err" &
pid=$!
for _ in $(seq 50); do
    grep -q listening "$out/cc.err" 2>/dev/null && break
    sleep 0.1
done
python3 - "$port" "$last" >"$out/cc.log" 2>&1 <<'EOP'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
def pkt(body):
    return b"$" + body + b"#" + b"%02x" % (sum(body) & 0xff)
def reply():
    buf = b""
    while True:
        c = s.recv(1)
        if not c:
            raise SystemExit("connection closed")
        if c == b"$":
            break
    while b"#" not in buf:
        buf += s.recv(1)
    buf += s.recv(2)
    s.sendall(b"+")
    return buf.split(b"#")[0].decode()
s.sendall(pkt(b"?"))
print("stop:", reply())
s.sendall(pkt(b"c"))
time.sleep(0.3)
s.sendall(b"\x03")
print("after ctrl-c:", reply())
s.sendall(pkt(b"g"))
print("regs:", len(reply()))
s.sendall(pkt(sys.argv[2].encode()))
if sys.argv[2] == "D":
    print("detach:", reply())
time.sleep(0.2)
EOP
wait "$pid"
echo "popek exit status $?" >>"$out/cc.log"
if [ "$last" = k ]; then
    check "gdb/$e: Ctrl-C stops a running guest, k ends it" "$out/cc.log" \
        '^stop: T05' '^after ctrl-c: T02' '^regs: 352$' 'popek exit status 14'
else
    check "gdb/$e: D detaches and the guest runs to its end" "$out/cc.log" \
        '^after ctrl-c: T02' '^detach: OK' 'popek exit status 1$'
fi
done
[ "$fails" -eq 0 ]
