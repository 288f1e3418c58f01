//! Real servers from Debian packages, started as child processes for tests.
//!
//! Every server runs with a throwaway config and data directory under one
//! temporary directory per [`Servers`] set: no systemd, no files outside the
//! tempdir, no fixed data paths. Servers run inside a network namespace (a
//! [`Place`] names it and the address to bind) so default ports never collide
//! with the host or with parallel tests. Startup is awaited by polling the
//! port (bounded), never by sleeping. Drop stops each process through its own
//! child handle (a signal to our own un-reaped pid, then SIGKILL), never by
//! name.
//!
//! Self-contained (no `super::` imports) so `examples/fixture_host.rs` can
//! include it with `#[path]`.

#![allow(dead_code)] // tests and the fixture host use different parts

use std::fs;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
pub const START_LIMIT: Duration = Duration::from_secs(20);

/// Where servers run: an optional network namespace and the address they bind.
#[derive(Clone, Debug)]
pub struct Place {
    /// Namespace to run in (`None`: the caller's own).
    pub ns: Option<String>,
    /// Address every server binds.
    pub addr: IpAddr,
}

impl Place {
    /// A `Command` running `prog` in this place's namespace.
    pub fn command(&self, prog: &str) -> Command {
        match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, prog]);
                c
            }
            None => Command::new(prog),
        }
    }

    /// Like [`Place::command`], with the program run as `user` (via
    /// `setpriv`, which execs: the child pid stays the server's own).
    pub fn command_as(&self, user: &str, group: &str, prog: &str) -> Command {
        let mut c = self.command("setpriv");
        c.args([
            &format!("--reuid={user}"),
            &format!("--regid={group}"),
            "--clear-groups",
            "--",
            prog,
        ]);
        c
    }

    /// Runs `f` on a thread inside the namespace (sockets it creates stay there).
    pub fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = self.ns.clone();
        std::thread::spawn(move || {
            if let Some(ns) = ns {
                let path = format!("/run/netns/{ns}");
                let f = fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                // SAFETY: setns on a valid namespace fd; it only changes this thread.
                let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| panic!("thread inside namespace {:?} panicked", self.ns))
    }

    /// Whether a TCP connect to `port` succeeds from inside the namespace.
    pub fn connects(&self, port: u16) -> bool {
        let addr = SocketAddr::new(self.addr, port);
        self.within(move || TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok())
    }

    /// A listener on `port` of this place's address, inside its namespace.
    pub fn listen(&self, port: u16) -> TcpListener {
        let addr = SocketAddr::new(self.addr, port);
        self.within(move || TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}")))
    }
}

/// One running server process.
struct Proc {
    label: String,
    child: Child,
    stop_signal: libc::c_int,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, not yet reaped, so the pid is still ours.
            unsafe { libc::kill(self.child.id() as libc::pid_t, self.stop_signal) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!(
                "servers: {} ignored signal {}; killing",
                self.label, self.stop_signal
            );
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Redis configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisMode {
    /// `protected-mode no`, no password: anyone gets in.
    Open,
    /// `requirepass`: commands answer `-NOAUTH`.
    Password,
    /// Protected mode on, no password: non-loopback clients get `-DENIED`.
    Protected,
}

/// PostgreSQL `pg_hba.conf` flavours for non-local clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgHba {
    /// No entry for remote clients: FATAL 28000 "no pg_hba.conf entry".
    NoEntry,
    /// `md5` for everyone: an authentication request.
    Md5,
    /// `trust` for everyone: AuthenticationOk.
    Trust,
}

/// MariaDB account setups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MariaAccounts {
    /// Only the default local accounts plus `skip-name-resolve`: remote
    /// clients get error 1130 instead of a greeting.
    LocalOnly,
    /// An extra `app@'%'` account: remote clients get the greeting.
    AnyHost,
}

