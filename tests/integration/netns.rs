//! Network-namespace test harness.
//!
//! Every [`TestNet`] is a private two-host network made of two fresh network
//! namespaces joined by a veth pair:
//!
//! ```text
//!   scanner ns  ec-<pid>-<n>s             target ns  ec-<pid>-<n>t
//!   veth ec-<pid>-<n>s  <------------->  veth ec-<pid>-<n>t
//!   198.18.<k>.1/24                       198.18.<k>.2/24
//!   fd00:e0c::<k>:1/112                   fd00:e0c::<k>:2/112
//!   lo up, no default route               lo up, iptables here
//! ```
//!
//! Rules this harness enforces (they are the project's network rules):
//!
//! * Addresses come only from 198.18.0.0/15 and fd00:e0c::/64. The veth
//!   subnet is a /24 of 198.18.0.0/16 and a /112 of fd00:e0c::/64, picked from
//!   the process id and a counter so parallel tests and parallel test
//!   processes use different ones. [`TestNet::route_sweep`] adds 198.19.0.0/16
//!   and fd00:e0c::ffff:0/112 as "local" (AnyIP) ranges of the target for
//!   multi-address sweeps.
//! * exposecheck runs only inside the scanner namespace
//!   ([`TestNet::exposecheck`]), whose only routes are the veth subnet (and
//!   what a test adds): nothing it sends can leave the machine, DNS included.
//! * Firewall rules go into the target namespace only ([`TestNet::iptables`],
//!   [`TestNet::ip6tables`]); the host's tables are never touched.
//! * ICMP rate limiting is switched off in the target namespace, so every
//!   REJECT rule answers every probe (a real Linux host sends about one ICMP
//!   error per second per peer after a burst of 6; tests that want that can
//!   call [`TestNet::sysctl_target`]). The kernel here has no sch_netem:
//!   emulate loss with `-m statistic` rules.
//! * Without root or without `ip`, [`TestNet::new`] panics with a clear
//!   message: namespace tests fail, they never skip.
//! * Drop stops the listeners, kills the processes this harness started (by
//!   their own handle, never by name) and deletes both namespaces (which also
//!   removes the veth pair and every rule and route inside).

#![allow(dead_code)] // each test module uses a different part of the harness

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_exposecheck");

/// How long [`TestNet::exposecheck`] lets one run take before it kills it
/// and fails the test.
pub const DEFAULT_RUN_LIMIT: Duration = Duration::from_secs(120);

/// IPv4 range that [`TestNet::route_sweep`] makes local to the target.
pub const SWEEP_V4: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 19, 0, 0), 16);
/// IPv6 range that [`TestNet::route_sweep`] makes local to the target.
pub const SWEEP_V6: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd00, 0xe0c, 0, 0, 0, 0, 0xffff, 0), 112);

static COUNTER: AtomicU32 = AtomicU32::new(0);
/// Serialises namespace creation: concurrent first-time `ip netns add` calls
/// race on making /run/netns a shared mount point.
static SETUP_LOCK: Mutex<()> = Mutex::new(());
static PREFLIGHT: OnceLock<Result<(), String>> = OnceLock::new();

/// Which namespace of a [`TestNet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The namespace exposecheck runs in.
    Scanner,
    /// The namespace being scanned (firewall and listeners live here).
    Target,
}

/// What a harness listener does with each accepted connection.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Close at once (the scanner sees a completed handshake, then EOF).
    Close,
    /// Keep the connection open until the [`TestNet`] is dropped.
    Hold,
    /// Write these bytes, then close.
    Banner(Vec<u8>),
}

struct AcceptLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Two namespaces joined by a veth pair; see the module docs.
pub struct TestNet {
    /// Base name, `ec-<pid>-<n>`.
    pub name: String,
    /// Scanner namespace name.
    pub scanner_ns: String,
    /// Target namespace name.
    pub target_ns: String,
    k: u8,
    loops: Vec<AcceptLoop>,
    created: Vec<String>,
}

fn fail(msg: impl AsRef<str>) -> ! {
    panic!("netns harness: {}", msg.as_ref())
}

