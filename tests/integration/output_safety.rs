//! Output safety, end to end with the real binary: `-o` never harms what
//! its path names (devices, FIFOs, symlinks, modes, planted temporary names,
//! SIGKILL), `-o -` and `-o /dev/stdout` are stdout, a closed pipe never
//! turns a critical finding into exit 0. (Hostile banners in every format:
//! src/output/format_tests/banners.rs.)
//!
//! Device cases run inside a private mount namespace (`unshare --mount
//! --propagation private`) on a tmpfs with `mknod`-made null-like (1,3) and
//! full-like (1,7) devices: the machine's own /dev is never written.
//! Targets are 127.0.0.1 listeners this file starts.

use super::hostile_servers::{self as hs, Kind};
use super::netns::{run_limited, show, BIN};
use super::schema::validate_json;
use serde_json::Value;
use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// A 127.0.0.1 port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A quick complete scan (one closed loopback port, exit 0) writing `--json`.
fn quick_args(port: u16) -> Vec<String> {
    let p = port.to_string();
    [
        "-q",
        "--no-policy",
        "--json",
        "--no-fingerprint",
        "-p",
        &p,
        "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String], extra: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).args(extra);
    run_limited(c, None, LIMIT)
}

fn json_doc(bytes: &[u8]) -> Value {
    let doc: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    });
    validate_json(&doc);
    doc
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mkfifo(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).expect("path");
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Mounts a tmpfs on `$1` in a private mount namespace, makes `$1/dev` a
/// character device `$MAJ,$MIN`, runs the rest of the arguments, then prints
/// `STAT <type> <major:minor hex>` and `LS <entries>` on stderr.
const DEVICE_SCRIPT: &str = r#"D="$1"; shift
mount -t tmpfs exposecheck-out "$D" || exit 97
mknod "$D/dev" c "$MAJ" "$MIN" || exit 98
"$@"; rc=$?
echo "STAT $(stat -c '%F %t:%T' "$D/dev")" >&2
echo "LS $(ls -A "$D" | tr '\n' ' ')" >&2
exit $rc"#;

/// Runs exposecheck with `args` and `-o DIR/dev` (a fresh device `maj,min`
/// on a private tmpfs); returns its output, the STAT and LS lines, the time.
fn with_device(maj: u32, min: u32, args: &[String]) -> (Output, String, String, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 tempdir").to_string();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .args([DEVICE_SCRIPT, "sh", &d, BIN])
        .args(args)
        .args(["-o", &format!("{d}/dev")])
        .env("MAJ", maj.to_string())
        .env("MIN", min.to_string());
    let start = Instant::now();
    let out = run_limited(c, None, LIMIT);
    let took = start.elapsed();
    assert!(
        !matches!(out.status.code(), Some(97 | 98)),
        "namespace setup failed (needs root):\n{}",
        show(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = |tag: &str| {
        err.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag} line:\n{}", show(&out)))
            .trim()
            .to_string()
    };
    let (stat, ls) = (line("STAT "), line("LS "));
    assert!(
        names(dir.path()).is_empty(),
        "the tmpfs leaked out of the namespace"
    );
    (out, stat, ls, took)
}

#[test]
fn a_null_like_device_stays_a_device() {
    let (out, stat, ls, _) = with_device(1, 3, &quick_args(closed_port()));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(stat, "character special file 1:3", "{}", show(&out));
    assert_eq!(ls, "dev", "nothing left beside the device");
}

#[test]
fn a_full_like_device_fails_before_the_scan() {
    // Silent listeners and an 8 s probe budget: a failure found only at the
    // end would take at least 8 s.
    let farm = hs::loopback(Kind::Silent, 3);
    let ports: Vec<String> = farm.ports.iter().map(u16::to_string).collect();
    let args: Vec<String> = [
        "-q",
        "--no-policy",
        "--json",
        "--probe-timeout",
        "8000",
        "-p",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([ports.join(","), "127.0.0.1".into()])
    .collect();
    let (out, stat, ls, took) = with_device(1, 7, &args);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("exposecheck: error: cannot write ")
                && l.contains("/dev: No space left on device")),
        "{}",
        show(&out)
    );
    assert!(took < Duration::from_secs(5), "failed only after {took:?}");
    assert_eq!(farm.accepts(), 0, "no connection before the failure");
    assert_eq!(stat, "character special file 1:7");
    assert_eq!(ls, "dev");
}

