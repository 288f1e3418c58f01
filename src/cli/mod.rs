//! Command-line flags (clap derive) and their validation into a [`Config`].
//!
//! Nothing below this module sees clap types: [`Args`] is the literal record of
//! the flags, [`Config`] the checked, ready-to-use settings.

use crate::error::Error;
use crate::model::{FailOn, FirewallTool};
use crate::output::schema::SchemaKind;
use crate::output::{ColorChoice, Format, Show};
use crate::ports::{self, PortList};
use crate::scan::order::{Shard, MAX_SHARDS};
use crate::scan::timing::TimingProfile;
use crate::scan::SweepSettings;
use crate::targets::{self, ListError, TargetSpec};

/// The policy file read from the working directory when `--policy` is not given.
pub const DEFAULT_POLICY: &str = "exposecheck.toml";
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

pub mod habits;
pub mod help;

/// The exit-code table, printed under `--help` and in the man page.
pub const EXIT_HELP: &str = "Exit codes:
  0    scan complete, no finding at or above --fail-on
  1    a finding at or above --fail-on
  2    usage or configuration error
  3    scan incomplete (unresolved ports or hosts)
  130  interrupted (Ctrl-C); output so far is still written";

/// Help headings, in the order `--help` shows them.
pub mod heading {
    /// What to scan.
    pub const TARGETS: &str = "Targets";
    /// Which ports.
    pub const PORTS: &str = "Ports";
    /// Formats, files, the terminal.
    pub const OUTPUT: &str = "Output";
    /// Policy, baseline, exit code.
    pub const POLICY: &str = "Policy & CI";
    /// Pace and timeouts.
    pub const TIMING: &str = "Timing";
    /// Service identification.
    pub const FINGERPRINT: &str = "Fingerprinting";
    /// Shards and large scans.
    pub const SCALE: &str = "Scale-out";
}

/// Audit a server the way an attacker sees it, from outside.
///
/// Sweeps TCP ports, fingerprints what answers, and reports every port that
/// should be localhost-only or firewalled, with the reason, the severity and
/// the fix.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "exposecheck",
    version,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    after_help = "Run 'exposecheck --help' for every flag, the exit codes and examples.",
    after_long_help = EXIT_HELP
)]
pub struct Cli {
    /// A command other than a scan.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The scan (when no command is given).
    #[command(flatten)]
    pub scan: Args,
}

/// The commands besides a scan.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Combine the outputs of a sharded scan into one report.
    #[command(after_long_help = EXIT_HELP)]
    Merge(MergeArgs),
    /// Policy files (`policy init`).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Write a hardening script per host: iptables, nftables or ufw.
    #[command(after_long_help = FIX_HELP)]
    Fix(Box<FixArgs>),
    /// The service catalogue: ports, exposure, what each probe sends.
    Services(ServicesArgs),
    /// What a rule means: rationale, severity, the fix, references.
    Explain(ExplainArgs),
    /// Print shell completions: bash, zsh, fish, powershell, elvish.
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command (--dir).
    Man(ManArgs),
}

/// What `fix --help` says after the flags.
pub const FIX_HELP: &str =
    "Ports kept open: with a policy (--policy, or ./exposecheck.toml), the open
ports it expects; without one, the open ports among 22, 80 and 443 and any SSH
port. Every other port is dropped (loopback excepted), over IPv4 and IPv6.
Run the script with 'sh SCRIPT' (it restores the previous rules after 5 minutes
unless written with --no-reset-guard), then 'sh SCRIPT confirm' to keep them.

Exit codes:
  0    scripts written
  2    usage error, unreadable report, or no open port";

/// `exposecheck fix` flags: a report file or the scan's own flags.
#[derive(clap::Args, Debug, Clone)]
pub struct FixArgs {
    /// Write the scripts into DIR, one per host (harden-ADDRESS.FAMILY.sh).
    /// Without it the one host's script goes to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Do not arm the `at now + 5 minutes` reset that restores the previous
    /// rules unless the script is confirmed.
    #[arg(long = "no-reset-guard")]
    pub no_reset_guard: bool,

    /// The report (a --format json file) or the targets to scan; --firewall
    /// picks the family, --policy the ports kept open.
    #[command(flatten)]
    pub scan: Args,
}

/// `policy` subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum PolicyCommand {
    /// Write a policy expecting every open port a scan finds (review it).
    #[command(after_long_help = EXIT_HELP)]
    Init(Box<Args>),
}

/// `exposecheck merge` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// The shard outputs (NDJSON or JSON), one per shard.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Refuse shards whose start times lie further apart than DURATION
    /// (e.g. 90m, 36h, 7d; default 24h).
    #[arg(long = "max-skew", value_name = "DURATION", value_parser = max_skew_value)]
    pub max_skew: Option<String>,

    /// Output and verdict.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// `exposecheck services` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ServicesArgs {
    /// A service id: show its whole definition.
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// Also load services/*.toml definitions from DIR.
    #[arg(long = "services-dir", value_name = "DIR")]
    pub services_dir: Option<PathBuf>,
}

