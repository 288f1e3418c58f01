# Shared by the benchmark scripts (sourced, never run): the namespace pair,
# the accept-and-close listeners, RustScan's one-time install, and timing one
# run. Callers set TMP (a scratch dir), S (the scanner namespace) and LIMIT.

# veth_pair S T ADDR_S ADDR_T: namespaces S and T joined by a veth pair
# named after them, with one IPv4 address each (ADDR/LEN) and links up. No
# other route exists, so nothing leaves the pair.
veth_pair() {
    ip netns add "$1"
    ip netns add "$2"
    ip link add "$1" netns "$1" type veth peer name "$2" netns "$2"
    ip -n "$1" addr add "$3" dev "$1"
    ip -n "$2" addr add "$4" dev "$2"
    local ns
    for ns in "$1" "$2"; do ip -n "$ns" link set lo up; ip -n "$ns" link set "$ns" up; done
}

# Listeners that accept and close at once, in one process without forking,
# on the wildcard addresses of both families (so on every local address).
ACCEPTOR='
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    for fam, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((any_addr, port))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        while True:
            try:
                conn, _ = key.fileobj.accept()
            except BlockingIOError:
                break
            conn.close()
'

# start_acceptor NS PORTS...: the listeners in NS (pid appended to PIDS),
# waited for until every one listens.
start_acceptor() {
    local ns="$1"
    shift
    ip netns exec "$ns" python3 -c "$ACCEPTOR" "$@" &
    PIDS+=($!)
    for _ in $(seq 100); do
        [ "$(ip netns exec "$ns" ss -Hltn | wc -l)" -ge $((2 * $#)) ] && break
        sleep 0.05
    done
}

# rustscan_bin TARGET_DIR VERSION: RustScan's path, installed once with
# `cargo install --locked` under TARGET_DIR/bench-tools.
rustscan_bin() {
    local bin="$1/bench-tools/bin/rustscan"
    if ! "$bin" --version 2>/dev/null | grep -q "$2"; then
        echo "installing rustscan $2 under $1/bench-tools (once)" >&2
        cargo install --quiet --locked rustscan --version "$2" \
            --root "$1/bench-tools" --target-dir "$1/bench-tools/build"
    fi
    echo "$bin"
}

# measure CMD...: runs CMD in namespace S under /usr/bin/time, killed after
# LIMIT seconds; sets WALL, RSS_MB and RC, output in $TMP/out and $TMP/err.
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

# median / maxof: of the numbers on stdin.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -n1; }