/// Runs a command, panics (with its output) unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(format!("cannot run {cmd:?}: {e}")));
    if !out.status.success() {
        fail(format!(
            "{cmd:?} failed with {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    out
}

fn ip(args: &[&str]) -> Output {
    run_ok(Command::new("ip").args(args))
}

fn preflight() {
    let res = PREFLIGHT.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(
                "these integration tests create network namespaces and need root \
                        (run `cargo test` as root, as .ci/run does); they do not skip"
                    .to_string(),
            );
        }
        match Command::new("ip").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => return Err("`ip` (iproute2) is missing: apt-get install iproute2".to_string()),
        }
        remove_stale_namespaces();
        Ok(())
    });
    if let Err(e) = res {
        fail(e);
    }
}

/// Deletes `ec-<pid>-*` namespaces left behind by test processes that no
/// longer exist (a SIGKILLed run cannot clean up after itself). Only names
/// of this harness's own shape are touched.
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("ec-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Runs `f` on a fresh thread that has joined namespace `ns`. Sockets
/// created there stay in that namespace when handed back to other threads.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| fail(format!("open {path}: {e}")));
        // SAFETY: setns on a valid namespace fd; it only changes this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            fail(format!(
                "setns({path}): {}",
                std::io::Error::last_os_error()
            ));
        }
        f()
    })
    .join()
    .unwrap_or_else(|_| fail(format!("thread inside namespace {ns} panicked")))
}