/// `exposecheck explain` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ExplainArgs {
    /// A rule id, e.g. redis-unauthenticated (see --list).
    #[arg(value_name = "RULE", required_unless_present = "list")]
    pub rule: Option<String>,
    /// List every rule id with its severity and title.
    #[arg(long, conflicts_with = "rule")]
    pub list: bool,
    /// Also load services/*.toml definitions from DIR.
    #[arg(long = "services-dir", value_name = "DIR")]
    pub services_dir: Option<PathBuf>,
}

/// `exposecheck completions` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, ignore_case = true)]
    pub shell: clap_complete::Shell,
}

/// `exposecheck man` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ManArgs {
    /// Write exposecheck.1 and one page per command (exposecheck-merge.1 ...) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Output and verdict flags, shared by scans and `merge`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReportArgs {
    /// Output format (any case; trivy's 'table' is human).
    #[arg(short = 'f', long, value_enum, ignore_case = true, help_heading = heading::OUTPUT)]
    pub format: Option<Format>,

    /// Shorthand for --format json.
    #[arg(long, conflicts_with_all = ["format", "ndjson"], help_heading = heading::OUTPUT)]
    pub json: bool,

    /// Shorthand for --format ndjson.
    #[arg(long, conflicts_with = "format", help_heading = heading::OUTPUT)]
    pub ndjson: bool,

    /// Write output to FILE ('-': stdout). A regular file is replaced atomically.
    #[arg(short = 'o', long = "output", value_name = "FILE", help_heading = heading::OUTPUT)]
    pub output: Option<PathBuf>,

    /// Also write FORMAT to FILE (repeatable). nmap's -oX FILE, -oN FILE and
    /// -oA BASE are spellings of it.
    #[arg(long = "write", value_name = "FORMAT=FILE", value_parser = write_value, help_heading = heading::OUTPUT)]
    pub write: Vec<(Format, PathBuf)>,

    /// Colour the terminal report: auto (a terminal, and NO_COLOR unset or empty), always, never.
    #[arg(long, value_enum, ignore_case = true, value_name = "WHEN", default_value = "auto", help_heading = heading::OUTPUT)]
    pub color: ColorChoice,

    /// Also list these states: closed,filtered (they are always counted).
    #[arg(long, value_name = "STATES", value_delimiter = ',', help_heading = heading::OUTPUT)]
    pub show: Vec<String>,

    /// Firewall whose commands the terminal report's fixes show (JSON keeps all).
    #[arg(long, value_enum, ignore_case = true, value_name = "TOOL", default_value = "iptables", help_heading = heading::OUTPUT)]
    pub firewall: FirewallTool,

    /// Show every fix variant and the evidence in full. The terminal report
    /// then gives all three firewall families and every note.
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = heading::OUTPUT)]
    pub verbose: u8,

    /// No progress or warnings on stderr (errors still print).
    #[arg(short, long, help_heading = heading::OUTPUT)]
    pub quiet: bool,

    /// Policy file of expected exposures. Default: ./exposecheck.toml when present.
    #[arg(long, value_name = "FILE", help_heading = heading::POLICY)]
    pub policy: Option<PathBuf>,

    /// Do not read ./exposecheck.toml.
    #[arg(long = "no-policy", conflicts_with = "policy", help_heading = heading::POLICY)]
    pub no_policy: bool,

    /// Diff against a previous JSON or NDJSON output. Findings are marked new or
    /// unchanged, and the ones gone are listed as resolved.
    #[arg(long, value_name = "FILE", help_heading = heading::POLICY)]
    pub baseline: Option<PathBuf>,

    /// With --baseline: list, and fail on, new findings only.
    #[arg(long = "only-new", requires = "baseline", help_heading = heading::POLICY)]
    pub only_new: bool,

    /// Exit 1 on a finding at or above LEVEL. LEVEL: critical, high, medium,
    /// low, info, or none (any case); default: the policy's fail_on, else high.
    #[arg(long = "fail-on", value_name = "LEVEL", help_heading = heading::POLICY)]
    pub fail_on: Option<String>,
}

