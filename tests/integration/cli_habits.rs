//! Other tools' habits on the real binary: nmap's `-oX/-oN/-oA`, `-sV`,
//! `-Pn`, `-T4`; naabu's `-host`, `-list`, `-json`, `-silent`; trivy's
//! `--format` in any case and `-o -`. Each is accepted with its meaning (the
//! files appear, the scan reaches the target) or refused with exit 2 and one
//! line naming the whole flag, before any connection. Also the help screens,
//! the subcommands' own help, completions and the man page.

use super::hostile::measure;
use super::hostile_servers::{self as hs, Kind};
use super::netns::BIN;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Runs the binary in `dir` with `args`.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(dir).args(args).env_remove("NO_COLOR");
    measure(c, Duration::from_secs(60)).out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A scan of one open loopback port with `extra` flags.
fn scan(dir: &Path, farm: &hs::Farm, extra: &[&str]) -> Output {
    let port = farm.ports[0].to_string();
    let mut args = vec!["-p", &port, "--no-canary", "--no-policy"];
    args.extend(extra);
    args.push("127.0.0.1");
    run_in(dir, &args)
}

/// A refusal: exit 2, one stderr line naming `flag`, nothing on stdout.
fn refused(out: &Output, flag: &str) -> Result<(), String> {
    let err = text(&out.stderr);
    if out.status.code() == Some(2)
        && err.lines().count() == 1
        && err.contains(flag)
        && out.stdout.is_empty()
    {
        Ok(())
    } else {
        Err(format!(
            "{flag}: exit {:?}, stderr {err:?}, stdout {} bytes",
            out.status.code(),
            out.stdout.len()
        ))
    }
}