#[test]
fn dev_stdout_and_dash_write_to_stdout() {
    let args = quick_args(closed_port());
    for dest in ["-", "/dev/stdout", "/proc/self/fd/1"] {
        let cwd = tempfile::tempdir().expect("tempdir");
        let mut c = Command::new(BIN);
        c.args(&args).args(["-o", dest]).current_dir(cwd.path());
        let out = run_limited(c, None, LIMIT);
        assert_eq!(out.status.code(), Some(0), "-o {dest}: {}", show(&out));
        let doc = json_doc(&out.stdout);
        assert_eq!(doc["exit_code"], 0);
        assert!(names(cwd.path()).is_empty(), "-o {dest} created a file");
    }
}

/// `-o /dev/stdout` with stdout an `>>` file appends, like the shell.
#[test]
fn dev_stdout_into_an_appended_file_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    std::fs::write(&log, "earlier line\n").expect("write");
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    let mut c = Command::new(BIN);
    c.args(quick_args(closed_port()))
        .args(["-o", "/dev/stdout"])
        .stdout(Stdio::from(f))
        .stderr(Stdio::piped());
    let out = c.output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(&log).expect("read");
    let rest = text
        .strip_prefix("earlier line\n")
        .expect("kept what was there");
    json_doc(rest.as_bytes());
    assert_eq!(names(dir.path()), ["log"]);
}