impl TestNet {
    /// Creates the two namespaces, the veth pair and the addresses, turns off
    /// ICMP rate limiting in the target and waits until the scanner can reach
    /// the target over IPv4 and IPv6. Panics with a clear message on any
    /// failure (including "not root").
    pub fn new() -> TestNet {
        preflight();
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        // Keep interface names within IFNAMSIZ-1 = 15: "ec-" + pid + "-" + n + "s".
        let mut name = format!("ec-{pid}-{n}");
        if name.len() > 14 {
            name = format!("ec-{}-{n}", pid % 100_000);
        }
        assert!(
            name.len() <= 14,
            "namespace base name {name} too long for a veth name"
        );
        let k = ((pid.wrapping_mul(7)).wrapping_add(n) % 256) as u8;
        let mut net = TestNet {
            scanner_ns: format!("{name}s"),
            target_ns: format!("{name}t"),
            name,
            k,
            loops: Vec::new(),
            created: Vec::new(),
        };
        {
            let _guard = SETUP_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            for ns in [net.scanner_ns.clone(), net.target_ns.clone()] {
                let _ = Command::new("ip").args(["netns", "del", &ns]).output(); // leftover of a reused pid
                ip(&["netns", "add", &ns]);
                net.created.push(ns);
            }
        }
        let (s, t) = (net.scanner_ns.clone(), net.target_ns.clone());
        ip(&[
            "link", "add", &s, "netns", &s, "type", "veth", "peer", "name", &t, "netns", &t,
        ]);
        for (ns, dev, host) in [(&s, &s, 1u16), (&t, &t, 2u16)] {
            let v4 = format!("198.18.{k}.{host}/24");
            let v6 = format!(
                "{}/112",
                Ipv6Addr::new(0xfd00, 0xe0c, 0, 0, 0, 0, k as u16, host)
            );
            ip(&["-n", ns, "addr", "add", &v4, "dev", dev]);
            ip(&["-n", ns, "addr", "add", &v6, "dev", dev, "nodad"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        for (key, val) in [
            ("net.ipv4.icmp_ratelimit", "0"),
            ("net.ipv6.icmp.ratelimit", "0"),
        ] {
            net.sysctl_target(key, val);
        }
        // The global ICMP budget is per namespace on recent kernels; raise it
        // where it is (older kernels: host-wide, leave it alone).
        for (key, val) in [
            ("net.ipv4.icmp_msgs_per_sec", "100000"),
            ("net.ipv4.icmp_msgs_burst", "100000"),
        ] {
            let _ = net.try_in(
                Side::Target,
                &["sysctl", "-q", "-w", &format!("{key}={val}")],
            );
        }
        net.wait_reachable();
        net
    }

    /// The target's IPv4 address, 198.18.k.2.
    pub fn target_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.k, 2)
    }
    /// The target's IPv6 address, fd00:e0c::k:2.
    pub fn target_v6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0xe0c, 0, 0, 0, 0, self.k as u16, 2)
    }
    /// The scanner's IPv4 address, 198.18.k.1.
    pub fn scanner_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.k, 1)
    }
    /// The scanner's IPv6 address, fd00:e0c::k:1.
    pub fn scanner_v6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0xe0c, 0, 0, 0, 0, self.k as u16, 1)
    }
    /// Name of the veth end inside `side`'s namespace.
    pub fn dev(&self, side: Side) -> &str {
        self.ns(side)
    }
    /// Namespace name of `side`.
    pub fn ns(&self, side: Side) -> &str {
        match side {
            Side::Scanner => &self.scanner_ns,
            Side::Target => &self.target_ns,
        }
    }

    /// Runs `cmd` (argv) inside `side`'s namespace; returns its output
    /// whatever the exit status.
    pub fn try_in(&self, side: Side, cmd: &[&str]) -> Output {
        assert!(!cmd.is_empty());
        Command::new("ip")
            .args(["netns", "exec", self.ns(side)])
            .args(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| fail(format!("ip netns exec {} {cmd:?}: {e}", self.ns(side))))
    }

    /// Runs `cmd` inside `side`'s namespace; panics unless it exits 0.
    pub fn run_in(&self, side: Side, cmd: &[&str]) -> Output {
        run_ok(
            Command::new("ip")
                .args(["netns", "exec", self.ns(side)])
                .args(cmd),
        )
    }

    /// Runs `cmd` inside the target namespace; panics unless it exits 0.
    pub fn run_in_target(&self, cmd: &[&str]) -> Output {
        self.run_in(Side::Target, cmd)
    }

    /// Runs `cmd` inside the scanner namespace; panics unless it exits 0.
    pub fn run_in_scanner(&self, cmd: &[&str]) -> Output {
        self.run_in(Side::Scanner, cmd)
    }

    /// Adds one iptables rule in the target namespace, written as one string
    /// (split on whitespace): `net.iptables("-A INPUT -p tcp --dport 22 -j DROP")`.
    pub fn iptables(&self, rule: &str) {
        let mut argv = vec!["iptables", "-w"];
        argv.extend(rule.split_whitespace());
        self.run_in_target(&argv);
    }

    /// Adds one ip6tables rule in the target namespace (see [`TestNet::iptables`]).
    pub fn ip6tables(&self, rule: &str) {
        let mut argv = vec!["ip6tables", "-w"];
        argv.extend(rule.split_whitespace());
        self.run_in_target(&argv);
    }

    /// Sets a sysctl inside the target namespace.
    pub fn sysctl_target(&self, key: &str, val: &str) {
        self.run_in_target(&["sysctl", "-q", "-w", &format!("{key}={val}")]);
    }

    /// Makes [`SWEEP_V4`] (198.19.0.0/16) and [`SWEEP_V6`]
    /// (fd00:e0c::ffff:0/112) local to the target (every address in them
    /// answers like the target itself, so listeners bound to the wildcard
    /// address answer on all of them) and routes them from the scanner via
    /// the veth. For sweeps over many addresses.
    pub fn route_sweep(&self) {
        let v4 = format!("{}/{}", SWEEP_V4.0, SWEEP_V4.1);
        let v6 = format!("{}/{}", SWEEP_V6.0, SWEEP_V6.1);
        ip(&[
            "-n",
            &self.target_ns,
            "route",
            "add",
            "local",
            &v4,
            "dev",
            "lo",
        ]);
        ip(&[
            "-n",
            &self.target_ns,
            "-6",
            "route",
            "add",
            "local",
            &v6,
            "dev",
            "lo",
        ]);
        ip(&[
            "-n",
            &self.scanner_ns,
            "route",
            "add",
            &v4,
            "via",
            &self.target_v4().to_string(),
        ]);
        ip(&[
            "-n",
            &self.scanner_ns,
            "-6",
            "route",
            "add",
            &v6,
            "via",
            &self.target_v6().to_string(),
        ]);
    }

    /// Waits until a TCP connect from the scanner namespace to a closed port
    /// of the target is refused over both families (link up, neighbour
    /// resolution working).
    fn wait_reachable(&self) {
        let targets = [
            SocketAddr::new(IpAddr::V4(self.target_v4()), 9),
            SocketAddr::new(IpAddr::V6(self.target_v6()), 9),
        ];
        let ns = self.scanner_ns.clone();
        let res = in_netns(&ns, move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut last;
            for addr in targets {
                loop {
                    match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                        other => last = format!("{addr}: {other:?}"),
                    }
                    if Instant::now() > deadline {
                        return Err(last);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Ok(())
        });
        if let Err(e) = res {
            fail(format!(
                "{}: target never became reachable from the scanner ns: {e}",
                self.name
            ));
        }
    }

    /// Starts accept-and-close listeners on `ports`, on the target's
    /// wildcard addresses (0.0.0.0 and [::], v6-only), so they answer on the
    /// veth addresses and on the sweep ranges.
    pub fn listen(&mut self, ports: &[u16]) {
        self.listen_with(Side::Target, &wildcards(ports), Reply::Close);
    }

    /// Starts listeners on explicit addresses in either namespace (for
    /// example 127.0.0.1 and ::1 in the scanner namespace), with a chosen
    /// behaviour per accepted connection.
    pub fn listen_with(&mut self, side: Side, addrs: &[SocketAddr], reply: Reply) {
        let addrs = addrs.to_vec();
        let ns = self.ns(side).to_string();
        let ns2 = ns.clone();
        let listeners: Vec<TcpListener> = in_netns(&ns2, move || {
            addrs
                .iter()
                .map(|a| {
                    bind_listener(*a).unwrap_or_else(|e| fail(format!("bind {a} in {ns}: {e}")))
                })
                .collect()
        });
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || accept_loop(listeners, reply, stop2));
        self.loops.push(AcceptLoop {
            stop,
            thread: Some(thread),
        });
    }

    /// A `Command` that runs exposecheck with `args` inside the scanner
    /// namespace (`ip netns exec` replaces itself with the binary, so the
    /// child's pid is exposecheck's own).
    pub fn exposecheck_cmd<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.scanner_ns, BIN])
            .args(args);
        cmd
    }

    /// A `Command` that runs exposecheck with `args` inside the scanner
    /// namespace under an open-files limit of `nofile` (soft and hard).
    pub fn exposecheck_cmd_nofile<S: AsRef<std::ffi::OsStr>>(
        &self,
        nofile: u32,
        args: &[S],
    ) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.scanner_ns,
            "prlimit",
            &format!("--nofile={nofile}:{nofile}"),
            "--",
            BIN,
        ])
        .args(args);
        cmd
    }

    /// Runs exposecheck inside the scanner namespace, stdin empty; kills it
    /// and fails the test after [`DEFAULT_RUN_LIMIT`].
    pub fn exposecheck<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        run_limited(self.exposecheck_cmd(args), None, DEFAULT_RUN_LIMIT)
    }

    /// Like [`TestNet::exposecheck`] with `input` on stdin.
    pub fn exposecheck_stdin<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], input: &[u8]) -> Output {
        run_limited(
            self.exposecheck_cmd(args),
            Some(input.to_vec()),
            DEFAULT_RUN_LIMIT,
        )
    }

    /// Starts exposecheck inside the scanner namespace with stdout and
    /// stderr piped; the returned handle kills it on drop if still running.
    pub fn spawn_exposecheck<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Scan {
        let child = self
            .exposecheck_cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fail(format!("spawn exposecheck: {e}")));
        Scan::new(child)
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for l in &self.loops {
            l.stop.store(true, Ordering::SeqCst);
        }
        for l in &mut self.loops {
            if let Some(t) = l.thread.take() {
                let _ = t.join();
            }
        }
        for ns in self.created.drain(..) {
            match Command::new("ip").args(["netns", "del", &ns]).output() {
                Ok(o) if o.status.success() => {}
                other => eprintln!("netns harness: could not delete namespace {ns}: {other:?}"),
            }
        }
    }
}