/// A set of real servers sharing one tempdir; stops them all on drop.
pub struct Servers {
    /// Where they run.
    pub place: Place,
    /// Redis also binds 127.0.0.1 (for loopback-versus-remote contrasts).
    pub redis_loopback_too: bool,
    procs: Vec<Proc>,
    dir: tempfile::TempDir,
    n: usize,
}

impl Servers {
    /// An empty set; the tempdir is world-traversable so servers that run as
    /// `postgres` or `nobody` can reach their own subdirectories.
    pub fn new(place: Place) -> Servers {
        let dir = tempfile::Builder::new()
            .prefix("exposecheck-servers-")
            .tempdir()
            .expect("tempdir");
        set_mode(dir.path(), 0o755);
        Servers {
            place,
            redis_loopback_too: false,
            procs: Vec::new(),
            dir,
            n: 0,
        }
    }

    /// The set's tempdir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh subdirectory named after `label`.
    pub fn subdir(&mut self, label: &str) -> PathBuf {
        self.n += 1;
        let d = self.dir.path().join(format!("{}-{label}", self.n));
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    fn addr(&self) -> String {
        self.place.addr.to_string()
    }

    /// Spawns `cmd` (output to a log in `dir`), then waits until every port
    /// in `ports` accepts; panics with the log if it exits or times out.
    pub fn spawn(
        &mut self,
        label: &str,
        mut cmd: Command,
        dir: &Path,
        ports: &[u16],
        stop_signal: libc::c_int,
    ) {
        let log = dir.join("stdout-stderr.log");
        let f = fs::File::create(&log).expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("servers: cannot start {label} ({cmd:?}): {e}"));
        self.procs.push(Proc {
            label: label.to_string(),
            child,
            stop_signal,
            log: log.clone(),
        });
        let start = Instant::now();
        for &port in ports {
            loop {
                if self.place.connects(port) {
                    break;
                }
                let p = self.procs.last_mut().expect("just pushed");
                if let Ok(Some(st)) = p.child.try_wait() {
                    panic!(
                        "servers: {label} exited ({st}) before listening on {port}:\n{}",
                        read_logs(dir)
                    );
                }
                if start.elapsed() > START_LIMIT {
                    panic!(
                        "servers: {label} not listening on {port} after {START_LIMIT:?}:\n{}",
                        read_logs(dir)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// redis-server in `mode`, one process per port.
    pub fn redis(&mut self, mode: RedisMode, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("redis-{port}"));
            let mut cmd = self.place.command("redis-server");
            let bind = if self.redis_loopback_too {
                format!("{} 127.0.0.1", self.addr())
            } else {
                self.addr()
            };
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                &bind,
                "--save",
                "",
                "--appendonly",
                "no",
            ]);
            cmd.args(["--daemonize", "no", "--logfile", "", "--dir"])
                .arg(&dir);
            cmd.args([
                "--protected-mode",
                if mode == RedisMode::Open { "no" } else { "yes" },
            ]);
            if mode == RedisMode::Password {
                cmd.args(["--requirepass", "exposecheck-test-secret"]);
            }
            self.spawn("redis-server", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// memcached (TCP only), one process per port.
    pub fn memcached(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("memcached-{port}"));
            let mut cmd = self.place.command("memcached");
            cmd.args([
                "-u",
                "root",
                "-U",
                "0",
                "-m",
                "16",
                "-l",
                &self.addr(),
                "-p",
                &port.to_string(),
            ]);
            self.spawn("memcached", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// mariadbd on `port` plus `extra_port` when given (MariaDB's second
    /// listener), data dir made by mariadb-install-db, socket in the tempdir.
    pub fn mariadb(&mut self, accounts: MariaAccounts, port: u16, extra_port: Option<u16>) {
        let bind = self.addr();
        self.mariadb_on(accounts, port, extra_port, &bind);
    }

    /// [`Servers::mariadb`] bound to `bind` (MariaDB takes a comma-separated
    /// list: one address per family for a dual-stack server).
    pub fn mariadb_on(
        &mut self,
        accounts: MariaAccounts,
        port: u16,
        extra_port: Option<u16>,
        bind: &str,
    ) {
        let dir = self.subdir(&format!("mariadb-{port}"));
        let data = dir.join("data");
        let mut install = Command::new("mariadb-install-db");
        install.args([
            "--no-defaults",
            "--user=root",
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
        ]);
        install.arg(format!("--datadir={}", data.display()));
        // Its own temporary directory: bootstrap temp tables in the shared
        // /tmp went missing once ("Could not remove temporary table").
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp).expect("mkdir tmp");
        install.arg(format!("--tmpdir={}", tmp.display()));
        run_logged(install, &dir.join("install.log"), Duration::from_secs(60));
        let mut cmd = self.place.command("/usr/sbin/mariadbd");
        cmd.args([
            "--no-defaults",
            "--user=root",
            "--skip-name-resolve",
            "--skip-log-bin",
        ]);
        cmd.arg(format!("--datadir={}", data.display()));
        cmd.arg(format!("--socket={}", dir.join("mysqld.sock").display()));
        cmd.arg(format!("--tmpdir={}", tmp.display()));
        cmd.arg(format!("--pid-file={}", dir.join("mysqld.pid").display()));
        cmd.arg(format!("--log-error={}", dir.join("error.log").display()));
        cmd.arg(format!("--bind-address={bind}"));
        cmd.arg(format!("--port={port}"));
        if let Some(extra) = extra_port {
            cmd.arg(format!("--extra-port={extra}"));
        }
        cmd.args([
            "--innodb-buffer-pool-size=16M",
            "--max-connect-errors=100000",
        ]);
        if accounts == MariaAccounts::AnyHost {
            let init = dir.join("init.sql");
            fs::write(
                &init,
                "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'exposecheck-test-secret';\n",
            )
            .expect("init.sql");
            cmd.arg(format!("--init-file={}", init.display()));
        }
        let ports: Vec<u16> = std::iter::once(port).chain(extra_port).collect();
        self.spawn("mariadbd", cmd, &dir, &ports, libc::SIGTERM);
    }

    /// A PostgreSQL cluster (initdb as `postgres`) on `port` with `hba`.
    pub fn postgres(&mut self, hba: PgHba, port: u16) {
        let dir = self.subdir(&format!("postgres-{port}"));
        chown(&dir, "postgres:postgres");
        let data = dir.join("data");
        let bin = pg_bin();
        let mut init = Command::new("setpriv");
        init.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ]);
        init.arg(bin.join("initdb"))
            .args(["-N", "-U", "postgres", "--auth=trust", "-D"])
            .arg(&data);
        run_logged(init, &dir.join("initdb.log"), Duration::from_secs(60));
        let remote = match hba {
            PgHba::NoEntry => "",
            PgHba::Md5 => "host all all 0.0.0.0/0 md5\nhost all all ::/0 md5\n",
            PgHba::Trust => "host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n",
        };
        let hba_file = dir.join("pg_hba.conf");
        fs::write(
            &hba_file,
            format!("local all all trust\nhost all all 127.0.0.1/32 trust\n{remote}"),
        )
        .expect("hba");
        chown(&hba_file, "postgres:postgres");
        let mut cmd = self.place.command_as(
            "postgres",
            "postgres",
            &bin.join("postgres").to_string_lossy(),
        );
        cmd.arg("-D").arg(&data).args(["-p", &port.to_string()]);
        cmd.args(["-c", &format!("listen_addresses={}", self.addr())]);
        cmd.args(["-c", &format!("unix_socket_directories={}", dir.display())]);
        cmd.args(["-c", &format!("hba_file={}", hba_file.display())]);
        cmd.args([
            "-c",
            "shared_buffers=8MB",
            "-c",
            "max_connections=20",
            "-c",
            "fsync=off",
        ]);
        // SIGINT is PostgreSQL's "fast shutdown" (SIGTERM would wait for sessions).
        self.spawn("postgres", cmd, &dir, &[port], libc::SIGINT);
    }

    /// sshd -D -e on `ports`, as `nobody` with a fresh ed25519 host key (an
    /// unprivileged sshd needs no /run/sshd; ports below 1024 need
    /// [`allow_low_ports`] in the namespace).
    pub fn sshd(&mut self, ports: &[u16]) {
        let dir = self.subdir("sshd");
        let key = dir.join("host_ed25519");
        let mut keygen = Command::new("ssh-keygen");
        keygen
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key);
        run_logged(keygen, &dir.join("keygen.log"), Duration::from_secs(20));
        let mut conf = String::new();
        for p in ports {
            conf += &format!("Port {p}\n");
        }
        conf += &format!(
            "ListenAddress {}\nHostKey {}\nPidFile none\nUsePAM no\nStrictModes no\nLoginGraceTime 10\nMaxStartups 100\n",
            bracket(self.place.addr),
            key.display()
        );
        let conf_path = dir.join("sshd_config");
        fs::write(&conf_path, conf).expect("sshd_config");
        chown(&dir, "nobody:nogroup");
        chown(&key, "nobody:nogroup");
        let mut cmd = self.place.command_as("nobody", "nogroup", "/usr/sbin/sshd");
        cmd.args(["-D", "-e", "-f"]).arg(&conf_path);
        self.spawn("sshd", cmd, &dir, ports, libc::SIGTERM);
    }

    /// nginx (single process, `daemon off`) serving plain HTTP on `http`
    /// ports and TLS on `https` ports with a self-signed certificate for
    /// [`TLS_NAME`] made by `openssl req -x509`.
    pub fn nginx(&mut self, http: &[u16], https: &[u16]) {
        let dir = self.subdir("nginx");
        for d in ["www", "tmp"] {
            fs::create_dir_all(dir.join(d)).expect("mkdir");
        }
        fs::write(
            dir.join("www/index.html"),
            "<html><body>exposecheck nginx fixture</body></html>\n",
        )
        .expect("index");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let mut req = Command::new("openssl");
        req.args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/CN={TLS_NAME}"))
        .args(["-addext", &format!("subjectAltName=DNS:{TLS_NAME}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert);
        run_logged(req, &dir.join("openssl.log"), Duration::from_secs(30));
        let a = bracket(self.place.addr);
        let listen = |ports: &[u16], ssl: &str| {
            ports
                .iter()
                .map(|p| format!("    listen {a}:{p}{ssl};\n"))
                .collect::<String>()
        };
        let t = dir.join("tmp");
        // A server block without `listen` would listen on *:80: write only
        // the blocks that have ports (two fixtures run two nginx at once).
        let plain = if http.is_empty() {
            String::new()
        } else {
            format!(
                "  server {{\n{}    root {d}/www;\n  }}\n",
                listen(http, ""),
                d = dir.display()
            )
        };
        let tls = if https.is_empty() {
            String::new()
        } else {
            format!(
                "  server {{\n{}    ssl_certificate {c};\n    ssl_certificate_key {k};\n    root {d}/www;\n  }}\n",
                listen(https, " ssl"),
                c = cert.display(),
                k = key.display(),
                d = dir.display()
            )
        };
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n\
             fastcgi_temp_path {t}/fcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n\
             {plain}{tls}}}\n",
            d = dir.display(),
            t = t.display(),
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).expect("nginx.conf");
        let mut cmd = self.place.command("/usr/sbin/nginx");
        cmd.arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_path);
        let all: Vec<u16> = http.iter().chain(https).copied().collect();
        self.spawn("nginx", cmd, &dir, &all, libc::SIGTERM);
    }

