#!/usr/bin/env bash
# `gaoler explain` against `gaoler regex` on the same log and jail.
#
# Generates a FreeSWITCH (and an sshd) log with ../shared/bench/genlog.py,
# builds gaoler in release mode, and times, as the median of five runs:
#   gaoler regex   -c config LOG JAIL    (the full fail2ban-regex report)
#   gaoler explain -c config JAIL LOG    (replay, every address and ban)
# with gaoler's shipped configuration, then prints both times and the
# ratio explain/regex (the goal: at most 2).
#
#   bench/explain-vs-regex.sh [--lines N] [--workdir DIR]
set -euo pipefail

LINES=2000000
WORK=${TMPDIR:-/tmp}/gaoler-bench
while [ $# -gt 0 ]; do
    case "$1" in
        --lines) LINES=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$HERE/../shared" && pwd)
GENLOG=$SHARED/bench/genlog.py
TARGET=${CARGO_TARGET_DIR:-$HERE/target}
GAOLER=$TARGET/release/gaoler
CFG=$HERE/config
mkdir -p "$WORK"

echo "building gaoler (release)..." >&2
(cd "$HERE" && cargo build --release -q -p gaoler)

now() { date +%s.%N; }
median5() {
    local times=() t0 t1
    for _ in 1 2 3 4 5; do
        t0=$(now)
        "$@" > /dev/null
        t1=$(now)
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

printf '\n%-11s %9s %12s %14s %8s\n' kind lines "regex (s)" "explain (s)" ratio
for kind in freeswitch sshd; do
    log=$WORK/$kind-$LINES.log
    [ -s "$log" ] || python3 "$GENLOG" "$kind" "$LINES" > "$log"
    r=$(median5 "$GAOLER" regex -c "$CFG" "$log" "$kind")
    e=$(median5 "$GAOLER" explain --no-progress -c "$CFG" "$kind" "$log")
    printf '%-11s %9s %12s %14s %8s\n' "$kind" "$LINES" "$r" "$e" \
        "$(awk -v a="$e" -v b="$r" 'BEGIN { printf "%.2f", a / b }')"
done
