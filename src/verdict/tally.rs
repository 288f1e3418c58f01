//! Run-level bookkeeping for the [`Judge`](super::Judge): the one tally of
//! port states, per-severity finding counts, host facts and dual-stack
//! groups; at the end it hands out the host verdicts and host findings.

use super::hosts::{HostRecord, Hosts};
use super::policy::FailOn;
use crate::model::{Finding, FindingCounts, HostFinding, HostVerdict, PortResult, StateCounts};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Most hostnames remembered for dual-stack grouping.
const MAX_NAMES: usize = 4096;

/// What the tally concluded (the host verdicts and host findings went to
/// the caller one by one).
#[derive(Debug, Default)]
pub struct TallyEnd {
    /// Counted findings per severity.
    pub counts: FindingCounts,
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
    states: StateCounts,
    counts: FindingCounts,
    fail_on: FailOn,
    only_new: bool,
    all_hosts: bool,
    fails: bool,
}

impl Tally {
    /// A tally gating on `fail_on`; with `only_new`, unchanged findings
    /// neither count nor list; with `all_hosts`, every answering host gets a
    /// verdict, not only those with open ports (shard outputs, so that
    /// `merge` can add their counts up).
    pub fn new(fail_on: FailOn, only_new: bool, all_hosts: bool) -> Tally {
        Tally {
            hosts: Hosts::default(),
            names: BTreeMap::new(),
            pairs: Vec::new(),
            states: StateCounts::default(),
            counts: FindingCounts::default(),
            fail_on,
            only_new,
            all_hosts,
            fails: false,
        }
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
        self.states.add(r.state);
        if let Some(name) = &r.host {
            if (self.names.len() < MAX_NAMES || self.names.contains_key(name))
                && self.names.entry(name.clone()).or_default().insert(r.ip)
            {
                self.hosts.track(r.ip);
            }
        }
        self.hosts.add(r);
        // A port whose finding does not count is listed unless `--only-new`.
        match &r.finding {
            Some(f) => self.count(f) || !self.only_new,
            None => true,
        }
    }

    /// Counts a finding when it counts toward the totals; says whether it did.
    fn count(&mut self, f: &Finding) -> bool {
        let counts = f.counts(self.only_new);
        if counts {
            self.counts.add(f.severity);
            self.fails |= self.fail_on.fails(f.severity);
        }
        counts
    }

    /// Records what `--check-ssh-rate` measured on a host.
    pub fn ssh_rate(&mut self, ip: IpAddr, check: crate::model::SshRateCheck) {
        self.hosts.ssh_rate(ip, check);
    }

    /// Keeps a finding about one port beside its own (handed out with its
    /// host, and counted then).
    pub fn port_finding(&mut self, f: Box<HostFinding>) {
        self.hosts.add_port_finding(f);
    }

    /// Records a host that answers on every port.
    pub fn every_port(&mut self, ip: IpAddr) {
        self.hosts.mark_every_port(ip);
    }

    /// The port states counted so far.
    pub fn states(&self) -> StateCounts {
        self.states
    }

    /// Finishes the run, handing every host verdict and host finding to
    /// `each` as it is made (a large range is never held as a list), the
    /// `stale` policy findings last. `complete` is false after an
    /// interruption; `mark` applies the policy's overrides and the baseline
    /// to each host finding before it is counted.
    pub fn finish(
        mut self,
        complete: bool,
        stale: Vec<HostFinding>,
        mut mark: impl FnMut(&mut Finding),
        mut each: impl FnMut(HostRecord),
    ) -> TallyEnd {
        let mut groups: Vec<BTreeSet<IpAddr>> =
            std::mem::take(&mut self.names).into_values().collect();
        groups.extend(std::mem::take(&mut self.pairs));
        let hosts = std::mem::take(&mut self.hosts);
        let all_hosts = self.all_hosts;
        let mut pass = |rec: HostRecord| match rec {
            HostRecord::Finding(mut hf) => {
                mark(&mut hf.finding);
                // A host finding is listed unless `--only-new` drops it as
                // unchanged (an expected one is listed, not counted).
                self.count(&hf.finding);
                if !(self.only_new && hf.finding.is_unchanged()) {
                    each(HostRecord::Finding(hf));
                }
            }
            verdict => each(verdict),
        };
        hosts.finish(&groups, complete, all_hosts, &mut pass);
        stale
            .into_iter()
            .for_each(|hf| pass(HostRecord::Finding(Box::new(hf))));
        TallyEnd {
            counts: self.counts,
            fails: self.fails,
            untracked_hosts: hosts.untracked(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BaselineStatus, PolicyStatus, Severity};
    use BaselineStatus::{New, Unchanged};
    use PolicyStatus::{Expected, Unexpected};

    fn open(
        port: u16,
        sev: Severity,
        policy: PolicyStatus,
        baseline: BaselineStatus,
    ) -> PortResult {
        PortResult {
            finding: Some(Finding {
                severity: sev,
                policy: Some(policy),
                baseline: Some(baseline),
                ..Finding::default()
            }),
            ..PortResult::test_open(port)
        }
    }

    fn end(t: Tally) -> TallyEnd {
        t.finish(true, Vec::new(), |_| {}, |_| {})
    }

    #[test]
    fn expected_findings_do_not_fail_the_gate() {
        let mut t = Tally::new(FailOn::At(Severity::High), false, false);
        assert!(t.add(&open(22, Severity::Critical, Expected, New)));
        assert!(t.add(&open(80, Severity::Medium, Unexpected, New)));
        let o = end(t);
        assert!(!o.fails);
        assert_eq!(o.counts.medium, 1);
        assert_eq!(o.counts.critical, 0);
    }

    #[test]
    fn threshold_and_only_new() {
        let mut t = Tally::new(FailOn::At(Severity::High), true, false);
        assert!(!t.add(&open(6379, Severity::Critical, Unexpected, Unchanged)));
        let o = end(t);
        assert!(!o.fails, "unchanged findings do not gate with --only-new");
        let mut t = Tally::new(FailOn::At(Severity::High), false, false);
        t.add(&open(6379, Severity::High, Unexpected, Unchanged));
        assert!(end(t).fails);
        let mut t = Tally::new(FailOn::Never, false, false);
        t.add(&open(6379, Severity::Critical, Unexpected, New));
        assert!(!end(t).fails);
    }
}
