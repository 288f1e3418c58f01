#!/usr/bin/env bash
# UDP exposure set on one namespace host: twelve real services answering
# (Memcached -U, snmpd with public, ntpsec answering mode 6, BIND as an open
# resolver, tftpd-hpa, rpcbind, coturn, libcoap's coap-server, minissdpd with
# one device registered, avahi, Samba's nmbd, inetd's internal chargen),
# every other port of the set closed; exposecheck (--udp on the default
# audit's UDP set) and `nmap -sU -sV` on the same ports, side by side, at the
# target kernel's default ICMP rate limit and with it lifted. Prints wall
# time, recall (answering services found open and named) and the names.
# Run as root: ./benches/udp.sh [BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
BIN=${1:-target/release/exposecheck}
S=ecbu-s-$$; T=ecbu-t-$$; TMP=$(mktemp -d); LIMIT=180
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; ip netns del "$S" 2>/dev/null || true; ip netns del "$T" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
veth_pair "$S" "$T" 198.18.250.1/24 198.18.250.2/24
A=198.18.250.2
run_t() { ip netns exec "$T" "$@" >>"$TMP/daemons.log" 2>&1 & pids+=($!); }
run_t memcached -u root -m 16 -l $A -p 11211 -U 11211
printf 'agentaddress udp:%s:161\nrocommunity public default -V systemonly\nview systemonly included .1.3.6.1.2.1.1\n' $A >"$TMP/snmpd.conf"
run_t snmpd -f -Lo -C -c "$TMP/snmpd.conf" -p "$TMP/snmpd.pid" -I -smux,mteTrigger,mteTriggerConf
printf 'restrict default kod nomodify limited noquery\nrestrict 198.18.0.0 mask 255.254.0.0 nomodify\ndriftfile %s/drift\n' "$TMP" >"$TMP/ntp.conf"
run_t /usr/sbin/ntpd -n -c "$TMP/ntp.conf" -p "$TMP/ntpd.pid" -I $A
printf 'options { directory "%s"; pid-file "%s/named.pid"; listen-on { %s; }; listen-on-v6 { none; }; recursion yes; allow-recursion { any; }; dnssec-validation no; };\n' "$TMP" "$TMP" $A >"$TMP/named.conf"
run_t named -g -4 -u root -c "$TMP/named.conf"
mkdir -p "$TMP/tftp"; run_t in.tftpd -L -u root -s "$TMP/tftp" --address $A:69
run_t rpcbind -f -w -h $A
run_t turnserver -n -L $A --no-cli --no-tls --no-dtls --log-file stdout --pidfile "$TMP/turn.pid" --db "$TMP/turndb"
run_t coap-server-notls -A $A
run_t minissdpd -d -i "$T" -s "$TMP/minissdpd.sock" -p "$TMP/minissdpd.pid"
printf '[server]\nhost-name=bench-target\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=%s\nenable-dbus=no\n[publish]\npublish-workstation=yes\n' "$T" >"$TMP/avahi.conf"
run_t unshare -m sh -c "mount -t tmpfs bench-run /run && exec avahi-daemon -f $TMP/avahi.conf --no-drop-root --no-chroot --no-rlimits"
mkdir -p "$TMP/nmb"
printf '[global]\nnetbios name = BENCHTARGET\nworkgroup = BENCH\ninterfaces = %s/24\nbind interfaces only = yes\nlock directory = %s\nstate directory = %s\ncache directory = %s\npid directory = %s\nprivate dir = %s\nncalrpc dir = %s\nlog file = %s/nmbd.log\n' $A "$TMP/nmb" "$TMP/nmb" "$TMP/nmb" "$TMP/nmb" "$TMP/nmb" "$TMP/nmb" "$TMP/nmb" >"$TMP/smb.conf"
run_t nmbd -F --debug-stdout --no-process-group -d 1 -s "$TMP/smb.conf"
printf '%s:\nchargen dgram udp wait root internal\n' $A >"$TMP/inetd.conf"
run_t inetd -d -i "$TMP/inetd.conf"
# Every daemon's port bound (bounded), then one root device registered with
# minissdpd as miniupnpd does (minissdpd.c request type 4: ST, USN, SERVER,
# LOCATION, each after its length byte).
EXPECT="11211 161 123 53 69 111 3478 5683 1900 5353 137 19"
for _ in $(seq 200); do
    missing=0
    for p in $EXPECT; do ip netns exec "$T" ss -Hluan "sport = :$p" | grep -q . || missing=1; done
    [ $missing = 0 ] && break
    sleep 0.1