    /// mosquitto with one listener per port; `anonymous` false requires a
    /// username/password (none is configured, so nobody gets in).
    pub fn mosquitto(&mut self, anonymous: bool, ports: &[u16]) {
        let dir = self.subdir("mosquitto");
        let mut conf = format!("persistence false\nlog_dest stderr\nallow_anonymous {anonymous}\n");
        if !anonymous {
            let pw = dir.join("passwd");
            let mut mk = Command::new("mosquitto_passwd");
            mk.args(["-c", "-b"])
                .arg(&pw)
                .args(["exposecheck", "exposecheck-test-secret"]);
            run_logged(mk, &dir.join("passwd.log"), Duration::from_secs(20));
            conf += &format!("password_file {}\n", pw.display());
        }
        for p in ports {
            conf += &format!("listener {p} {}\n", self.place.addr);
        }
        let conf_path = dir.join("mosquitto.conf");
        fs::write(&conf_path, conf).expect("mosquitto.conf");
        chown(&dir, "mosquitto:mosquitto");
        let mut cmd = self.place.command("/usr/sbin/mosquitto");
        cmd.arg("-c").arg(&conf_path);
        self.spawn("mosquitto", cmd, &dir, ports, libc::SIGTERM);
    }

    /// beanstalkd, one process per port.
    pub fn beanstalkd(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("beanstalkd-{port}"));
            let mut cmd = self.place.command("beanstalkd");
            cmd.args(["-l", &self.addr(), "-p", &port.to_string()]);
            self.spawn("beanstalkd", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// `rsync --daemon --no-detach` with one read-only module, one process per port.
    pub fn rsyncd(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("rsyncd-{port}"));
            fs::create_dir_all(dir.join("share")).expect("mkdir");
            let conf = format!(
                "use chroot = no\nuid = root\ngid = root\npid file = {d}/rsyncd.pid\nlog file = {d}/rsyncd.log\n\
                 [files]\n  path = {d}/share\n  read only = yes\n  comment = exposecheck fixture\n",
                d = dir.display()
            );
            let conf_path = dir.join("rsyncd.conf");
            fs::write(&conf_path, conf).expect("rsyncd.conf");
            let mut cmd = self.place.command("rsync");
            cmd.args(["--daemon", "--no-detach"])
                .arg(format!("--config={}", conf_path.display()));
            cmd.arg(format!("--address={}", self.addr()))
                .arg(format!("--port={port}"));
            self.spawn("rsync", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// `python3 -m http.server` (Debian's /usr/bin/python3), one process per port.
    pub fn python_http(&mut self, ports: &[u16]) {
        for &port in ports {
            let dir = self.subdir(&format!("pyhttp-{port}"));
            fs::write(dir.join("index.html"), "<html><body>dev</body></html>\n").expect("index");
            let mut cmd = self.place.command(PYTHON);
            cmd.args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                &self.addr(),
                "--directory",
            ])
            .arg(&dir);
            self.spawn("python3 http.server", cmd, &dir, &[port], libc::SIGTERM);
        }
    }

