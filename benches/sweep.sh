#!/usr/bin/env bash
# Whole-process benchmark of the connect sweep, in ONE run: exposecheck beside
# `nmap -sT`, RustScan and a raw epoll connect loop (the physical floor,
# examples/raw_connect.rs: `raw` on one thread, `raw-mt` on one thread per
# core, as exposecheck sweeps by default), against a namespace host this
# script creates.
#
#   scanner ns  ecb-<pid>-s  198.18.250.1/24  fd00:e0c::fa:1/112   (no other route)
#   target ns   ecb-<pid>-t  198.18.250.2/24  fd00:e0c::fa:2/112   (listeners, iptables)
#   case d adds 198.19.0.0/16 as a local (AnyIP) range of the target, routed
#   from the scanner via the veth, so every address of it answers.
# Nothing is sent anywhere else; both namespaces are deleted on exit.
#
# Cases (-c, comma list; default all):
#   a  open-rst      65,535 ports, no firewall: closed ports answer RST
#   b  default-drop  65,535 ports, INPUT policy DROP, LISTEN_PORTS accepted
#   c  loss          b plus `-m statistic --probability 0.05 -j DROP` first in
#                    INPUT; recall (open ports found / expected) over runs
#   d  range         ports 1-100 on every address of 198.19.0.0/PREFIX for each
#                    prefix of -d (default "18 16"): probes/s and peak RSS; then
#                    of fd00:e0c:1::/PREFIX for each prefix of -D (default none;
#                    e.g. "110": 262,144 hosts, past the 65,536-host verdict cap,
#                    with --allow-large), exposecheck only
# Each row: median wall time over the runs, ports (probes) per second, peak
# RSS (`/usr/bin/time -f '%e %M'`), ratios to the raw floor and to exposecheck,
# and whether the open-port set is exactly LISTEN_PORTS. Exits 1 if any run of
# exposecheck disagrees or fails.
#
# Usage: benches/sweep.sh [-6] [-c CASES] [-r RUNS] [-l LOSS_RUNS] [-L OTHER_LOSS_RUNS]
#                         [-d 'PREFIXES'] [-D 'V6 PREFIXES'] [-x 'EXTRA EXPOSECHECK ARGS']
#                         [--no-nmap] [--no-rustscan]
#   -6        cases a-c over IPv6 (d is IPv4 only)
#   -r N      runs per tool for a and b (default 3)
#   -l N      exposecheck runs for c (default 10)
#   -L N      nmap and RustScan runs for c (default 1: nmap behind DROP takes minutes)
#   -d LIST   prefix lengths for d (default "18 16"; nmap and RustScan are not run on d)
#   LIMIT=secs            env: SIGINT then KILL a run after this long (default 1200)
#   EXPOSECHECK_BIN=path  env: benchmark this binary instead of building target/release
#   RUSTSCAN_VERSION=v    env: default 2.4.1, installed once with `cargo install --locked`
#                         under target/bench-tools (reruns reuse it)
#
# RTT emulation is NOT available: this kernel has no sch_netem (nor sch_fq, so
# no EDT/BPF delay; only tbf, which shapes rate, not latency). Everything runs
# at veth latency (tens of microseconds), which favours whoever has the least
# per-connection overhead and makes adaptive timeouts sit at their floor
# (100 ms). Loss is emulated with iptables `statistic`.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

FAMILY=4
RUNS=3
LOSS_RUNS=10
OTHER_LOSS_RUNS=1
CASES="a,b,c,d"
PREFIXES="18 16"
V6_PREFIXES=""
EXTRA_EC=""
WITH_NMAP=1
WITH_RUSTSCAN=1
LIMIT="${LIMIT:-1200}"
RUSTSCAN_VERSION="${RUSTSCAN_VERSION:-2.4.1}"
LISTEN_PORTS=(22 80 443 3306 6379 8443 31337 65535)

