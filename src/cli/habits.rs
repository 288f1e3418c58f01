//! Other scanners' flags, read before clap sees the arguments.
//!
//! People arrive with nmap's, naabu's and trivy/grype's habits. Each flag in
//! [`HABITS`] is either accepted with the meaning it has there (rewritten into
//! exposecheck's own flags, or dropped because exposecheck already behaves
//! that way) or refused with one line naming the whole flag and what to use
//! instead. Any other single-dash word is checked against the real short
//! flags, so `-host` or `-output` never turns into a bundle of short flags
//! plus a value or a target.

use crate::error::Error;
use std::ffi::OsString;

/// What a foreign flag means here.
enum Meaning {
    /// Already how exposecheck works: dropped.
    Same,
    /// Replaced by these arguments.
    As(&'static [&'static str]),
    /// Takes the next argument (or `=VALUE`); replaced by what the function
    /// makes of it.
    With(fn(&str) -> Vec<String>),
    /// Refused: what to use instead.
    Refused(&'static str),
}

/// One foreign flag.
struct Habit {
    /// The flag as typed.
    flag: &'static str,
    /// Whose it is.
    tool: &'static str,
    /// What it becomes.
    meaning: Meaning,
}

/// The flag `name` followed by `v`.
fn pair(name: &str, v: &str) -> Vec<String> {
    vec![name.to_owned(), v.to_owned()]
}

const fn habit(flag: &'static str, tool: &'static str, meaning: Meaning) -> Habit {
    Habit {
        flag,
        tool,
        meaning,
    }
}

use Meaning::{As, Refused, Same, With};

/// Every foreign flag exposecheck knows.
const HABITS: &[Habit] = &[
    habit("-oX", "nmap", With(|v| pair("--write", &format!("nmap-xml={v}")))),
    habit("-oN", "nmap", With(|v| pair("--write", &format!("human={v}")))),
    habit(
        "-oA",
        "nmap",
        With(|v| {
            let mut out = pair("--write", &format!("nmap-xml={v}.xml"));
            out.extend(pair("--write", &format!("human={v}.nmap")));
            out.extend(pair("--write", &format!("json={v}.json")));
            out
        }),
    ),
    habit("-oG", "nmap", Refused("grepable output does not exist here: write one JSON object per port with --write ndjson=FILE, or nmap XML with -oX FILE")),
    habit("-oS", "nmap", Refused("script-kiddie output does not exist here: use -oN FILE")),
    habit("-oM", "nmap", Refused("machine output does not exist here: use -oX FILE")),
    habit("-iL", "nmap", With(|v| pair("--input-list", v))),
    habit("--excludefile", "nmap", With(|v| pair("--exclude-file", v))),
    habit("-sV", "nmap", Same),
    habit("-sT", "nmap", Same),
    habit("-Pn", "nmap", Same),
    habit("-n", "nmap", Same),
    habit("--open", "nmap", Same),
    habit("--reason", "nmap", Same),
    habit("-F", "nmap", As(&["--top-ports", "100"])),
    habit("--max-rate", "nmap", With(|v| pair("--rate", v))),
    habit("--max-retries", "nmap", With(|v| pair("--retries", v))),
    habit("-T0", "nmap", As(&["--timing", "polite"])),
    habit("-T1", "nmap", As(&["--timing", "polite"])),
    habit("-T2", "nmap", As(&["--timing", "polite"])),
    habit("-T3", "nmap", As(&["--timing", "normal"])),
    habit("-T4", "nmap", As(&["--timing", "fast"])),
    habit("-T5", "nmap", As(&["--timing", "fast"])),
    habit("-T", "nmap", With(|v| pair("--timing", timing_word(v)))),
    habit("-sS", "nmap", Refused("a SYN scan needs raw sockets; exposecheck makes full TCP connects (nmap's -sT): drop -sS")),
    habit("-sU", "nmap", As(&["--udp"])),
    habit("-sn", "nmap", Refused("host discovery alone is not a mode here: exposecheck scans ports; give the ports with -p")),
    habit("-sC", "nmap", Refused("exposecheck runs no scripts: its read-only probes identify services on every open port (see exposecheck services)")),
    habit("--script", "nmap", Refused("exposecheck runs no scripts: its read-only probes identify services on every open port (see exposecheck services)")),
    habit("-A", "nmap", Refused("OS detection, scripts and traceroute do not exist here, and version detection is always on: drop -A")),
    habit("-O", "nmap", Refused("OS detection does not exist here: drop -O")),
    habit("-6", "nmap", Refused("exposecheck scans every address a name resolves to, IPv4 and IPv6: give IPv6 addresses to scan only those, and drop -6")),
    habit("--min-rate", "nmap", Refused("there is no floor on the pace here; --rate N sets the ceiling")),
    habit("-host", "naabu", With(|v| vec![v.to_owned()])),
    habit("--host", "naabu", With(|v| vec![v.to_owned()])),
    habit("-list", "naabu", With(|v| pair("--input-list", v))),
    habit("--list", "naabu", With(|v| pair("--input-list", v))),
    habit("-l", "naabu", With(|v| pair("--input-list", v))),
    habit("-port", "naabu", With(|v| pair("--ports", v))),
    habit(
        "-top-ports",
        "naabu",
        With(|v| match v {
            "full" => pair("--ports", "-"),
            _ => pair("--top-ports", v),
        }),
    ),
    habit(
        "-tp",
        "naabu",
        With(|v| match v {
            "full" => pair("--ports", "-"),
            _ => pair("--top-ports", v),
        }),
    ),
    habit("-exclude-hosts", "naabu", With(|v| pair("--exclude", v))),
    habit("-eh", "naabu", With(|v| pair("--exclude", v))),
    habit("-json", "naabu", As(&["--format", "ndjson"])),
    habit("-jsonl", "naabu", As(&["--format", "ndjson"])),
    habit("-silent", "naabu", As(&["--quiet"])),
    habit("--silent", "naabu", As(&["--quiet"])),
    habit("-rate", "naabu", With(|v| pair("--rate", v))),
    habit("-c", "naabu", With(|v| pair("--concurrency", v))),
    habit("-timeout", "naabu", With(|v| pair("--timeout", v))),
    habit("-retries", "naabu", With(|v| pair("--retries", v))),
    habit("-verbose", "naabu", As(&["--verbose"])),
    habit("-version", "naabu", As(&["--version"])),
    habit("-sa", "naabu", Same),
    habit("-scan-all-ips", "naabu", Same),
    habit("-csv", "naabu", Refused("CSV output does not exist here: use --format ndjson (one JSON object per port) or --format json")),
    habit("-nmap-cli", "naabu", Refused("exposecheck identifies services itself (nmap is not run): drop -nmap-cli")),
    habit("-exclude-ports", "naabu", Refused("give the ports to scan with -p instead")),
    habit("--exit-code", "trivy", Refused("the exit code is 1 on a finding at or above --fail-on LEVEL (default high); use --fail-on")),
    habit("--severity", "trivy", Refused("every severity is reported; to gate on one use --fail-on LEVEL, to filter use jq on --format json")),
];