    /// Every started process's whole log, for checks on what it logged.
    pub fn full_logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| fs::read_to_string(&p.log).unwrap_or_default())
            .collect()
    }

    /// The log files of every started process, for failure messages.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| {
                format!(
                    "== {} ({})\n{}",
                    p.label,
                    p.log.display(),
                    read_file(&p.log)
                )
            })
            .collect()
    }
}

/// Common name and SAN of the nginx test certificate.
pub const TLS_NAME: &str = "exposecheck-fixture.test";

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The interpreter used for `python3 -m http.server`.
pub const PYTHON: &str = "/usr/bin/python3";

/// Lets unprivileged processes bind ports below 1024 inside namespace `ns`
/// (a per-namespace sysctl; the host's value is not touched).
pub fn allow_low_ports(ns: &str) {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        ns,
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_unprivileged_port_start=0",
    ]);
    run_logged(c, Path::new("/dev/null"), Duration::from_secs(10));
}

/// Directory of the installed PostgreSQL server binaries (highest version).
pub fn pg_bin() -> PathBuf {
    let mut versions: Vec<u32> = fs::read_dir("/usr/lib/postgresql")
        .expect(
            "PostgreSQL is not installed (/usr/lib/postgresql missing): apt-get install postgresql",
        )
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let v = versions
        .last()
        .expect("no PostgreSQL version under /usr/lib/postgresql");
    PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"))
}

