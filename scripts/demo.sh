#!/usr/bin/env bash
# demo.sh - boot the default guest on every engine that is usable here and
# show what popek measured: the guest's console, its exit status, and the
# engine's statistics (exits by reason on kvm, instructions and MIPS on the
# software engines).  Run by `make demo`.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
GUEST=${GUEST:-$BUILD/guests/demo.elf}
[ -f "$GUEST" ] || GUEST=$BUILD/guests/hello.elf
ran=0
while read -r engine state rest; do
    if [ "$state" != usable ]; then
        echo "== $engine: skipped: $rest"
        continue
    fi
    echo "== $engine: $BUILD/popek run --engine $engine --kernel $GUEST --stats $BUILD/demo-$engine.json"
    "$BUILD/popek" run --engine "$engine" --kernel "$GUEST" --timeout 60 \
        --stats "$BUILD/demo-$engine.json" </dev/null
    echo "== $engine: exit status $? (1 = the guest reported success)"
    echo "== $engine: statistics ($BUILD/demo-$engine.json):"
    sed -n '/"'"$engine"'": {/,/^  }/p' "$BUILD/demo-$engine.json"
    ran=$((ran + 1))
done < <("$BUILD/popek" engines)
[ "$ran" -gt 0 ] || { echo "no engine is usable here" >&2; exit 1; }
