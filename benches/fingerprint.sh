#!/usr/bin/env bash
# Whole-process fingerprint benchmark: exposecheck vs `nmap -sV` on one host
# running every identification fixture at once (real Debian servers and the
# faithful fakes, see tests/integration/fixtures.rs), in the same run.
#
# The host is a pair of network namespaces this script creates (and deletes):
#   scanner ns  ecf-<pid>-s  198.18.251.1/24   (no other route: nothing leaves)
#   target ns   ecf-<pid>-t  198.18.251.2/24   (examples/fixture_host, iptables)
# fixture_host binds one port per fixture (default port, or the moved one if
# an earlier fixture took the default) and prints `<fixture> <port>` lines.
#
# For each tool: wall time, connections used (SYNs counted by an iptables
# `--syn -j ACCEPT` rule in the target ns, zeroed before each run), exit
# code. Then a per-port table: fixture, exposecheck's name/product/version,
# nmap's name/product/version, and whether exposecheck names everything nmap
# names (a name nmap only guessed from its port table does not count).
# Exits 1 if exposecheck is < 30x faster or misses a service nmap named.
#
# With -a both tools sweep every port (-p-) instead of the fixtures' list:
# the whole-host case, where fingerprinting overlaps a 65,535-port sweep.
#
# Usage: benches/fingerprint.sh [-a] [--no-nmap] [-x 'EXTRA EXPOSECHECK ARGS']
#   LIMIT=secs  env: kill a tool run after this long (default 1800)
#   NO_BUILD=1  env: use the binaries already in target/release
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

WITH_NMAP=1
FULL=0
EXTRA_EC=""
LIMIT="${LIMIT:-1800}"
while [ $# -gt 0 ]; do
    case "$1" in
        --no-nmap) WITH_NMAP=0 ;;
        -a) FULL=1 ;;
        -x) EXTRA_EC="$2"; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

[ "$(id -u)" = 0 ] || { echo "fingerprint.sh needs root (network namespaces)" >&2; exit 1; }
for c in nmap iptables ip python3 setpriv; do
    command -v "$c" >/dev/null || { echo "missing $c (see .ci/run for the package list)" >&2; exit 1; }
done

if [ -z "${NO_BUILD:-}" ]; then
    echo "building exposecheck and examples/fixture_host (release)" >&2
    cargo build --release --quiet --bin exposecheck --example fixture_host
fi
TD="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
TD="${TD:-${CARGO_TARGET_DIR:-target}}"
BIN="$TD/release/exposecheck"
HOST_BIN="$TD/release/examples/fixture_host"
[ -x "$BIN" ] && [ -x "$HOST_BIN" ] || { echo "binaries missing under $TD/release" >&2; exit 1; }

