//! A full sweep names what a port list names (issue 17, item 3): every
//! identification fixture on one namespace host, scanned with `-p LIST` and
//! with `-p-`, on a quiet link and behind 5% loss. Each port must get the
//! same state, name, product, version and auth both ways, and connections
//! within one, on the quiet link; behind loss the same names, except that
//! two ports of the run may be left `unknown` (or unseen) by one scan: a
//! preforked or one-at-a-time server held by a connection whose closing
//! packets were all lost. During `-p-` the sweep's own
//! queueing shows in the open ports' RTT samples; the fingerprinter paces by
//! the host's smallest RTT instead (`pipeline::State::host_rtt`). Behind
//! loss, silence after a probe waits while the kernel still retransmits it
//! (`fingerprint::io::read_reply`), and a greeting delayed by a lost
//! handshake ACK is still judged as one (`Session::late_greeting`); two
//! tests drop exactly those packets.

use super::fixtures;
use super::identify::{port_lines, testnet};
use super::netns::TestNet;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a port was identified as: name, product, version, auth, and the
/// connections it took.
fn identity(v: &Value) -> (Vec<String>, u64) {
    let svc = &v["service"];
    let field = |k: &str| svc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let what = vec![
        v["state"].as_str().unwrap_or("").to_string(),
        field("name"),
        field("product"),
        field("version"),
        field("auth"),
    ];
    (what, svc["connections"].as_u64().unwrap_or(0))
}

fn scan(net: &TestNet, ports: &str) -> BTreeMap<u16, Value> {
    let target = net.target_v4().to_string();
    port_lines(&net.exposecheck(&["--ndjson", "-q", ports, &target]))
}

/// How two scans of one port differ.
#[derive(PartialEq)]
enum Diff {
    /// Different states or names, or (quiet link) connections more than one apart.
    Wrong,
    /// Behind loss, one side named the port and the other left it `unknown`
    /// (or did not find it open).
    Unnamed,
}

/// Every port where the two scans differ, as (kind, table row). Behind loss
/// connection counts further apart than one are printed, not counted: a
/// lost handshake ACK delays a moved port's greeting by the server's 1 s
/// SYN-ACK retransmission, and the walk then takes the port for one that
/// waits for the client.
fn differences(
    ports: &[u16],
    list: &BTreeMap<u16, Value>,
    full: &BTreeMap<u16, Value>,
    link: &str,
) -> Vec<(Diff, String)> {
    let mut rows = Vec::new();
    for p in ports {
        let (a, b) = (list.get(p).map(identity), full.get(p).map(identity));
        let diff = match (&a, &b) {
            (Some((wa, ca)), Some((wb, cb))) => {
                let close = ca.abs_diff(*cb) <= 1;
                if !close {
                    eprintln!("{link} port {p}: connections {ca} with the list, {cb} with -p-");
                }
                // `tls` names only the layer (NRPE's query inside it lost),
                // and a port-table guess is no identification either (a
                // one-at-a-time server that stopped answering the walk).
                let guessed = |m: &BTreeMap<u16, Value>| {
                    m.get(p)
                        .is_some_and(|v| v["service"]["confidence"] == "guessed")
                };
                let bare = |w: &[String], m| w[1] == "unknown" || w[1] == "tls" || guessed(m);
                let unnamed = wa[0] == wb[0] && bare(wa, list) != bare(wb, full);
                match (wa == wb, link == "quiet") {
                    (true, false) => None,
                    (true, true) if close => None,
                    (false, false) if unnamed => Some(Diff::Unnamed),
                    _ => Some(Diff::Wrong),
                }
            }
            // Behind loss a one-at-a-time server (Tomcat's shutdown port)
            // can still be held by a connection whose FIN and RST were
            // both lost, and its full backlog hides it from the next sweep.
            (Some(_), None) | (None, Some(_)) if link != "quiet" => Some(Diff::Unnamed),
            _ => Some(Diff::Wrong),
        };
        if let Some(diff) = diff {
            let service = |m: &BTreeMap<u16, Value>| {
                m.get(p).map_or(String::new(), |v| v["service"].to_string())
            };
            let row = format!(
                "| {link} {p} | {a:?} | {b:?} |\n  list: {}\n  full: {}",
                service(list),
                service(full)
            );
            rows.push((diff, row));
        }
    }
    rows
}

