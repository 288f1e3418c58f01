//! End-to-end identification of the issue-17 services against their real
//! Debian daemons (servers_more.rs), each on its default and a moved port.
//! The same fixtures are in `fixtures::all()`, so the confusion matrix in
//! identify.rs covers them too.

use super::identify::{identify, scan, testnet};
use super::netns::show;
use super::servers::Servers;
use super::servers_more::{ZabbixServer, SUFFIX};

#[test]
fn identify_more_munin_node() {
    identify(&["munin-node"]);
}

#[test]
fn identify_more_svnserve() {
    identify(&["svnserve"]);
}

#[test]
fn identify_more_git_daemon() {
    identify(&["git-daemon"]);
}

#[test]
fn identify_more_zabbix_agent() {
    identify(&["zabbix-agent"]);
}

#[test]
fn identify_more_prometheus() {
    identify(&["prometheus"]);
}

#[test]
fn identify_more_node_exporter() {
    identify(&["node-exporter"]);
}

#[test]
fn identify_more_bind9() {
    identify(&["bind9"]);
}

#[test]
fn identify_more_dnsmasq() {
    identify(&["dnsmasq"]);
}

/// rpcbind on 111 and, redirected by a nat rule, on a moved port.
#[test]
fn identify_more_rpcbind() {
    identify(&["rpcbind"]);
}

/// slapd with the default ACLs: named `ldap`, auth none, and the naming
/// context read from the root DSE in `info`.
#[test]
fn identify_more_slapd() {
    identify(&["slapd"]);
    let (net, place) = testnet();
    let mut servers = Servers::new(place);
    servers.slapd(&[389, 10389]);
    let (lines, out) = scan(&net, &[389, 10389]);
    for port in [389, 10389] {
        let svc = &lines[&port]["service"];
        let info = svc["info"].as_str().unwrap_or_default();
        assert!(
            svc["name"] == "ldap" && svc["auth"] == "none" && info.contains(SUFFIX),
            "{port}: {svc}\n{}\n{}",
            show(&out),
            servers.logs()
        );
    }
}

/// Xvfb -ac: an open X server, vendor from the setup reply.
#[test]
fn identify_more_xvfb_open() {
    identify(&["xvfb-open"]);
}

/// php-fpm's TCP pool answers FCGI_GET_VALUES.
#[test]
fn identify_more_php_fpm() {
    identify(&["php-fpm"]);
}

/// An agent whose `Server=` leaves the scanner out closes without a byte:
/// nothing on the wire names it. Its default port gets the port guess only
/// (`confidence` "guessed", auth unknown); the moved port stays `unknown`.
#[test]
fn identify_more_zabbix_agent_refusing_is_only_guessed() {
    let (net, place) = testnet();
    let mut servers = Servers::new(place);
    servers.zabbix_agent(ZabbixServer::LoopbackOnly, &[10050, 20052]);
    let (lines, out) = scan(&net, &[10050, 20052]);
    let got = |port: u16, key: &str| {
        let line = lines
            .get(&port)
            .unwrap_or_else(|| panic!("no line for {port}\n{}", show(&out)));
        line["service"][key]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let seen = [
        (
            got(10050, "name"),
            got(10050, "confidence"),
            got(10050, "auth"),
        ),
        (
            got(20052, "name"),
            got(20052, "confidence"),
            got(20052, "auth"),
        ),
    ];
    let want = |n: &str, c: &str| (n.to_string(), c.to_string(), "unknown".to_string());
    assert_eq!(
        seen,
        [want("zabbix-agent", "guessed"), want("unknown", "guessed")],
        "{}\n{}",
        show(&out),
        servers.logs()
    );
}
