#!/usr/bin/env bash
# Whole-process benchmark: a full 65,535-port TCP connect sweep of one host,
# exposecheck side by side with `nmap -sT -Pn -p- -n`, in the same run.
#
# The host is a network namespace this script creates (and deletes on exit):
#   scanner ns  ecb-<pid>-s  198.18.250.1/24  fd00:e0c::fa:1/112   (no other route)
#   target ns   ecb-<pid>-t  198.18.250.2/24  fd00:e0c::fa:2/112   (listeners, iptables)
# Nothing is sent anywhere else. Two profiles:
#   open-rst      no firewall: closed ports answer RST, LISTEN_PORTS accept
#   default-drop  INPUT policy DROP, LISTEN_PORTS accepted: everything else silent
# For each: wall time, ports/s and peak RSS (`/usr/bin/time -f '%e %M'`), and a
# check that both tools found exactly the listener ports open. Prints a markdown
# table; exits 1 if any open-port set disagrees.
#
# Usage: benches/sweep.sh [-6] [-r RUNS] [-p PROFILES] [-x 'EXTRA EXPOSECHECK ARGS'] [-n 'EXTRA NMAP ARGS'] [--no-nmap]
#   -6            scan the target's IPv6 address instead of IPv4
#   -r RUNS       runs per tool and profile (default 1)
#   -p PROFILES   comma list of open-rst,default-drop (default both)
#   LIMIT=secs    env: kill a run (SIGINT, then KILL) after this long (default 1200)
#   EXPOSECHECK_BIN=path  env: benchmark this binary instead of building target/release
#
# RTT emulation (e.g. 20 ms) is NOT available: this kernel has no sch_netem
# (and no sch_fq, so no EDT/BPF delay either; only tbf, which shapes rate, not
# latency). Both tools are measured at veth latency (tens of microseconds),
# which favours whoever has the least per-connection overhead and hides
# timeout/RTT-estimation behaviour. If netem appears, add
# `tc -n $S qdisc add dev $S root netem delay 10ms` and the same on $T.
set -euo pipefail
cd "$(dirname "$0")/.."

FAMILY=4
RUNS=1
PROFILES="open-rst,default-drop"
EXTRA_EC=""
EXTRA_NMAP=""
WITH_NMAP=1
LIMIT="${LIMIT:-1200}"
LISTEN_PORTS=(22 80 443 3306 6379 8443 31337 65535)

while [ $# -gt 0 ]; do
    case "$1" in
        -6) FAMILY=6 ;;
        -r) RUNS="$2"; shift ;;
        -p) PROFILES="$2"; shift ;;
        -x) EXTRA_EC="$2"; shift ;;
        -n) EXTRA_NMAP="$2"; shift ;;
        --no-nmap) WITH_NMAP=0 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

[ "$(id -u)" = 0 ] || { echo "sweep.sh needs root (network namespaces)" >&2; exit 1; }

need=()
command -v nmap >/dev/null || need+=(nmap)
[ -x /usr/bin/time ] || need+=(time)
command -v socat >/dev/null || need+=(socat)
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -n "${EXPOSECHECK_BIN:-}" ]; then
    BIN="$EXPOSECHECK_BIN"   # benchmark a saved build as is
else
    echo "building exposecheck (release)" >&2
    cargo build --release --quiet
    BIN="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/exposecheck"
    [ -x "$BIN" ] || BIN="${CARGO_TARGET_DIR:-target}/release/exposecheck"
fi
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }

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

ip netns add "$S"
ip netns add "$T"
ip link add "$S" netns "$S" type veth peer name "$T" netns "$T"
ip -n "$S" addr add 198.18.250.1/24 dev "$S"
ip -n "$T" addr add 198.18.250.2/24 dev "$T"
ip -n "$S" addr add fd00:e0c::fa:1/112 dev "$S" nodad
ip -n "$T" addr add fd00:e0c::fa:2/112 dev "$T" nodad
for ns in "$S" "$T"; do ip -n "$ns" link set lo up; ip -n "$ns" link set "$ns" up; done
if [ "$FAMILY" = 6 ]; then TARGET=fd00:e0c::fa:2; NMAP_FAM=-6; else TARGET=198.18.250.2; NMAP_FAM=; fi

for p in "${LISTEN_PORTS[@]}"; do
    ip netns exec "$T" socat TCP4-LISTEN:"$p",reuseaddr,fork,backlog=1024 EXEC:/bin/true 2>/dev/null &
    PIDS+=($!)
    ip netns exec "$T" socat TCP6-LISTEN:"$p",reuseaddr,fork,ipv6only=1,backlog=1024 EXEC:/bin/true 2>/dev/null &
    PIDS+=($!)
