//! Command-line flags (clap derive) and their validation into a [`Config`].
//!
//! Nothing below this module sees clap types: [`Args`] is the literal record of
//! the flags, [`Config`] the checked, ready-to-use settings.

use crate::error::Error;
use crate::output::{Format, Show};
use crate::ports::{self, PortList};
use crate::scan::order::Shard;
use crate::scan::timing::TimingProfile;
use crate::targets::{self, TargetSpec};
use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const EXIT_HELP: &str = "EXIT CODES:
  0    scan complete, no finding at or above --fail-on
  1    a finding at or above --fail-on
  2    usage or configuration error
  3    scan incomplete (unresolved ports or hosts)
  130  interrupted (Ctrl-C); output so far is still written";

/// Audit a server the way an attacker sees it: sweep TCP ports, fingerprint
/// what answers, flag what should be localhost-only.
#[derive(Parser, Debug, Clone)]
#[command(name = "exposecheck", version, after_help = EXIT_HELP)]
pub struct Args {
    /// Targets: IPv4/IPv6 addresses, CIDRs, hostnames.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Read targets from FILE ('-' for stdin); '#' comments and blank lines allowed. Also -iL.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Vec<PathBuf>,

    /// Addresses, CIDRs or names to leave out (comma-separated).
    #[arg(long, value_name = "LIST")]
    pub exclude: Vec<String>,

    /// Read exclusions from FILE.
    #[arg(long = "exclude-file", value_name = "FILE")]
    pub exclude_file: Vec<PathBuf>,

    /// Ports: 22,80,8000-8100; '-' (or -p-) for all 65535. Default: every port
    /// a services/ definition names, plus 22, 80, 443.
    #[arg(short = 'p', long = "ports", value_name = "SPEC", allow_hyphen_values = true)]
    pub ports: Option<String>,

    /// Scan the N highest-ranked ports of exposecheck's own ranking.
    #[arg(long = "top-ports", value_name = "N", conflicts_with = "ports")]
    pub top_ports: Option<usize>,

    /// Output format.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Shorthand for --format json.
    #[arg(long, conflicts_with_all = ["format", "ndjson"])]
    pub json: bool,

    /// Shorthand for --format ndjson.
    #[arg(long, conflicts_with = "format")]
    pub ndjson: bool,

    /// Write output to FILE (atomically: temporary file, then rename).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also list these states: closed,filtered (they are always counted).
    #[arg(long, value_name = "STATES", value_delimiter = ',')]
    pub show: Vec<String>,

    /// No progress bar or warnings on stderr (errors still print).
    #[arg(short, long)]
    pub quiet: bool,

    /// Connects in flight at most (default: from the open-file limit).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Connects in flight at most to one host (default: the whole window).
    #[arg(long = "max-per-host", value_name = "N")]
    pub max_per_host: Option<usize>,

    /// Timing profile: bounds for the adaptive timeout and retries.
    #[arg(long, value_enum, default_value = "normal")]
    pub timing: Timing,

    /// Ceiling on the adaptive connect timeout, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,

    /// Ceiling on retransmissions of a timed-out connect (the adaptive
    /// timing allows more only while they pay off).
    #[arg(long, value_name = "N")]
    pub retries: Option<u8>,

    /// Connect attempts per second, all hosts together.
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,

    /// Connect attempts per second to one host.
    #[arg(long = "host-rate", value_name = "N")]
    pub host_rate: Option<f64>,

    /// Sweep ports only; do not fingerprint open ports.
    #[arg(long = "no-fingerprint")]
    pub no_fingerprint: bool,

    /// Key for the scan order (required for reproducible order and shards).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Scan only shard K of N (0-based), e.g. 2/8.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Allow scanning more than 65,536 addresses.
    #[arg(long = "allow-large")]
    pub allow_large: bool,

    /// DNS timeout per name, in milliseconds.
    #[arg(long = "dns-timeout", value_name = "MS", default_value_t = 5000)]
    pub dns_timeout: u64,

    /// Most addresses kept per hostname.
    #[arg(long = "max-addrs-per-name", value_name = "N", default_value_t = 64)]
    pub max_addrs_per_name: usize,
}

/// Timing profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Timing {
    /// Long timeouts, up to 10 retries, one host at a time at 100 connects.
    Polite,
    /// The default.
    Normal,
    /// Short timeouts.
    Fast,
}

