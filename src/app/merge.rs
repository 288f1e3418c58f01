//! `exposecheck merge FILES...`: joins the NDJSON outputs of the shards of one
//! scan. It checks that every shard 0..N-1 of the same scan (targets, ports,
//! seed) is present and complete, removes duplicate records (a retried pod may
//! have written its shard twice), re-judges every result once with the policy
//! and baseline given to the merge, and produces the same outputs and exit
//! code a single run would.

use super::report::{Ending, Verdicts};
use super::{dual_stack_pair, verdict_for};
use crate::catalog::Catalog;
use crate::cli::{Args, Reporting};
use crate::error::Error;
use crate::model::{Coverage, HostVerdict, PortResult};
use crate::output::Summary;
use crate::pipeline::Judge;
use crate::ports;
use crate::verdict::policy::{Entry, HostMatch};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// One shard's output.
#[derive(Debug, Default)]
pub struct ShardOutput {
    /// Listed port results.
    pub results: Vec<PortResult>,
    /// Host records.
    pub hosts: Vec<HostVerdict>,
    /// The closing summary.
    pub summary: Option<Summary>,
}

/// Parses one shard's NDJSON text.
pub fn parse_shard(text: &str, file: &str) -> Result<ShardOutput, Error> {
    let mut out = ShardOutput::default();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |e: serde_json::Error| {
            Error::Usage(format!(
                "{file} line {}: not exposecheck NDJSON ({e})",
                n + 1
            ))
        };
        let v: serde_json::Value = serde_json::from_str(line).map_err(bad)?;
        match v.get("type").and_then(|t| t.as_str()) {
            Some("port") => out.results.push(serde_json::from_value(v).map_err(bad)?),
            Some("host") => out.hosts.push(serde_json::from_value(v).map_err(bad)?),
            Some("summary") => out.summary = Some(serde_json::from_value(v).map_err(bad)?),
            _ => {}
        }
    }
    Ok(out)
}

fn shard_of(s: &Summary) -> Option<(u64, u64)> {
    let (k, n) = s.scan.shard.split_once('/')?;
    Some((k.parse().ok()?, n.parse().ok()?))
}

/// Checks that the shards form one complete scan; returns the shard count.
pub fn check_complete(shards: &[(String, &Summary)]) -> Result<u64, Error> {
    let (first_file, first) = shards
        .first()
        .ok_or_else(|| Error::Usage("merge needs shard files".into()))?;
    let (_, n) = shard_of(first)
        .ok_or_else(|| Error::Usage(format!("{first_file}: summary has no shard")))?;
    let mut seen = vec![false; n as usize];
    for (file, s) in shards {
        let (k, count) =
            shard_of(s).ok_or_else(|| Error::Usage(format!("{file}: summary has no shard")))?;
        if count != n
            || s.scan.seed != first.scan.seed
            || s.scan.ports != first.scan.ports
            || s.scan.targets != first.scan.targets
        {
            return Err(Error::Usage(format!(
                "{file} is shard {k}/{count} of another scan (targets, ports, seed or shard count differ from {first_file})"
            )));
        }
        if s.interrupted || s.coverage.unresolved > 0 {
            return Err(Error::Incomplete(format!(
                "{file}: shard {k}/{n} is incomplete (interrupted or unresolved ports)"
            )));
        }
        seen[k as usize] = true;
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(k, _)| k.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Incomplete(format!(
            "shards missing: {} of {n}",
            missing.join(", ")
        )));
    }
    Ok(n)
}