while [ $# -gt 0 ]; do
    case "$1" in
        -6) FAMILY=6 ;;
        -c) CASES="$2"; shift ;;
        -r) RUNS="$2"; shift ;;
        -l) LOSS_RUNS="$2"; shift ;;
        -L) OTHER_LOSS_RUNS="$2"; shift ;;
        -d) PREFIXES="$2"; shift ;;
        -D) V6_PREFIXES="$2"; shift ;;
        -x) EXTRA_EC="$2"; shift ;;
        --no-nmap) WITH_NMAP=0 ;;
        --no-rustscan) WITH_RUSTSCAN=0 ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

[ "$(id -u)" = 0 ] || { echo "sweep.sh needs root (network namespaces)" >&2; exit 1; }

need=()
command -v nmap >/dev/null || need+=(nmap)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
TARGET_DIR="${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}"
echo "building exposecheck and examples/raw_connect (release)" >&2
if [ -n "${EXPOSECHECK_BIN:-}" ]; then
    cargo build --release --quiet --example raw_connect
    BIN="$EXPOSECHECK_BIN"
else
    cargo build --release --quiet --bin exposecheck --example raw_connect
    BIN="$TARGET_DIR/release/exposecheck"
fi
RAW="$TARGET_DIR/release/examples/raw_connect"
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }

RUSTSCAN=""
[ "$WITH_RUSTSCAN" = 1 ] && RUSTSCAN="$(rustscan_bin "$TARGET_DIR" "$RUSTSCAN_VERSION")"

S="ecb-$$-s"
T="ecb-$$-t"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$S" 2>/dev/null || true
    ip netns del "$T" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

veth_pair "$S" "$T" 198.18.250.1/24 198.18.250.2/24
ip -n "$S" addr add fd00:e0c::fa:1/112 dev "$S" nodad
ip -n "$T" addr add fd00:e0c::fa:2/112 dev "$T" nodad
ip -n "$T" route add local 198.19.0.0/16 dev lo
ip -n "$S" route add 198.19.0.0/16 via 198.18.250.2
ip -n "$T" -6 route add local fd00:e0c:1::/96 dev lo
ip -n "$S" -6 route add fd00:e0c:1::/96 via fd00:e0c::fa:2
if [ "$FAMILY" = 6 ]; then TARGET=fd00:e0c::fa:2; NMAP_FAM=-6; else TARGET=198.18.250.2; NMAP_FAM=; fi

# The listeners accept and close at once, in one process without forking (a
# forking server would be what case d measures: every address of the range
# connects to them).
start_acceptor "$T" "${LISTEN_PORTS[@]}"
WANT="$(printf '%s\n' "${LISTEN_PORTS[@]}" | sort -n | tr '\n' ' ')"
NWANT=${#LISTEN_PORTS[@]}

both() { ip netns exec "$T" iptables -w "$@"; ip netns exec "$T" ip6tables -w "$@"; }
set_profile() {
    both -F INPUT
    both -P INPUT ACCEPT
    case "$1" in
        default-drop|loss)
            for p in "${LISTEN_PORTS[@]}"; do both -A INPUT -p tcp --dport "$p" -j ACCEPT; done
            both -A INPUT -i lo -j ACCEPT
            ip netns exec "$T" ip6tables -w -A INPUT -p ipv6-icmp -j ACCEPT
            both -P INPUT DROP
            ;;
    esac
    if [ "$1" = loss ]; then
        both -I INPUT 1 -m statistic --mode random --probability 0.05 -j DROP
    fi
}

# Open ports found by the last run of each tool, as a sorted list.
open_exposecheck() { grep '"type":"port"' "$TMP/out" | grep '"state":"open"' | grep -oE '"port": ?[0-9]+' | grep -oE '[0-9]+' | sort -n | tr '\n' ' ' || true; }
open_nmap() { grep -oE '[0-9]+/open/' "$TMP/nmap.gnmap" 2>/dev/null | grep -oE '^[0-9]+' | sort -n | tr '\n' ' ' || true; }
open_rustscan() { grep -- '->' "$TMP/out" | grep -oE '\[.*\]' | tr -d '[]' | tr ',' '\n' | grep -E '^[0-9]+$' | sort -n | tr '\n' ' ' || true; }
open_raw() { grep -oE ':[0-9]+$' "$TMP/out" | tr -d ':' | sort -n | tr '\n' ' ' || true; }
found_of() { comm -12 <(tr ' ' '\n' <<<"$1" | grep . | sort) <(tr ' ' '\n' <<<"$WANT" | grep . | sort) | wc -l; }