/// Rewrites nmap-style spellings clap cannot express: `-iL FILE` → `--input-list FILE`.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            if a == "-iL" {
                OsString::from("--input-list")
            } else if let Some(rest) = a.to_str().and_then(|s| s.strip_prefix("-iL=")) {
                OsString::from(format!("--input-list={rest}"))
            } else {
                a
            }
        })
        .collect()
}

/// Where the port list comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortChoice {
    /// An explicit list.
    List(PortList),
    /// The default set (needs the service catalogue).
    Default,
}

/// Validated settings for one run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Targets as typed (for the report).
    pub target_text: Vec<String>,
    /// Parsed targets.
    pub targets: Vec<TargetSpec>,
    /// Parsed exclusions.
    pub excludes: Vec<TargetSpec>,
    /// Ports.
    pub ports: PortChoice,
    /// Output format.
    pub format: Format,
    /// Output file (stdout when none).
    pub output: Option<PathBuf>,
    /// Listed states.
    pub show: Show,
    /// Quiet stderr.
    pub quiet: bool,
    /// Connect window override.
    pub concurrency: Option<usize>,
    /// Per-host window override.
    pub max_per_host: Option<usize>,
    /// Timing bounds.
    pub timing: TimingProfile,
    /// Global rate.
    pub rate: Option<f64>,
    /// Per-host rate.
    pub host_rate: Option<f64>,
    /// Fingerprint open ports.
    pub fingerprint: bool,
    /// Order key (None: derive one).
    pub seed: Option<u64>,
    /// Shard.
    pub shard: Shard,
    /// Allow > 65,536 addresses.
    pub allow_large: bool,
    /// DNS timeout per name.
    pub dns_timeout: Duration,
    /// Address cap per name.
    pub max_addrs_per_name: usize,
}

fn read_input(path: &PathBuf) -> Result<String, Error> {
    let read = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read(path).and_then(|b| {
            String::from_utf8(b).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")
            })
        })
    };
    read.map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })
}

fn positive(name: &str, v: Option<f64>) -> Result<Option<f64>, Error> {
    match v {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(Error::Usage(format!(
            "invalid value '{r}' for {name}: must be a positive number"
        ))),
        other => Ok(other),
    }
}