/// Runs `merge` with the output and verdict flags of `a`; `a.targets` are the files.
pub fn run(a: Args) -> Result<u8, Error> {
    let report: Reporting = Reporting::from_args(&a)?;
    if a.targets.is_empty() {
        return Err(Error::Usage(
            "merge needs the shard NDJSON files to merge".into(),
        ));
    }
    let mut outputs = Vec::new();
    for f in &a.targets {
        let text = std::fs::read_to_string(f).map_err(|source| Error::Read {
            path: f.into(),
            source,
        })?;
        let out = parse_shard(&text, f)?;
        if out.summary.is_none() {
            return Err(Error::Incomplete(format!(
                "{f}: no summary record (the shard did not finish)"
            )));
        }
        outputs.push((f.clone(), out));
    }
    let summaries: Vec<(String, &Summary)> = outputs
        .iter()
        .map(|(f, o)| (f.clone(), o.summary.as_ref().expect("checked above")))
        .collect();
    let n = check_complete(&summaries)?;
    let first = summaries[0].1.clone();
    // Identical shards written twice (a retried pod) count once.
    let mut by_shard: BTreeMap<String, &ShardOutput> = BTreeMap::new();
    for (_, o) in &outputs {
        let s = o.summary.as_ref().expect("checked above");
        by_shard.entry(s.scan.shard.clone()).or_insert(o);
    }
    let Verdicts {
        policy,
        baseline,
        reporter,
    } = Verdicts::load(&report, None)?;
    let specs: Vec<_> = first
        .scan
        .targets
        .iter()
        .filter_map(|t| crate::targets::parse_target(t).ok())
        .collect();
    let mut reporter = reporter.with_pairs(dual_stack_pair(&specs));
    let judge = verdict_for(&Catalog::builtin(), policy.clone(), baseline.clone());
    let mut coverage = Coverage::default();
    let mut results: BTreeMap<(IpAddr, u16), PortResult> = BTreeMap::new();
    let mut names: HashMap<IpAddr, Option<String>> = HashMap::new();
    for o in by_shard.values() {
        let c = &o.summary.as_ref().expect("checked above").coverage;
        coverage.planned += c.planned;
        coverage.attempted += c.attempted;
        coverage.open += c.open;
        coverage.closed += c.closed;
        coverage.filtered += c.filtered;
        coverage.unresolved += c.unresolved;
        coverage.requeued += c.requeued;
        coverage.retries += c.retries;
        for h in &c.unresolved_hosts {
            if !coverage.unresolved_hosts.contains(h) {
                coverage.unresolved_hosts.push(h.clone());
            }
        }
        for h in &o.hosts {
            reporter.host_counts(h);
            names.insert(h.ip, h.host.clone());
        }
        for r in &o.results {
            names.insert(r.ip, r.host.clone());
            results.entry((r.ip, r.port)).or_insert_with(|| r.clone());
        }
    }
    for (_, mut r) in results {
        r.finding = None;
        judge.judge(&mut r);
        reporter.port(&r);
    }
    let ports = ports::parse_ports(&first.scan.ports).unwrap_or_default();
    let in_scope = |e: &Entry| {
        ports.contains(e.port)
            && names.iter().any(|(ip, name)| match &e.host {
                HostMatch::Addr(a) => a == ip,
                HostMatch::Net(net) => net.contains(ip),
                HostMatch::Name(h) => name.as_deref() == Some(h.as_str()),
            })
    };
    let mut meta = first.scan.clone();
    meta.shard = format!("all/{n}");
    reporter.finish(Ending {
        meta,
        coverage,
        interrupted: false,
        policy: policy.as_deref(),
        baseline: baseline.as_deref(),
        in_scope: &in_scope,
        warn: &|m| super::warn(a.quiet, None, m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(shard: &str, seed: u64, interrupted: bool) -> Summary {
        let mut s = Summary::default();
        s.scan.shard = shard.into();
        s.scan.seed = seed;
        s.scan.ports = "1-100".into();
        s.interrupted = interrupted;
        s
    }

    #[test]
    fn complete_sets_pass_and_gaps_fail() {
        let a = summary("0/2", 1, false);
        let b = summary("1/2", 1, false);
        assert_eq!(
            check_complete(&[("a".into(), &a), ("b".into(), &b)]).unwrap(),
            2
        );
        let e = check_complete(&[("a".into(), &a)]).unwrap_err();
        assert!(matches!(e, Error::Incomplete(_)), "{e}");
        assert!(e.to_string().contains("missing: 1"));
        let other = summary("1/2", 2, false);
        assert!(matches!(
            check_complete(&[("a".into(), &a), ("c".into(), &other)]),
            Err(Error::Usage(_))
        ));
        let cut = summary("1/2", 1, true);
        assert!(matches!(
            check_complete(&[("a".into(), &a), ("d".into(), &cut)]),
            Err(Error::Incomplete(_))
        ));
    }

    #[test]
    fn parses_shard_lines() {
        let text = r#"{"type":"port","ip":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack","rtt_ms":0.1,"tries":1}
{"type":"host","ip":"198.18.0.2","open":1,"closed":5,"filtered":0,"firewall":"none"}
{"type":"summary","schema":"exposecheck/1","scan":{"version":"0.1.0","targets":["198.18.0.2"],"ports":"1-100","start":"x","seed":1,"shard":"0/1","interrupted":false},"coverage":{"planned":100,"attempted":100,"open":1,"closed":99,"filtered":0,"unresolved":0,"unresolved_hosts":[],"requeued":0,"retries":0},"interrupted":false}
"#;
        let o = parse_shard(text, "s").unwrap();
        assert_eq!(o.results.len(), 1);
        assert_eq!(o.hosts[0].closed, 5);
        assert_eq!(o.summary.unwrap().coverage.planned, 100);
        assert!(parse_shard("not json\n", "s").is_err());
    }
}
