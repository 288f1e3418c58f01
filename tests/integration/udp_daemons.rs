//! The UDP probes of issue 14 against real daemons from Debian packages:
//! minissdpd (SSDP), avahi-daemon (mDNS), Samba's nmbd (NetBIOS NBSTAT),
//! openbsd-inetd's internal chargen, rpcbind (PMAPPROC_DUMP over UDP),
//! libcoap's coap-server (CoAP), coturn's turnserver (STUN) and tftpd-hpa.
//! Each runs in the foreground inside the target namespace of a [`TestNet`]
//! with its config in the [`Servers`] tempdir, on its default port and, where
//! the daemon has a port option, on a moved one; exposecheck scans it from
//! the scanner namespace with `-p U:PORT`. QOTD has no Debian daemon: only
//! its catalogue fixture checks it. The same inetd's TCP echo is here too
//! (the echo service, named from what it sends back).

use super::netns::{self, parse_ndjson, TestNet};
use super::servers::{version_after, version_output, Place, Servers};
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a daemon may take to bind its UDP port.
const BIND_LIMIT: Duration = Duration::from_secs(20);

/// A fresh test network and a server set in its target namespace.
fn setup() -> (TestNet, Servers) {
    let net = TestNet::new();
    let place = Place {
        ns: Some(net.target_ns.clone()),
        addr: net.target_v4().into(),
    };
    (net, Servers::new(place))
}

/// What a scan of one UDP port must show.
struct Expect<'a> {
    service: &'a str,
    product: Option<&'a str>,
    version: Option<&'a str>,
    rule: &'a str,
    severity: &'a str,
}

/// exposecheck's NDJSON for `-p ports` of the target (exit 0 asserted).
fn scan_ndjson(net: &TestNet, ports: &str) -> std::process::Output {
    let out = net.exposecheck(&[
        "--format",
        "ndjson",
        "--fail-on",
        "none",
        "-p",
        ports,
        &net.target_v4().to_string(),
    ]);
    netns::expect_exit(&out, 0);
    out
}

/// Scans UDP `port` of the target; checks the port line against `want` and
/// returns it.
fn scan_udp(net: &TestNet, servers: &Servers, port: u16, want: &Expect) -> Value {
    let out = scan_ndjson(net, &format!("U:{port}"));
    let nd = parse_ndjson(&out.stdout);
    let ctx = || format!("{}\n{}", netns::show(&out), servers.logs());
    assert_eq!(nd.ports.len(), 1, "one port line: {}", ctx());
    let v = nd.ports[0].clone();
    assert_eq!(v["port"], port, "{}", ctx());
    assert_eq!(v["proto"], "udp", "{}", ctx());
    assert_eq!(v["state"], "open", "{}", ctx());
    assert_eq!(v["service"]["name"], want.service, "{}", ctx());
    let field = |k: &str| v["service"][k].as_str().map(str::to_owned);
    assert_eq!(field("product").as_deref(), want.product, "{}", ctx());
    if want.version.is_some() {
        assert_eq!(field("version").as_deref(), want.version, "{}", ctx());
    }
    assert_eq!(v["finding"]["rule"], want.rule, "{}", ctx());
    assert_eq!(v["finding"]["severity"], want.severity, "{}", ctx());
    let got = v["udp"]["received_bytes"].as_u64().unwrap_or(0);
    assert!(got > 0, "udp.received_bytes: {}", ctx());
    v
}

/// Whether a UDP socket is bound to `port` in the current thread's namespace
/// (`/proc/net/udp`: the local address is the second column, `ADDR:PORT` in hex).
fn udp_bound(port: u16) -> bool {
    let tail = format!(":{port:04X}");
    ["/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .any(|t| {
            t.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| a.ends_with(&tail))
            })
        })
}