/// Scan flags.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Targets: IPv4/IPv6 addresses, CIDRs, hostnames.
    #[arg(value_name = "TARGET", help_heading = heading::TARGETS)]
    pub targets: Vec<String>,

    /// Read targets from FILE ('-' for stdin); '#' comments and blank lines allowed. Also -iL.
    #[arg(long = "input-list", value_name = "FILE", help_heading = heading::TARGETS)]
    pub input_list: Vec<PathBuf>,

    /// Addresses, CIDRs or names to leave out (comma-separated).
    #[arg(long, value_name = "LIST", help_heading = heading::TARGETS)]
    pub exclude: Vec<String>,

    /// Read exclusions from FILE.
    #[arg(long = "exclude-file", value_name = "FILE", help_heading = heading::TARGETS)]
    pub exclude_file: Vec<PathBuf>,

    /// DNS timeout per name, in milliseconds.
    #[arg(long = "dns-timeout", value_name = "MS", default_value_t = 5000, help_heading = heading::TARGETS)]
    pub dns_timeout: u64,

    /// Most addresses kept per hostname.
    #[arg(long = "max-addrs-per-name", value_name = "N", default_value_t = 64, help_heading = heading::TARGETS)]
    pub max_addrs_per_name: usize,

    /// Scan a name that resolves to this machine's loopback (127.0.0.0/8, ::1);
    /// refused by default: loopback is not an outside view. Loopback addresses
    /// given as addresses are always scanned.
    #[arg(long = "allow-loopback", help_heading = heading::TARGETS)]
    pub allow_loopback: bool,

    /// Ports: 22,80,8000-8100; '-' (or -p-) for all 65535; nmap's T: and U:
    /// prefixes (U:53,161,T:22). Default: every TCP port a services/
    /// definition names, plus 22, 80, 443, and the UDP exposure set. A list
    /// without U: items scans TCP only.
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "SPEC",
        allow_hyphen_values = true,
        help_heading = heading::PORTS
    )]
    pub ports: Option<String>,

    /// Scan the N highest-ranked ports of exposecheck's own ranking.
    #[arg(long = "top-ports", value_name = "N", conflicts_with = "ports", help_heading = heading::PORTS)]
    pub top_ports: Option<usize>,

    /// UDP scan (nmap's -sU): unprefixed -p ports are UDP, and without -p
    /// the UDP exposure set alone is probed (no TCP sweep).
    #[arg(long = "udp", conflicts_with = "no_udp", help_heading = heading::PORTS)]
    pub udp: bool,

    /// Leave the UDP exposure set out of the default audit.
    #[arg(long = "no-udp", help_heading = heading::PORTS)]
    pub no_udp: bool,

    /// How long silent UDP ports are waited for, in milliseconds; they are
    /// re-sent once a second within it (the targets' ICMP rate limit
    /// answers about one closed port a second). A host silent on every UDP
    /// port, ICMP included, ends after 1.4 s.
    #[arg(long = "udp-wait", value_name = "MS", default_value_t = 2500, help_heading = heading::TIMING)]
    pub udp_wait: u64,

    /// A name whose DNS you control: UDP DNS ports are asked to resolve it
    /// recursively (an answer proves an open resolver end to end).
    #[arg(long = "dns-canary", value_name = "NAME", help_heading = heading::FINGERPRINT)]
    pub dns_canary: Option<String>,

    /// Output and verdict.
    #[command(flatten)]
    pub report: ReportArgs,

    /// Print the JSON Schema of --format json or of one --format ndjson line, and exit.
    #[arg(long = "print-schema", value_enum, value_name = "FORMAT", help_heading = heading::OUTPUT)]
    pub print_schema: Option<SchemaKind>,

    /// Timing profile: bounds for the adaptive timeout and retries (nmap's -T0..-T5 map onto it).
    #[arg(long, value_enum, ignore_case = true, default_value = "normal", help_heading = heading::TIMING)]
    pub timing: Timing,

    /// Ceiling on the adaptive connect timeout, in milliseconds.
    #[arg(long, value_name = "MS", help_heading = heading::TIMING)]
    pub timeout: Option<u64>,

    /// Ceiling on retransmissions of a timed-out connect (the adaptive
    /// timing allows more only while they pay off).
    #[arg(long, value_name = "N", help_heading = heading::TIMING)]
    pub retries: Option<u8>,

    /// Connect attempts per second, all hosts together.
    #[arg(long, value_name = "N", help_heading = heading::TIMING)]
    pub rate: Option<f64>,

    /// Connect attempts per second to one host.
    #[arg(long = "host-rate", value_name = "N", help_heading = heading::TIMING)]
    pub host_rate: Option<f64>,

    /// Connects in flight at most (default: from the open-file limit).
    #[arg(long, value_name = "N", help_heading = heading::TIMING)]
    pub concurrency: Option<usize>,

    /// Connects in flight at most to one host (default: the whole window).
    #[arg(long = "max-per-host", value_name = "N", help_heading = heading::TIMING)]
    pub max_per_host: Option<usize>,

    /// Sweep threads (default: one per CPU core, at most 8; sweeps of fewer
    /// than 8,192 probes use one).
    #[arg(long, value_name = "N", help_heading = heading::TIMING)]
    pub threads: Option<usize>,

    /// Sweep ports only; do not fingerprint open ports.
    #[arg(long = "no-fingerprint", help_heading = heading::FINGERPRINT)]
    pub no_fingerprint: bool,

    /// Also load services/*.toml definitions from DIR; a file whose id matches
    /// a built-in service replaces it.
    #[arg(long = "services-dir", value_name = "DIR", help_heading = heading::FINGERPRINT)]
    pub services_dir: Option<PathBuf>,

    /// Time budget to identify one open port, in milliseconds (all its
    /// connections and reads together); lost SYNs and segments the kernel
    /// resends extend it by their cost, up to half again.
    #[arg(long = "probe-timeout", value_name = "MS", default_value_t = 5000, help_heading = heading::FINGERPRINT)]
    pub probe_timeout: u64,

    /// Bytes read at most from one open port while identifying it.
    #[arg(long = "probe-bytes", value_name = "N", default_value_t = 65536, help_heading = heading::FINGERPRINT)]
    pub probe_bytes: usize,

    /// Send probes to printer ports 9100-9107 too (by default they only get a
    /// greeting read: printers print whatever they receive).
    #[arg(long = "probe-printers", help_heading = heading::FINGERPRINT)]
    pub probe_printers: bool,

    /// Skip the canary-port check that spots hosts answering on every port.
    #[arg(long = "no-canary", help_heading = heading::FINGERPRINT)]
    pub no_canary: bool,

    /// Check whether each host's SSH port limits new connections (opt-in):
    /// at most 10 paced connects per host, each reading the banner, sending
    /// an identification line and closing (no key exchange, no password).
    #[arg(long = "check-ssh-rate", help_heading = heading::FINGERPRINT)]
    pub check_ssh_rate: bool,

    /// With --check-ssh-rate: when the firewall blocks, wait SECONDS (at most
    /// 120) and connect once more to see whether the block lifts.
    #[arg(long = "ssh-rate-wait", value_name = "SECONDS", requires = "check_ssh_rate", help_heading = heading::FINGERPRINT)]
    pub ssh_rate_wait: Option<u64>,

    /// Key for the scan order (required for reproducible order and shards).
    #[arg(long, value_name = "N", help_heading = heading::SCALE)]
    pub seed: Option<u64>,

    /// Scan only shard K of N (0-based), e.g. 2/8. Shards of one scan need the
    /// same targets, ports and seed (derived from targets and ports when not given).
    #[arg(long, value_name = "K/N", help_heading = heading::SCALE)]
    pub shard: Option<String>,

    /// Split the scan into N shards and take the one named by $JOB_COMPLETION_INDEX
    /// (as a Kubernetes Indexed Job sets it).
    #[arg(long, value_name = "N", conflicts_with = "shard", help_heading = heading::SCALE)]
    pub shards: Option<u64>,

    /// Allow scanning more than 65,536 addresses.
    #[arg(long = "allow-large", help_heading = heading::SCALE)]
    pub allow_large: bool,
}

