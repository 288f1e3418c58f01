//! More real servers for the identification fixtures (issue 17): munin-node,
//! svnserve, git daemon, the Zabbix agent, BIND, dnsmasq, rpcbind, slapd, Xvfb and php-fpm, each from its Debian package,
//! run in the fixture namespace with its own config in the set's tempdir,
//! bound to the place's address, and stopped by PID when the set drops.

#![allow(dead_code)] // the fixture host uses a different part

use super::servers::{run_logged, version_after, version_output, Servers};
use std::fs;
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

    /// `svnserve -d --foreground` over an empty root, one process per port.
    pub fn svnserve(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("svnserve-{port}"));
            fs::create_dir_all(dir.join("root")).expect("mkdir");
            let mut cmd = self.place.command("/usr/bin/svnserve");
            cmd.args(["-d", "--foreground", "-r"])
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
            cmd.args(["daemon", "--export-all", "--reuseaddr"])
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
    /// `dnsmasq --version` → `2.90`.
    pub fn dnsmasq() -> String {
        version_after(
            &version_output("/usr/sbin/dnsmasq", &["--version"]),
            "version",
        )
    }
}
