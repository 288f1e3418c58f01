//! Run-level bookkeeping for the verdict: per-severity counts, host facts,
//! dual-stack groups, and at the end the host findings, stale policy entries,
//! resolved baseline findings and whether the run fails its `--fail-on` gate.

use super::baseline::Baseline;
use super::hosts::{HostRecord, Hosts};
use super::policy::{Entry, FailOn, Policy};
use crate::model::{Finding, FindingCounts, HostFinding, HostVerdict, PortResult};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Most hostnames remembered for dual-stack grouping.
const MAX_NAMES: usize = 4096;

/// What the run concluded (the host verdicts and host findings went to the
/// caller one by one).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Counted findings per severity.
    pub counts: FindingCounts,
    /// Baseline findings gone since.
    pub resolved: Vec<serde_json::Value>,
    /// A counted finding reached the `--fail-on` threshold.
    pub fails: bool,
    /// Hosts left without a verdict because too many were tracked already:
    /// `(count, exact)`.
    pub untracked_hosts: (u64, bool),
}

/// Accumulates results as they stream in.
#[derive(Debug)]
pub struct Tally {
    hosts: Hosts,
    names: BTreeMap<String, BTreeSet<IpAddr>>,
    pairs: Vec<BTreeSet<IpAddr>>,
    counts: FindingCounts,
    fail_on: FailOn,
    only_new: bool,
    all_hosts: bool,
    fails: bool,
}

/// Whether a finding counts toward the totals and the exit code.
pub fn counts_toward(f: &Finding, only_new: bool) -> bool {
    f.policy.as_deref() != Some("expected")
        && !(only_new && f.baseline.as_deref() == Some("unchanged"))
}

impl Tally {
    /// A tally gating on `fail_on`; with `only_new`, unchanged findings neither count nor list.
    pub fn new(fail_on: FailOn, only_new: bool) -> Tally {
        Tally {
            hosts: Hosts::default(),
            names: BTreeMap::new(),
            pairs: Vec::new(),
            counts: FindingCounts::default(),
            fail_on,
            only_new,
            all_hosts: false,
            fails: false,
        }
    }

    /// Gives every answering host a verdict, not only those with open ports
    /// (shard outputs, so that `merge` can add their counts up).
    pub fn with_all_hosts(mut self, all: bool) -> Tally {
        self.all_hosts = all;
        self
    }

    /// Adds the non-open counts a shard reported for a host (merge only).
    pub fn host_counts(&mut self, v: &HostVerdict) {
        self.hosts.add_counts(v);
    }

    /// Declares addresses given together as one dual-stack host.
    pub fn pairs(&mut self, pairs: Vec<BTreeSet<IpAddr>>) {
        for ip in pairs.iter().flatten() {
            self.hosts.track(*ip);
        }
        self.pairs.extend(pairs);
    }

    /// Adds a judged result; returns whether it should be listed.
    pub fn add(&mut self, r: &PortResult) -> bool {
        if let Some(name) = &r.host {
            if (self.names.len() < MAX_NAMES || self.names.contains_key(name))
                && self.names.entry(name.clone()).or_default().insert(r.ip)
            {
                self.hosts.track(r.ip);
            }
        }
        self.hosts.add(r);
        match &r.finding {
            Some(f) if counts_toward(f, self.only_new) => {
                self.count(f);
                true
            }
            Some(_) => !self.only_new,
            None => true,
        }
    }

    fn count(&mut self, f: &Finding) {
        self.counts.add(f.severity);
        self.fails |= self.fail_on.fails(f.severity);
    }

    /// Records a host that answers on every port.
    pub fn every_port(&mut self, ip: IpAddr) {
        self.hosts.mark_every_port(ip);
    }

    /// Finishes the run, handing every host verdict and host finding to
    /// `each` as it is made (a large range is never held as a list).
    /// `complete` is false after an interruption; `in_scope` says whether a
    /// policy entry's host and port were scanned.
    pub fn finish(
        mut self,
        complete: bool,
        policy: Option<&Policy>,
        baseline: Option<&Baseline>,
        in_scope: impl Fn(&Entry) -> bool,
        mut each: impl FnMut(HostRecord),
    ) -> Outcome {
        let mut groups: Vec<BTreeSet<IpAddr>> =
            std::mem::take(&mut self.names).into_values().collect();
        groups.extend(std::mem::take(&mut self.pairs));
        let (only_new, fail_on) = (self.only_new, self.fail_on);
        let (mut counts, mut fails) = (self.counts, self.fails);
        // Marks a host finding against the baseline and counts it; false
        // when `--only-new` drops it.
        let mut keep = |hf: &mut HostFinding| {
            if let Some(b) = baseline {
                b.mark(&mut hf.finding);
            }
            if only_new && hf.finding.baseline.as_deref() == Some("unchanged") {
                return false;
            }
            if counts_toward(&hf.finding, only_new) {
                counts.add(hf.finding.severity);
                fails |= fail_on.fails(hf.finding.severity);
            }
            true
        };
        let stale = match (policy, complete) {
            (Some(p), true) => p.stale(in_scope),
            _ => Vec::new(),
        };
        let mut pass = |rec: HostRecord| match rec {
            HostRecord::Finding(mut hf) => {
                if keep(&mut hf) {
                    each(HostRecord::Finding(hf));
                }
            }
            verdict => each(verdict),
        };
        self.hosts
            .finish(&groups, complete, self.all_hosts, &mut pass);
        stale
            .into_iter()
            .for_each(|hf| pass(HostRecord::Finding(Box::new(hf))));
        Outcome {
            counts,
            resolved: baseline.map(Baseline::resolved).unwrap_or_default(),
            fails,
            untracked_hosts: self.hosts.untracked(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    fn open(port: u16, sev: Severity, policy: &str, baseline: &str) -> PortResult {
        PortResult {
            finding: Some(Finding {
                severity: sev,
                policy: Some(policy.into()),
                baseline: Some(baseline.into()),
                ..Finding::default()
            }),
            ..PortResult::test_open(port)
        }
    }

    #[test]
    fn expected_findings_do_not_fail_the_gate() {
        let mut t = Tally::new(FailOn::At(Severity::High), false);
        assert!(t.add(&open(22, Severity::Critical, "expected", "new")));
        assert!(t.add(&open(80, Severity::Medium, "unexpected", "new")));
        let o = t.finish(true, None, None, |_| false, |_| {});
        assert!(!o.fails);
        assert_eq!(o.counts.medium, 1);
        assert_eq!(o.counts.critical, 0);
    }

    #[test]
    fn threshold_and_only_new() {
        let mut t = Tally::new(FailOn::At(Severity::High), true);
        assert!(!t.add(&open(6379, Severity::Critical, "unexpected", "unchanged")));
        let o = t.finish(true, None, None, |_| false, |_| {});
        assert!(!o.fails, "unchanged findings do not gate with --only-new");
        let mut t = Tally::new(FailOn::At(Severity::High), false);
        t.add(&open(6379, Severity::High, "unexpected", "unchanged"));
        assert!(t.finish(true, None, None, |_| false, |_| {}).fails);
        let mut t = Tally::new(FailOn::Never, false);
        t.add(&open(6379, Severity::Critical, "unexpected", "new"));
        assert!(!t.finish(true, None, None, |_| false, |_| {}).fails);
    }
}