/// Parses `FORMAT=FILE` of `--write`.
fn write_value(s: &str) -> Result<(Format, PathBuf), String> {
    use clap::ValueEnum;
    let (f, path) = s
        .split_once('=')
        .filter(|(_, p)| !p.is_empty())
        .ok_or_else(|| format!("expected FORMAT=FILE, e.g. nmap-xml=scan.xml, not '{s}'"))?;
    let format = Format::from_str(f, true).map_err(|_| {
        format!(
            "unknown format '{f}': expected {}",
            Format::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    Ok((format, PathBuf::from(path)))
}

/// Timing profiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Timing {
    /// Long timeouts, up to 10 retries, one host at a time at 100 connects.
    Polite,
    /// The default.
    #[default]
    Normal,
    /// Short timeouts.
    Fast,
}

/// Where the port list comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortChoice {
    /// An explicit list.
    List(PortList),
    /// The default set (needs the service catalogue).
    Default,
}

/// Which UDP ports a run probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpChoice {
    /// None (`--no-udp`, or a `-p` list without `U:` items).
    None,
    /// The UDP exposure set (every UDP port a `services/` file names).
    Default,
    /// An explicit list.
    List(PortList),
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
    /// TCP ports.
    pub ports: PortChoice,
    /// UDP ports.
    pub udp: UdpChoice,
    /// How long silent UDP ports are waited for.
    pub udp_wait: Duration,
    /// `--dns-canary` name.
    pub dns_canary: Option<String>,
    /// Output and verdict settings.
    pub report: Reporting,
    /// Quiet stderr.
    pub quiet: bool,
    /// Sweep settings (windows, threads, timing, rates, order, shard).
    pub sweep: SweepSettings,
    /// Fingerprint open ports.
    pub fingerprint: bool,
    /// Fingerprint budgets and printer handling.
    pub probe: crate::fingerprint::Settings,
    /// Extra or overriding services files.
    pub services_dir: Option<PathBuf>,
    /// Run the canary-port check.
    pub canary: bool,
    /// `--check-ssh-rate`, with its settings.
    pub ssh_rate: Option<crate::pipeline::ssh_rate::Settings>,
    /// Allow > 65,536 addresses.
    pub allow_large: bool,
    /// DNS timeout per name.
    pub dns_timeout: Duration,
    /// Address cap per name.
    pub max_addrs_per_name: usize,
    /// Names may resolve to loopback.
    pub allow_loopback: bool,
}

