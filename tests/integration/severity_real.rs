//! Severity from what an attacker can do, checked on real servers: Jupyter
//! Server (PyPI `jupyter_server`) with no token and with one, and a Flask
//! app under the Werkzeug debugger with its PIN turned off and on (PyPI
//! `flask`), all on loopback from the CI virtualenv (`.ci/run` installs
//! them). With no credential both give code execution to anyone, so
//! critical; with one they stay medium development servers. The finding's
//! notes open with the rationale. Squid and tinyproxy (Debian), open and
//! behind an access list, on moved ports: an open proxy is high, one that
//! refuses this client medium; the check asks each proxy only for its own
//! loopback.

use super::alert_recipes::scan_json;
use super::servers::{free_port, Place, Servers};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

/// A program of the CI virtualenv; fails loudly when absent.
fn venv(tool: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/ci-venv/bin")
        .join(tool);
    assert!(
        p.is_file(),
        "{} is missing: run .ci/run (it installs jupyter_server and flask into target/ci-venv)",
        p.display()
    );
    p
}

/// A Flask app with the Werkzeug debugger on `port`.
const FLASK_APP: &str = r#"
import sys
from flask import Flask
app = Flask(__name__)

@app.route("/")
def index():
    return "hello"

app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=True, use_reloader=False)
"#;

/// Starts Jupyter Server on `port`, with `token` ("" for none).
fn jupyter(servers: &mut Servers, port: u16, token: &str) {
    let dir = servers.subdir("jupyter");
    let mut cmd = Command::new(venv("jupyter-server"));
    cmd.current_dir(&dir)
        .env("HOME", &dir)
        .env("JUPYTER_RUNTIME_DIR", dir.join("runtime"))
        .env("JUPYTER_CONFIG_DIR", dir.join("config"))
        .env("JUPYTER_DATA_DIR", dir.join("data"))
        .args([
            "--allow-root",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            &format!("--ServerApp.port={port}"),
            "--ServerApp.port_retries=0",
            &format!("--IdentityProvider.token={token}"),
            "--ServerApp.password=",
            &format!("--ServerApp.root_dir={}", dir.display()),
        ]);
    servers.spawn("jupyter", cmd, &dir, &[port], libc::SIGTERM);
}

/// Starts the Flask app on `port`; `pin` false sets `WERKZEUG_DEBUG_PIN=off`.
fn flask(servers: &mut Servers, port: u16, pin: bool) {
    let dir = servers.subdir("flask");
    std::fs::write(dir.join("app.py"), FLASK_APP).expect("app.py");
    let mut cmd = Command::new(venv("python"));
    cmd.current_dir(&dir)
        .env("HOME", &dir)
        .arg("app.py")
        .arg(port.to_string());
    if !pin {
        cmd.env("WERKZEUG_DEBUG_PIN", "off");
    }
    servers.spawn("flask", cmd, &dir, &[port], libc::SIGTERM);
}

#[test]
fn code_execution_for_anyone_is_critical_and_a_locked_one_is_medium() {
    let mut servers = Servers::new(Place {
        ns: None,
        addr: Ipv4Addr::LOCALHOST.into(),
    });
    let ports = [free_port(), free_port(), free_port(), free_port()];
    jupyter(&mut servers, ports[0], "");
    jupyter(&mut servers, ports[1], "a0b1c2d3e4f5a6b7c8d9");
    flask(&mut servers, ports[2], false);
    flask(&mut servers, ports[3], true);
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let doc = scan_json(&list.join(","));
    let ctx = format!("{doc:#}\n{}", servers.logs());
    let finding = |port: u16| {
        doc["findings"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["port"] == port))
            .cloned()
            .unwrap_or_else(|| panic!("no finding on {port}: {ctx}"))
    };
    for (port, rule, severity, why) in [
        (ports[0], "jupyter-unauthenticated", "critical", true),
        (ports[1], "jupyter-exposed", "medium", true),
        (ports[2], "werkzeug-unauthenticated", "critical", true),
        (ports[3], "werkzeug-exposed", "medium", true),
    ] {
        let f = finding(port);
        assert_eq!(
            (f["rule"].as_str(), f["severity"].as_str()),
            (Some(rule), Some(severity)),
            "{port}: {ctx}"
        );
        let first = f["remediation"]["notes"][0].as_str().unwrap_or_default();
        assert_eq!(
            first.starts_with(&format!("Why {severity}: ")),
            why,
            "{port}: {first:?}"
        );
    }
    let open = finding(ports[0]);
    assert!(
        open["title"]
            .as_str()
            .is_some_and(|t| t.contains("runs code for anyone")),
        "{open:#}"
    );
}