S="ecf-$$-s"
T="ecf-$$-t"
TMP="$(mktemp -d)"
chmod 755 "$TMP"
HOST_PID=""
cleanup() {
    if [ -n "$HOST_PID" ]; then
        kill -TERM "$HOST_PID" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$HOST_PID" 2>/dev/null || true
        wait "$HOST_PID" 2>/dev/null || true
    fi
    ip netns del "$S" 2>/dev/null || true
    ip netns del "$T" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

veth_pair "$S" "$T" 198.18.251.1/24 198.18.251.2/24
ip netns exec "$T" sysctl -q -w net.ipv4.ip_unprivileged_port_start=0
TARGET=198.18.251.2

echo "starting fixtures in $T" >&2
ip netns exec "$T" "$HOST_BIN" "$TARGET" >"$TMP/fixtures" 2>"$TMP/fixture_host.err" &
HOST_PID=$!
for _ in $(seq 1200); do
    grep -qx READY "$TMP/fixtures" && break
    kill -0 "$HOST_PID" 2>/dev/null || { cat "$TMP/fixture_host.err" >&2; echo "fixture_host died" >&2; exit 1; }
    sleep 0.1
done
grep -qx READY "$TMP/fixtures" || { echo "fixtures not ready after 120 s" >&2; exit 1; }
PORTS="$(grep -v READY "$TMP/fixtures" | awk '{print $2}' | sort -n | paste -sd, -)"
NPORTS="$(grep -vc READY "$TMP/fixtures")"
echo "$NPORTS fixtures on ports $PORTS" >&2

ip netns exec "$T" iptables -w -I INPUT 1 -p tcp --syn -d "$TARGET" -j ACCEPT
syns() { ip netns exec "$T" iptables -w -L INPUT -v -n -x | awk '/tcp flags:0x17\/0x02/ {print $1; exit}'; }
zero() { ip netns exec "$T" iptables -w -Z INPUT; }

# measure OUTFILE CMD...: runs CMD in the scanner ns; sets WALL, RC, CONNS.
measure() {
    local out="$1"; shift
    zero
    local t0 t1
    t0=$(date +%s.%N)
    set +e
    timeout -s INT -k 10 "$LIMIT" ip netns exec "$S" "$@" >"$out" 2>"$out.err"
    RC=$?
    set -e
    t1=$(date +%s.%N)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    CONNS=$(syns)
}

# shellcheck disable=SC2086
SWEEP="$PORTS"
[ "$FULL" = 1 ] && SWEEP="1-65535"
measure "$TMP/ec.ndjson" "$BIN" --ndjson -q -p "$SWEEP" $EXTRA_EC "$TARGET"
EC_WALL=$WALL EC_RC=$RC EC_CONNS=$CONNS
echo "exposecheck: ${EC_WALL}s, $EC_CONNS connections, exit $EC_RC" >&2
NM_WALL=nan NM_RC=- NM_CONNS=-
if [ "$WITH_NMAP" = 1 ]; then
    measure "$TMP/nmap.out" nmap -sV -Pn -n -p "$SWEEP" -oX "$TMP/nmap.xml" "$TARGET"
    NM_WALL=$WALL NM_RC=$RC NM_CONNS=$CONNS
    echo "nmap -sV: ${NM_WALL}s, $NM_CONNS connections, exit $NM_RC" >&2
fi
[ -f "$TMP/nmap.xml" ] || : >"$TMP/nmap.xml"

python3 - "$TMP/fixtures" "$TMP/ec.ndjson" "$TMP/nmap.xml" "$EC_WALL" "$EC_CONNS" "$EC_RC" "$NM_WALL" "$NM_CONNS" "$NM_RC" "$WITH_NMAP" "$([ "$FULL" = 1 ] && echo "all (-p-)" || echo "the fixtures' list")" <<'PY'
import json, sys, xml.etree.ElementTree as ET
fx, ecf, nmf, ec_wall, ec_conns, ec_rc, nm_wall, nm_conns, nm_rc, with_nmap, _swept = sys.argv[1:]
fixtures = {}
for line in open(fx):
    parts = line.split()
    if len(parts) == 2:
        fixtures[int(parts[1])] = parts[0]
ec = {}
for line in open(ecf):
    try:
        v = json.loads(line)
    except ValueError:
        continue
    if v.get("type") == "port":
        s = v.get("service") or {}
        sev = (v.get("finding") or {}).get("severity") or "-"
        ec[v["port"]] = (s.get("name") or "-", s.get("product") or "", s.get("version") or "", s.get("auth") or "", s.get("connections", "-"), sev)
nm = {}
try:
    root = ET.parse(nmf).getroot()
    for p in root.iter("port"):
        svc = p.find("service")
        if svc is None:
            continue
        name = svc.get("name", "-")
        if svc.get("tunnel"):
            name = svc.get("tunnel") + "/" + name
        nm[int(p.get("portid"))] = (name, svc.get("product", ""), svc.get("version", ""), svc.get("method", ""))
except (ET.ParseError, FileNotFoundError):
    pass

def named(n):
    return n not in ("-", "", "unknown", "tcpwrapped")

rows, missed, ec_only, both = [], [], [], 0
for port in sorted(fixtures):
    e = ec.get(port, ("(no line)", "", "", "", "-", "-"))
    n = nm.get(port, ("-", "", "", ""))
    nmap_named = named(n[0]) and n[3] == "probed"
    ec_named = named(e[0])
    if nmap_named and not ec_named:
        missed.append(f"{fixtures[port]}:{port}")
    if ec_named and not nmap_named:
        ec_only.append(f"{fixtures[port]}:{port}")
    both += nmap_named and ec_named
    rows.append(f"| {fixtures[port]} | {port} | {e[0]} | {e[1]} {e[2]} | {e[3]} | {e[5]} | {e[4]} | {n[0]}{'' if n[3] in ('probed', '') else ' (' + n[3] + ')'} | {n[1]} {n[2]} |")

def f(x):
    try:
        return float(x)
    except ValueError:
        return float("nan")
speed = f(nm_wall) / f(ec_wall) if f(ec_wall) > 0 else float("nan")
print()
print(f"Fingerprinting {len(fixtures)} open services on one namespace host (veth, no RTT emulation), ports swept: {sys.argv[11]}")
print()
print("| tool | wall s | connections (SYNs) | exit |")
print("|---|---|---|---|")
print(f"| exposecheck --ndjson | {ec_wall} | {ec_conns} | {ec_rc} |")
if with_nmap == "1":
    print(f"| nmap -sV -Pn -n | {nm_wall} | {nm_conns} | {nm_rc} |")
    print()
    print(f"speed-up: {speed:.1f}x (target >= 30x); named by both: {both}; "
          f"named by exposecheck only: {len(ec_only)}; named by nmap only (probed): {len(missed)}")
print()
print("| fixture | port | exposecheck name | product version | auth | severity | connections | nmap name | nmap product version |")
print("|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
if missed:
    print()
    print("exposecheck missed what nmap named: " + ", ".join(missed))
if ec_only:
    print()
    print("exposecheck named what nmap did not: " + ", ".join(ec_only))
# exposecheck exits 1 when it reports a finding at or above --fail-on: this
# host has many, so only another code is a failure.
fail = ec_rc not in ("0", "1") or (with_nmap == "1" and (missed or not speed >= 30))
sys.exit(1 if fail else 0)
PY