/// `--check-ssh-rate` and `--ssh-rate-wait`, checked.
fn ssh_rate_settings(a: &Args) -> Result<Option<crate::pipeline::ssh_rate::Settings>, Error> {
    use crate::pipeline::ssh_rate::{Settings, MAX_WAIT};
    if !a.check_ssh_rate {
        return Ok(None);
    }
    let wait = match a.ssh_rate_wait {
        Some(w) => Some(Duration::from_secs(in_range(
            "--ssh-rate-wait",
            w,
            1,
            MAX_WAIT.as_secs(),
            " s",
        )?)),
        None => None,
    };
    Ok(Some(Settings { wait }))
}

/// Reads the targets of an `-iL` or `--exclude-file` file (`-`: stdin) line by
/// line, within the size bounds of [`targets::read_lines`].
fn read_targets(path: &PathBuf) -> Result<Vec<TargetSpec>, Error> {
    let source = path.display().to_string();
    let read = if path.as_os_str() == "-" {
        targets::read_lines(std::io::stdin().lock(), &source)
    } else {
        let f = std::fs::File::open(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        targets::read_lines(f, &source)
    };
    read.map_err(|e| match e {
        ListError::Target(t) => Error::Target(t),
        ListError::File(why) => Error::Read {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        },
    })
}

/// How a target list file is named in the report and in the scan's identity
/// (the derived seed, `merge`'s checks): its path and a digest of the targets
/// it held, so that shards which read different lists at one path differ.
fn list_label(path: &std::path::Path, specs: &[TargetSpec]) -> String {
    use sha2::{Digest, Sha256};
    let mut canon: Vec<String> = specs
        .iter()
        .map(|s| match s {
            TargetSpec::Addr(a) => a.to_string(),
            TargetSpec::Net(n) => n.to_string(),
            TargetSpec::Name(n) => n.to_ascii_lowercase(),
        })
        .collect();
    canon.sort();
    canon.dedup();
    let d = Sha256::digest(canon.join("\n"));
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("@{} (sha256:{hex})", path.display())
}

/// Standard input can be read once: refuses two flags asking for `-`.
fn stdin_once(a: &Args) -> Result<(), Error> {
    let mut readers: Vec<&str> = Vec::new();
    for (flag, paths) in [("-iL", &a.input_list), ("--exclude-file", &a.exclude_file)] {
        readers.extend(paths.iter().filter(|p| p.as_os_str() == "-").map(|_| flag));
    }
    if readers.len() > 1 {
        return Err(Error::Usage(format!(
            "standard input ('-') can be read once per run, but {} all ask for it; write one of the lists to a file",
            readers.join(" and ")
        )));
    }
    Ok(())
}

/// Checks `v` of `flag` lies in `lo..=hi`.
fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    flag: &str,
    v: T,
    lo: T,
    hi: T,
    unit: &str,
) -> Result<T, Error> {
    if v < lo || v > hi {
        return Err(Error::Usage(format!(
            "invalid value '{v}' for {flag}: must be {lo} to {hi}{unit}"
        )));
    }
    Ok(v)
}

/// Bounds of the numeric flags: wide enough for any real scan, narrow
/// enough that no duration or buffer derived from them overflows.
pub mod bounds {
    /// Connects per second (`--rate`, `--host-rate`).
    pub const RATE: (f64, f64) = (0.001, 10_000_000.0);
    /// Connect timeout ceiling, ms.
    pub const TIMEOUT_MS: (u64, u64) = (1, 3_600_000);
    /// Probe budget per port, ms.
    pub const PROBE_TIMEOUT_MS: (u64, u64) = (100, 3_600_000);
    /// DNS timeout per name, ms.
    pub const DNS_TIMEOUT_MS: (u64, u64) = (1, 600_000);
    /// `--udp-wait`, milliseconds.
    pub const UDP_WAIT_MS: (u64, u64) = (100, 60_000);
    /// Bytes read per port.
    pub const PROBE_BYTES: (usize, usize) = (256, 64 << 20);
    /// Connects in flight (`--concurrency`, `--max-per-host`).
    pub const WINDOW: (usize, usize) = (1, 1_000_000);
    /// Sweep threads.
    pub const THREADS: (usize, usize) = (1, 256);
    /// Addresses kept per name.
    pub const ADDRS_PER_NAME: (usize, usize) = (1, 1_000_000);
}

fn probe_settings(a: &Args) -> Result<crate::fingerprint::Settings, Error> {
    let (lo, hi) = bounds::PROBE_TIMEOUT_MS;
    in_range("--probe-timeout", a.probe_timeout, lo, hi, " ms")?;
    let (lo, hi) = bounds::PROBE_BYTES;
    in_range("--probe-bytes", a.probe_bytes, lo, hi, " bytes")?;
    Ok(crate::fingerprint::Settings {
        timeout: Duration::from_millis(a.probe_timeout),
        max_bytes: a.probe_bytes,
        probe_printers: a.probe_printers,
    })
}