#[test]
fn nmap_output_flags_write_the_files_they_name() {
    let farm = hs::loopback(Kind::Fin, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = scan(
        dir.path(),
        &farm,
        &["-oX", "scan.xml", "-oN", "scan.txt", "-oA", "all"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let port = farm.ports[0];
    // stdout still gets the terminal report, as with nmap.
    assert!(text(&out.stdout).contains(&format!("{port}/tcp")));
    let xml = std::fs::read_to_string(dir.path().join("scan.xml")).expect("scan.xml");
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&xml, opts).expect("scan.xml is XML");
    assert_eq!(doc.root_element().tag_name().name(), "nmaprun");
    assert!(xml.contains(&format!("portid=\"{port}\"")), "{xml}");
    let human = std::fs::read_to_string(dir.path().join("scan.txt")).expect("scan.txt");
    assert!(human.contains(&format!("{port}/tcp")) && !human.contains('\x1b'));
    for f in ["all.xml", "all.nmap", "all.json"] {
        assert!(dir.path().join(f).is_file(), "-oA did not write {f}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("all.json")).expect("all.json"),
    )
    .expect("all.json is JSON");
    assert_eq!(json["coverage"]["open"], 1);
    for stray in ["X", "N", "A", "-"] {
        assert!(!dir.path().join(stray).exists(), "a file named {stray}");
    }
}

#[test]
fn accepted_habits_scan_the_target() {
    let farm = hs::loopback(Kind::Fin, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = farm.ports[0].to_string();
    let list = dir.path().join("hosts.txt");
    std::fs::write(&list, "127.0.0.1\n").expect("write");
    let list = list.to_string_lossy().into_owned();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "-sV",
            "-sT",
            "-Pn",
            "-n",
            "-T4",
            "--open",
            "--reason",
            "-v",
            "127.0.0.1",
        ],
        vec!["-T", "2", "127.0.0.1"],
        vec!["-host", "127.0.0.1"],
        vec!["-list", &list],
        vec!["-rate", "500", "-c", "10", "-silent", "127.0.0.1"],
        vec!["-f", "TABLE", "127.0.0.1"],
    ];
    for case in cases {
        let before = farm.accepts();
        let mut args = vec!["-p", &port, "--no-canary", "--no-policy"];
        args.extend(&case);
        let out = run_in(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{case:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains(&format!("{port}/tcp")),
            "{case:?} printed no report: {}",
            text(&out.stdout)
        );
        assert!(farm.accepts() > before, "{case:?} never reached the target");
        if case.contains(&"-silent") {
            assert!(out.stderr.is_empty(), "-silent: {}", text(&out.stderr));
        }
    }
}

#[test]
fn formats_in_any_case_and_stdout_dash() {
    let farm = hs::loopback(Kind::Fin, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = scan(dir.path(), &farm, &["--format", "JSON", "-o", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["coverage"]["open"], 1);
    assert!(!dir.path().join("-").exists(), "-o - made a file named '-'");
    let out = scan(dir.path(), &farm, &["-json"]);
    let lines = text(&out.stdout);
    assert!(lines.lines().count() >= 2, "naabu -json: {lines}");
    for l in lines.lines() {
        serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line");
    }
    let out = scan(
        dir.path(),
        &farm,
        &["--format", "Sarif", "--fail-on", "CRITICAL"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF");
    assert_eq!(v["version"], "2.1.0");
}

#[test]
fn refused_habits_name_the_whole_flag_and_send_nothing() {
    let farm = hs::loopback(Kind::Fin, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (args, flag) in [
        (&["-oG", "scan.gnmap"][..], "-oG"),
        (&["-sS"], "-sS"),
        (&["-A"], "-A"),
        (&["-O"], "-O"),
        (&["-sC"], "-sC"),
        (&["-6"], "-6"),
        (&["--min-rate", "100"], "--min-rate"),
        (&["-csv"], "-csv"),
        (&["-hosts", "127.0.0.1"], "-hosts"),
        (&["-output", "x"], "-output"),
        (&["-ports", "22"], "-ports"),
        (&["-ofile.xml"], "-ofile.xml"),
        (&["-o", "json"], "-o json"),
        (&["--exit-code", "1"], "--exit-code"),
        (&["--severity", "HIGH"], "--severity"),
        (&["--format", "cyclonedx"], "cyclonedx"),
    ] {
        let out = scan(dir.path(), &farm, args);
        if let Err(e) = refused(&out, flag) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(farm.accepts(), 0, "a refused command line still connected");
    for stray in ["x", "utput", "scan.gnmap", "json", "file.xml"] {
        assert!(!dir.path().join(stray).exists(), "a file named {stray}");
    }
}

#[test]
fn nothing_that_is_not_a_scan_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["merge", "-host", "x.ndjson"][..],
        &["merge"],
        &["merge", "--max-skew", "soon", "a.ndjson"],
        &["explain"],
        &["explain", "no-such-rule"],
        &["services", "no-such-service"],
        &["completions", "tcsh"],
        &[],
    ] {
        let out = run_in(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr).lines().count(), 1, "{args:?}");
    }
}

#[test]
fn help_fits_a_screen_and_each_command_has_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let short = text(&run_in(dir.path(), &["-h"]).stdout);
    assert!(
        short.lines().count() <= 24,
        "-h is {} lines",
        short.lines().count()
    );
    let long = text(&run_in(dir.path(), &["--help"]).stdout);
    for heading in [
        "Targets:",
        "Ports:",
        "Output:",
        "Policy & CI:",
        "Timing:",
        "Fingerprinting:",
        "Scale-out:",
        "Exit codes:",
    ] {
        assert!(long.contains(heading), "--help lacks {heading}");
    }
    for cmd in [
        "merge",
        "policy init",
        "services",
        "explain",
        "completions",
        "man",
    ] {
        assert!(short.contains(cmd) && long.contains(cmd.split(' ').next().unwrap_or(cmd)));
    }
    let merge = text(&run_in(dir.path(), &["merge", "--help"]).stdout);
    assert!(merge.contains("exposecheck merge") && merge.contains("--max-skew"));
    assert!(
        !merge.contains("--top-ports"),
        "merge --help is the scan help"
    );
    let init = text(&run_in(dir.path(), &["policy", "init", "--help"]).stdout);
    assert!(init.contains("exposecheck policy init") && init.contains("--top-ports"));
}

#[test]
fn completions_and_man_pages_are_generated() {
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run_in(dir.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(
            script.contains("fail-on") && script.contains("explain"),
            "{shell}"
        );
    }
    let bash = dir.path().join("exposecheck.bash");
    std::fs::write(&bash, run_in(dir.path(), &["completions", "bash"]).stdout).expect("write");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&bash)
        .output()
        .expect("bash");
    assert!(check.status.success(), "{}", text(&check.stderr));
    let man = text(&run_in(dir.path(), &["man"]).stdout);
    assert!(man.contains(".TH exposecheck 1") && man.contains("Exit codes"));
    let pages = dir.path().join("man");
    std::fs::create_dir(&pages).expect("mkdir");
    let out = run_in(dir.path(), &["man", "--dir", &pages.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for page in [
        "exposecheck.1",
        "exposecheck-merge.1",
        "exposecheck-explain.1",
    ] {
        assert!(pages.join(page).is_file(), "man --dir wrote no {page}");
    }
}

#[test]
fn services_and_explain_read_the_catalogue_and_the_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = run_in(dir.path(), &["services"]);
    assert_eq!(table.status.code(), Some(0));
    let table = text(&table.stdout);
    for (id, port) in [("redis", "6379"), ("memcached", "11211"), ("mysql", "3306")] {
        let row = table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} row:\n{table}"));
        assert!(row.contains(port), "{row}");
    }
    assert!(
        table.contains(r"PING\r\n"),
        "payloads are not shown escaped"
    );
    assert!(!table.chars().any(|c| c.is_control() && c != '\n'));
    let redis = text(&run_in(dir.path(), &["services", "redis"]).stdout);
    assert!(redis.contains("redis-unauthenticated") && redis.contains("INFO"));
    let out = run_in(dir.path(), &["explain", "redis-unauthenticated"]);
    assert_eq!(out.status.code(), Some(0));
    let why = text(&out.stdout);
    for needle in [
        "critical",
        "iptables -I INPUT",
        "nft ",
        "ufw deny 6379/tcp",
        "bind 127.0.0.1",
    ] {
        assert!(why.contains(needle), "explain lacks {needle}:\n{why}");
    }
    let list = text(&run_in(dir.path(), &["explain", "--list"]).stdout);
    for id in [
        "unexpected-open-port",
        "no-default-deny-firewall",
        "mongodb-unauthenticated",
    ] {
        assert!(list.contains(id), "explain --list lacks {id}");
    }
    let typo = run_in(dir.path(), &["explain", "redis-unauthenticatd"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        text(&typo.stderr).contains("redis-unauthenticated"),
        "no suggestion"
    );
}