div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2f", a / b; else print "-" }'; }
rate() { awk -v n="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.0f", n / w; else print "-" }'; }

ROWS=()
FAIL=0
declare -A MED

# bench CASE TOOL RUNS PROBES: runs TOOL RUNS times on the current profile and
# appends a row. Tools: exposecheck, nmap, rustscan, raw; d uses $RANGE.
bench() {
    local case="$1" tool="$2" runs="$3" probes="$4"
    local walls="" rsss="" agree_runs=0 found=0 expected=0 notes="" got
    for run in $(seq "$runs"); do
        case "$tool" in
            exposecheck)
                if [ "$case" = d ]; then
                    # shellcheck disable=SC2086
                    measure "$BIN" --ndjson --no-fingerprint --no-canary --allow-large --fail-on none -q -p 1-100 $EXTRA_EC "$RANGE"
                else
                    # shellcheck disable=SC2086
                    measure "$BIN" --ndjson --no-fingerprint --fail-on none -q -p- $EXTRA_EC "$TARGET"
                fi
                got="$(open_exposecheck)"
                local summary cnt
                summary="$(grep '"type":"summary"' "$TMP/out" || true)"
                cnt() { echo "$summary" | grep -oE "\"$1\": ?[0-9]+" | grep -oE '[0-9]+$' | head -n1; }
                notes="closed $(cnt closed), filtered $(cnt filtered), retries $(cnt retries), requeued $(cnt requeued)"
                if [ "$RC" != 0 ]; then FAIL=1; notes="$notes; exit $RC"; tail -n 3 "$TMP/err" >&2; fi
                ;;
            nmap)
                # shellcheck disable=SC2086
                measure nmap $NMAP_FAM -sT -Pn -p- -n -oG "$TMP/nmap.gnmap" "$TARGET"
                got="$(open_nmap)"
                ;;
            rustscan)
                measure "$RUSTSCAN" --no-config -a "$TARGET" -r 1-65535 -g -u 65535 --scripts none
                got="$(open_rustscan)"
                notes="default batch 4500, timeout 1500 ms, 1 try"
                ;;
            raw|raw-mt)
                local threads=1
                [ "$tool" = raw-mt ] && threads="$(nproc)"
                if [ "$case" = d ]; then
                    measure "$RAW" "$RANGE" 1-100 4096 500 "$threads"
                else
                    measure "$RAW" "$TARGET" 1-65535 4096 500 "$threads"
                fi
                got="$(open_raw)"
                notes="$threads thread(s), 4096 in flight, fixed 500 ms timeout, no retries, no ICMP reasons"
                ;;
        esac
        walls="$walls $WALL"
        rsss="$rsss $RSS_MB"
        if [ "$case" = d ]; then
            # Every address of the range has the listeners among ports 1-100.
            local want_d=$((RANGE_SIZE * $(printf '%s\n' "${LISTEN_PORTS[@]}" | awk '$1 <= 100' | wc -l)))
            local n_d
            n_d=$(if [ "${tool%-mt}" = raw ]; then wc -l <"$TMP/out"; else grep -c '"state":"open"' "$TMP/out" || true; fi)
            found=$((found + n_d)); expected=$((expected + want_d))
            [ "$n_d" = "$want_d" ] && agree_runs=$((agree_runs + 1))
        else
            found=$((found + $(found_of "$got"))); expected=$((expected + NWANT))
            [ "$got" = "$WANT" ] && agree_runs=$((agree_runs + 1))
        fi
        echo "  $case $tool run $run: ${WALL}s ${RSS_MB} MiB, open: ${got:0:60}" >&2
    done
    local wall rss
    wall="$(echo "$walls" | median)"
    rss="$(echo "$rsss" | maxof)"
    MED["$case${RANGE_TAG:-}/$tool"]="$wall"
    [ "$tool" = exposecheck ] && [ "$agree_runs" != "$runs" ] && FAIL=1
    local recall spread label="$case"
    recall="$(awk -v f="$found" -v e="$expected" 'BEGIN { if (e > 0) printf "%.4g%%", 100 * f / e; else print "-" }')"
    spread="$(echo "$walls" | tr ' ' '\n' | grep -v '^$' | sort -g | sed -n '1p;$p' | paste -sd- -)"
    [ -n "${RANGE_TAG:-}" ] && label="$case ${RANGE_TAG}"
    ROWS+=("$case${RANGE_TAG:-}|$label|$tool|$runs|$wall ($spread)|$(rate "$probes" "$wall")|$rss|$agree_runs/$runs exact, recall $recall|$notes")
    echo "  => $label $tool: median ${wall}s, peak ${rss} MiB, $agree_runs/$runs exact, recall $recall" >&2
}

