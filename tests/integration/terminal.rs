//! The binary on a real pseudo-terminal (openpty): the progress bar is drawn
//! on a terminal stderr and never into a pipe, colour follows `--color` and
//! `NO_COLOR` on a terminal stdout, and a piped stderr gets plain status
//! lines (no redraws) every ten seconds.

use super::hostile_servers::{self as hs, Kind};
use super::netns::BIN;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which of the child's streams are the terminal.
#[derive(Clone, Copy)]
struct OnPty {
    stdout: bool,
    stderr: bool,
}

/// What one run produced.
struct Run {
    /// Everything written to the terminal.
    pty: String,
    /// The piped stdout (empty when stdout was the terminal).
    stdout: String,
    /// The piped stderr (empty when stderr was the terminal).
    stderr: String,
    code: Option<i32>,
}

/// A new pseudo-terminal of 120x30: (master, slave).
fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 30,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors it opened; null name and termios
    // ask for the defaults.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Runs the binary with `args` and `env`, the streams `on` names on a
/// terminal, for at most `limit`.
fn run(args: &[&str], env: &[(&str, &str)], on: OnPty, limit: Duration) -> Run {
    let (master, slave) = openpty();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("NO_COLOR")
        .envs(env.iter().copied());
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup")));
    cmd.stdout(if on.stdout {
        Stdio::from(slave.try_clone().expect("dup"))
    } else {
        Stdio::piped()
    });
    cmd.stderr(if on.stderr {
        Stdio::from(slave.try_clone().expect("dup"))
    } else {
        Stdio::piped()
    });
    // SAFETY: setsid and TIOCSCTTY are async-signal-safe; the child makes
    // the terminal (its stdin) its controlling terminal, as a shell would.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn");
    // The command holds copies of the terminal's slave side: closed here,
    // the master reads EIO once the child's copies close too.
    drop(cmd);
    drop(slave);
    let mut master = File::from(master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the child's side is closed.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let piped = |s: Option<std::process::ChildStdout>| {
        std::thread::spawn(move || {
            let mut v = String::new();
            if let Some(mut s) = s {
                let _ = s.read_to_string(&mut v);
            }
            v
        })
    };
    let out = piped(child.stdout.take());
    let err = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut v = String::new();
            let _ = e.read_to_string(&mut v);
            v
        })
    });
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        pty: String::from_utf8_lossy(&reader.join().expect("reader")).into_owned(),
        stdout: out.join().expect("stdout"),
        stderr: err.map(|t| t.join().expect("stderr")).unwrap_or_default(),
        code,
    }
}

/// A scan of one open loopback port and 400 closed ones, paced to last
/// about two seconds so the bar gets drawn.
fn paced_scan(port: u16, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["--no-canary", "--no-policy", "--rate", "200", "-p"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(format!("{port},40000-40399"));
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push("127.0.0.1".into());
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const ESC: char = '\x1b';

/// stderr on the terminal (where the bar goes), stdout piped.
const BAR_ON_PTY: OnPty = OnPty {
    stdout: false,
    stderr: true,
};

#[test]
fn the_bar_is_drawn_on_a_terminal_and_never_into_a_pipe() {
    let farm = hs::loopback(Kind::Fin, 1);
    let args = paced_scan(farm.ports[0], &[]);
    let limit = Duration::from_secs(60);
    let r = run(&strs(&args), &[], BAR_ON_PTY, limit);
    assert_eq!(r.code, Some(0), "{}", r.pty);
    assert!(
        r.pty.contains("ports ·"),
        "no bar on the terminal: {:?}",
        r.pty
    );
    assert!(r.pty.contains("/s"), "the bar shows no rate: {:?}", r.pty);
    assert!(!r.stdout.contains("ports ·"), "bar in stdout");
    assert!(
        !r.stdout.contains(ESC),
        "escapes in piped stdout: {:?}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("{}/tcp", farm.ports[0])));
    // -q: a terminal stderr, and still no bar.
    let args = paced_scan(farm.ports[0], &["-q"]);
    let r = run(&strs(&args), &[], BAR_ON_PTY, limit);
    assert!(!r.pty.contains("ports ·"), "-q drew the bar: {:?}", r.pty);
}

#[test]
fn colour_follows_the_terminal_the_flag_and_no_color() {
    let farm = hs::loopback(Kind::Fin, 1);
    let port = farm.ports[0].to_string();
    let base = ["--no-canary", "--no-policy", "-p", &port, "127.0.0.1"];
    let on_tty = OnPty {
        stdout: true,
        stderr: false,
    };
    let piped = OnPty {
        stdout: false,
        stderr: false,
    };
    let limit = Duration::from_secs(30);
    let with = |extra: &[&str], env: &[(&str, &str)], on: OnPty| {
        let mut a: Vec<&str> = extra.to_vec();
        a.extend(base);
        let r = run(&a, env, on, limit);
        assert_eq!(r.code, Some(0), "{extra:?}: {}", r.stderr);
        let report = if on.stdout { r.pty } else { r.stdout };
        assert!(report.contains(&format!("{port}/tcp")), "{report:?}");
        report
    };
    assert!(
        with(&[], &[], on_tty).contains(ESC),
        "auto on a terminal: no colour"
    );
    assert!(
        !with(&[], &[("NO_COLOR", "1")], on_tty).contains(ESC),
        "NO_COLOR ignored"
    );
    assert!(
        with(&[], &[("NO_COLOR", "")], on_tty).contains(ESC),
        "empty NO_COLOR disabled colour"
    );
    assert!(!with(&["--color", "never"], &[], on_tty).contains(ESC));
    assert!(
        !with(&[], &[], piped).contains(ESC),
        "auto into a pipe coloured"
    );
    assert!(with(&["--color", "always"], &[], piped).contains(ESC));
    assert!(with(&["--color", "ALWAYS"], &[("NO_COLOR", "1")], piped).contains(ESC));
}

#[test]
fn a_piped_stderr_gets_status_lines_not_redraws() {
    let farm = hs::loopback(Kind::Fin, 1);
    let port = farm.ports[0];
    // 2,600 ports at 200 a second: about 13 s, one status line or more.
    let args = vec![
        "--no-canary".to_string(),
        "--no-policy".into(),
        "--rate".into(),
        "200".into(),
        "-p".into(),
        format!("{port},40000-42599"),
        "127.0.0.1".into(),
    ];
    let r = run(
        &strs(&args),
        &[],
        OnPty {
            stdout: true,
            stderr: false,
        },
        Duration::from_secs(90),
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let status: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(" ports (") && l.contains("open"))
        .collect();
    assert!(!status.is_empty(), "no status line: {:?}", r.stderr);
    assert!(status.len() <= 2, "status lines too often: {status:?}");
    // The listener's own port may fall inside the range.
    let total = if (40_000..=42_599).contains(&port) {
        "2,600"
    } else {
        "2,601"
    };
    assert!(
        status[0].contains(&format!(" of {total} ports")),
        "{status:?}"
    );
    assert!(
        !r.stderr.contains('\r') && !r.stderr.contains(ESC),
        "{:?}",
        r.stderr
    );
    assert!(!r.pty.contains(" ports ("), "status line on stdout");
}