#[test]
fn a_fifo_reader_gets_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("report.fifo");
    mkfifo(&fifo);
    let p = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::fs::File::open(p)
            .expect("open fifo")
            .read_to_end(&mut v)
            .expect("read fifo");
        v
    });
    let out = run(&quick_args(closed_port()), &["-o", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    json_doc(&reader.join().expect("reader"));
    let m = std::fs::symlink_metadata(&fifo).expect("stat");
    assert!(m.file_type().is_fifo(), "still a FIFO");
    assert_eq!(names(dir.path()), ["report.fifo"]);
}

#[test]
fn a_symlink_is_written_through_and_modes_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("reports");
    std::fs::create_dir(&real).expect("mkdir");
    let target = real.join("scan.json");
    std::fs::write(&target, "old").expect("write");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let link = dir.path().join("latest.json");
    std::os::unix::fs::symlink("reports/scan.json", &link).expect("symlink");
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, "old").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let args = quick_args(closed_port());
    for (dest, file, mode) in [(&link, &target, 0o600), (&plain, &plain, 0o640)] {
        let out = run(&args, &["-o", dest.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        json_doc(&std::fs::read(file).expect("read"));
        let m = std::fs::metadata(file).expect("stat");
        assert_eq!(m.permissions().mode() & 0o7777, mode, "{}", file.display());
    }
    assert!(std::fs::symlink_metadata(&link)
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert_eq!(names(dir.path()), ["latest.json", "plain.json", "reports"]);
    assert_eq!(names(&real), ["scan.json"]);
}

#[test]
fn a_directory_fails_before_the_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        &quick_args(closed_port()),
        &["-o", dir.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write") && err.contains("Is a directory"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Symlinks to a victim planted at the old predictable temporary names
/// (`.NAME.PID.tmp`) for the next few hundred pids: the victim survives.
#[test]
fn planted_symlinks_at_guessable_temporary_names_are_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("write");
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("pid_max")
        .trim()
        .parse()
        .expect("number");
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .expect("ns_last_pid")
        .trim()
        .parse()
        .expect("number");
    let planted: Vec<u32> = (1..=400).map(|i| (last + i) % pid_max).collect();
    for p in &planted {
        std::os::unix::fs::symlink(&victim, dir.path().join(format!(".out.json.{p}.tmp")))
            .expect("plant");
    }
    let dest = dir.path().join("out.json");
    let mut child = Command::new(BIN)
        .args(quick_args(closed_port()))
        .args(["-o", dest.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let status = child.wait().expect("wait");
    assert!(
        planted.contains(&pid),
        "pid {pid} was not among the planted names: the test proves nothing"
    );
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
    json_doc(&std::fs::read(&dest).expect("report"));
    let n = names(dir.path());
    assert_eq!(
        n.len(),
        planted.len() + 2,
        "only the planted links, victim, report"
    );
}

/// SIGKILL while the report is being written leaves nothing in the directory.
#[test]
fn sigkill_mid_scan_leaves_no_temporary_file() {
    let farm = hs::loopback(Kind::Silent, 20);
    let ports: Vec<String> = farm.ports.iter().map(u16::to_string).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("out.json");
    let mut child = Command::new(BIN)
        .args(["-q", "--no-policy", "--json", "--probe-timeout", "8000"])
        .args(["-p", &ports.join(","), "127.0.0.1"])
        .args(["-o", dest.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    // The output is open once a descriptor of the child points into dir.
    let prefix = dir.path().to_str().unwrap().to_string();
    let start = Instant::now();
    let open = loop {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .any(|t| t.to_string_lossy().starts_with(&prefix))
            })
            .unwrap_or(false);
        if fds || start.elapsed() > Duration::from_secs(10) {
            break fds;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(open, "the output was never opened");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the scan ended too soon"
    );
    child.kill().expect("SIGKILL our own child");
    child.wait().expect("wait");
    assert!(farm.accepts() > 0, "the scan was under way");
    assert!(
        names(dir.path()).is_empty(),
        "left behind: {:?}",
        names(dir.path())
    );
}

/// A Redis without auth (RESP: PING → +PONG, INFO → `redis_version`), so a
/// scan of it has a critical finding. Stops when dropped.
struct FakeRedis {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeRedis {
    fn start(version: &'static str) -> FakeRedis {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = s.read(&mut buf) {
                        let req = String::from_utf8_lossy(&buf[..n]).to_ascii_uppercase();
                        let reply = if req.contains("INFO") {
                            let body = format!(
                                "# Server\r\nredis_version:{version}\r\nredis_mode:standalone\r\n"
                            );
                            format!("${}\r\n{body}\r\n", body.len())
                        } else if req.contains("PING") {
                            "+PONG\r\n".into()
                        } else {
                            "-ERR unknown command\r\n".into()
                        };
                        if s.write_all(reply.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        FakeRedis { port, stop }
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `--ndjson | head -n 1` with a critical finding: exit 1, not 0, and one
/// line on stderr saying the output was cut.
#[test]
fn a_closed_pipe_still_exits_with_the_findings_code() {
    let redis = FakeRedis::start("7.2.4");
    // 1,500 closed ports listed: far more than a 64 KiB pipe holds, so the
    // writer meets the closed pipe while the scan goes on.
    let ports = format!("{},20000-21499", redis.port);
    let mut child = Command::new(BIN)
        .args(["-q", "--no-policy", "--ndjson", "--show", "closed"])
        .args(["-p", &ports, "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    // The reader is gone: the pipe is closed.
    let mut stderr = child.stderr.take().expect("stderr");
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = err_t.join().expect("stderr");
    let rec: Value = serde_json::from_str(&first).expect("the first line is a record");
    assert_eq!(rec["type"], "port", "{first}");
    assert_eq!(status.code(), Some(1), "exit {status}; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err}");
    assert!(
        lines[0].contains("stdout was closed") && lines[0].contains("exit 1"),
        "{err}"
    );
}
