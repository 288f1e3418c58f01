//! `exposecheck merge FILES...`: joins the NDJSON outputs of the shards of one
//! scan and produces the same outputs and exit code a single run would, every
//! result re-judged once with the policy and baseline given to the merge.
//!
//! The files are read twice, each time one record at a time
//! ([`crate::reader`]): a first pass keeps only each shard's summary,
//! record counts and SHA-256, and checks that the shards form one complete
//! scan; the second streams the records into the output. Memory is what the
//! output needs (host verdicts), whatever the size of the shards.
//!
//! Refused, exit 2: a shard marker that is not `K/N` with `K < N <=`
//! [`MAX_SHARDS`]; shards of different scans (targets, with the digest of
//! every `-iL` list, ports, seed, shard count); two different files for one
//! shard (byte-identical copies count once); shards whose start times lie
//! more than `--max-skew` apart (default [`DEFAULT_MAX_SKEW`]); a shard that
//! lists more ports of a state than its summary counts. Refused, exit 3: a
//! missing shard, an interrupted or unresolved one, a file cut short (no
//! summary, or cut inside a record).

use super::dual_stack_pair;
use super::report::{self, Ending, Reporter};
use crate::catalog::Catalog;
use crate::cli::{parse_duration, MergeArgs, Reporting};
use crate::error::Error;
use crate::model::{Coverage, HostVerdict, PortResult, ServiceNote, StateCounts};
use crate::output::{parse_rfc3339, terminal_safe, ScanMeta};
use crate::ports;
use crate::reader::{ReadError, Source};
use crate::scan::order::{Shard, MAX_SHARDS};
use crate::targets::TargetSpec;
use crate::verdict::policy::{Entry, HostMatch};
use crate::verdict::{Context, Judge, Settings};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

/// Largest gap between the start times of two shards of one scan, unless
/// `--max-skew` says otherwise: 24 hours, in seconds.
pub const DEFAULT_MAX_SKEW: i64 = 24 * 3600;

/// The part of a shard's summary record that `merge` uses (the rest is skipped).
#[derive(Deserialize, Debug, Default, Clone)]
pub struct ShardSummary {
    /// Scan facts.
    pub scan: ScanMeta,
    /// Coverage counts.
    pub coverage: Coverage,
    /// Cut short by a signal.
    #[serde(default)]
    pub interrupted: bool,
}

/// One record of a shard's NDJSON, decoded only as far as `merge` needs it.
#[derive(Debug)]
enum Record {
    Port(Box<PortResult>),
    Host(HostVerdict),
    Summary(Box<ShardSummary>),
    Other,
}

impl Record {
    /// A record whose `type` was not its first field (not written by
    /// exposecheck, which puts it first): decoded from the buffered object.
    fn from_object(obj: serde_json::Map<String, serde_json::Value>) -> serde_json::Result<Record> {
        let kind = obj.get("type").and_then(|t| t.as_str()).map(str::to_owned);
        let v = serde_json::Value::Object(obj);
        Ok(match kind.as_deref() {
            Some("port") => Record::Port(Box::new(serde_json::from_value(v)?)),
            Some("host") => Record::Host(serde_json::from_value(v)?),
            Some("summary") => Record::Summary(Box::new(serde_json::from_value(v)?)),
            _ => Record::Other,
        })
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        d.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an exposecheck NDJSON record (an object with a type)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Record::Other);
        };
        if first != "type" {
            let mut obj = serde_json::Map::new();
            obj.insert(first, map.next_value()?);
            while let Some((k, v)) = map.next_entry()? {
                obj.insert(k, v);
            }
            return Record::from_object(obj).map_err(de::Error::custom);
        }
        let kind: String = map.next_value()?;
        let rest = MapAccessDeserializer::new(map);
        Ok(match kind.as_str() {
            "port" => Record::Port(Box::new(PortResult::deserialize(rest)?)),
            "host" => Record::Host(HostVerdict::deserialize(rest)?),
            "summary" => Record::Summary(Box::new(ShardSummary::deserialize(rest)?)),
            _ => {
                IgnoredAny::deserialize(rest)?;
                Record::Other
            }
        })
    }
}

