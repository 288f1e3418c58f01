//! End-to-end identification of the issue-17 services against their real
//! Debian daemons (servers_more.rs), each on its default and a moved port.
//! The same fixtures are in `fixtures::all()`, so the confusion matrix in
//! identify.rs covers them too.

use super::identify::{identify, scan, testnet};
use super::netns::show;
use super::servers::Servers;
use super::servers_more::{Distcc, ZabbixServer, NODES_EPMD_PORT, SUFFIX, TOMCAT_SHUTDOWN_WORD};

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

/// Knot DNS answers a query only after its two TCP workers have read the
/// other connections' incomplete messages (up to 500 ms each): on a moved
/// port the walk's DNS dialogue goes alone (`Dialogue::alone`), before the
/// batch, and is answered at once.
#[test]
fn identify_more_knot() {
    identify(&["knot"]);
}

/// Unbound closing a silent connection after 200 ms, before the greeting
/// wait ends: a second connection, timed from its handshake, shows it is
/// an idle timeout and not a TCP wrapper, and the walk names it.
#[test]
fn identify_more_unbound_with_a_short_idle_timeout() {
    identify(&["unbound-idle"]);
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

/// A distccd that runs any compiler it is sent answers the job whose
/// compiler is `/` with a failed exec (its log shows nothing ran).
#[test]
fn identify_more_distcc_insecure() {
    identify(&["distcc-insecure"]);
    let (net, place) = testnet();
    let mut servers = Servers::new(place);
    servers.distccd(Distcc::Insecure, &[3632]);
    let (lines, out) = scan(&net, &[3632]);
    let logs = servers.full_logs();
    assert!(
        lines[&3632]["service"]["name"] == "distcc"
            && logs.contains("/ exposecheck.c on localhost failed with exit code 110"),
        "{}\n{logs}",
        show(&out)
    );
}

/// Debian's default distccd (the compiler whitelist) refuses the absolute
/// compiler `/` in silence, and no harmless job draws a word from it: the
/// default port gets the port guess only, the moved port stays `unknown`.
#[test]
fn identify_more_distcc_whitelisting_is_only_guessed() {
    let (net, place) = testnet();
    let mut servers = Servers::new(place);
    servers.distccd(Distcc::Whitelist, &[3632, 13633]);
    let (lines, out) = scan(&net, &[3632, 13633]);
    let got = |port: u16, key: &str| {
        lines[&port]["service"][key]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let logs = servers.full_logs();
    assert_eq!(
        [
            (got(3632, "name"), got(3632, "confidence")),
            (got(13633, "name"), got(13633, "confidence"))
        ],
        [
            ("distcc".into(), "guessed".into()),
            ("unknown".into(), "guessed".into())
        ],
        "{}\n{logs}",
        show(&out)
    );
    assert!(logs.contains("cannot be an absolute path"), "{logs}");
}

/// NRPE with a certificate: `_NRPE_CHECK` inside TLS gives its version.
#[test]
fn identify_more_nrpe() {
    identify(&["nrpe"]);
}

/// Debian's default NRPE (no certificate) offers only anonymous-DH TLS,
/// which rustls does not speak: the port is a TLS listener whose handshake
/// failed, never a probed NRPE.
#[test]
fn identify_more_nrpe_without_certificate_is_only_tls() {
    let (net, place) = testnet();
    let mut servers = Servers::new(place);
    servers.nrpe(false, &[5666, 15667]);
    let (lines, out) = scan(&net, &[5666, 15667]);
    for port in [5666, 15667] {
        let svc = &lines[&port]["service"];
        assert!(
            !(svc["name"] == "nrpe" && svc["confidence"] == "probed"),
            "{port}: {svc}\n{}",
            show(&out)
        );
    }
    let moved = &lines[&15667]["service"];
    let err = moved["tls"]["error"].as_str().unwrap_or_default();
    assert!(
        moved["name"] == "tls" && err.contains("HandshakeFailure"),
        "{moved}\n{}\n{}",
        show(&out),
        servers.logs()
    );
}

/// AJP13 CPing/CPong on a connector that requires its secret.
#[test]
fn identify_more_tomcat_ajp() {
    identify(&["tomcat-ajp"]);
}

/// The shutdown port is named, and Tomcat is still running afterwards:
/// it logged our text as an invalid command and never shut down.
#[test]
fn identify_more_tomcat_shutdown_never_stops_it() {
    identify(&["tomcat-shutdown"]);
    let (net, place) = testnet();
    let mut servers = Servers::new(place.clone());
    servers.tomcat_shutdown(&[8005]);
    let (lines, out) = scan(&net, &[8005]);
    let logs = servers.full_logs();
    assert_eq!(
        lines[&8005]["service"]["name"],
        "tomcat-shutdown",
        "{}\n{logs}",
        show(&out)
    );
    assert!(place.connects(8005), "Tomcat stopped:\n{logs}");
    assert!(logs.contains("Invalid shutdown command"), "{logs}");
    assert!(
        !logs.contains(TOMCAT_SHUTDOWN_WORD) && !logs.contains("shutdownViaPort"),
        "{logs}"
    );
}

/// A real epmd and Erlang node (Debian erlang-base) on fixed ports.
#[test]
fn identify_more_erlang_otp() {
    identify(&["epmd-otp", "erlang-otp"]);
}

/// A node on the port it picked itself: the port that epmd's node list
/// names is identified as Erlang distribution, the cookie asked.
#[test]
fn identify_more_erlang_on_the_port_epmd_names() {
    let (net, place) = testnet();
    let mut servers = Servers::new(place);
    servers.erlang_nodes(&[]);
    let mut dist = None;
    for _ in 0..40 {
        let (lines, _) = scan(&net, &[NODES_EPMD_PORT]);
        let info = lines[&NODES_EPMD_PORT]["service"]["info"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        dist = info
            .split("nodes=")
            .nth(1)
            .and_then(|n| n.split(':').nth(1))
            .and_then(|p| p.split([',', ';']).next()?.parse::<u16>().ok());
        if dist.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let port = dist.unwrap_or_else(|| panic!("epmd never listed the node\n{}", servers.logs()));
    let (lines, out) = scan(&net, &[port]);
    let svc = &lines[&port]["service"];
    assert!(
        svc["name"] == "erlang-dist"
            && svc["auth"] == "required"
            && lines[&port]["finding"]["severity"] == "medium",
        "{port}: {svc}\n{}\n{}",
        show(&out),
        servers.logs()
    );
}
