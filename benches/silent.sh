#!/usr/bin/env bash
# Silent hosts, in ONE run: exposecheck beside `nmap -sT -Pn -T4` and
# RustScan against namespace hosts behind a DROP policy, with RTT emulated by
# examples/nfq_delay (this kernel has no sch_netem: the scanner's ingress is
# sent to NFQUEUE and held in userspace) and loss by iptables `statistic`.
#
#   scanner ns  ecs-<pid>-s  198.18.252.1/24   (no other route)
#   target ns   ecs-<pid>-t  198.18.252.2/24   plus 198.19.0.0/24 as local
#               (AnyIP) addresses for the /24 cases, routed via the veth
# Nothing is sent anywhere else; both namespaces are deleted on exit.
#
# Cases (-c, comma list; default all):
#   quiet     DROP, nothing open, exposecheck's default ports
#   quiet-all DROP, nothing open, -p-
#   rtt20     DROP, 10 ports open, 20 ms RTT, -p-
#   loss      rtt20 plus 5% random drop of the target's input
#   slow      DROP, one port open, 300 ms RTT, 5% loss, -p-
#   slow2k    as slow, ports 1-2000 and the open one
#   net       198.19.0.0/24, DROP, nothing open, default ports
#   net8      198.19.0.0/24, DROP, every eighth address accepts 22/80/443
# Each row: wall time median (min-max) over the runs, recall (open ports
# found / open ports there over all runs), peak RSS (`/usr/bin/time`), and
# the time ratio to exposecheck. Exits 1 if any exposecheck run misses an
# open port or fails.
#
# Usage: benches/silent.sh [-c CASES] [-r RUNS] [-R PEER_RUNS] [--no-nmap] [--no-rustscan]
#   -r N   exposecheck runs per case (default 5; loss and slow: 2N)
#   -R N   nmap and RustScan runs per case (default 1)
#   LIMIT=secs            env: kill a run after this long (default 900)
#   RUSTSCAN_VERSION=v    env: default 2.4.1, installed once under target/bench-tools
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

RUNS=5
PEER_RUNS=1
CASES="quiet,quiet-all,rtt20,loss,slow,slow2k,net,net8"
WITH_NMAP=1
WITH_RUSTSCAN=1
LIMIT="${LIMIT:-900}"
RUSTSCAN_VERSION="${RUSTSCAN_VERSION:-2.4.1}"
OPEN10=(22 80 443 3306 5432 6379 8080 8443 31337 65535)
while [ $# -gt 0 ]; do
    case "$1" in
        -c) CASES="$2"; shift ;;
        -r) RUNS="$2"; shift ;;
        -R) PEER_RUNS="$2"; shift ;;
        --no-nmap) WITH_NMAP=0 ;;
        --no-rustscan) WITH_RUSTSCAN=0 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "silent.sh needs root (network namespaces)" >&2; exit 1; }
for c in nmap iptables ip python3; do
    command -v "$c" >/dev/null || { echo "missing $c (see .ci/run)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time (package time)" >&2; exit 1; }

TD="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
TD="${TD:-${CARGO_TARGET_DIR:-target}}"
echo "building exposecheck and examples/nfq_delay (release)" >&2
cargo build --release --quiet --bin exposecheck --example nfq_delay
BIN="$TD/release/exposecheck"
DELAY_BIN="$TD/release/examples/nfq_delay"
RUSTSCAN=""
[ "$WITH_RUSTSCAN" = 1 ] && RUSTSCAN="$(rustscan_bin "$TD" "$RUSTSCAN_VERSION")"