/// `0.0.0.0:p` and `[::]:p` for each port.
pub fn wildcards(ports: &[u16]) -> Vec<SocketAddr> {
    ports
        .iter()
        .flat_map(|&p| {
            [
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), p),
            ]
        })
        .collect()
}

fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

fn accept_loop(listeners: Vec<TcpListener>, reply: Reply, stop: Arc<AtomicBool>) {
    const MAX_HELD: usize = 4096;
    let mut held: Vec<TcpStream> = Vec::new();
    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|l| libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: fds points to fds.len() initialised pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        if n <= 0 {
            continue;
        }
        for (i, pfd) in fds.iter_mut().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            while let Ok((mut stream, _)) = listeners[i].accept() {
                match &reply {
                    Reply::Close => drop(stream),
                    Reply::Hold => {
                        if held.len() < MAX_HELD {
                            held.push(stream);
                        }
                    }
                    Reply::Banner(bytes) => {
                        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                        let _ = stream.write_all(bytes);
                        let _ = stream.shutdown(Shutdown::Write);
                        // Give the peer a moment to read before the close.
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                        let _ = stream.read(&mut [0u8; 256]);
                    }
                }
            }
        }
    }
}

/// Runs `cmd` with optional stdin bytes, piped stdout/stderr, and a time
/// limit: past it the child is killed (through its own handle) and the
/// test fails with what it printed so far.
pub fn run_limited(mut cmd: Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| fail(format!("spawn {desc}: {e}")));
    if let Some(bytes) = input {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let out_t = reader(child.stdout.take().unwrap());
    let err_t = reader(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_t.join().unwrap_or_default();
            let stderr = err_t.join().unwrap_or_default();
            fail(format!(
                "{desc} still running after {limit:?}; killed it.\nstdout (tail): {}\nstderr: {}",
                tail(&stdout, 4000),
                String::from_utf8_lossy(&stderr)
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

fn reader<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn tail(bytes: &[u8], n: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    let start = s.len().saturating_sub(n);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// A running exposecheck. Killed (through its own handle) on drop if it is
/// still running; its pid can never have been reused while we hold it
/// un-reaped.
pub struct Scan {
    child: Option<Child>,
    stdout_lines: Arc<Mutex<Vec<String>>>,
    stdout_t: Option<JoinHandle<()>>,
    stderr_t: Option<JoinHandle<Vec<u8>>>,
}

impl Scan {
    fn new(mut child: Child) -> Scan {
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let lines2 = lines.clone();
        let stdout_t = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut r = std::io::BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => lines2.lock().unwrap().push(line),
                }
            }
        });
        let stderr_t = Some(reader(child.stderr.take().unwrap()));
        Scan {
            child: Some(child),
            stdout_lines: lines,
            stdout_t: Some(stdout_t),
            stderr_t,
        }
    }

    /// The child's pid (exposecheck's own: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Stdout lines read so far (each with its newline, a partial last line
    /// only once the stream ended).
    pub fn lines_so_far(&self) -> usize {
        self.stdout_lines.lock().unwrap().len()
    }

    /// Waits until at least `n` stdout lines arrived or `limit` passed;
    /// returns whether they did.
    pub fn wait_lines(&self, n: usize, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.lines_so_far() >= n {
                return true;
            }
            if self.stdout_t.as_ref().is_none_or(|t| t.is_finished()) {
                return self.lines_so_far() >= n;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Whether the process has exited (it is reaped by this call if so).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.as_mut().unwrap().try_wait(), Ok(Some(_)))
    }

    /// Sends `sig` to the process, after checking it still is exposecheck.
    pub fn signal(&mut self, sig: libc::c_int) {
        let child = self.child.as_mut().unwrap();
        if let Ok(Some(st)) = child.try_wait() {
            fail(format!(
                "exposecheck exited ({st}) before it could be signalled"
            ));
        }
        let pid = child.id();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_eq!(
            comm.trim(),
            "exposecheck",
            "pid {pid} is not exposecheck (ip netns exec forked?)"
        );
        // SAFETY: plain kill(2) on our own un-reaped child.
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {sig}): {}",
            std::io::Error::last_os_error()
        );
    }

    /// Waits for exit up to `limit`; on timeout kills it and fails the test.
    pub fn wait(mut self, limit: Duration) -> Output {
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                fail(format!(
                    "exposecheck did not exit within {limit:?} (killed it)"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(t) = self.stdout_t.take() {
            let _ = t.join();
        }
        let stdout = std::mem::take(&mut *self.stdout_lines.lock().unwrap())
            .concat()
            .into_bytes();
        let stderr = self
            .stderr_t
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Output parsing
// ---------------------------------------------------------------------------

/// Formats an `Output` for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {}\nstdout (tail):\n{}\nstderr:\n{}",
        out.status,
        tail(&out.stdout, 6000),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Panics (showing the output) unless the process exited with `code`.
pub fn expect_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}\n{}",
        show(out)
    );
}

