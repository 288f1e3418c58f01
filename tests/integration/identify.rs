//! End-to-end identification: the exposecheck binary against real servers
//! and faithful fakes, each on its default and on a moved port, inside a
//! [`TestNet`] target namespace and scanned from the scanner namespace (a
//! non-loopback client, so Redis protected mode, MariaDB host ACLs and
//! pg_hba rules apply). Checks name, product, version, auth, TLS facts and
//! that every name was probed, not guessed from the port. The confusion
//! matrix runs every fixture on one host at once.

use super::fixtures::{self, Expect, Fixture};
use super::netns::{self, parse_ndjson, show, TestNet};
use super::servers::{allow_low_ports, Place, RedisMode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Output};

/// A namespace pair with servers allowed on low ports in the target.
pub fn testnet() -> (TestNet, Place) {
    let net = TestNet::new();
    allow_low_ports(&net.target_ns);
    // The fixtures listen on ports up to 45672; the servers' own outgoing
    // connections (an Erlang node to epmd) must not take one of them as an
    // ephemeral port first (seen once: erl's eaddrinuse on 45672).
    net.sysctl_target("net.ipv4.ip_local_port_range", "46000 60999");
    let place = Place {
        ns: Some(net.target_ns.clone()),
        addr: net.target_v4().into(),
    };
    (net, place)
}

fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Port lines of an `--ndjson` run, keyed by port; panics unless it exited
/// 0 (nothing found) or 1 (findings).
pub fn port_lines(out: &Output) -> BTreeMap<u16, Value> {
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "exposecheck failed\n{}",
        show(out)
    );
    let nd = parse_ndjson(&out.stdout);
    nd.ports
        .into_iter()
        .map(|v| (v["port"].as_u64().unwrap_or(0) as u16, v))
        .collect()
}