/// Starts Squid on `port`; `open` allows every client, else only 10/8.
fn squid(servers: &mut Servers, port: u16, open: bool) {
    let dir = servers.subdir("squid");
    let acl = if open {
        "http_access allow all\n"
    } else {
        "acl localnet src 10.0.0.0/8\nhttp_access allow localnet\nhttp_access deny all\n"
    };
    let conf = dir.join("squid.conf");
    std::fs::write(
        &conf,
        format!(
            "http_port 127.0.0.1:{port}\n{acl}cache deny all\npid_filename none\n\
             access_log none\ncache_log /dev/null\ncoredump_dir none\npinger_enable off\n\
             dns_nameservers 127.0.0.1\nshutdown_lifetime 0 seconds\n"
        ),
    )
    .expect("squid.conf");
    let mut cmd = Command::new("/usr/sbin/squid");
    cmd.arg("-N").arg("-f").arg(&conf);
    servers.spawn("squid", cmd, &dir, &[port], libc::SIGTERM);
}

/// Starts tinyproxy on `port`; `open` allows every client, else only 10/8.
fn tinyproxy(servers: &mut Servers, port: u16, open: bool) {
    let dir = servers.subdir("tinyproxy");
    let allow = if open { "" } else { "Allow 10.0.0.0/8\n" };
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!("Port {port}\nListen 127.0.0.1\nTimeout 10\nMaxClients 10\n{allow}"),
    )
    .expect("tinyproxy.conf");
    let mut cmd = Command::new("/usr/bin/tinyproxy");
    cmd.arg("-d").arg("-c").arg(&conf);
    servers.spawn("tinyproxy", cmd, &dir, &[port], libc::SIGTERM);
}

#[test]
fn open_proxies_are_high_and_refusing_ones_medium() {
    let mut servers = Servers::new(Place {
        ns: None,
        addr: Ipv4Addr::LOCALHOST.into(),
    });
    let ports = [free_port(), free_port(), free_port(), free_port()];
    squid(&mut servers, ports[0], true);
    squid(&mut servers, ports[1], false);
    tinyproxy(&mut servers, ports[2], true);
    tinyproxy(&mut servers, ports[3], false);
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let doc = scan_json(&list.join(","));
    let ctx = format!("{doc:#}\n{}", servers.logs());
    for (port, product, auth, severity) in [
        (ports[0], "Squid", "none", "high"),
        (ports[1], "Squid", "protected", "medium"),
        (ports[2], "tinyproxy", "none", "high"),
        (ports[3], "tinyproxy", "protected", "medium"),
    ] {
        let r = doc["results"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["port"] == port))
            .unwrap_or_else(|| panic!("no result on {port}: {ctx}"));
        let s = &r["service"];
        assert_eq!(
            (
                s["name"].as_str(),
                s["product"].as_str(),
                s["auth"].as_str()
            ),
            (Some("http-proxy"), Some(product), Some(auth)),
            "{port}: {ctx}"
        );
        assert!(
            s["version"]
                .as_str()
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())),
            "{port}: {ctx}"
        );
        assert_eq!(r["finding"]["severity"], severity, "{port}: {ctx}");
    }
}
