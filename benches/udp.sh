#!/usr/bin/env bash
# UDP exposure set on one namespace host: real services answering (Memcached
# -U, snmpd with public, ntpsec answering mode 6, BIND as an open resolver,
# plus whichever of avahi, nmbd, inetd chargen/QOTD, tftpd-hpa, rpcbind,
# coturn, coap-server, minissdpd are installed), every other port of the set
# closed; exposecheck (default audit's UDP set, --udp) and `nmap -sU -sV` on
# the same ports, side by side, at the target kernel's default ICMP rate
# limit and with it lifted. Prints wall time and which services each named.
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
command -v in.tftpd >/dev/null && { mkdir -p "$TMP/tftp"; run_t in.tftpd -L -s "$TMP/tftp" -a $A:69; }
command -v rpcbind >/dev/null && run_t rpcbind -f -w -h $A
command -v turnserver >/dev/null && run_t turnserver -n --listening-ip=$A --no-cli --no-tls --no-dtls --log-file=stdout
command -v coap-server >/dev/null && run_t coap-server -A $A
sleep 3
PORTS=$(grep -h '^udp_ports' services/*.toml | tr -c '0-9' '\n' | grep -v '^$' | sort -n | uniq | paste -sd, -)
echo "UDP set: $PORTS"
bench() {
    local label=$1
    local t0 t1
    t0=$(date +%s.%N)
    ip netns exec "$S" timeout $LIMIT "$BIN" --udp -p "$PORTS" --ndjson -q --show closed,filtered $A >"$TMP/ec.ndjson" || true
    t1=$(date +%s.%N)
    local ec_named ec_closed ec_of ec_lim
    ec_named=$(python3 -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
print(" ".join(sorted("%s/%s"%(r["port"],r["service"]["name"]) for r in rows if r.get("type")=="port" and r["state"]=="open")))' "$TMP/ec.ndjson")
    ec_closed=$(grep -c '"state":"closed"' "$TMP/ec.ndjson" || true)
    ec_of=$(grep -c '"state":"open|filtered"' "$TMP/ec.ndjson" || true)
    ec_lim=$(tail -1 "$TMP/ec.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["coverage"].get("udp_rate_limited"))')
    printf '%-9s exposecheck %6.2f s  closed %2s  open|filtered %2s (rate-limited %s)  named: %s\n' "$label" "$(echo "$t1 - $t0" | bc)" "$ec_closed" "$ec_of" "$ec_lim" "$ec_named"
    t0=$(date +%s.%N)
    ip netns exec "$S" timeout $LIMIT nmap -sU -sV -Pn -n -p "$PORTS" -oX "$TMP/nmap.xml" $A >/dev/null 2>&1 || echo "nmap: over ${LIMIT}s or failed"
    t1=$(date +%s.%N)
    python3 - "$TMP/nmap.xml" "$label" "$(echo "$t1 - $t0" | bc)" <<'PY' || true
import sys, xml.etree.ElementTree as E
ports = E.parse(sys.argv[1]).getroot().findall(".//port")
st = lambda s: sum(1 for p in ports if p.find("state").get("state") == s)
named = sorted("%s/%s" % (p.get("portid"), (p.find("service").get("name") if p.find("service") is not None else "?")) for p in ports if p.find("state").get("state") == "open")
print("%-9s nmap        %6.2f s  closed %2d  open|filtered %2d                   named: %s" % (sys.argv[2], float(sys.argv[3]), st("closed"), st("open|filtered"), " ".join(named)))
PY
}
bench default
ip netns exec "$T" sysctl -q -w net.ipv4.icmp_ratelimit=0
bench lifted