/// A connect rate: a finite number of connects per second within [`bounds::RATE`].
fn rate(name: &str, v: Option<f64>) -> Result<Option<f64>, Error> {
    let (lo, hi) = bounds::RATE;
    match v {
        Some(r) if !(r.is_finite() && (lo..=hi).contains(&r)) => {
            // 5e-324 as typed, not as 324 digits.
            let shown = if r != 0.0 && r.is_finite() && !(1e-3..1e9).contains(&r.abs()) {
                format!("{r:e}")
            } else {
                r.to_string()
            };
            Err(Error::Usage(format!(
                "invalid value '{shown}' for {name}: must be {lo} to {hi} connects per second"
            )))
        }
        other => Ok(other),
    }
}

/// Parses `K/N` (0-based K, at most [`MAX_SHARDS`] shards).
pub fn parse_shard(s: &str) -> Result<Shard, Error> {
    Shard::parse(s).ok_or_else(|| {
        Error::Usage(format!(
            "invalid value '{s}' for --shard: expected K/N with 0 <= K < N <= {MAX_SHARDS}, e.g. 0/4"
        ))
    })
}

/// Output and verdict settings, shared by scans and `merge`.
#[derive(Clone, Debug)]
pub struct Reporting {
    /// Output format.
    pub format: Format,
    /// Output file (stdout when none).
    pub output: Option<PathBuf>,
    /// When to colour human output.
    pub color: ColorChoice,
    /// Listed states.
    pub show: Show,
    /// Policy file to read (explicit, or ./exposecheck.toml when present).
    pub policy: Option<PathBuf>,
    /// Baseline to compare with.
    pub baseline: Option<PathBuf>,
    /// Only new findings are listed and gate the exit code.
    pub only_new: bool,
    /// Explicit `--fail-on`.
    pub fail_on: Option<FailOn>,
    /// More outputs: `--write FORMAT=FILE`, nmap's `-oX`, `-oN`, `-oA`.
    pub also: Vec<(Format, PathBuf)>,
    /// The firewall family the human report's fixes are written in.
    pub firewall: FirewallTool,
    /// `-v`: the human report shows every variant and the evidence.
    pub verbose: bool,
}

impl Reporting {
    /// Checks the output and verdict flags.
    pub fn from_args(a: &ReportArgs) -> Result<Reporting, Error> {
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
        Ok(Reporting {
            format,
            output: a.output.clone(),
            color: a.color,
            show,
            policy: match (&a.policy, a.no_policy) {
                (Some(p), _) => Some(p.clone()),
                (None, false) if std::path::Path::new(DEFAULT_POLICY).is_file() => {
                    Some(PathBuf::from(DEFAULT_POLICY))
                }
                _ => None,
            },
            baseline: a.baseline.clone(),
            only_new: a.only_new,
            also: a.write.clone(),
            firewall: a.firewall,
            verbose: a.verbose > 0,
            fail_on: match &a.fail_on {
                None => None,
                Some(s) => Some(FailOn::parse(s).ok_or_else(|| {
                    Error::Usage(format!(
                        "invalid value '{s}' for --fail-on: expected critical, high, medium, low, info or none"
                    ))
                })?),
            },
        })
    }
}

/// `90m`, `36h`, `7d`, `3600s` (or bare seconds) in seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let n: i64 = num.parse().ok()?;
    // A century at most: any larger window is "no limit" anyway.
    n.checked_mul(scale).filter(|&v| v <= 100 * 366 * 86_400)
}

/// Checks a `--max-skew` value (`90m`, `36h`, `7d` or seconds) wherever it is given.
fn max_skew_value(s: &str) -> Result<String, String> {
    parse_duration(s)
        .map(|_| s.to_string())
        .ok_or_else(|| "not a duration: write 90m, 36h, 7d or a number of seconds".into())
}

/// Targets as typed (for the report), parsed targets, parsed exclusions.
type TargetSpecs = (Vec<String>, Vec<TargetSpec>, Vec<TargetSpec>);

/// Reads the targets and exclusions the flags name (files read here).
fn target_specs(a: &Args) -> Result<TargetSpecs, Error> {
    stdin_once(a)?;
    let mut target_text = a.targets.clone();
    let mut specs = Vec::new();
    for t in &a.targets {
        specs.extend(targets::parse_list(t)?);
    }
    for path in &a.input_list {
        let from_file = read_targets(path)?;
        target_text.push(list_label(path, &from_file));
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
        excludes.extend(read_targets(path)?);
    }
    Ok((target_text, specs, excludes))
}