S="ecs-$$-s"
T="ecs-$$-t"
TMP="$(mktemp -d)"
PIDS=()
DELAY_PID=""
cleanup() {
    [ -n "$DELAY_PID" ] && kill "$DELAY_PID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$S" 2>/dev/null || true
    ip netns del "$T" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

veth_pair "$S" "$T" 198.18.252.1/24 198.18.252.2/24
ip -n "$T" route add local 198.19.0.0/24 dev lo
ip -n "$S" route add 198.19.0.0/24 via 198.18.252.2
TARGET=198.18.252.2

start_acceptor "$T" "${OPEN10[@]}"

tgt() { ip netns exec "$T" iptables -w "$@"; }
# firewall OPEN_PORTS...: DROP policy, the given ports accepted (on every address).
firewall() {
    tgt -F INPUT
    tgt -P INPUT ACCEPT
    for p in "$@"; do tgt -A INPUT -p tcp --dport "$p" -j ACCEPT; done
    tgt -A INPUT -i lo -s 127.0.0.0/8 -j ACCEPT
    tgt -P INPUT DROP
}
loss() { tgt -I INPUT 1 -m statistic --mode random --probability "$1" -j DROP; }
# delay MS: the scanner's ingress held MS milliseconds (0: no delay).
delay() {
    if [ -n "$DELAY_PID" ]; then
        kill "$DELAY_PID"; wait "$DELAY_PID" 2>/dev/null || true; DELAY_PID=""
    fi
    ip netns exec "$S" iptables -w -t raw -F PREROUTING
    [ "$1" = 0 ] && return
    ip netns exec "$S" "$DELAY_BIN" 0 "$1" 2>"$TMP/delay.log" &
    DELAY_PID=$!
    for _ in $(seq 50); do grep -q ready "$TMP/delay.log" 2>/dev/null && break; sleep 0.05; done
    ip netns exec "$S" iptables -w -t raw -A PREROUTING -i "$S" -j NFQUEUE --queue-num 0
}

count_exposecheck() { grep '"type":"port"' "$TMP/out" | grep -c '"state":"open"' || true; }
count_nmap() { grep -oE '[0-9]+/open/' "$TMP/nmap.gnmap" 2>/dev/null | wc -l || true; }
count_rustscan() { grep -- '->' "$TMP/out" | grep -oE '\[.*\]' | tr -d '[]' | tr ',' '\n' | grep -cE '^[0-9]+$' || true; }

ROWS=()
FAIL=0
declare -A MED
# bench CASE TOOL RUNS WANT PORTS TARGETS...: WANT open ports per run.
bench() {
    local case="$1" tool="$2" runs="$3" want="$4" ports="$5"
    shift 5
    local walls="" rsss="" found=0 expected=0 got
    for run in $(seq "$runs"); do
        case "$tool" in
            exposecheck)
                local pflag=()
                [ "$ports" != default ] && pflag=("-p$ports")
                measure "$BIN" --ndjson --no-fingerprint --fail-on none -q "${pflag[@]}" "$@"
                got="$(count_exposecheck)"
                if [ "$RC" != 0 ]; then FAIL=1; tail -n 3 "$TMP/err" >&2; fi
                [ "$got" != "$want" ] && FAIL=1
                ;;
            nmap)
                local np="$ports"
                [ "$ports" = default ] && np="$DEFAULT_PORTS"
                [ "$ports" = "-" ] && np="1-65535"
                measure nmap -sT -Pn -T4 -n -p "$np" -oG "$TMP/nmap.gnmap" "$@"
                got="$(count_nmap)"
                ;;
            rustscan)
                local rp="$ports"
                [ "$ports" = default ] && rp="$DEFAULT_PORTS"
                [ "$rp" = "-" ] && rp="1-65535"
                # RustScan's -p takes single ports only: ranges written out.
                [[ "$rp" == *,* ]] && rp="$(python3 -c 'import sys; print(",".join(str(p) for part in sys.argv[1].split(",") for p in (range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1))))' "$rp")"
                local addrs
                addrs="$(IFS=,; echo "$*")"
                if [[ "$rp" == *-* && "$rp" != *,* ]]; then
                    measure "$RUSTSCAN" --no-config -a "$addrs" -r "$rp" -g -u 20000 --scripts none
                else
                    measure "$RUSTSCAN" --no-config -a "$addrs" -p "$rp" -g -u 20000 --scripts none
                fi
                got="$(count_rustscan)"
                ;;
        esac
        walls="$walls $WALL"
        rsss="$rsss $RSS_MB"
        found=$((found + got))
        expected=$((expected + want))
        echo "  $case $tool run $run: ${WALL}s ${RSS_MB} MiB, open found $got of $want" >&2
    done
    local wall rss spread recall
    wall="$(echo "$walls" | median)"
    rss="$(echo "$rsss" | maxof)"
    spread="$(echo "$walls" | tr ' ' '\n' | grep -v '^$' | sort -g | sed -n '1p;$p' | paste -sd- -)"
    recall="$(awk -v f="$found" -v e="$expected" 'BEGIN { if (e > 0) printf "%d/%d", f, e; else print "-" }')"
    MED["$case/$tool"]="$wall"
    ROWS+=("$case|$tool|$runs|$wall ($spread)|$recall|$rss")
}