echo "exposecheck: $("$BIN" --version 2>/dev/null || echo '?')   nmap: $(nmap --version | head -n1)   rustscan: $([ -n "$RUSTSCAN" ] && "$RUSTSCAN" --version 2>/dev/null || echo skipped)" >&2
echo "kernel $(uname -r), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
IFS=, read -r -a CASE_LIST <<<"$CASES"
for c in "${CASE_LIST[@]}"; do
    RANGE_TAG=""
    case "$c" in
        a|b)
            if [ "$c" = a ]; then set_profile open-rst; else set_profile default-drop; fi
            [ "$c" = a ] && bench "$c" raw "$RUNS" 65535
            [ "$c" = a ] && bench "$c" raw-mt "$RUNS" 65535
            bench "$c" exposecheck "$RUNS" 65535
            [ "$WITH_NMAP" = 1 ] && bench "$c" nmap "$RUNS" 65535
            [ -n "$RUSTSCAN" ] && bench "$c" rustscan "$RUNS" 65535
            ;;
        c)
            set_profile loss
            bench c exposecheck "$LOSS_RUNS" 65535
            [ "$WITH_NMAP" = 1 ] && bench c nmap "$OTHER_LOSS_RUNS" 65535
            [ -n "$RUSTSCAN" ] && bench c rustscan "$OTHER_LOSS_RUNS" 65535
            ;;
        d)
            set_profile open-rst
            for prefix in $PREFIXES; do
                RANGE="198.19.0.0/$prefix"
                RANGE_SIZE=$((1 << (32 - prefix)))
                RANGE_TAG="/$prefix"
                bench d raw 1 $((RANGE_SIZE * 100))
                bench d raw-mt 1 $((RANGE_SIZE * 100))
                bench d exposecheck 1 $((RANGE_SIZE * 100))
            done
            for prefix in $V6_PREFIXES; do
                RANGE="fd00:e0c:1::/$prefix"
                RANGE_SIZE=$((1 << (128 - prefix)))
                RANGE_TAG="v6/$prefix"
                bench d exposecheck 1 $((RANGE_SIZE * 100))
            done
            RANGE_TAG=""
            ;;
        *) echo "unknown case $c" >&2; exit 2 ;;
    esac
done

echo
echo "TCP connect sweeps of one namespace host over a veth pair (IPv$FAMILY; d is IPv4), no RTT emulation (no sch_netem here),"
echo "$(nproc) cores, kernel $(uname -r), load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "a: 65,535 ports, no firewall (RST)   b: 65,535 ports, default DROP, $NWANT open   c: b + 5% random drop   d: ports 1-100 × 198.19.0.0/PREFIX, every address answers"
echo
echo "| case | tool | runs | wall s median (min-max) | ports/s | peak RSS MiB | × raw | × exposecheck | open ports | notes |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
    IFS='|' read -r key label tool runs wall_s rate_s rss agree notes <<<"$row"
    wall="${wall_s%% *}"
    echo "| $label | $tool | $runs | $wall_s | $rate_s | $rss | $(div "$wall" "${MED["$key/raw"]:-}")" \
        "| $(div "$wall" "${MED["$key/exposecheck"]:-}") | $agree | $notes |"
done
exit "$FAIL"