/// The timing profile with `--timeout` and `--retries` applied.
fn timing_profile(a: &Args) -> Result<TimingProfile, Error> {
    let mut timing = match a.timing {
        Timing::Polite => TimingProfile::POLITE,
        Timing::Normal => TimingProfile::NORMAL,
        Timing::Fast => TimingProfile::FAST,
    };
    if let Some(ms) = a.timeout {
        let (lo, hi) = bounds::TIMEOUT_MS;
        in_range("--timeout", ms, lo, hi, " ms")?;
        let t = Duration::from_millis(ms);
        timing.max_timeout = t;
        timing.initial_timeout = timing.initial_timeout.min(t);
        timing.min_timeout = timing.min_timeout.min(t);
        timing.blind_life = timing.blind_life.min(t);
        timing.rescue_life = timing.rescue_life.min(t);
    }
    if let Some(r) = a.retries {
        timing.max_retries = r;
    }
    Ok(timing)
}

/// The TCP and UDP ports of `-p`, `--top-ports`, `--udp` and `--no-udp`.
fn port_choice(a: &Args) -> Result<(PortChoice, UdpChoice), Error> {
    let default_udp = if a.no_udp {
        UdpChoice::None
    } else {
        UdpChoice::Default
    };
    Ok(match (&a.ports, a.top_ports) {
        (Some(spec), _) => {
            let s = ports::parse_spec(spec, a.udp)?;
            let udp = if s.udp.is_empty() || a.no_udp {
                UdpChoice::None
            } else {
                UdpChoice::List(s.udp)
            };
            (PortChoice::List(s.tcp), udp)
        }
        (None, Some(0)) => {
            return Err(Error::Usage(
                "invalid value '0' for --top-ports: must be 1 to 65535".into(),
            ))
        }
        (None, Some(n)) if n > 65535 => {
            return Err(Error::Usage(format!(
                "invalid value '{n}' for --top-ports: must be 1 to 65535"
            )))
        }
        (None, Some(n)) if a.udp => (
            PortChoice::List(PortList::default()),
            UdpChoice::List(ports::top_ports(n)),
        ),
        (None, Some(n)) => (PortChoice::List(ports::top_ports(n)), default_udp),
        (None, None) if a.udp => (PortChoice::List(PortList::default()), UdpChoice::Default),
        (None, None) => (PortChoice::Default, default_udp),
    })
}

/// A `--dns-canary` name: labels of letters, digits, `-` and `_`, at most
/// 63 bytes each and 253 in all.
fn check_dns_name(n: &str) -> Result<(), Error> {
    let name = n.trim_end_matches('.');
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid value '{}' for --dns-canary: a DNS name such as canary.example.org",
            crate::output::terminal_safe(n)
        )))
    }
}