# The default TCP port list (the peers sweep TCP), as the summary of a scan
# of nothing names it. exposecheck itself runs its whole default audit,
# the UDP set included.
DEFAULT_PORTS="$(ip netns exec "$S" "$BIN" --ndjson -q --fail-on none --no-fingerprint --no-udp --timeout 1 "$TARGET" 2>/dev/null |
    grep '"type":"summary"' | sed -n 's/.*"ports":"\([^"]*\)".*/\1/p')"
[ -n "$DEFAULT_PORTS" ] || { echo "could not read exposecheck's default port list" >&2; exit 1; }

peers() { # CASE WANT PORTS TARGETS...
    [ "$WITH_NMAP" = 1 ] && bench "$1" nmap "$PEER_RUNS" "$2" "$3" "${@:4}"
    [ -n "$RUSTSCAN" ] && bench "$1" rustscan "$PEER_RUNS" "$2" "$3" "${@:4}"
    return 0
}
NET=(198.19.0.0/24)
NET_OPEN=$((32 * 3))

echo "exposecheck: $("$BIN" --version)   nmap: $(nmap --version | head -n1)   rustscan: $([ -n "$RUSTSCAN" ] && "$RUSTSCAN" --version || echo skipped)" >&2
echo "kernel $(uname -r), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
IFS=, read -r -a CASE_LIST <<<"$CASES"
for c in "${CASE_LIST[@]}"; do
    case "$c" in
        quiet)     firewall; delay 0; bench quiet exposecheck "$RUNS" 0 default "$TARGET"; peers quiet 0 default "$TARGET" ;;
        quiet-all) firewall; delay 0; bench quiet-all exposecheck "$RUNS" 0 - "$TARGET"; peers quiet-all 0 - "$TARGET" ;;
        rtt20)     firewall "${OPEN10[@]}"; delay 20; bench rtt20 exposecheck "$RUNS" 10 - "$TARGET"; peers rtt20 10 - "$TARGET" ;;
        loss)      firewall "${OPEN10[@]}"; loss 0.05; delay 20; bench loss exposecheck $((2 * RUNS)) 10 - "$TARGET"; peers loss 10 - "$TARGET" ;;
        slow)      firewall 31337; loss 0.05; delay 300; bench slow exposecheck $((2 * RUNS)) 1 - "$TARGET"; peers slow 1 - "$TARGET" ;;
        slow2k)    firewall 31337; delay 300; bench slow2k exposecheck "$RUNS" 1 1-2000,31337 "$TARGET"; peers slow2k 1 1-2000,31337 "$TARGET" ;;
        net)       firewall; delay 0; bench net exposecheck "$RUNS" 0 default "${NET[@]}"; peers net 0 default "${NET[@]}" ;;
        net8)
            firewall
            tgt -F INPUT
            for i in $(seq 0 8 255); do
                for p in 22 80 443; do tgt -A INPUT -d "198.19.0.$i" -p tcp --dport "$p" -j ACCEPT; done
            done
            delay 0
            bench net8 exposecheck "$RUNS" "$NET_OPEN" default "${NET[@]}"
            peers net8 "$NET_OPEN" default "${NET[@]}"
            ;;
        *) echo "unknown case $c" >&2; exit 2 ;;
    esac
done
delay 0

echo
echo "Silent hosts behind DROP, one namespace host (or a /24 of AnyIP addresses) over a veth pair; RTT by examples/nfq_delay on"
echo "the scanner's ingress, loss by iptables statistic on the target's input. $(nproc) cores, kernel $(uname -r),"
echo "RLIMIT_NOFILE $(ulimit -Hn), load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| case | tool | runs | wall s median (min-max) | open found | peak RSS MiB | × exposecheck |"
echo "|---|---|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
    IFS='|' read -r case tool runs wall_s recall rss <<<"$row"
    wall="${wall_s%% *}"
    ratio="$(awk -v a="$wall" -v b="${MED["$case/exposecheck"]:-}" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2f", a / b; else print "-" }')"
    echo "| $case | $tool | $runs | $wall_s | $recall | $rss | $ratio |"
done
exit "$FAIL"