/// Port records a shard lists, per state (unresolved ones make a shard
/// incomplete).
pub type Listed = StateCounts;

/// What the first pass learns about one shard file.
#[derive(Debug, Clone)]
pub struct ShardFile {
    /// The file as given.
    pub file: String,
    /// SHA-256 of its bytes.
    pub digest: [u8; 32],
    /// Its summary record.
    pub summary: ShardSummary,
    /// Its port records, counted.
    pub listed: Listed,
}

/// The error for a record that could not be read.
fn read_error(file: &str, e: ReadError) -> Error {
    match e {
        ReadError::Io(source) => Error::Read {
            path: file.into(),
            source,
        },
        ReadError::Truncated { line } => Error::Incomplete(format!(
            "{file} line {line}: cut short inside a record (the shard did not finish writing)"
        )),
        ReadError::Malformed { line, msg } => Error::Usage(format!(
            "{file} line {line}: not exposecheck NDJSON ({})",
            terminal_safe(&msg)
        )),
    }
}

/// Opens one shard file.
fn open(file: &str) -> Result<Source<std::fs::File>, Error> {
    Source::open(Path::new(file)).map_err(|source| Error::Read {
        path: file.into(),
        source,
    })
}

/// First pass over one file: its summary, counts and digest.
pub fn scan_file(file: &str) -> Result<ShardFile, Error> {
    let mut src = open(file)?;
    if !src.is_file() {
        return Err(Error::Usage(format!(
            "{file}: not a regular file (merge reads each shard twice; save it to a file first)"
        )));
    }
    let mut listed = Listed::default();
    let mut summary = None;
    for rec in src.values::<Record>() {
        match rec.map_err(|e| read_error(file, e))? {
            Record::Port(r) => listed.add(r.state),
            Record::Summary(s) => {
                if summary.replace(*s).is_some() {
                    return Err(Error::Usage(format!(
                        "{file}: two summary records; not the output of one shard"
                    )));
                }
            }
            Record::Host(_) | Record::Other => {}
        }
    }
    let summary = summary.ok_or_else(|| {
        Error::Incomplete(format!(
            "{file}: no summary record (the shard did not finish)"
        ))
    })?;
    Ok(ShardFile {
        file: file.into(),
        digest: src.digest(),
        summary,
        listed,
    })
}

/// A value read from a file, made safe and short for an error line.
fn quoted(s: &str) -> String {
    let short: String = s.chars().take(40).collect();
    let more = if short.len() < s.len() { "..." } else { "" };
    format!("'{}{more}'", terminal_safe(&short))
}

/// The shard a file says it is.
fn marker(f: &ShardFile) -> Result<Shard, Error> {
    Shard::parse(&f.summary.scan.shard).ok_or_else(|| {
        Error::Usage(format!(
            "{}: shard marker {} is not K/N with 0 <= K < N <= {MAX_SHARDS}",
            f.file,
            quoted(&f.summary.scan.shard)
        ))
    })
}

/// Start time in Unix seconds.
fn start_of(f: &ShardFile) -> Result<i64, Error> {
    parse_rfc3339(&f.summary.scan.start).ok_or_else(|| {
        Error::Usage(format!(
            "{}: start time {} is not YYYY-MM-DDTHH:MM:SSZ",
            f.file,
            quoted(&f.summary.scan.start)
        ))
    })
}