done
[ $missing = 0 ] || { echo "not every daemon bound its port:"; tail -30 "$TMP/daemons.log"; exit 1; }
python3 - "$TMP/minissdpd.sock" $A <<'PY'
import socket, sys
st, usn = "upnp:rootdevice", "uuid:6d3e0c2a-0000-4e43-8000-000000000001::upnp:rootdevice"
msg = b"\x04" + b"".join(bytes([len(f)]) + f.encode() for f in (st, usn, "Debian/12 UPnP/1.1 MiniUPnPd/2.3.1", "http://%s:5000/rootDesc.xml" % sys.argv[2]))
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(msg)
PY
sleep 1
PORTS=$(grep -h '^udp_ports' services/*.toml | tr -c '0-9' '\n' | grep -v '^$' | sort -n | uniq | paste -sd, -)
echo "UDP set: $PORTS"
bench() {
    local label=$1
    local t0 t1
    t0=$(date +%s.%N)
    ip netns exec "$S" timeout $LIMIT "$BIN" --udp -p "$PORTS" --ndjson -q --show closed,filtered $A >"$TMP/ec.ndjson" || true
    t1=$(date +%s.%N)
    python3 - "$TMP/ec.ndjson" "$label" "$(echo "$t1 - $t0" | bc)" "$EXPECT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ports = [r for r in rows if r.get("type") == "port"]
cov = rows[-1].get("coverage", {}) if rows else {}
st = lambda s: sum(1 for r in ports if r["state"] == s)
named = {r["port"]: r["service"]["name"] for r in ports if r["state"] == "open" and r.get("service")}
want = [int(p) for p in sys.argv[4].split()]
found = sum(1 for p in want if named.get(p, "unknown") != "unknown")
print("%-8s exposecheck %7.2f s  recall %2d/%d  closed %2d  open|filtered %2d (rate-limited %s)  named: %s" % (
    sys.argv[2], float(sys.argv[3]), found, len(want), st("closed"), st("open|filtered"),
    cov.get("udp_rate_limited"), " ".join("%d/%s" % kv for kv in sorted(named.items()))))
PY
    t0=$(date +%s.%N)
    ip netns exec "$S" timeout $LIMIT nmap -sU -sV -Pn -n -p "$PORTS" -oX "$TMP/nmap.xml" $A >/dev/null 2>&1 || echo "nmap: over ${LIMIT}s or failed"
    t1=$(date +%s.%N)
    python3 - "$TMP/nmap.xml" "$label" "$(echo "$t1 - $t0" | bc)" "$EXPECT" <<'PY' || true
import sys, xml.etree.ElementTree as E
ports = E.parse(sys.argv[1]).getroot().findall(".//port")
st = lambda s: sum(1 for p in ports if p.find("state").get("state") == s)
named = {int(p.get("portid")): (p.find("service").get("name") if p.find("service") is not None else "unknown")
         for p in ports if p.find("state").get("state") == "open"}
want = [int(p) for p in sys.argv[4].split()]
found = sum(1 for p in want if named.get(p, "unknown") != "unknown")
print("%-8s nmap        %7.2f s  recall %2d/%d  closed %2d  open|filtered %2d                   named: %s" % (
    sys.argv[2], float(sys.argv[3]), found, len(want), st("closed"), st("open|filtered"),
    " ".join("%d/%s" % kv for kv in sorted(named.items()))))
PY
}
bench default
ip netns exec "$T" sysctl -q -w net.ipv4.icmp_ratelimit=0
bench lifted