/// Parses `K/N` (0-based K).
pub fn parse_shard(s: &str) -> Result<Shard, Error> {
    let bad = || Error::Usage(format!("invalid value '{s}' for --shard: expected K/N with 0 <= K < N, e.g. 0/4"));
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let index: u64 = k.trim().parse().map_err(|_| bad())?;
    let count: u64 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

impl Config {
    /// Checks the flags and reads the input files.
    pub fn from_args(a: Args) -> Result<Config, Error> {
        let mut target_text = a.targets.clone();
        let mut specs = Vec::new();
        for t in &a.targets {
            specs.extend(targets::parse_list(t)?);
        }
        for path in &a.input_list {
            let text = read_input(path)?;
            let from_file = targets::parse_file_text(&text, &path.display().to_string())?;
            target_text.push(format!("@{}", path.display()));
            specs.extend(from_file);
        }
        if specs.is_empty() {
            return Err(Error::NoTargets(
                "give an address, CIDR or hostname, or -iL FILE (see --help)".into(),
            ));
        }
        for spec in &specs {
            if let TargetSpec::Addr(ip) = spec {
                if let Some(why) = targets::refuse_reason(*ip) {
                    return Err(Error::Scope(format!("refusing target '{ip}': {why}")));
                }
            }
        }
        let mut excludes = Vec::new();
        for e in &a.exclude {
            excludes.extend(targets::parse_list(e)?);
        }
        for path in &a.exclude_file {
            let text = read_input(path)?;
            excludes.extend(targets::parse_file_text(&text, &path.display().to_string())?);
        }
        let ports = match (&a.ports, a.top_ports) {
            (Some(spec), _) => PortChoice::List(ports::parse_ports(spec)?),
            (None, Some(0)) => {
                return Err(Error::Usage("invalid value '0' for --top-ports: must be 1 to 65535".into()))
            }
            (None, Some(n)) if n > 65535 => {
                return Err(Error::Usage(format!(
                    "invalid value '{n}' for --top-ports: must be 1 to 65535"
                )))
            }
            (None, Some(n)) => PortChoice::List(ports::top_ports(n)),
            (None, None) => PortChoice::Default,
        };
        let format = if a.json {
            Format::Json
        } else if a.ndjson {
            Format::Ndjson
        } else {
            a.format.unwrap_or(Format::Human)
        };
        let mut show = Show::default();
        for s in &a.show {
            match s.trim() {
                "closed" => show.closed = true,
                "filtered" => show.filtered = true,
                "open" | "" => {}
                "all" => {
                    show.closed = true;
                    show.filtered = true;
                }
                other => {
                    return Err(Error::Usage(format!(
                        "invalid value '{other}' for --show: expected closed, filtered or all"
                    )))
                }
            }
        }
        let mut timing = match a.timing {
            Timing::Polite => TimingProfile::POLITE,
            Timing::Normal => TimingProfile::NORMAL,
            Timing::Fast => TimingProfile::FAST,
        };
        if let Some(ms) = a.timeout {
            if ms == 0 {
                return Err(Error::Usage("invalid value '0' for --timeout: must be at least 1 ms".into()));
            }
            let t = Duration::from_millis(ms);
            timing.max_timeout = t;
            timing.initial_timeout = timing.initial_timeout.min(t);
            timing.min_timeout = timing.min_timeout.min(t);
        }
        if let Some(r) = a.retries {
            timing.max_retries = r;
        }
        let mut max_per_host = a.max_per_host;
        if a.timing == Timing::Polite && max_per_host.is_none() {
            max_per_host = Some(100);
        }
        for (name, v) in [("--concurrency", a.concurrency), ("--max-per-host", a.max_per_host)] {
            if v == Some(0) {
                return Err(Error::Usage(format!("invalid value '0' for {name}: must be at least 1")));
            }
        }
        let shard = match &a.shard {
            Some(s) => parse_shard(s)?,
            None => Shard::default(),
        };
        if a.max_addrs_per_name == 0 {
            return Err(Error::Usage("invalid value '0' for --max-addrs-per-name: must be at least 1".into()));
        }
        Ok(Config {
            target_text,
            targets: specs,
            excludes,
            ports,
            format,
            output: a.output,
            show,
            quiet: a.quiet,
            concurrency: a.concurrency,
            max_per_host,
            timing,
            rate: positive("--rate", a.rate)?,
            host_rate: positive("--host-rate", a.host_rate)?,
            fingerprint: !a.no_fingerprint,
            seed: a.seed,
            shard,
            allow_large: a.allow_large,
            dns_timeout: Duration::from_millis(a.dns_timeout.max(1)),
            max_addrs_per_name: a.max_addrs_per_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, Error> {
        let argv = normalize_args(
            std::iter::once("exposecheck")
                .chain(args.iter().copied())
                .map(OsString::from),
        );
        Config::from_args(Args::try_parse_from(argv).map_err(|e| Error::Usage(e.to_string()))?)
    }

    #[test]
    fn nmap_style_spellings() {
        let c = parse(&["-p-", "198.18.0.2"]).unwrap();
        assert_eq!(c.ports, PortChoice::List(PortList::all()));
        let c = parse(&["-p", "22,80", "--json", "198.18.0.0/30"]).unwrap();
        assert_eq!(c.format, Format::Json);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts.txt");
        std::fs::write(&f, "# x\n198.18.0.1\n\n").unwrap();
        let c = parse(&["-iL", f.to_str().unwrap()]).unwrap();
        assert_eq!(c.targets.len(), 1);
    }

    #[test]
    fn bad_values_name_the_token() {
        let e = parse(&["-p", "22,99999", "198.18.0.2"]).unwrap_err();
        assert!(e.to_string().contains("99999"), "{e}");
        let e = parse(&["198.18.0.300"]).unwrap_err();
        assert!(e.to_string().contains("198.18.0.300"), "{e}");
        let e = parse(&["--shard", "4/4", "198.18.0.1"]).unwrap_err();
        assert!(e.to_string().contains("4/4"), "{e}");
        let e = parse(&["--show", "opne", "198.18.0.1"]).unwrap_err();
        assert!(e.to_string().contains("opne"), "{e}");
        let e = parse(&["-iL", "/nonexistent/hosts"]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/hosts"), "{e}");
        assert!(parse(&["224.0.0.1"]).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(&["--rate", "0", "198.18.0.1"]).is_err());
    }
}