/// Scans `ports` of the target from the scanner namespace.
pub fn scan(net: &TestNet, ports: &[u16]) -> (BTreeMap<u16, Value>, Output) {
    let target = net.target_v4().to_string();
    let out = net.exposecheck(&[
        "--ndjson",
        "-q",
        "--show",
        "closed,filtered",
        "-p",
        &port_list(ports),
        &target,
    ]);
    (port_lines(&out), out)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strip_v(x: &str) -> &str {
    x.strip_prefix('v').unwrap_or(x)
}

/// Every way `line` differs from `exp`.
fn mismatches(exp: &Expect, line: Option<&Value>) -> Vec<String> {
    let Some(line) = line else {
        return vec!["no result line for the port".into()];
    };
    let mut bad = Vec::new();
    if s(line, "state") != "open" {
        bad.push(format!(
            "state {} ({})",
            s(line, "state"),
            s(line, "reason")
        ));
        return bad;
    }
    let svc = &line["service"];
    let name = s(svc, "name");
    if !exp.names.contains(&name) {
        bad.push(format!("name {name:?}, want {:?}", exp.names));
    }
    if name != "unknown" && s(svc, "confidence") != "probed" {
        bad.push(format!(
            "confidence {:?}, want \"probed\"",
            s(svc, "confidence")
        ));
    }
    let product = s(svc, "product").to_ascii_lowercase();
    if !exp.product.is_empty() && !exp.product.iter().any(|p| product.contains(p)) {
        bad.push(format!(
            "product {:?}, want one containing {:?}",
            s(svc, "product"),
            exp.product
        ));
    }
    if let Some(v) = &exp.version {
        if !strip_v(s(svc, "version")).contains(strip_v(v)) {
            bad.push(format!("version {:?}, want {v:?}", s(svc, "version")));
        }
    }
    if let Some(a) = exp.auth {
        if s(svc, "auth") != a {
            bad.push(format!(
                "auth {:?} (evidence {:?}), want {a:?}",
                s(svc, "auth"),
                s(svc, "auth_evidence")
            ));
        }
    }
    if let Some(want) = exp.severity {
        if s(&line["finding"], "severity") != want {
            bad.push(format!(
                "severity {:?} ({:?}), want {want:?}",
                s(&line["finding"], "severity"),
                s(&line["finding"], "rule")
            ));
        }
    }
    let tls = svc.get("tls").filter(|t| !t.is_null());
    match (&exp.tls, tls) {
        (None, Some(t)) => bad.push(format!("unexpected tls {t}")),
        (Some(_), None) => bad.push("no tls facts".into()),
        (Some(want), Some(t)) => {
            if !s(t, "subject").contains(&want.subject) {
                bad.push(format!(
                    "tls.subject {:?}, want it to contain {:?}",
                    s(t, "subject"),
                    want.subject
                ));
            }
            if t["self_signed"].as_bool() != Some(want.self_signed) {
                bad.push(format!(
                    "tls.self_signed {}, want {}",
                    t["self_signed"], want.self_signed
                ));
            }
            if !s(t, "version").starts_with("TLSv1.") {
                bad.push(format!("tls.version {:?}", s(t, "version")));
            }
            if t["sans"].as_array().is_none_or(|a| a.is_empty()) {
                bad.push("tls.sans empty".into());
            }
        }
        (None, None) => {}
    }
    bad
}

/// One row per (fixture, port): expected vs reported, plus what is wrong.
fn report(rows: &[(Fixture, u16, Expect, Option<Value>)]) -> (String, usize) {
    let mut table = String::from("| fixture | port | want | got name | product | version | auth | problems |\n|---|---|---|---|---|---|---|---|\n");
    let mut failures = 0;
    for (f, port, exp, line) in rows {
        let bad = mismatches(exp, line.as_ref());
        failures += usize::from(!bad.is_empty());
        let svc = line
            .as_ref()
            .map(|l| l["service"].clone())
            .unwrap_or(Value::Null);
        table += &format!(
            "| {} | {port} | {} | {} | {} | {} | {} | {} |\n",
            f.id,
            exp.names.join("/"),
            s(&svc, "name"),
            s(&svc, "product"),
            s(&svc, "version"),
            s(&svc, "auth"),
            if bad.is_empty() {
                "ok".to_string()
            } else {
                let banner: String = s(&svc, "banner").chars().take(60).collect();
                format!(
                    "{} [note {:?}, connections {}, banner {banner:?}]",
                    bad.join("; "),
                    s(&svc, "note"),
                    svc["connections"]
                )
            }
        );
    }
    (table, failures)
}

/// Starts `ids` (each on its default and moved port, in separate namespaces
/// only if the caller makes separate calls), scans, and checks every port.
pub fn identify(ids: &[&str]) {
    let (net, place) = testnet();
    let list: Vec<_> = ids.iter().map(|id| fixtures::by_id(id)).collect();
    let plan = fixtures::shared_ports(&list);
    let host = fixtures::start(&place, &plan);
    let ports: Vec<u16> = plan.iter().flat_map(|(_, p)| p.clone()).collect();
    let (lines, out) = scan(&net, &ports);
    let rows: Vec<_> = plan
        .iter()
        .flat_map(|(f, ps)| {
            ps.iter()
                .map(|&p| (*f, p, (f.expect)(), lines.get(&p).cloned()))
        })
        .collect();
    let (table, failures) = report(&rows);
    eprintln!("{table}");
    assert_eq!(
        failures,
        0,
        "{failures} port(s) misidentified:\n{table}\n{}\nserver logs:\n{}",
        show(&out),
        host.servers.logs()
    );
}

macro_rules! identify_tests {
    ($($name:ident => $id:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                identify(&[$id]);
            }
        )*
    };
}