/// The first `x.y[.z]` number in `text` that follows `after`.
pub fn version_after(text: &str, after: &str) -> String {
    let i = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {text:?}"))
        + after.len();
    let v: String = text[i..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    assert!(
        v.contains('.') || v.chars().all(|c| c.is_ascii_digit()),
        "no version after {after:?} in {text:?}"
    );
    v
}

/// stdout+stderr of a version command.
pub fn version_output(prog: &str, args: &[&str]) -> String {
    let out = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Installed versions, read from the binaries themselves.
pub mod versions {
    use super::*;
    /// `redis-server --version` → `7.0.15`.
    pub fn redis() -> String {
        version_after(&version_output("redis-server", &["--version"]), "v=")
    }
    /// `memcached -V` → `1.6.18`.
    pub fn memcached() -> String {
        version_after(&version_output("memcached", &["-V"]), "memcached")
    }
    /// `mariadbd --version` → `10.11.19`.
    pub fn mariadb() -> String {
        let v = version_after(&version_output("/usr/sbin/mariadbd", &["--version"]), "Ver");
        v.split('-').next().unwrap_or(&v).to_string()
    }
    /// `postgres --version` → `15.18`.
    pub fn postgres() -> String {
        version_after(
            &version_output(&pg_bin().join("postgres").to_string_lossy(), &["--version"]),
            "(PostgreSQL)",
        )
    }
    /// `ssh -V` → `9.2p1`.
    pub fn openssh() -> String {
        version_after(&version_output("ssh", &["-V"]), "OpenSSH_")
    }
    /// `nginx -v` → `1.22.1`.
    pub fn nginx() -> String {
        version_after(&version_output("/usr/sbin/nginx", &["-v"]), "nginx/")
    }
    /// `beanstalkd -v` → `1.12`.
    pub fn beanstalkd() -> String {
        version_after(&version_output("beanstalkd", &["-v"]), "beanstalkd")
    }
    /// `python3 --version` → `3.11.2`.
    pub fn python() -> String {
        version_after(&version_output(PYTHON, &["--version"]), "Python")
    }
    /// `rsync --version` → protocol version, e.g. `32`.
    pub fn rsync_protocol() -> String {
        version_after(&version_output("rsync", &["--version"]), "protocol version")
    }
}

fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chown(p: &Path, owner: &str) {
    let mut c = Command::new("chown");
    c.arg("-R").arg(owner).arg(p);
    run_logged(c, Path::new("/dev/null"), Duration::from_secs(10));
}

/// Runs a setup command to completion (bounded), panicking with its output on failure.
pub fn run_logged(mut cmd: Command, log: &Path, limit: Duration) {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("servers: cannot run {desc}: {e}"));
    let (mut so, mut se) = (
        child.stdout.take().expect("stdout"),
        child.stderr.take().expect("stderr"),
    );
    let to = std::thread::spawn(move || std::io::read_to_string(&mut so).unwrap_or_default());
    let te = std::thread::spawn(move || std::io::read_to_string(&mut se).unwrap_or_default());
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("servers: {desc} still running after {limit:?}; killed it");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        to.join().unwrap_or_default(),
        te.join().unwrap_or_default()
    );
    if log != Path::new("/dev/null") {
        if let Ok(mut f) = fs::File::create(log) {
            let _ = f.write_all(text.as_bytes());
        }
    }
    assert!(
        status.success(),
        "servers: {desc} failed ({status}):\n{text}"
    );
}

fn read_file(p: &Path) -> String {
    let s = fs::read_to_string(p).unwrap_or_default();
    let start = s.len().saturating_sub(3000);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                out += &format!("-- {}\n{}\n", p.display(), read_file(&p));
            }
        }
    }
    out
}
