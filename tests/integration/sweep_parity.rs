//! A full sweep names what a port list names (issue 17, item 3): every
//! identification fixture on one namespace host, scanned with `-p LIST` and
//! with `-p-`, on a quiet link and behind 5% loss. Each port must get the
//! same name, product, version and auth state both ways on the quiet link;
//! connection counts are compared and printed, not asserted. Behind loss the differences
//! are printed, not asserted: two runs of the same list differ there too. During `-p-` the sweep's own queueing shows
//! in the open ports' RTT samples; the fingerprinter paces by the host's
//! smallest RTT instead (`pipeline::State::host_rtt`).

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

/// Every port where the two scans name the port differently, as table
/// rows. Connection counts further apart than one (a fifth under loss) are
/// printed, not counted as a difference.
fn differences(
    ports: &[u16],
    list: &BTreeMap<u16, Value>,
    full: &BTreeMap<u16, Value>,
    lossy: bool,
) -> Vec<String> {
    let mut rows = Vec::new();
    for p in ports {
        let (a, b) = (list.get(p).map(identity), full.get(p).map(identity));
        let same = match (&a, &b) {
            (Some((wa, ca)), Some((wb, cb))) => {
                let slack = if lossy { (*ca.max(cb) / 5).max(1) } else { 1 };
                if ca.abs_diff(*cb) > slack {
                    // Reported, not asserted: a server that serves one
                    // connection at a time (Tomcat's shutdown port) shifts
                    // the walk's batch from run to run (28 vs 9 seen in CI).
                    eprintln!("port {p}: connections {ca} with the list, {cb} with -p-");
                }
                wa == wb
            }
            _ => false,
        };
        if !same {
            rows.push(format!("| {p} | {a:?} | {b:?} |"));
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
        assert_eq!(list.len(), ports.len(), "{link}: one line per listed port");
        // -p- also meets ports no fixture names (an Erlang node's
        // distribution port, which epmd assigns): only the listed are compared.
        let rows = differences(&ports, &list, &full, link != "quiet");
        if link == "quiet" {
            problems.extend(rows.into_iter().map(|r| format!("{link} {r}")));
        } else {
            // Behind loss two runs of the same list disagree too (a lost
            // segment turns a reply into a timeout): reported, not asserted.
            eprintln!(
                "{link}: {} of {} ports differ\n{}",
                rows.len(),
                ports.len(),
                rows.join("\n")
            );
        }
    }
    assert!(
        problems.is_empty(),
        "-p LIST and -p- disagree ((state, name, product, version, auth), connections):\n| link port | -p LIST | -p- |\n{}\nserver logs:\n{}",
        problems.join("\n"),
        host.servers.logs()
    );
}
