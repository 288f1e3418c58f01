//! More real servers for the identification fixtures (issue 17): munin-node,
//! svnserve, git daemon, the Zabbix agent, BIND, dnsmasq, rpcbind, slapd, Xvfb, php-fpm,
//! Prometheus, distccd, Tomcat (AJP and shutdown ports), epmd and Erlang nodes, each from its Debian package,
//! run in the fixture namespace with its own config in the set's tempdir,
//! bound to the place's address, and stopped by PID when the set drops.

#![allow(dead_code)] // the fixture host uses a different part

use super::servers::{run_logged, version_after, version_output, Servers};
use std::fs;
use std::process::Command;
use std::time::Duration;

/// The scanner side of every [`TestNet`](super::netns::TestNet) lies in this network.
pub const SCANNER_NET: &str = "198.18.0.0/15";

/// Whether a Zabbix agent answers the scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZabbixServer {
    /// `Server=` lists the scanner's network: passive checks are answered.
    ScannerAllowed,
    /// `Server=127.0.0.1` only: the scanner gets a silent close.
    LoopbackOnly,
}

impl Servers {
    /// munin-node in the foreground, one process per port, allowing the scanner network.
    pub fn munin_node(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("munin-{port}"));
            let conf = format!(
                "log_level 4\nlog_file {d}/munin-node.log\npid_file {d}/munin-node.pid\n\
                 background 0\nsetsid 0\nuser root\ngroup root\nhost {a}\nport {port}\n\
                 cidr_allow {SCANNER_NET}\n",
                d = dir.display(),
                a = self.place.addr
            );
            let conf_path = dir.join("munin-node.conf");
            fs::write(&conf_path, conf).expect("munin-node.conf");
            let mut cmd = self.place.command("/usr/sbin/munin-node");
            cmd.arg("--config").arg(&conf_path).arg("--foreground");
            self.spawn("munin-node", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// `svnserve -d --foreground --threads` over an empty root, one process
    /// per port (threads, not a forked child per connection: a child held by
    /// a connection whose closing packets were lost would outlive the set).
    pub fn svnserve(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("svnserve-{port}"));
            fs::create_dir_all(dir.join("root")).expect("mkdir");
            let mut cmd = self.place.command("/usr/bin/svnserve");
            cmd.args(["-d", "--foreground", "--threads", "-r"])
                .arg(dir.join("root"))
                .args(["--listen-host", &self.place.addr.to_string()])
                .args(["--listen-port", &port.to_string()]);
            self.spawn("svnserve", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// Debian's `git daemon` exporting an empty base path, one process per port.
    pub fn git_daemon(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("git-daemon-{port}"));
            fs::create_dir_all(dir.join("base")).expect("mkdir");
            let mut cmd = self.place.command("/usr/bin/git");
            // Timeouts: a --serve child whose client vanished with the
            // namespace would otherwise outlive the test (holding its fds).
            cmd.args(["daemon", "--export-all", "--reuseaddr"])
                .args(["--init-timeout=10", "--timeout=30"])
                .arg(format!("--base-path={}", dir.join("base").display()))
                .arg(format!("--listen={}", self.place.addr))
                .arg(format!("--port={port}"));
            self.spawn("git daemon", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// zabbix_agentd in the foreground, one process per port.
    pub fn zabbix_agent(&mut self, server: ZabbixServer, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("zabbix-{port}"));
            let allowed = match server {
                ZabbixServer::ScannerAllowed => SCANNER_NET,
                ZabbixServer::LoopbackOnly => "127.0.0.1",
            };
            let conf = format!(
                "LogType=console\nPidFile={d}/zabbix_agentd.pid\nServer={allowed}\n\
                 ListenIP={a}\nListenPort={port}\nAllowRoot=1\n",
                d = dir.display(),
                a = self.place.addr
            );
            let conf_path = dir.join("zabbix_agentd.conf");
            fs::write(&conf_path, conf).expect("zabbix_agentd.conf");
            let mut cmd = self.place.command("/usr/sbin/zabbix_agentd");
            cmd.arg("-f").arg("-c").arg(&conf_path);
            self.spawn("zabbix_agentd", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// BIND `named -g` (as root, no zones, recursion off), one process per port.
    pub fn bind9(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("named-{port}"));
            let conf = format!(
                "options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; listen-on port {port} {{ {a}; }};\n\
                 listen-on-v6 {{ none; }}; recursion no; }};\n",
                d = dir.display(),
                a = self.place.addr
            );
            let conf_path = dir.join("named.conf");
            fs::write(&conf_path, conf).expect("named.conf");
            let mut cmd = self.place.command("/usr/sbin/named");
            cmd.arg("-g").arg("-c").arg(&conf_path);
            self.spawn("named", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// dnsmasq in the foreground with no upstream servers and no hosts file,
    /// one process per port.
    pub fn dnsmasq(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("dnsmasq-{port}"));
            let mut cmd = self.place.command("/usr/sbin/dnsmasq");
            cmd.args([
                "-k",
                "-C",
                "/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
            ])
            .args(["--user=root", "--log-facility=-"])
            .arg(format!("--port={port}"))
            .arg(format!("--listen-address={}", self.place.addr))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
            self.spawn("dnsmasq", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// Knot DNS's knotd in the foreground with no zones (it answers
    /// `version.bind` from its own configuration), one process per port.
    pub fn knot(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("knot-{port}"));
            let conf = format!(
                "server:\n    rundir: \"{d}\"\n    listen: {a}@{port}\n\
                 database:\n    storage: \"{d}\"\n\
                 log:\n  - target: stderr\n    any: info\n",
                a = self.place.addr,
                d = dir.display(),
            );
            let conf_path = dir.join("knot.conf");
            fs::write(&conf_path, conf).expect("knot.conf");
            let mut cmd = self.place.command("/usr/sbin/knotd");
            cmd.arg("-c").arg(&conf_path);
            self.spawn("knotd", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// Unbound in the foreground (`-d`, no chroot, no privilege drop),
    /// answering everyone (it answers `version.bind` only to clients it
    /// serves; the namespace has no route out), one process per port, with
    /// `extra` lines of its `server:` clause.
    pub fn unbound(&mut self, ports: &[u16], extra: &str) {
        for &port in ports {
            let dir = self.subdir(&format!("unbound-{port}"));
            let conf = format!(
                "server:\n  interface: {a}\n  port: {port}\n  do-ip6: no\n  chroot: \"\"\n  \
                 username: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  \
                 use-syslog: no\n  access-control: 0.0.0.0/0 allow\n{extra}",
                a = self.place.addr,
                d = dir.display(),
            );
            let conf_path = dir.join("unbound.conf");
            fs::write(&conf_path, conf).expect("unbound.conf");
            let mut cmd = self.place.command("/usr/sbin/unbound");
            cmd.arg("-d").arg("-c").arg(&conf_path);
            self.spawn("unbound", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// rpcbind in the foreground on its fixed port 111, in a private mount
    /// namespace with its own `/run` (its lock file and socket would clash
    /// with another instance). rpcbind has no port option: each other port
    /// in `ports` is redirected to 111 by a nat rule in the namespace.
    pub fn rpcbind(&mut self, ports: &[u16]) {
        let dir = self.subdir("rpcbind");
        let mut cmd = self.place.command("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs exposecheck-run /run && exec /usr/sbin/rpcbind -f -w",
        ]);
        self.spawn("rpcbind", cmd, &dir, &[111], libc::SIGTERM);
        for &port in ports.iter().filter(|&&p| p != 111) {
            for chain in ["PREROUTING", "OUTPUT"] {
                let mut c = self.place.command("iptables");
                c.args(["-w", "-t", "nat", "-A", chain, "-p", "tcp"])
                    .args(["-d", &self.place.addr.to_string()])
                    .args([
                        "--dport",
                        &port.to_string(),
                        "-j",
                        "REDIRECT",
                        "--to-ports",
                        "111",
                    ]);
                run_logged(c, &dir.join("iptables.log"), Duration::from_secs(10));
            }
            assert!(
                self.place.connects(port),
                "rpcbind: redirect {port} -> 111 does not connect"
            );
        }
    }

    /// slapd (`-d 0`, foreground) with one empty mdb database and the default
    /// ACLs (anonymous read), one process per port.
    pub fn slapd(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("slapd-{port}"));
            fs::create_dir_all(dir.join("db")).expect("mkdir");
            let conf = format!(
                "include /etc/ldap/schema/core.schema\npidfile {d}/slapd.pid\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\ndatabase mdb\n\
                 suffix \"{SUFFIX}\"\ndirectory {d}/db\n",
                d = dir.display()
            );
            let conf_path = dir.join("slapd.conf");
            fs::write(&conf_path, conf).expect("slapd.conf");
            let mut cmd = self.place.command("/usr/sbin/slapd");
            cmd.args([
                "-d",
                "0",
                "-h",
                &format!("ldap://{}:{port}/", self.place.addr),
            ])
            .arg("-f")
            .arg(&conf_path);
            self.spawn("slapd", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// `Xvfb :N -ac -listen tcp` (an open X server, access control off) for
    /// each port 6000 + N; no lock file and no unix socket, so displays in
    /// other namespaces never clash.
    pub fn xvfb(&mut self, ports: &[u16]) {
        for &port in ports {
            let display = port.checked_sub(6000).expect("X11 ports start at 6000");
            let dir = self.subdir(&format!("xvfb-{port}"));
            let mut cmd = self.place.command("/usr/bin/Xvfb");
            cmd.arg(format!(":{display}")).args([
                "-ac",
                "-listen",
                "tcp",
                "-nolisten",
                "unix",
                "-nolock",
            ]);
            self.spawn("Xvfb", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// php-fpm in the foreground (as root with `-R`; workers run as
    /// nobody), one pool listening on TCP, one process per port.
    pub fn php_fpm(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("php-fpm-{port}"));
            let conf = format!(
                "[global]\npid = {d}/php-fpm.pid\nerror_log = {d}/error.log\ndaemonize = no\n\
                 [www]\nuser = nobody\ngroup = nogroup\nlisten = {a}:{port}\n\
                 pm = static\npm.max_children = 4\n",
                d = dir.display(),
                a = self.place.addr
            );
            let conf_path = dir.join("php-fpm.conf");
            fs::write(&conf_path, conf).expect("php-fpm.conf");
            let mut cmd = self.place.command(PHP_FPM);
            cmd.args(["-F", "-R", "-y"]).arg(&conf_path);
            self.spawn("php-fpm", cmd, &dir, &[port], libc::SIGTERM);
        }
    }
}

impl Servers {
    /// Debian's Prometheus server with an empty scrape list, one process per
    /// port, its data in the set's tempdir.
    pub fn prometheus(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("prometheus-{port}"));
            let conf = dir.join("prometheus.yml");
            fs::write(&conf, "global:\n  scrape_interval: 1h\n").expect("prometheus.yml");
            let mut cmd = self.place.command("/usr/bin/prometheus");
            cmd.arg(format!("--config.file={}", conf.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={}:{port}", self.place.addr));
            self.spawn("prometheus", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// Debian's node exporter, one process per port.
    pub fn node_exporter(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("node-exporter-{port}"));
            let mut cmd = self.place.command("/usr/bin/prometheus-node-exporter");
            cmd.arg(format!("--web.listen-address={}:{port}", self.place.addr));
            self.spawn("node exporter", cmd, &dir, &[port], libc::SIGTERM);
        }
    }
}

/// Whether distccd runs any compiler it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distcc {
    /// `--enable-tcp-insecure`: any compiler name, any command.
    Insecure,
    /// Debian's default: only compilers linked in /usr/lib/distcc.
    Whitelist,
}

/// The epmd that [`Servers::erlang_nodes`] registers its nodes with (not
/// a fixture port).
pub const NODES_EPMD_PORT: u16 = 14368;
/// The shutdown word of the Tomcat fixtures (never sent by exposecheck).
pub const TOMCAT_SHUTDOWN_WORD: &str = "exposecheck-fixture-stop-word";

impl Servers {
    /// distccd (`--no-detach`, preforking) allowing the scanner network,
    /// one process per port.
    pub fn distccd(&mut self, mode: Distcc, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("distccd-{port}"));
            let mut cmd = self.place.command("/usr/bin/distccd");
            cmd.args([
                "--daemon",
                "--no-detach",
                "--log-stderr",
                "--log-level",
                "info",
            ])
            .args(["--allow", SCANNER_NET, "--port", &port.to_string()])
            .args(["--listen", &self.place.addr.to_string()]);
            if mode == Distcc::Insecure {
                cmd.arg("--enable-tcp-insecure");
            }
            self.spawn("distccd", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// Debian's Tomcat 10 from a CATALINA_BASE of its own in the set's
    /// tempdir: an AJP connector (secret required) on each of
    /// `ajp_ports`, and the shutdown port on `shutdown` (else none).
    pub fn tomcat(&mut self, ajp_ports: &[u16], shutdown: Option<u16>) {
        let dir = self.subdir("tomcat");
        for d in ["conf", "logs", "work", "temp", "webapps"] {
            fs::create_dir_all(dir.join(d)).expect("mkdir");
        }
        for f in ["web.xml", "logging.properties"] {
            fs::copy(format!("/etc/tomcat10/{f}"), dir.join("conf").join(f)).expect("tomcat conf");
        }
        let a = self.place.addr;
        let connectors: String = ajp_ports
            .iter()
            .map(|p| {
                format!(
                    "<Connector protocol=\"AJP/1.3\" address=\"{a}\" port=\"{p}\" \
                     secretRequired=\"true\" secret=\"exposecheck-fixture-secret\"/>\n"
                )
            })
            .collect();
        let port = shutdown.map_or(-1, i32::from);
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<Server port=\"{port}\" address=\"{a}\" \
             shutdown=\"{TOMCAT_SHUTDOWN_WORD}\">\n<Service name=\"Catalina\">\n{connectors}\
             <Engine name=\"Catalina\" defaultHost=\"localhost\">\n<Host name=\"localhost\" \
             appBase=\"webapps\" unpackWARs=\"false\" autoDeploy=\"false\"/>\n</Engine>\n\
             </Service>\n</Server>\n"
        );
        fs::write(dir.join("conf/server.xml"), xml).expect("server.xml");
        let base = dir.display();
        let mut cmd = self.place.command("/usr/bin/java");
        cmd.args(["-Xmx128m", "-XX:TieredStopAtLevel=1"])
            .arg(format!(
                "-Djava.util.logging.config.file={base}/conf/logging.properties"
            ))
            .arg("-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager")
            .arg("-Dcatalina.home=/usr/share/tomcat10")
            .arg(format!("-Dcatalina.base={base}"))
            .arg(format!("-Djava.io.tmpdir={base}/temp"))
            .args([
                "-cp",
                "/usr/share/tomcat10/bin/bootstrap.jar:/usr/share/tomcat10/bin/tomcat-juli.jar",
            ])
            .args(["org.apache.catalina.startup.Bootstrap", "start"]);
        let ports: Vec<u16> = ajp_ports.iter().copied().chain(shutdown).collect();
        self.spawn("tomcat", cmd, &dir, &ports, libc::SIGTERM);
    }

    /// One Tomcat per port with only its shutdown port open there.
    pub fn tomcat_shutdown(&mut self, ports: &[u16]) {
        for &port in ports {
            self.tomcat(&[], Some(port));
        }
    }

    /// epmd in the foreground, one per port.
    pub fn epmd(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("epmd-{port}"));
            let mut cmd = self.place.command("/usr/bin/epmd");
            cmd.args(["-port", &port.to_string()])
                .args(["-address", &format!("127.0.0.1,{}", self.place.addr)]);
            self.spawn("epmd", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// An epmd on [`NODES_EPMD_PORT`] and one Erlang node (`erl -sname
    /// -noshell`, a random cookie) per port: its distribution listener on
    /// that port, or where the node picks when `ports` is empty.
    pub fn erlang_nodes(&mut self, ports: &[u16]) {
        self.epmd(&[NODES_EPMD_PORT]);
        let nodes: Vec<Option<u16>> = if ports.is_empty() {
            vec![None]
        } else {
            ports.iter().copied().map(Some).collect()
        };
        for port in nodes {
            let label = port.map_or("dynamic".to_string(), |p| p.to_string());
            let dir = self.subdir(&format!("erlang-{label}"));
            let ip = self.place.addr.to_string().replace('.', ",");
            let mut cmd = self.place.command("/usr/bin/erl");
            cmd.env("ERL_EPMD_PORT", NODES_EPMD_PORT.to_string())
                .env("HOME", &dir)
                .args([
                    "-sname",
                    &format!("ec{label}"),
                    "-noshell",
                    "-start_epmd",
                    "false",
                ])
                .args([
                    "-setcookie",
                    &format!("cookie-{}-{label}", std::process::id()),
                ])
                .args(["-kernel", "inet_dist_use_interface", &format!("{{{ip}}}")]);
            if let Some(p) = port {
                cmd.args(["-kernel", "inet_dist_listen_min", &p.to_string()])
                    .args(["-kernel", "inet_dist_listen_max", &p.to_string()]);
            }
            // beam ignores SIGTERM while it boots; the node holds nothing.
            self.spawn(
                "erl",
                cmd,
                &dir,
                &port.into_iter().collect::<Vec<_>>(),
                libc::SIGKILL,
            );
        }
    }
}

impl Servers {
    /// Debian's NRPE in the foreground allowing the scanner network, one
    /// process per port; with `cert`, a certificate made by `openssl req
    /// -x509` (without one, Debian's default, NRPE speaks only
    /// anonymous-DH TLS).
    pub fn nrpe(&mut self, cert: bool, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("nrpe-{port}"));
            let mut conf = format!(
                "pid_file={d}/nrpe.pid\nserver_port={port}\nserver_address={a}\n\
                 nrpe_user=nagios\nnrpe_group=nagios\nallowed_hosts={SCANNER_NET}\n\
                 dont_blame_nrpe=0\ndebug=1\n\
                 command[check_users]=/usr/lib/nagios/plugins/check_users -w 5 -c 10\n",
                d = dir.display(),
                a = self.place.addr,
            );
            if cert {
                conf += &nrpe_certificate(&dir);
            }
            let conf_path = dir.join("nrpe.cfg");
            fs::write(&conf_path, conf).expect("nrpe.cfg");
            let mut cmd = self.place.command("/usr/sbin/nrpe");
            cmd.arg("-c").arg(&conf_path).arg("-f");
            self.spawn("nrpe", cmd, &dir, &[port], libc::SIGTERM);
        }
    }
}

/// A self-signed certificate in `dir`, as nrpe.cfg lines.
fn nrpe_certificate(dir: &std::path::Path) -> String {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut req = Command::new("openssl");
    req.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ])
    .args(["-subj", "/CN=exposecheck-nrpe.test"])
    .args([
        "-addext",
        "subjectAltName=DNS:exposecheck-nrpe.test",
        "-keyout",
    ])
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    run_logged(req, &dir.join("openssl.log"), Duration::from_secs(30));
    format!(
        "ssl_cert_file={}\nssl_privatekey_file={}\n",
        cert.display(),
        key.display()
    )
}

/// Debian 12's php-fpm binary.
pub const PHP_FPM: &str = "/usr/sbin/php-fpm8.2";

/// The naming context of the slapd fixture.
pub const SUFFIX: &str = "dc=exposecheck,dc=test";

/// Installed versions of these servers, read from the binaries.
pub mod versions {
    use super::*;
    /// `munin-node --version` → `2.0.73`.
    pub fn munin_node() -> String {
        version_after(
            &version_output("/usr/sbin/munin-node", &["--version"]),
            "munin-node v",
        )
    }
    /// `zabbix_agentd -V` → `6.0.14`.
    pub fn zabbix_agent() -> String {
        version_after(
            &version_output("/usr/sbin/zabbix_agentd", &["-V"]),
            "(Zabbix)",
        )
    }
    /// `named -v` → `9.18.49`.
    pub fn bind9() -> String {
        version_after(&version_output("/usr/sbin/named", &["-v"]), "BIND")
    }
    /// `prometheus --version` → `2.42.0`.
    pub fn prometheus() -> String {
        version_after(
            &version_output("/usr/bin/prometheus", &["--version"]),
            "version",
        )
    }
    /// `prometheus-node-exporter --version` → `1.5.0`.
    pub fn node_exporter() -> String {
        version_after(
            &version_output("/usr/bin/prometheus-node-exporter", &["--version"]),
            "version",
        )
    }
    /// `nrpe -V` → `4.1.0`.
    pub fn nrpe() -> String {
        version_after(&version_output("/usr/sbin/nrpe", &["-V"]), "Version:")
    }
    /// `unbound -V` → `1.17.1`.
    pub fn unbound() -> String {
        version_after(&version_output("/usr/sbin/unbound", &["-V"]), "Version")
    }
    /// `knotd --version` → `3.2.6`.
    pub fn knot() -> String {
        version_after(
            &version_output("/usr/sbin/knotd", &["--version"]),
            "version",
        )
    }
    /// `dnsmasq --version` → `2.90`.
    pub fn dnsmasq() -> String {
        version_after(
            &version_output("/usr/sbin/dnsmasq", &["--version"]),
            "version",
        )
    }
}