/// A parsed `--ndjson` stream.
#[derive(Debug)]
pub struct Ndjson {
    /// The `"type":"port"` lines, in output order.
    pub ports: Vec<Value>,
    /// Lines of any other type except the summary.
    pub other: Vec<Value>,
    /// The last line, `"type":"summary"`.
    pub summary: Value,
}

/// Parses `--ndjson` output: every line must be a JSON object with a
/// `type`, and the last (only the last) must be the summary.
pub fn parse_ndjson(stdout: &[u8]) -> Ndjson {
    let text = std::str::from_utf8(stdout).unwrap_or_else(|e| panic!("ndjson is not UTF-8: {e}"));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "ndjson does not end with a newline:\n{}",
        tail(stdout, 2000)
    );
    let mut ports = Vec::new();
    let mut other = Vec::new();
    let mut summary = None;
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("ndjson line {} is not JSON ({e}): {line:?}", i + 1));
        assert!(
            summary.is_none(),
            "ndjson line {} comes after the summary: {line}",
            i + 1
        );
        match v.get("type").and_then(Value::as_str) {
            Some("port") => ports.push(v),
            Some("summary") => summary = Some(v),
            Some(_) => other.push(v),
            None => panic!("ndjson line {} has no string \"type\": {line}", i + 1),
        }
    }
    let summary =
        summary.unwrap_or_else(|| panic!("ndjson has no summary line:\n{}", tail(stdout, 2000)));
    assert_eq!(
        summary["schema"], "exposecheck/1",
        "summary schema: {summary}"
    );
    Ndjson {
        ports,
        other,
        summary,
    }
}

