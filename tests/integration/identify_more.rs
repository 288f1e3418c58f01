//! End-to-end identification of the issue-17 services against their real
//! Debian daemons (servers_more.rs), each on its default and a moved port.
//! The same fixtures are in `fixtures::all()`, so the confusion matrix in
//! identify.rs covers them too.

use super::identify::{identify, scan, testnet};
use super::netns::show;
use super::servers::Servers;
use super::servers_more::ZabbixServer;

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
fn identify_more_bind9() {
    identify(&["bind9"]);
}

#[test]
fn identify_more_dnsmasq() {
    identify(&["dnsmasq"]);
}

/// An agent whose `Server=` leaves the scanner out closes without a byte:
/// it must not be named at all (no guess from the port), on either port.
#[test]
fn identify_more_zabbix_agent_refusing_stays_unnamed() {
    let (net, place) = testnet();
    let mut servers = Servers::new(place);
    servers.zabbix_agent(ZabbixServer::LoopbackOnly, &[10050, 20052]);
    let (lines, out) = scan(&net, &[10050, 20052]);
    for port in [10050, 20052] {
        let line = lines
            .get(&port)
            .unwrap_or_else(|| panic!("no line for {port}\n{}", show(&out)));
        assert_eq!(line["state"], "open", "{port}\n{}", show(&out));
        assert_eq!(
            line["service"]["name"], "unknown",
            "{port}: a silent close names nothing\n{}\n{}",
            show(&out),
            servers.logs()
        );
    }
}