/// Seconds as `3d 4h 5m 6s`, largest units first, zero units left out.
fn human(secs: i64) -> String {
    let parts = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut rest = secs;
    let mut out = Vec::new();
    for (unit, name) in parts {
        if rest >= unit {
            out.push(format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    if out.is_empty() {
        "0s".into()
    } else {
        out.join(" ")
    }
}

/// Checks that the files form one scan and returns, for each shard 0..N-1,
/// the index of the file to read. Configuration faults (exit 2) are reported
/// before incompleteness (exit 3).
pub fn check_complete(files: &[ShardFile], max_skew: i64) -> Result<Vec<usize>, Error> {
    let first = files
        .first()
        .ok_or_else(|| Error::Usage("merge needs shard files".into()))?;
    let n = marker(first)?.count;
    let mut slots: Vec<Option<usize>> = vec![None; n as usize];
    for (i, f) in files.iter().enumerate() {
        let shard = marker(f)?;
        let (s, s0) = (&f.summary.scan, &first.summary.scan);
        if shard.count != n || s.seed != s0.seed || s.ports != s0.ports || s.targets != s0.targets {
            return Err(Error::Usage(format!(
                "{} is shard {}/{} of another scan (targets, -iL contents, ports, seed or shard count differ from {})",
                f.file, shard.index, shard.count, first.file
            )));
        }
        match slots[shard.index as usize] {
            Some(j) if files[j].digest == f.digest => continue,
            Some(j) => {
                return Err(Error::Usage(format!(
                    "{} and {} are both shard {}/{n} and differ; give one of them",
                    files[j].file, f.file, shard.index
                )))
            }
            None => slots[shard.index as usize] = Some(i),
        }
        let (c, l) = (&f.summary.coverage, f.listed);
        if l.open > c.open
            || l.closed > c.closed
            || l.filtered > c.filtered
            || l.unresolved > c.unresolved
        {
            return Err(Error::Usage(format!(
                "{}: lists more ports than its summary counts (a record repeated, or the file edited)",
                f.file
            )));
        }
    }
    let chosen: Vec<usize> = slots.iter().flatten().copied().collect();
    check_skew(files, &chosen, max_skew)?;
    for &i in &chosen {
        let f = &files[i];
        if f.summary.interrupted || f.summary.scan.interrupted || f.summary.coverage.unresolved > 0
        {
            return Err(Error::Incomplete(format!(
                "{}: shard {} is incomplete (interrupted or unresolved ports)",
                f.file, f.summary.scan.shard
            )));
        }
    }
    let missing: Vec<String> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(k, _)| k.to_string())
        .take(20)
        .collect();
    if !missing.is_empty() {
        let total = slots.iter().filter(|s| s.is_none()).count();
        let more = if total > missing.len() { ", ..." } else { "" };
        return Err(Error::Incomplete(format!(
            "shards missing: {}{more} ({total} of {n})",
            missing.join(", ")
        )));
    }
    Ok(chosen)
}

/// Refuses shards whose start times lie more than `max_skew` seconds apart.
fn check_skew(files: &[ShardFile], chosen: &[usize], max_skew: i64) -> Result<(), Error> {
    let mut starts = Vec::with_capacity(chosen.len());
    for &i in chosen {
        starts.push((start_of(&files[i])?, i));
    }
    let (Some(&(lo, a)), Some(&(hi, b))) = (starts.iter().min(), starts.iter().max()) else {
        return Ok(());
    };
    if hi - lo > max_skew {
        return Err(Error::Usage(format!(
            "{} started {} after {}, more than --max-skew {}: not one scan (a larger --max-skew merges them anyway)",
            files[b].file,
            human(hi - lo),
            files[a].file,
            human(max_skew)
        )));
    }
    Ok(())
}

/// Which policy entries name a host the shards reported on (the stale-entry
/// check needs it), found by lookups so memory is the policy's, not the scan's.
struct Scope<'p> {
    entries: &'p [Entry],
    hit: Vec<bool>,
    /// Entry index by its line (each entry starts on a line of its own).
    by_line: HashMap<u32, usize>,
    by_addr: HashMap<IpAddr, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
    nets: Vec<usize>,
}

impl<'p> Scope<'p> {
    fn new(entries: &'p [Entry]) -> Scope<'p> {
        let mut s = Scope {
            entries,
            hit: vec![false; entries.len()],
            by_line: HashMap::new(),
            by_addr: HashMap::new(),
            by_name: HashMap::new(),
            nets: Vec::new(),
        };
        for (i, e) in entries.iter().enumerate() {
            s.by_line.insert(e.at.line, i);
            match &e.host {
                HostMatch::Addr(a) => s.by_addr.entry(*a).or_default().push(i),
                HostMatch::Name(n) => s.by_name.entry(n.to_ascii_lowercase()).or_default().push(i),
                HostMatch::Net(_) => s.nets.push(i),
            }
        }
        s
    }

    /// A record about `ip`, reached through `name`.
    fn see(&mut self, ip: IpAddr, name: Option<&str>) {
        if let Some(is) = self.by_addr.remove(&ip) {
            is.into_iter().for_each(|i| self.hit[i] = true);
        }
        if let Some(is) = name.and_then(|n| self.by_name.remove(&n.to_ascii_lowercase())) {
            is.into_iter().for_each(|i| self.hit[i] = true);
        }
        let (entries, hit) = (self.entries, &mut self.hit);
        self.nets.retain(|&i| match &entries[i].host {
            HostMatch::Net(net) if net.contains(&ip) => {
                hit[i] = true;
                false
            }
            _ => true,
        });
    }

    /// Whether `e` (an entry of the same policy) names a host some record
    /// was about.
    fn covers(&self, e: &Entry) -> bool {
        self.by_line.get(&e.at.line).is_some_and(|&i| self.hit[i])
    }
}

/// Runs `merge` over `a.files` with the output and verdict flags of `a`.
pub fn run(a: MergeArgs) -> Result<u8, Error> {
    let report: Reporting = Reporting::from_args(&a.report)?;
    if a.files.is_empty() {
        return Err(Error::Usage(
            "merge needs the shard NDJSON files to merge".into(),
        ));
    }
    let max_skew = match &a.max_skew {
        None => DEFAULT_MAX_SKEW,
        Some(s) => parse_duration(s).ok_or_else(|| {
            Error::Usage(format!(
                "invalid value '{s}' for --max-skew: expected a duration such as 90m, 36h or 7d"
            ))
        })?,
    };
    let files = a
        .files
        .iter()
        .map(|f| scan_file(&f.to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()?;
    let chosen = check_complete(&files, max_skew)?;
    let (policy, baseline) = report::verdict_inputs(&report)?;
    let mut reporter = Reporter::for_run(&report, None)?;
    // The earliest shard's facts stand for the whole scan.
    let earliest = chosen
        .iter()
        .copied()
        .min_by_key(|&i| parse_rfc3339(&files[i].summary.scan.start))
        .expect("check_complete returns every shard");
    let mut meta = files[earliest].summary.scan.clone();
    let specs: Vec<_> = meta
        .targets
        .iter()
        .filter_map(|t| crate::targets::parse_target(t).ok())
        .collect();
    let entries = policy.as_ref().map_or(Vec::new(), |p| p.entries.clone());
    let settings = Settings {
        fail_on: report.fail_on,
        only_new: report.only_new,
        all_hosts: false,
        pairs: dual_stack_pair(&specs),
    };
    let mut judge = Judge::new(&Catalog::builtin(), policy, baseline, settings);
    let mut scope = Scope::new(&entries);
    let mut seen_ips: HashSet<IpAddr> = HashSet::new();
    let mut coverage = Coverage::default();
    for &i in &chosen {
        coverage.add(&files[i].summary.coverage);
    }
    coverage.unresolved_hosts.sort();
    coverage.unresolved_hosts.dedup();
    'files: for &i in &chosen {
        let f = &files[i];
        let mut src = open(&f.file)?;
        for rec in src.values::<Record>() {
            match rec.map_err(|e| read_error(&f.file, e))? {
                Record::Port(mut r) => {
                    scope.see(r.ip, r.host.as_deref());
                    seen_ips.insert(r.ip);
                    // The shard judged this port on an every-port host as such.
                    let every_port = r.service.as_ref().and_then(|s| s.note)
                        == Some(ServiceNote::HostAnswersEveryPort);
                    let cx = if every_port {
                        Context::EveryPortHost
                    } else {
                        Context::Plain
                    };
                    let listed = judge.port(&mut r, cx);
                    if !reporter.port(&r, listed) {
                        // The output is gone; `finish` reports why.
                        break 'files;
                    }
                }
                Record::Host(h) => {
                    scope.see(h.ip, h.host.as_deref());
                    seen_ips.insert(h.ip);
                    judge.host_counts(&h);
                }
                Record::Summary(_) | Record::Other => {}
            }
        }
        if src.digest() != f.digest {
            return Err(Error::Usage(format!(
                "{} changed while merge was reading it",
                f.file
            )));
        }
    }
    let ports = ports::parse_spec(&meta.ports, false).unwrap_or_default();
    let in_scope = |e: &Entry| e.ports_in(&ports) && scope.covers(e);
    // Every shard is here: a baseline finding on the scan's ports of an
    // address the targets name (or a shard reported) was probed.
    judge.probed_where(|ip, port| {
        port.is_none_or(|p| ports.tcp.contains(p) || ports.udp.contains(p))
            && (seen_ips.contains(&ip)
                || specs.iter().any(|t| match t {
                    TargetSpec::Addr(a) => {
                        crate::targets::canonical(*a) == crate::targets::canonical(ip)
                    }
                    TargetSpec::Net(n) => n.contains(&ip),
                    TargetSpec::Name(_) => false,
                }))
    });
    meta.shard = format!("all/{}", chosen.len());
    meta.interrupted = false;
    reporter.finish(
        judge,
        Ending {
            meta,
            coverage,
            interrupted: false,
            in_scope: &in_scope,
            warn: &|m| super::warn(a.report.quiet, None, m),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, shard: &str, seed: u64, start: &str) -> ShardFile {
        let mut s = ShardSummary::default();
        s.scan.shard = shard.into();
        s.scan.seed = seed;
        s.scan.ports = "1-100".into();
        s.scan.start = start.into();
        ShardFile {
            file: name.into(),
            digest: [name.len() as u8; 32],
            summary: s,
            listed: Listed::default(),
        }
    }

    const T0: &str = "2026-12-01T00:00:00Z";

    fn check(files: &[ShardFile]) -> Result<Vec<usize>, Error> {
        check_complete(files, DEFAULT_MAX_SKEW)
    }

    #[test]
    fn complete_sets_pass_and_gaps_fail() {
        let a = file("a", "0/2", 1, T0);
        let b = file("b", "1/2", 1, "2026-12-01T20:00:00Z");
        assert_eq!(check(&[b.clone(), a.clone()]).unwrap(), vec![1, 0]);
        let e = check(std::slice::from_ref(&a)).unwrap_err();
        assert!(matches!(e, Error::Incomplete(_)), "{e}");
        assert!(e.to_string().contains("missing: 1"), "{e}");
        let other = file("c", "1/2", 2, T0);
        assert!(matches!(check(&[a.clone(), other]), Err(Error::Usage(_))));
        let mut cut = file("d", "1/2", 1, T0);
        cut.summary.interrupted = true;
        assert!(matches!(
            check(&[a.clone(), cut.clone()]),
            Err(Error::Incomplete(_))
        ));
        // A foreign shard is a configuration fault even next to a cut one.
        let foreign = file("e", "0/2", 9, T0);
        assert!(matches!(check(&[a, cut, foreign]), Err(Error::Usage(_))));
    }

    #[test]
    fn one_shard_two_files() {
        let a = file("a", "0/2", 1, T0);
        let b = file("b", "1/2", 1, T0);
        let mut copy = a.clone();
        copy.file = "copy-of-a".into();
        assert_eq!(
            check(&[a.clone(), b.clone(), copy.clone()]).unwrap(),
            vec![0, 1],
            "a byte-identical copy counts once"
        );
        copy.digest[0] ^= 1;
        let e = check(&[a, b, copy]).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(e.to_string().contains("both shard 0/2"), "{e}");
    }

    #[test]
    fn shards_started_far_apart_are_refused_unless_allowed() {
        let a = file("a", "0/2", 1, T0);
        let old = file("old", "1/2", 1, "2026-11-01T00:00:00Z");
        let e = check(&[a.clone(), old.clone()]).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(e.to_string().contains("30d"), "{e}");
        let month = parse_duration("31d").unwrap();
        assert_eq!(check_complete(&[a.clone(), old], month).unwrap().len(), 2);
        let bad = file("bad", "1/2", 1, "yesterday");
        assert!(matches!(check(&[a, bad]), Err(Error::Usage(_))));
    }

    #[test]
    fn crafted_markers_are_refused() {
        for m in [
            "5/2",
            "0/1000000000000",
            "-1/2",
            "1/0",
            "all/2",
            "0/65537",
            "x",
        ] {
            let a = file("a", m, 1, T0);
            let e = check(&[a]).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{m}: {e}");
            let b = file("b", "0/2", 1, T0);
            let e = check(&[b, file("a", m, 1, T0)]).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{m} second: {e}");
        }
        let e = check(&[file("a", "0/2\n\u{1b}[31mred", 1, T0)]).unwrap_err();
        assert!(
            !e.to_string().contains('\n') && !e.to_string().contains('\u{1b}'),
            "{e}"
        );
    }

    #[test]
    fn more_listed_than_counted_is_refused() {
        let mut a = file("a", "0/1", 1, T0);
        a.summary.coverage.open = 1;
        a.listed.open = 2;
        assert!(matches!(check(&[a]), Err(Error::Usage(_))));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m"), Some(5400));
        assert_eq!(parse_duration("36h"), Some(129_600));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("120"), Some(120));
        for bad in ["", "h", "5w", "-1h", "99999999999999999999d", "1e3"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(human(30 * 86_400 + 61), "30d 1m 1s");
    }

    #[test]
    fn parses_shard_records_type_first_or_not() {
        let text = r#"{"type":"port","ip":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack","rtt_ms":0.1,"tries":1}
{"ip":"198.18.0.2","open":1,"closed":5,"filtered":0,"firewall":"none","type":"host"}
{"type":"finding","ip":"198.18.0.2","finding":{"rule":"x"}}
{"type":"summary","schema":"exposecheck/1","scan":{"version":"0.1.0","targets":["198.18.0.2"],"ports":"1-100","start":"x","seed":1,"shard":"0/1","interrupted":false},"coverage":{"planned":100,"attempted":100,"open":1,"closed":99,"filtered":0,"unresolved":0,"unresolved_hosts":[],"requeued":0,"retries":0},"interrupted":false,"resolved":[{"fingerprint":"aa"}]}
"#;
        let mut src = Source::new(text.as_bytes());
        let recs: Vec<Record> = src.values().map(Result::unwrap).collect();
        assert!(matches!(&recs[0], Record::Port(r) if r.port == 22));
        assert!(matches!(&recs[1], Record::Host(h) if h.closed == 5));
        assert!(matches!(recs[2], Record::Other));
        assert!(matches!(&recs[3], Record::Summary(s) if s.coverage.planned == 100));
        let mut bad = Source::new(&b"not json\n"[..]);
        assert!(bad.values::<Record>().next().unwrap().is_err());
        let mut bad = Source::new(&b"{\"type\":\"port\",\"port\":99999}\n"[..]);
        assert!(bad.values::<Record>().next().unwrap().is_err());
    }
}