/// Parses `--json` output: one document with `schema`, `scan`, `coverage`
/// and a `results` array.
pub fn parse_json_doc(stdout: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "--json output is not one JSON document ({e}):\n{}",
            tail(stdout, 2000)
        )
    });
    assert_eq!(
        v["schema"], "exposecheck/1",
        "schema field: {}",
        v["schema"]
    );
    assert!(v["scan"].is_object(), "no scan object");
    assert!(v["coverage"].is_object(), "no coverage object");
    assert!(v["results"].is_array(), "no results array");
    v
}

/// One port result, the fields the scan-core tests look at.
#[derive(Clone, Debug, PartialEq)]
pub struct PortLine {
    pub ip: IpAddr,
    pub host: Option<String>,
    pub port: u16,
    pub state: String,
    pub reason: String,
    pub rtt_ms: Option<f64>,
    pub tries: u64,
}

/// Reads a port result object (an NDJSON port line or a `results` item).
pub fn port_line(v: &Value) -> PortLine {
    let ip = v["ip"].as_str().unwrap_or_else(|| panic!("no ip: {v}"));
    PortLine {
        ip: ip
            .parse()
            .unwrap_or_else(|e| panic!("ip {ip:?} does not parse ({e}): {v}")),
        host: v.get("host").and_then(Value::as_str).map(str::to_string),
        port: v["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("bad port: {v}")),
        state: v["state"]
            .as_str()
            .unwrap_or_else(|| panic!("no state: {v}"))
            .to_string(),
        reason: v["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("no reason: {v}"))
            .to_string(),
        rtt_ms: v.get("rtt_ms").and_then(Value::as_f64),
        tries: v["tries"]
            .as_u64()
            .unwrap_or_else(|| panic!("no tries: {v}")),
    }
}

/// Port results keyed by (ip, port); panics on a duplicate key.
pub fn port_map(results: &[Value]) -> BTreeMap<(IpAddr, u16), PortLine> {
    let mut m = BTreeMap::new();
    for v in results {
        let p = port_line(v);
        if let Some(prev) = m.insert((p.ip, p.port), p.clone()) {
            panic!(
                "duplicate result for {}:{}: {prev:?} and {p:?}",
                p.ip, p.port
            );
        }
    }
    m
}

/// The (ip, port, state, reason) set of a result list.
pub fn state_set(results: &[Value]) -> BTreeSet<(IpAddr, u16, String, String)> {
    port_map(results)
        .into_values()
        .map(|p| (p.ip, p.port, p.state, p.reason))
        .collect()
}

/// Reads a `coverage` counter.
pub fn cov(summary_or_doc: &Value, key: &str) -> u64 {
    summary_or_doc["coverage"][key].as_u64().unwrap_or_else(|| {
        panic!(
            "coverage.{key} missing or not a count: {}",
            summary_or_doc["coverage"]
        )
    })
}

/// (ip, port) of every open result of a `--json` document.
pub fn open_ports(doc: &Value) -> BTreeSet<(String, u16)> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "open")
        .map(|r| {
            (
                r["ip"].as_str().unwrap().to_owned(),
                r["port"].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

/// The open ports of `ip` in a `--json` document, in ascending order.
pub fn open_ports_of(doc: &Value, ip: &str) -> Vec<u16> {
    open_ports(doc)
        .into_iter()
        .filter(|(i, _)| i == ip)
        .map(|(_, p)| p)
        .collect()
}

/// The service name of `ip`:`port` in a `--json` document ("" if none).
pub fn service_name(doc: &Value, ip: &str, port: u16) -> String {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ip"] == ip && r["port"] == port)
        .and_then(|r| r["service"]["name"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// The firewall posture of `ip` in a `--json` document ("" if absent).
pub fn host_firewall(doc: &Value, ip: &str) -> String {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ip"] == ip)
        .map(|h| h["firewall"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// The findings of `rule` about `ip` in a `--json` document.
pub fn findings_of<'a>(doc: &'a Value, rule: &str, ip: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule && f["ip"] == ip)
        .collect()
}

// ---------------------------------------------------------------------------
// The harness's own checks (no exposecheck involved).
// ---------------------------------------------------------------------------

#[cfg(test)]
mod selftest {
    use super::*;

    fn connect_from_scanner(net: &TestNet, addr: SocketAddr) -> std::io::Result<()> {
        in_netns(&net.scanner_ns, move || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(300)).map(drop)
        })
    }

    #[test]
    fn harness_scanner_has_no_way_out() {
        let net = TestNet::new();
        let routes = String::from_utf8(
            net.run_in_scanner(&["ip", "route", "show", "table", "all"])
                .stdout,
        )
        .unwrap();
        assert!(
            !routes.contains("default"),
            "scanner ns has a default route:\n{routes}"
        );
        let routes6 =
            String::from_utf8(net.run_in_scanner(&["ip", "-6", "route", "show"]).stdout).unwrap();
        assert!(
            !routes6.contains("default"),
            "scanner ns has a v6 default route:\n{routes6}"
        );
        // An address outside the veth subnet (still inside 198.18.0.0/15) has no route.
        let err = connect_from_scanner(&net, "198.19.255.1:80".parse().unwrap()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
    }

    #[test]
    fn harness_listeners_and_firewall_work() {
        let mut net = TestNet::new();
        net.listen(&[4000, 4001]);
        for ip in [IpAddr::V4(net.target_v4()), IpAddr::V6(net.target_v6())] {
            connect_from_scanner(&net, SocketAddr::new(ip, 4000)).unwrap();
            connect_from_scanner(&net, SocketAddr::new(ip, 4001)).unwrap();
            let e = connect_from_scanner(&net, SocketAddr::new(ip, 4002)).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{ip}: {e}");
        }
        net.iptables("-A INPUT -p tcp --dport 4001 -j DROP");
        net.ip6tables("-A INPUT -p tcp --dport 4001 -j DROP");
        for ip in [IpAddr::V4(net.target_v4()), IpAddr::V6(net.target_v6())] {
            let e = connect_from_scanner(&net, SocketAddr::new(ip, 4001)).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{ip}: {e}");
            connect_from_scanner(&net, SocketAddr::new(ip, 4000)).unwrap();
        }
    }

    #[test]
    fn harness_sweep_range_answers() {
        let mut net = TestNet::new();
        net.route_sweep();
        net.listen(&[4100]);
        for a in [
            "198.19.0.1:4100",
            "198.19.254.77:4100",
            "[fd00:e0c::ffff:1]:4100",
            "[fd00:e0c::ffff:abcd]:4100",
        ] {
            connect_from_scanner(&net, a.parse().unwrap()).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    /// The loss-emulation trick the scan-core tests use: an nth rule with
    /// `--packet 0` drops exactly the first matching SYN.
    #[test]
    fn harness_nth_rule_drops_only_the_first_syn() {
        let net = TestNet::new();
        net.iptables("-A INPUT -p tcp --syn --dport 4200 -m statistic --mode nth --every 100000 --packet 0 -j DROP");
        let a = SocketAddr::new(IpAddr::V4(net.target_v4()), 4200);
        let first = connect_from_scanner(&net, a).unwrap_err();
        assert_eq!(first.kind(), std::io::ErrorKind::TimedOut, "{first}");
        let second = connect_from_scanner(&net, a).unwrap_err();
        assert_eq!(
            second.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{second}"
        );
    }

    #[test]
    fn harness_cleans_up_namespaces() {
        let name;
        {
            let net = TestNet::new();
            name = net.target_ns.clone();
            assert!(std::path::Path::new(&format!("/run/netns/{name}")).exists());
        }
        assert!(
            !std::path::Path::new(&format!("/run/netns/{name}")).exists(),
            "{name} left behind"
        );
    }
}