/// nmap's timing template (`-T 4`, `-T aggressive`) as a `--timing` profile;
/// anything else is passed on for `--timing` to refuse.
fn timing_word(v: &str) -> &str {
    match v {
        "0" | "1" | "2" | "paranoid" | "sneaky" | "polite" => "polite",
        "3" | "normal" => "normal",
        "4" | "5" | "aggressive" | "insane" => "fast",
        other => other,
    }
}

/// The words a format can be asked for by (its names and aliases), for the
/// `-o json` check.
fn format_words() -> Vec<String> {
    use clap::ValueEnum;
    crate::output::Format::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .flat_map(|v| {
            v.get_name_and_aliases()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The flags of one (sub)command that matter here.
struct Flags {
    /// Short flags, with whether each takes a value.
    shorts: Vec<(char, bool)>,
    /// Long flags that take a value.
    valued_longs: Vec<String>,
    /// Every long flag.
    longs: Vec<String>,
    /// Whether the command takes scan flags (foreign flags are read).
    scan: bool,
}

impl Flags {
    fn of(cmd: &clap::Command, scan: bool) -> Flags {
        let mut f = Flags {
            shorts: vec![('h', false)],
            valued_longs: Vec::new(),
            longs: vec!["help".into()],
            scan,
        };
        if cmd.get_version().is_some() {
            f.shorts.push(('V', false));
            f.longs.push("version".into());
        }
        for a in cmd.get_arguments() {
            let valued = a.get_action().takes_values();
            if let Some(c) = a.get_short() {
                f.shorts.push((c, valued));
            }
            if let Some(l) = a.get_long() {
                f.longs.push(l.to_owned());
                if valued {
                    f.valued_longs.push(l.to_owned());
                }
            }
        }
        f
    }

    fn short(&self, c: char) -> Option<bool> {
        self.shorts.iter().find(|(s, _)| *s == c).map(|(_, v)| *v)
    }
}

/// The subcommand path the arguments name, and where its own arguments start.
fn command_for<'a>(argv: &[OsString], root: &'a clap::Command) -> (&'a clap::Command, usize, bool) {
    let mut cmd = root;
    let mut i = 1;
    while let Some(sub) = argv
        .get(i)
        .and_then(|a| a.to_str())
        .and_then(|w| cmd.find_subcommand(w))
    {
        cmd = sub;
        i += 1;
    }
    // A scan, or `policy init` (which scans).
    let scan = i == 1 || cmd.get_name() == "init";
    (cmd, i, scan)
}

/// Rewrites and checks `argv` (program name first) for the command tree
/// `root`; a refused flag is a usage error naming it.
pub fn translate(argv: Vec<OsString>, root: &clap::Command) -> Result<Vec<OsString>, Error> {
    let (cmd, start, scan) = command_for(&argv, root);
    let flags = Flags::of(cmd, scan);
    let mut out: Vec<OsString> = argv[..start].to_vec();
    let mut rest = argv.into_iter().skip(start);
    while let Some(arg) = rest.next() {
        let Some(s) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            out.push(arg);
            out.extend(rest);
            break;
        }
        let (name, inline) = match s.split_once('=') {
            Some((n, v)) if n.starts_with('-') => (n, Some(v.to_owned())),
            _ => (s.as_str(), None),
        };
        if flags.scan {
            if let Some(h) = HABITS.iter().find(|h| h.flag == name) {
                let value = || {
                    inline
                        .clone()
                        .or_else(|| rest.next().and_then(|v| v.into_string().ok()))
                };
                out.extend(apply(h, value)?.into_iter().map(OsString::from));
                continue;
            }
        }
        if let Some(long) = name.strip_prefix("--") {
            out.push(arg.clone());
            if inline.is_none() && flags.valued_longs.iter().any(|l| l == long) {
                let v = rest.next();
                check_output_value(long, v.as_ref())?;
                out.extend(v);
            }
            continue;
        }
        if name.starts_with('-') && name.len() > 1 {
            if let Some(valued) = single_dash(&s, &flags)? {
                out.push(arg);
                if valued {
                    let v = rest.next();
                    if s == "-o" {
                        check_output_value("output", v.as_ref())?;
                    }
                    out.extend(v);
                }
                continue;
            }
        }
        out.push(arg);
    }
    Ok(out)
}

/// What habit `h` becomes; `value` gives its argument when it takes one.
fn apply(h: &Habit, value: impl FnOnce() -> Option<String>) -> Result<Vec<String>, Error> {
    match &h.meaning {
        Same => Ok(Vec::new()),
        As(args) => Ok(args.iter().map(|a| (*a).to_owned()).collect()),
        With(f) => match value() {
            Some(v) => Ok(f(&v)),
            None => Err(Error::Usage(format!(
                "{} ({}'s flag) needs a value",
                h.flag, h.tool
            ))),
        },
        Refused(why) => Err(Error::Usage(format!(
            "{} ({}'s flag) is not supported: {why}",
            h.flag, h.tool
        ))),
    }
}

/// Checks a single-dash word against the short flags: `Some(true)` when it
/// is one short flag whose value is the next argument, `Some(false)` when it
/// is complete (a bundle of switches, or a short flag with its value
/// attached); refused when it reads as a single-dash long flag.
fn single_dash(word: &str, flags: &Flags) -> Result<Option<bool>, Error> {
    let body = &word[1..];
    for (i, c) in body.char_indices() {
        match flags.short(c) {
            Some(false) => continue,
            Some(true) => {
                let attached = &body[i + c.len_utf8()..];
                return match attached.chars().next() {
                    None => Ok(Some(true)),
                    // -p22, -p-, -o-, -o/tmp/x: a value, not more flags.
                    Some(first) if !first.is_ascii_alphabetic() => Ok(Some(false)),
                    Some(_) => Err(single_dash_long(word, flags)),
                };
            }
            None => return Err(single_dash_long(word, flags)),
        }
    }
    Ok(Some(false))
}

/// The error for a single-dash word that is no bundle of short flags.
fn single_dash_long(word: &str, flags: &Flags) -> Error {
    let name = word.split('=').next().unwrap_or(word);
    let long = name.trim_start_matches('-');
    let hint = if flags.longs.iter().any(|l| l == long) {
        format!("long flags take two dashes: --{long}")
    } else if long.len() > 1 && flags.short(long.chars().next().unwrap_or(' ')) == Some(true) {
        format!(
            "to give -{} a value, put a space after it (-{} {})",
            &long[..1],
            &long[..1],
            &long[1..]
        )
    } else {
        "single-dash flags are one letter here; see exposecheck --help".into()
    };
    Error::Usage(format!("unknown flag '{name}': {hint}"))
}

/// grype's `-o json` names a format; here `-o` names a file, so a bare
/// format word is refused rather than written to a file called `json`.
fn check_output_value(long: &str, v: Option<&OsString>) -> Result<(), Error> {
    let Some(v) = v.and_then(|v| v.to_str()) else {
        return Ok(());
    };
    if long == "output" && format_words().iter().any(|w| w.eq_ignore_ascii_case(v)) {
        return Err(Error::Usage(format!(
            "-o {v}: -o names the output file here; for the format write --format {v}, for a file of that name -o ./{v}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn run(args: &[&str]) -> Result<Vec<String>, String> {
        let argv = std::iter::once("exposecheck")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        translate(argv, &crate::cli::Cli::command())
            .map(|v| {
                v.into_iter()
                    .skip(1)
                    .map(|a| a.into_string().expect("utf-8"))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn nmap_outputs_become_writes() {
        assert_eq!(
            run(&["198.18.0.1", "-oX", "scan.xml"]).unwrap(),
            ["198.18.0.1", "--write", "nmap-xml=scan.xml"]
        );
        let all = run(&["-oA", "out/base", "198.18.0.1"]).unwrap();
        assert_eq!(all.iter().filter(|a| *a == "--write").count(), 3, "{all:?}");
        assert!(all.contains(&"human=out/base.nmap".to_string()), "{all:?}");
        let e = run(&["-oG", "x.gnmap", "198.18.0.1"]).unwrap_err();
        assert!(e.contains("-oG") && e.contains("ndjson"), "{e}");
    }

    #[test]
    fn naabu_and_nmap_switches() {
        assert_eq!(
            run(&["-host", "198.18.0.1", "-json", "-silent"]).unwrap(),
            ["198.18.0.1", "--format", "ndjson", "--quiet"]
        );
        assert_eq!(
            run(&[
                "-sV",
                "-Pn",
                "-T4",
                "--open",
                "--reason",
                "-n",
                "198.18.0.1"
            ])
            .unwrap(),
            ["--timing", "fast", "198.18.0.1"]
        );
        assert_eq!(
            run(&["-top-ports", "full", "198.18.0.1"]).unwrap(),
            ["--ports", "-", "198.18.0.1"]
        );
        assert_eq!(
            run(&["--max-rate=50", "198.18.0.1"]).unwrap(),
            ["--rate", "50", "198.18.0.1"]
        );
        assert!(run(&["-host"]).unwrap_err().contains("needs a value"));
    }

    #[test]
    fn single_dash_words_never_become_bundles() {
        for (word, needle) in [
            ("-output", "--output"),
            ("-ports", "--ports"),
            ("-hosts", "'-hosts'"),
            ("-qx", "'-qx'"),
            ("-ofile.txt", "-o file.txt"),
        ] {
            let e = run(&[word, "198.18.0.1"]).unwrap_err();
            assert!(e.contains(word) && e.contains(needle), "{word}: {e}");
        }
        for ok in [
            &["-qv", "198.18.0.1"][..],
            &["-p22,80", "198.18.0.1"],
            &["-p-", "198.18.0.1"],
            &["-o", "-", "198.18.0.1"],
            &["-p", "-", "198.18.0.1"],
            &["-vv", "198.18.0.1"],
        ] {
            assert_eq!(run(ok).unwrap(), ok, "{ok:?}");
        }
    }

    #[test]
    fn values_are_not_read_as_flags() {
        // The value of a valued flag passes through, even when it looks like one.
        assert_eq!(
            run(&["--exclude", "-sS", "198.18.0.1"]).unwrap(),
            ["--exclude", "-sS", "198.18.0.1"]
        );
        let after = run(&["--", "-sS"]).unwrap();
        assert_eq!(after, ["--", "-sS"]);
    }

    #[test]
    fn a_format_word_is_no_output_file() {
        let e = run(&["-o", "json", "198.18.0.1"]).unwrap_err();
        assert!(e.contains("--format json"), "{e}");
        assert!(run(&["-o", "./json", "198.18.0.1"]).is_ok());
        assert!(run(&["--output", "SARIF", "198.18.0.1"]).is_err());
    }

    #[test]
    fn subcommands_get_the_short_flag_check_only() {
        // -sS is a scan habit: under merge it is just an unknown flag.
        let e = run(&["merge", "-host", "x.ndjson"]).unwrap_err();
        assert!(e.contains("'-host'"), "{e}");
        assert_eq!(
            run(&["policy", "init", "-Pn", "198.18.0.1"]).unwrap(),
            ["policy", "init", "198.18.0.1"]
        );
    }

    #[test]
    fn every_habit_is_spelled_once() {
        let mut flags: Vec<&str> = HABITS.iter().map(|h| h.flag).collect();
        flags.sort_unstable();
        let n = flags.len();
        flags.dedup();
        assert_eq!(flags.len(), n);
    }
}