done
for _ in $(seq 100); do
    n=$(ip netns exec "$T" ss -Hltn | wc -l)
    [ "$n" -ge $((2 * ${#LISTEN_PORTS[@]})) ] && break
    sleep 0.05
done
WANT="$(printf '%s\n' "${LISTEN_PORTS[@]}" | sort -n | tr '\n' ' ')"

set_profile() {
    ip netns exec "$T" iptables -w -F INPUT
    ip netns exec "$T" ip6tables -w -F INPUT
    ip netns exec "$T" iptables -w -P INPUT ACCEPT
    ip netns exec "$T" ip6tables -w -P INPUT ACCEPT
    if [ "$1" = default-drop ]; then
        for p in "${LISTEN_PORTS[@]}"; do
            ip netns exec "$T" iptables -w -A INPUT -p tcp --dport "$p" -j ACCEPT
            ip netns exec "$T" ip6tables -w -A INPUT -p tcp --dport "$p" -j ACCEPT
        done
        ip netns exec "$T" iptables -w -A INPUT -i lo -j ACCEPT
        ip netns exec "$T" ip6tables -w -A INPUT -i lo -j ACCEPT
        ip netns exec "$T" ip6tables -w -A INPUT -p ipv6-icmp -j ACCEPT
        ip netns exec "$T" iptables -w -P INPUT DROP
        ip netns exec "$T" ip6tables -w -P INPUT DROP
    fi
}

# measure LABEL CMD... : runs CMD in the scanner ns under /usr/bin/time with a
# time limit; sets WALL, RSS_MB, RC; output in $TMP/out, $TMP/err.
measure() {
    local tf="$TMP/time"
    rm -f "$tf"
    set +e
    timeout -s INT -k 10 "$LIMIT" ip netns exec "$S" /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    set -e
    read -r WALL RSS_KB < <(tail -n1 "$tf" 2>/dev/null || echo "nan 0")
    RSS_MB=$(awk -v k="${RSS_KB:-0}" 'BEGIN { printf "%.1f", k / 1024 }')
}

rate() { awk -v w="$1" 'BEGIN { if (w > 0) printf "%.0f", 65535 / w; else print "-" }'; }

ROWS=()
DISAGREE=0
echo "exposecheck: $("$BIN" --version 2>/dev/null || echo '?')   nmap: $(nmap --version | head -n1)   kernel $(uname -r), $(nproc) cores, ulimit -n $(ulimit -n)" >&2
IFS=, read -r -a PROFILE_LIST <<<"$PROFILES"
for profile in "${PROFILE_LIST[@]}"; do
    set_profile "$profile"
    for run in $(seq "$RUNS"); do
        # shellcheck disable=SC2086
        measure "$BIN" --ndjson --no-fingerprint -p- $EXTRA_EC "$TARGET"
        got="$(grep '"type":"port"' "$TMP/out" | grep '"state":"open"' | grep -oE '"port": ?[0-9]+' | grep -oE '[0-9]+' | sort -n | tr '\n' ' ' || true)"
        summary="$(grep '"type":"summary"' "$TMP/out" || true)"
        cnt() { echo "$summary" | grep -oE "\"$1\": ?[0-9]+" | grep -oE '[0-9]+$' | head -n1; }
        detail="exit $RC; attempted $(cnt attempted), closed $(cnt closed), filtered $(cnt filtered), retries $(cnt retries), requeued $(cnt requeued)"
        if [ "$got" = "$WANT" ]; then agree=yes; else agree="NO: $got"; DISAGREE=1; fi
        [ "$RC" = 0 ] || { agree="$agree (exit $RC)"; DISAGREE=1; tail -n 5 "$TMP/err" >&2; }
        ROWS+=("| $profile | exposecheck $EXTRA_EC | $run | $WALL | $(rate "$WALL") | $RSS_MB | ${#LISTEN_PORTS[@]} expected, $agree | $detail |")
        echo "${ROWS[-1]}" >&2

        if [ "$WITH_NMAP" = 1 ]; then
            # shellcheck disable=SC2086
            measure nmap $NMAP_FAM -sT -Pn -p- -n $EXTRA_NMAP -oG "$TMP/nmap.gnmap" "$TARGET"
            got="$(grep -oE '[0-9]+/open/' "$TMP/nmap.gnmap" 2>/dev/null | grep -oE '^[0-9]+' | sort -n | tr '\n' ' ' || true)"
            if [ "$got" = "$WANT" ]; then agree=yes; else agree="NO: $got"; DISAGREE=1; fi
            [ "$RC" = 0 ] || { agree="$agree (exit $RC)"; DISAGREE=1; }
            ROWS+=("| $profile | nmap -sT -Pn -p- -n $EXTRA_NMAP | $run | $WALL | $(rate "$WALL") | $RSS_MB | ${#LISTEN_PORTS[@]} expected, $agree | exit $RC |")
            echo "${ROWS[-1]}" >&2
        fi
    done
done

echo
echo "65,535-port TCP connect sweep of one namespace host over veth (IPv$FAMILY, no RTT emulation), $(nproc) cores, kernel $(uname -r)"
echo
echo "| profile | tool | run | wall s | ports/s | peak RSS MiB | open ports agree | notes |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
exit "$DISAGREE"