/// Waits (bounded) until `port` is bound inside the target namespace.
fn await_udp(servers: &Servers, port: u16) {
    let start = Instant::now();
    while !servers.place.within(move || udp_bound(port)) {
        assert!(
            start.elapsed() < BIND_LIMIT,
            "nothing bound UDP {port} after {BIND_LIMIT:?}:\n{}",
            servers.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `text` to `dir/name`; returns the path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p.display().to_string()
}

/// The SERVER string registered with minissdpd (what miniupnpd would say).
const SSDP_SERVER: &str = "Debian/12 UPnP/1.1 MiniUPnPd/2.3.1";

/// What the starters below run, as [`Servers`] methods.
trait UdpDaemons {
    fn minissdpd(&mut self, dev: &str);
    fn avahi(&mut self, dev: &str);
    fn nmbd(&mut self, port: u16);
    fn inetd(&mut self, line: &str, tcp: &[u16]);
    fn inetd_chargen(&mut self);
    fn coap_server(&mut self, port: u16);
    fn turnserver(&mut self, port: u16);
    fn tftpd(&mut self, port: u16);
}

impl UdpDaemons for Servers {
    /// minissdpd on `dev` (UDP 1900, fixed), with one root device registered
    /// through its socket as miniupnpd registers itself.
    fn minissdpd(&mut self, dev: &str) {
        let dir = self.subdir("minissdpd");
        let sock = dir.join("minissdpd.sock");
        let mut cmd = self.place.command("minissdpd");
        cmd.args(["-d", "-i", dev, "-s"])
            .arg(&sock)
            .arg("-p")
            .arg(dir.join("minissdpd.pid"));
        self.spawn("minissdpd", cmd, &dir, &[], libc::SIGTERM);
        await_udp(self, 1900);
        let start = Instant::now();
        let mut s = loop {
            match UnixStream::connect(&sock) {
                Ok(s) => break s,
                Err(e) if start.elapsed() > BIND_LIMIT => {
                    panic!("minissdpd socket: {e}\n{}", self.logs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        // minissdpd.c, request type 4 (submit a service): ST, USN, SERVER,
        // LOCATION, each after its one-byte length (all under 128 bytes).
        let st = "upnp:rootdevice";
        let usn = format!("uuid:6d3e0c2a-0000-4e43-8000-000000000001::{st}");
        let location = format!("http://{}:5000/rootDesc.xml", self.place.addr);
        let mut msg = vec![4u8];
        for f in [st, &usn, SSDP_SERVER, &location] {
            msg.push(u8::try_from(f.len()).expect("short field"));
            msg.extend_from_slice(f.as_bytes());
        }
        s.write_all(&msg).expect("register with minissdpd");
    }

    /// avahi-daemon without D-Bus on `dev` (UDP 5353, fixed), in a private
    /// mount namespace with its own `/run` (its pid file would clash).
    fn avahi(&mut self, dev: &str) {
        let dir = self.subdir("avahi");
        let conf = write(
            &dir,
            "avahi-daemon.conf",
            &format!(
                "[server]\nhost-name=exposecheck-target\nuse-ipv4=yes\nuse-ipv6=no\n\
                 allow-interfaces={dev}\nenable-dbus=no\n[publish]\npublish-workstation=yes\n"
            ),
        );
        let mut cmd = self.place.command("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            &format!(
                "mount -t tmpfs exposecheck-run /run && exec avahi-daemon -f {conf} \
                 --no-drop-root --no-chroot --no-rlimits"
            ),
        ]);
        self.spawn("avahi-daemon", cmd, &dir, &[], libc::SIGTERM);
        await_udp(self, 5353);
    }

    /// Samba's nmbd on `port`, bound to the place's address, state in the tempdir.
    fn nmbd(&mut self, port: u16) {
        let dir = self.subdir(&format!("nmbd-{port}"));
        let d = dir.display();
        let conf = write(
            &dir,
            "smb.conf",
            &format!(
                "[global]\nnetbios name = EXPOSETARGET\nworkgroup = EXPOSEGROUP\n\
                 interfaces = {}/24\nbind interfaces only = yes\n\
                 lock directory = {d}/lock\nstate directory = {d}/state\n\
                 cache directory = {d}/cache\npid directory = {d}/pid\n\
                 private dir = {d}/private\nncalrpc dir = {d}/ncalrpc\n\
                 log file = {d}/nmbd-%m.log\n",
                self.place.addr
            ),
        );
        let mut cmd = self.place.command("nmbd");
        cmd.args([
            "-F",
            "--debug-stdout",
            "--no-process-group",
            "-d",
            "1",
            "-s",
        ])
        .arg(&conf)
        .args(["-p", &port.to_string()]);
        self.spawn("nmbd", cmd, &dir, &[], libc::SIGTERM);
        await_udp(self, port);
    }

    /// openbsd-inetd with the internal service of inetd.conf line `line`
    /// (an internal service takes the official name's port only), waiting
    /// for the TCP ports `tcp`.
    fn inetd(&mut self, line: &str, tcp: &[u16]) {
        let dir = self.subdir("inetd");
        let conf = write(
            &dir,
            "inetd.conf",
            &format!("{}:\n{line}\n", self.place.addr),
        );
        let mut cmd = self.place.command("inetd");
        cmd.args(["-d", "-i", &conf]);
        self.spawn("inetd", cmd, &dir, tcp, libc::SIGTERM);
    }

    /// openbsd-inetd with its internal UDP chargen (port 19).
    fn inetd_chargen(&mut self) {
        self.inetd("chargen dgram udp wait root internal", &[]);
        await_udp(self, 19);
    }

    /// libcoap's example server (no DTLS) on `port`.
    fn coap_server(&mut self, port: u16) {
        let dir = self.subdir(&format!("coap-{port}"));
        let mut cmd = self.place.command("coap-server-notls");
        cmd.args(["-A", &self.place.addr.to_string(), "-p", &port.to_string()]);
        self.spawn("coap-server", cmd, &dir, &[], libc::SIGTERM);
        await_udp(self, port);
    }

    /// coturn's turnserver on `port`, no config file, its database in the tempdir.
    fn turnserver(&mut self, port: u16) {
        let dir = self.subdir(&format!("turnserver-{port}"));
        let mut cmd = self.place.command("turnserver");
        cmd.args([
            "-n",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--log-file",
            "stdout",
        ])
        .args(["-L", &self.place.addr.to_string()])
        .args(["--listening-port", &port.to_string()])
        .arg("--pidfile")
        .arg(dir.join("turnserver.pid"))
        .arg("--db")
        .arg(dir.join("turndb"));
        self.spawn("turnserver", cmd, &dir, &[], libc::SIGTERM);
        await_udp(self, port);
    }

    /// tftpd-hpa in the foreground on `port`, serving an empty directory.
    fn tftpd(&mut self, port: u16) {
        let dir = self.subdir(&format!("tftpd-{port}"));
        let root = dir.join("root");
        fs::create_dir_all(&root).expect("tftp root");
        let mut cmd = self.place.command("in.tftpd");
        cmd.args(["-L", "-u", "root", "-s"])
            .arg(&root)
            .args(["--address", &format!("{}:{port}", self.place.addr)]);
        self.spawn("tftpd", cmd, &dir, &[], libc::SIGTERM);
        await_udp(self, port);
    }
}

/// A reflector finding of a service with no product in its replies.
fn reflector<'a>(service: &'a str, rule: &'a str) -> Expect<'a> {
    Expect {
        service,
        product: None,
        version: None,
        rule,
        severity: "high",
    }
}

#[test]
fn ssdp_minissdpd_is_a_reflector() {
    let (net, mut servers) = setup();
    servers.minissdpd(net.dev(netns::Side::Target));
    let v = scan_udp(
        &net,
        &servers,
        1900,
        &Expect {
            product: Some("MiniUPnPd"),
            version: Some(&version_after(SSDP_SERVER, "MiniUPnPd/")),
            ..reflector("ssdp", "udp-amplifier")
        },
    );
    assert_eq!(v["service"]["auth"], "none", "{v}");
}

#[test]
fn mdns_avahi_answers_a_unicast_service_query() {
    let (net, mut servers) = setup();
    servers.avahi(net.dev(netns::Side::Target));
    let v = scan_udp(&net, &servers, 5353, &reflector("mdns", "udp-amplifier"));
    assert_eq!(v["service"]["info"], "announces _workstation._tcp", "{v}");
}

#[test]
fn netbios_nmbd_node_status_on_default_and_moved_port() {
    let (net, mut servers) = setup();
    for port in [137, 10137] {
        servers.nmbd(port);
        let v = scan_udp(
            &net,
            &servers,
            port,
            &Expect {
                product: Some("Samba"),
                ..reflector("netbios-ns", "udp-amplifier")
            },
        );
        assert_eq!(v["service"]["info"], "name EXPOSETARGET", "{v}");
    }
}

#[test]
fn chargen_inetd_internal_is_a_reflector() {
    let (net, mut servers) = setup();
    servers.inetd_chargen();
    let v = scan_udp(
        &net,
        &servers,
        19,
        &Expect {
            product: Some("inetd chargen"),
            ..reflector("chargen", "udp-amplifier")
        },
    );
    let x = &v["udp"];
    assert!(
        x["received_bytes"].as_u64() > x["sent_bytes"].as_u64(),
        "chargen sends more than it gets: {v}"
    );
}

/// TCP's echo (RFC 862) from the same inetd: named `echo` from its sending
/// back the first probe verbatim, and low (a test service holding nothing).
#[test]
fn echo_inetd_internal_is_named_and_low() {
    let (net, mut servers) = setup();
    servers.inetd("echo stream tcp nowait root internal", &[7]);
    let out = scan_ndjson(&net, "7");
    let nd = parse_ndjson(&out.stdout);
    let ctx = format!("{}\n{}", netns::show(&out), servers.logs());
    let v = &nd.ports[0];
    assert_eq!(
        (&v["service"]["name"], &v["service"]["confidence"]),
        (&"echo".into(), &"probed".into()),
        "{ctx}"
    );
    assert_eq!(
        (&v["finding"]["rule"], &v["finding"]["severity"]),
        (&"echo-exposed".into(), &"low".into()),
        "{ctx}"
    );
    assert!(v["service"]["connections"].as_u64() < Some(3), "{ctx}");
}

#[test]
fn rpcbind_dump_over_udp() {
    let (net, mut servers) = setup();
    servers.rpcbind(&[111]);
    let v = scan_udp(&net, &servers, 111, &reflector("rpcbind", "udp-amplifier"));
    assert_eq!(v["service"]["info"], "program table (DUMP) answered", "{v}");
}

#[test]
fn coap_server_well_known_core_on_default_and_moved_port() {
    let (net, mut servers) = setup();
    for port in [5683, 15683] {
        servers.coap_server(port);
        let v = scan_udp(
            &net,
            &servers,
            port,
            &Expect {
                product: Some("libcoap coap-server"),
                ..reflector("coap", "udp-amplifier")
            },
        );
        let info = v["service"]["info"].as_str().unwrap_or_default();
        assert!(info.starts_with("resources: </>;"), "{v}");
    }
}

#[test]
fn stun_coturn_binding_is_public_ok_on_default_and_moved_port() {
    let (net, mut servers) = setup();
    let version = version_after(&version_output("turnserver", &["--version"]), "");
    for port in [3478, 13478] {
        servers.turnserver(port);
        scan_udp(
            &net,
            &servers,
            port,
            &Expect {
                service: "stun",
                product: Some("Coturn"),
                version: Some(&version),
                rule: "stun-public",
                severity: "info",
            },
        );
    }
}

/// tftpd-hpa answers a read request from a new port (RFC 1350 §4: the
/// server's transfer id). The probe says so (`reply_from = "new-port"`), so
/// the port's socket reads the target's other ports and takes the ERROR
/// reply because the TFTP rule matches it: open and named on the default
/// port and on a moved one (where every first UDP probe is sent).
#[test]
fn tftp_tftpd_hpa_answers_from_a_new_port_on_default_and_moved_port() {
    let (net, mut servers) = setup();
    for port in [69, 10069] {
        servers.tftpd(port);
        let v = scan_udp(&net, &servers, port, &reflector("tftp", "udp-amplifier"));
        assert_eq!(v["service"]["auth"], "none", "{v}");
        assert_eq!(v["udp"]["probe"], "tftp-rrq-missing", "{v}");
        if port == 69 {
            assert_eq!(v["service"]["info"], "ERROR: File not found", "{v}");
            assert_eq!(v["udp"]["received_datagrams"], 1, "{v}");
        } else {
            // Every first probe goes to a moved port; tftpd reads the ones
            // that start 00 01 (memcached's frame) as requests too.
            let info = v["service"]["info"].as_str().unwrap_or("");
            assert!(info.starts_with("ERROR: "), "{v}");
        }
    }
}