identify_tests! {
    identify_redis_open => "redis-open",
    identify_redis_password => "redis-password",
    identify_redis_protected => "redis-protected",
    identify_memcached => "memcached",
    identify_mariadb_local_only => "mariadb-local-only",
    identify_mariadb_any_host => "mariadb-any-host",
    identify_postgres_no_hba_entry => "postgres-no-hba-entry",
    identify_postgres_md5 => "postgres-md5",
    identify_postgres_trust => "postgres-trust",
    identify_openssh => "openssh",
    identify_nginx_http => "nginx-http",
    identify_nginx_https => "nginx-https",
    identify_mosquitto_anonymous => "mosquitto-anonymous",
    identify_mosquitto_auth => "mosquitto-auth",
    identify_beanstalkd => "beanstalkd",
    identify_rsyncd => "rsyncd",
    identify_python_http_server => "python-http-server",
    identify_fake_elasticsearch_secured => "elasticsearch-secured",
    identify_fake_elasticsearch_open => "elasticsearch-open",
    identify_fake_opensearch => "opensearch",
    identify_fake_docker => "docker",
    identify_fake_etcd => "etcd",
    identify_fake_kube_apiserver => "kube-apiserver",
    identify_fake_kubelet_secured => "kubelet-secured",
    identify_fake_kubelet_open => "kubelet-open",
    identify_fake_kubelet_readonly => "kubelet-readonly",
    identify_fake_consul => "consul",
    identify_fake_couchdb_admin_party => "couchdb-admin-party",
    identify_fake_couchdb_secured => "couchdb-secured",
    identify_fake_influxdb => "influxdb",
    identify_fake_zookeeper => "zookeeper",
    identify_fake_zookeeper_restricted => "zookeeper-restricted",
    identify_fake_nats => "nats",
    identify_fake_nats_auth => "nats-auth",
    identify_fake_jupyter => "jupyter",
    identify_fake_werkzeug_debug => "werkzeug-debug",
    identify_fake_vite => "vite",
    identify_fake_webpack_dev_server => "webpack-dev-server",
    identify_fake_express => "express",
    identify_fake_echo => "echo",
    identify_random_bytes_stay_unknown => "random-bytes",
    identify_proto_mongodb_open => "mongodb-open",
    identify_proto_mongodb_auth => "mongodb-auth",
    identify_proto_mongodb_4_0 => "mongodb-4.0",
    identify_proto_cassandra_open => "cassandra-open",
    identify_proto_cassandra_auth => "cassandra-auth",
    identify_proto_kafka => "kafka",
    identify_proto_amqp => "amqp",
    identify_proto_mssql => "mssql",
    identify_proto_rdp_nla => "rdp-nla",
    identify_proto_smb => "smb",
    identify_proto_vnc_open => "vnc-open",
    identify_proto_vnc_auth => "vnc-auth",
    identify_proto_telnet => "telnet",
    identify_proto_epmd => "epmd",
    identify_proto_erlang_dist => "erlang-dist",
}

/// Protected mode is about the client: the same Redis that answers `-DENIED`
/// to the scanner namespace lets a loopback client in.
#[test]
fn identify_redis_protected_mode_depends_on_client() {
    let (net, place) = testnet();
    let mut host = fixtures::start(&place, &[]);
    host.servers.redis_loopback_too = true;
    host.servers.redis(RedisMode::Protected, &[6379]);
    let (remote, out) = scan(&net, &[6379]);
    let remote_auth = s(&remote[&6379]["service"], "auth").to_string();
    let local_out = netns::run_limited(
        {
            let mut c = Command::new("ip");
            c.args([
                "netns",
                "exec",
                &net.target_ns,
                netns::BIN,
                "--ndjson",
                "-q",
                "-p",
                "6379",
                "127.0.0.1",
            ]);
            c
        },
        None,
        netns::DEFAULT_RUN_LIMIT,
    );
    let local = port_lines(&local_out);
    let local_auth = s(&local[&6379]["service"], "auth").to_string();
    assert_eq!(
        (remote_auth.as_str(), local_auth.as_str()),
        ("protected", "none"),
        "remote:\n{}\nloopback:\n{}",
        show(&out),
        show(&local_out)
    );
}

/// Every fixture on one host at once: each is identified as itself and
/// nothing else, and the echo and random-bytes servers stay `unknown`.
#[test]
fn identify_confusion_matrix() {
    let (net, place) = testnet();
    let plan = fixtures::shared_ports(&fixtures::all());
    let host = fixtures::start(&place, &plan);
    let ports: Vec<u16> = plan.iter().flat_map(|(_, p)| p.clone()).collect();
    let (lines, out) = scan(&net, &ports);
    let rows: Vec<_> = plan
        .iter()
        .flat_map(|(f, ps)| {
            ps.iter()
                .map(|&p| (*f, p, (f.expect)(), lines.get(&p).cloned()))
        })
        .collect();
    // The name-level confusion: for each reported name, which fixtures produced it.
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (f, port, _, line) in &rows {
        let name = line
            .as_ref()
            .map(|l| s(&l["service"], "name").to_string())
            .unwrap_or_default();
        by_name
            .entry(name)
            .or_default()
            .push(format!("{}:{port}", f.id));
    }
    let confusion: String = by_name
        .iter()
        .map(|(n, fs)| format!("  {n:>20} <- {}\n", fs.join(", ")))
        .collect();
    let (table, failures) = report(&rows);
    eprintln!("{table}\nreported name <- fixtures:\n{confusion}");
    assert_eq!(
        lines.len(),
        ports.len(),
        "one line per scanned port\n{}",
        show(&out)
    );
    assert_eq!(
        failures,
        0,
        "{failures} of {} ports misidentified:\n{table}\nreported name <- fixtures:\n{confusion}\nserver logs:\n{}",
        rows.len(),
        host.servers.logs()
    );
}
