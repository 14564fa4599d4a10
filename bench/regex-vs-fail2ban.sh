#!/usr/bin/env bash
# Throughput of `gaoler regex` against Debian's `fail2ban-regex` and ripgrep.
#
# Generates freeswitch and sshd logs with ../shared/bench/genlog.py, builds
# gaoler in release mode, runs each tool with the stock filter
# (`-c ../shared/fail2ban-upstream/config`), checks that gaoler and
# fail2ban-regex report the same number of matched lines, and prints lines/s
# and the ratios gaoler/fail2ban and rg/gaoler.
#
#   bench/regex-vs-fail2ban.sh [--lines N] [--f2b-lines M] [--workdir DIR]
#
# --lines N      lines per generated log (default 2,000,000)
# --f2b-lines M  run fail2ban-regex on the first M lines only (it needs
#                minutes for 2M lines); gaoler is then also run on those M
#                lines to compare the counts, and fail2ban's lines/s is
#                what was measured on M lines (printed as such).
#
# gaoler is measured twice, each the median of five runs: the default
# (one thread per CPU; the report is the one a single thread gives) and
# `-j 1` (one thread). Both print the full fail2ban-regex report with exact
# date-template and prefregex statistics. rg gets the failregexes as one
# PCRE2 pattern (`gaoler regex --print-pcre`, unanchored, without the
# prefregex), so its count is only indicative: it is the speed of a plain
# regex scan over the same bytes.
set -euo pipefail

LINES=2000000
F2B_LINES=""
WORK=${TMPDIR:-/tmp}/gaoler-bench
while [ $# -gt 0 ]; do
    case "$1" in
        --lines) LINES=$2; shift 2 ;;
        --f2b-lines) F2B_LINES=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
F2B_LINES=${F2B_LINES:-$LINES}

HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$HERE/../shared" && pwd)
CFG=$SHARED/fail2ban-upstream/config
GENLOG=$SHARED/bench/genlog.py
TARGET=${CARGO_TARGET_DIR:-$HERE/target}
GAOLER=$TARGET/release/gaoler
F2B=/usr/bin/fail2ban-regex
# Debian's fail2ban needs the system python (a pyenv python3 may come first)
F2B_PY=/usr/bin/python3

mkdir -p "$WORK"

if ! command -v rg >/dev/null 2>&1; then
    echo "installing ripgrep..." >&2
    apt-get install -y ripgrep >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y ripgrep >/dev/null 2>&1; } || true
fi
HAVE_RG=0
command -v rg >/dev/null 2>&1 && HAVE_RG=1
[ -x "$F2B" ] || { echo "fail2ban-regex not found ($F2B)" >&2; exit 1; }

echo "building gaoler (release)..." >&2
(cd "$HERE" && cargo build --release -q -p gaoler)

now() { date +%s.%N; }
# matched count from a fail2ban-regex style report
matched() { sed -n 's/^Lines: .* \([0-9]*\) matched.*/\1/p'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "inf" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }

status=0
printf '\n%-11s %-22s %10s %9s %12s %9s\n' kind tool lines seconds lines/s matched
for kind in freeswitch sshd; do
    log=$WORK/$kind-$LINES.log
    [ -s "$log" ] || python3 "$GENLOG" "$kind" "$LINES" > "$log"
    flt=$CFG/filter.d/$kind.conf

    # five runs of gaoler with extra arguments "$@": sets g_med (median
    # wall time) and g_out (matched lines). (Five: this tool's runs take
    # well under a second, where a shared machine's noise is largest.)
    gaoler_median() {
        local times=() t0 t1
        for _ in 1 2 3 4 5; do
            t0=$(now); g_out=$("$GAOLER" regex "$@" -c "$CFG" "$log" "$flt" | matched); t1=$(now)
            times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
        done
        g_med=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 3p)
    }
    gaoler_median; g_t=$g_med; g_matched=$g_out
    gaoler_median -j 1; gf_t=$g_med; gf_matched=$g_out

    if [ "$F2B_LINES" -lt "$LINES" ]; then
        flog=$WORK/$kind-$LINES-head$F2B_LINES.log
        head -n "$F2B_LINES" "$log" > "$flog"
        g_cmp=$("$GAOLER" regex -c "$CFG" "$flog" "$flt" | matched)
    else
        flog=$log
        g_cmp=$g_matched
    fi
    t0=$(now); f_matched=$("$F2B_PY" "$F2B" -c "$CFG" "$flog" "$flt" | matched); t1=$(now)
    f_t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')

    g_rate=$(rate "$LINES" "$g_t"); gf_rate=$(rate "$LINES" "$gf_t"); f_rate=$(rate "$F2B_LINES" "$f_t")
    printf '%-11s %-22s %10d %9.2f %12s %9s\n' "$kind" "gaoler regex" "$LINES" "$g_t" "$g_rate" "$g_matched"
    printf '%-11s %-22s %10d %9.2f %12s %9s\n' "$kind" "gaoler regex -j 1" "$LINES" "$gf_t" "$gf_rate" "$gf_matched"
    printf '%-11s %-22s %10d %9.2f %12s %9s\n' "$kind" "fail2ban-regex" "$F2B_LINES" "$f_t" "$f_rate" "$f_matched"
    if [ "$HAVE_RG" = 1 ]; then
        pat=$("$GAOLER" regex --print-pcre -c "$CFG" "$log" "$flt")
        t0=$(now); r_count=$(rg -c -P -- "$pat" "$log" || true); t1=$(now)
        r_t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
        r_rate=$(rate "$LINES" "$r_t")
        printf '%-11s %-22s %10d %9.2f %12s %9s\n' "$kind" "rg -c -P (indicative)" "$LINES" "$r_t" "$r_rate" "${r_count:-0}"
    fi
    if [ "$gf_matched" != "$g_matched" ]; then
        echo "MISMATCH $kind: gaoler default $g_matched, -j 1 $gf_matched" >&2; status=1
    fi
    if [ "$g_cmp" != "$f_matched" ]; then
        echo "MISMATCH $kind: gaoler $g_cmp matched lines, fail2ban-regex $f_matched (on $F2B_LINES lines)" >&2; status=1
    else
        echo "  $kind: same number of matched lines on $F2B_LINES lines ($f_matched)"
    fi
    echo "  $kind: gaoler/fail2ban = $(ratio "$g_rate" "$f_rate")x (default), $(ratio "$gf_rate" "$f_rate")x (-j 1)"
    if [ "$HAVE_RG" = 1 ]; then
        echo "  $kind: rg/gaoler = $(ratio "$r_rate" "$g_rate")x (default), $(ratio "$r_rate" "$gf_rate")x (-j 1)"
    fi
done
exit $status