impl Config {
    /// Checks the flags and reads the input files.
    pub fn from_args(a: Args) -> Result<Config, Error> {
        let (target_text, specs, excludes) = target_specs(&a)?;
        let (ports, udp) = port_choice(&a)?;
        let (lo, hi) = bounds::UDP_WAIT_MS;
        in_range("--udp-wait", a.udp_wait, lo, hi, " ms")?;
        if let Some(n) = &a.dns_canary {
            check_dns_name(n)?;
        }
        let report = Reporting::from_args(&a.report)?;
        let timing = timing_profile(&a)?;
        let mut max_per_host = a.max_per_host;
        if a.timing == Timing::Polite && max_per_host.is_none() {
            max_per_host = Some(100);
        }
        for (name, v, (lo, hi)) in [
            ("--concurrency", a.concurrency, bounds::WINDOW),
            ("--max-per-host", a.max_per_host, bounds::WINDOW),
            ("--threads", a.threads, bounds::THREADS),
        ] {
            if let Some(v) = v {
                in_range(name, v, lo, hi, "")?;
            }
        }
        let shard = match (&a.shard, a.shards) {
            (Some(s), _) => parse_shard(s)?,
            (None, Some(n)) => {
                let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                    Error::Usage("--shards needs JOB_COMPLETION_INDEX in the environment (or use --shard K/N)".into())
                })?;
                parse_shard(&format!("{}/{n}", index.trim()))?
            }
            (None, None) => Shard::default(),
        };
        let (lo, hi) = bounds::ADDRS_PER_NAME;
        in_range("--max-addrs-per-name", a.max_addrs_per_name, lo, hi, "")?;
        let (lo, hi) = bounds::DNS_TIMEOUT_MS;
        in_range("--dns-timeout", a.dns_timeout, lo, hi, " ms")?;
        Ok(Config {
            target_text,
            targets: specs,
            excludes,
            ports,
            udp,
            udp_wait: Duration::from_millis(a.udp_wait),
            dns_canary: a.dns_canary.clone(),
            report,
            quiet: a.report.quiet,
            sweep: SweepSettings {
                concurrency: a.concurrency,
                max_per_host,
                threads: a.threads.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
                }),
                timing,
                rate: rate("--rate", a.rate)?,
                host_rate: rate("--host-rate", a.host_rate)?,
                seed: a.seed,
                shard,
            },
            fingerprint: !a.no_fingerprint,
            probe: probe_settings(&a)?,
            services_dir: a.services_dir.clone(),
            canary: !a.no_canary,
            ssh_rate: ssh_rate_settings(&a)?,
            allow_large: a.allow_large,
            dns_timeout: Duration::from_millis(a.dns_timeout),
            max_addrs_per_name: a.max_addrs_per_name,
            allow_loopback: a.allow_loopback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, Error> {
        use clap::CommandFactory;
        let argv = std::iter::once("exposecheck")
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from)
            .collect();
        let argv = habits::translate(argv, &Cli::command())?;
        let cli = Cli::try_parse_from(argv).map_err(|e| Error::Usage(e.to_string()))?;
        Config::from_args(cli.scan)
    }

    #[test]
    fn nmap_style_spellings() {
        let c = parse(&["-p-", "198.18.0.2"]).unwrap();
        assert_eq!(c.ports, PortChoice::List(PortList::all()));
        let c = parse(&["-p", "22,80", "--json", "198.18.0.0/30"]).unwrap();
        assert_eq!(c.report.format, Format::Json);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts.txt");
        std::fs::write(&f, "# x\n198.18.0.1\n\n").unwrap();
        let c = parse(&["-iL", f.to_str().unwrap()]).unwrap();
        assert_eq!(c.targets.len(), 1);
    }

    #[test]
    fn input_lists_are_named_by_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts.txt");
        let label = |text: &str| {
            std::fs::write(&f, text).unwrap();
            parse(&["-iL", f.to_str().unwrap()]).unwrap().target_text
        };
        let a = label("198.18.0.1\n198.18.0.2\n");
        assert_eq!(a, label("# same\n198.18.0.2\n\n198.18.0.1\n"));
        assert_ne!(a, label("198.18.0.3\n"), "same path, other targets");
        assert!(
            a[0].starts_with(&format!("@{} (sha256:", f.display())),
            "{a:?}"
        );
    }

    #[test]
    fn bad_values_name_the_token() {
        let e = parse(&["-p", "22,99999", "198.18.0.2"]).unwrap_err();
        assert!(e.to_string().contains("99999"), "{e}");
        let e = parse(&["198.18.0.300"]).unwrap_err();
        assert!(e.to_string().contains("198.18.0.300"), "{e}");
        let e = parse(&["--shard", "4/4", "198.18.0.1"]).unwrap_err();
        assert!(e.to_string().contains("4/4"), "{e}");
        for bad in ["0/65537", "0/1000000000000", "-1/2", "1/0", "5/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_shard("65535/65536").unwrap().index, 65535);
        let e = parse(&["--show", "opne", "198.18.0.1"]).unwrap_err();
        assert!(e.to_string().contains("opne"), "{e}");
        let e = parse(&["-iL", "/nonexistent/hosts"]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/hosts"), "{e}");
        assert!(parse(&["224.0.0.1"]).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(&["--rate", "0", "198.18.0.1"]).is_err());
    }

    #[test]
    fn numeric_extremes_are_usage_errors() {
        let max = u64::MAX.to_string();
        let huge = usize::MAX.to_string();
        for (flag, v) in [
            ("--rate", "1e-20"),
            ("--rate", "5e-324"),
            ("--rate", "inf"),
            ("--rate", "NaN"),
            ("--rate", "-1"),
            ("--rate", "1e300"),
            ("--host-rate", "1e-20"),
            ("--host-rate", "0"),
            ("--timeout", "0"),
            ("--timeout", &max),
            ("--probe-timeout", &max),
            ("--dns-timeout", "0"),
            ("--dns-timeout", &max),
            ("--probe-bytes", &huge),
            ("--concurrency", &huge),
            ("--max-per-host", &huge),
            ("--threads", "0"),
            ("--threads", &huge),
            ("--max-addrs-per-name", &huge),
        ] {
            let e = parse(&[&format!("{flag}={v}"), "198.18.0.1"]).unwrap_err();
            let shown = e.to_string();
            assert!(
                shown.contains(flag) && shown.contains(" to "),
                "{flag} {v}: {shown}"
            );
            assert_eq!(e.exit_code(), 2);
        }
        let c = parse(&[
            "--rate",
            "0.001",
            "--host-rate",
            "1e7",
            "--timeout",
            "3600000",
            "198.18.0.1",
        ])
        .unwrap();
        assert_eq!(c.sweep.rate, Some(0.001));
        assert_eq!(c.sweep.timing.max_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn stdin_is_read_once() {
        let e = parse(&["-iL", "-", "--exclude-file", "-"]).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("-iL and --exclude-file"), "{shown}");
        let e = parse(&["-iL", "-", "-iL", "-"]).unwrap_err();
        assert!(e.to_string().contains("once"), "{e}");
    }

    #[test]
    fn allow_loopback_is_a_flag() {
        assert!(!parse(&["198.18.0.1"]).unwrap().allow_loopback);
        assert!(
            parse(&["--allow-loopback", "198.18.0.1"])
                .unwrap()
                .allow_loopback
        );
    }
}