#[test]
fn a_full_sweep_names_what_the_port_list_names() {
    let (net, place) = testnet();
    let plan = fixtures::shared_ports(&fixtures::all());
    let host = fixtures::start(&place, &plan);
    let ports: Vec<u16> = plan.iter().flat_map(|(_, p)| p.clone()).collect();
    let list_arg = format!(
        "-p{}",
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut problems = Vec::new();
    for link in ["quiet", "5% loss"] {
        if link != "quiet" {
            net.iptables("-I INPUT 1 -m statistic --mode random --probability 0.05 -j DROP");
        }
        let list = scan(&net, &list_arg);
        let full = scan(&net, "-p-");
        if link == "quiet" {
            assert_eq!(list.len(), ports.len(), "{link}: one line per listed port");
        }
        // -p- also meets ports no fixture names (an Erlang node's
        // distribution port, which epmd assigns): only the listed are
        // compared. Behind loss, not the Unbound that closes a connection
        // 200 ms after its last query: a lost query segment is resent
        // after at least 200 ms (Linux's minimum RTO), so any loss on that
        // connection closes it first, whatever the scanner does.
        let compared: Vec<u16> = plan
            .iter()
            .filter(|(f, _)| link == "quiet" || f.id != "unbound-idle")
            .flat_map(|(_, p)| p.clone())
            .collect();
        let rows = differences(&compared, &list, &full, link);
        eprintln!("{link}: {} of {} ports differ", rows.len(), ports.len());
        for (_, row) in &rows {
            eprintln!("{row}");
        }
        // Behind loss a preforked or one-at-a-time server (distccd,
        // Tomcat's shutdown port) can be left busy on a connection whose
        // FIN and RST were both lost (one in 400): up to two ports left
        // unnamed by one scan are tolerated (two runs of the same list show
        // it too); a third, or any other difference, is not.
        let unnamed = rows.iter().filter(|(d, _)| *d == Diff::Unnamed).count();
        problems.extend(
            rows.into_iter()
                .filter(|(d, _)| *d == Diff::Wrong || unnamed > 2)
                .map(|(_, row)| row),
        );
    }
    assert!(
        problems.is_empty(),
        "-p LIST and -p- disagree ((state, name, product, version, auth), connections):\n| link port | -p LIST | -p- |\n{}\nserver logs:\n{}",
        problems.join("\n"),
        host.servers.logs()
    );
}

/// Starts `want`'s fixtures (id, name, product) on their moved ports, adds
/// `rule` to the target's INPUT chain, scans them and asserts each is named
/// as wanted.
fn names_behind(rule: &str, want: &[(&str, &str, &str)]) {
    let (net, place) = testnet();
    let plan: Vec<_> = fixtures::all()
        .into_iter()
        .filter_map(|f| {
            let w = want.iter().find(|w| w.0 == f.id)?;
            Some(((f, vec![f.moved]), *w))
        })
        .collect();
    assert_eq!(plan.len(), want.len(), "fixtures {want:?}");
    let (fixtures, wants): (Vec<_>, Vec<_>) = plan.into_iter().unzip();
    let host = fixtures::start(&place, &fixtures);
    net.iptables(rule);
    let ports: Vec<String> = fixtures.iter().map(|(f, _)| f.moved.to_string()).collect();
    let lines = scan(&net, &format!("-p{}", ports.join(",")));
    for ((f, _), (id, name, product)) in fixtures.iter().zip(wants) {
        let v = &lines[&f.moved]["service"];
        let got = (
            v["name"].as_str().unwrap_or(""),
            v["product"].as_str().unwrap_or("").to_lowercase(),
        );
        assert!(
            got.0 == name && got.1 == product,
            "{id} on {}: named {got:?}, want ({name:?}, {product:?})\n{}\nserver logs:\n{}",
            f.moved,
            lines[&f.moved],
            host.servers.logs()
        );
    }
}

/// When the last ACK of our handshake is lost, a server that speaks first
/// accepts (and greets) only after its SYN-ACK is resent a second later, so
/// a moved port's greeting misses the short greeting window and arrives in
/// front of the reply to our first probe. Both kinds of greeting must still
/// name the port: a catalogue rule's (OpenSSH) and a coded dialogue's
/// (MariaDB's handshake, judged again on a connection of its own).
#[test]
fn a_lost_handshake_ack_does_not_hide_a_greeting() {
    // The second packet of every connection from the scanner: the ACK that
    // completes the handshake (conntrack counts it before the filter, so
    // the retransmitted ACK and every later packet pass).
    names_behind(
        "-I INPUT 1 -p tcp -m connbytes --connbytes 2:2 --connbytes-dir original \
         --connbytes-mode packets -j DROP",
        &[
            ("openssh", "ssh", "openssh"),
            ("mariadb-any-host", "mysql", "mariadb"),
        ],
    );
}

/// A probe whose segment is lost twice is resent by the kernel after 200
/// and then 400 ms more, past a fast link's reply window: silence while the
/// peer has not acknowledged the probe is not an answer.
#[test]
fn a_probe_the_kernel_is_still_resending_is_waited_for() {
    // The third and fourth packets of every connection: its first data
    // segment (the first probe) and that segment's first retransmission.
    names_behind(
        "-I INPUT 1 -p tcp -m connbytes --connbytes 3:4 --connbytes-dir original \
         --connbytes-mode packets -j DROP",
        &[
            ("redis-open", "redis", "redis"),
            ("nginx-http", "http", "nginx"),
            ("postgres-md5", "postgresql", "postgresql"),
        ],
    );
}
