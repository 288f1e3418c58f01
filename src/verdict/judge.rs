//! The judging contract: one [`Judge`] per run takes each port result (from
//! the pipeline, or from the shards in `merge`) and each host fact as a typed
//! call, and its [`Judge::finish`] returns everything the run decided.

use super::baseline::Baseline;
use super::policy::{Entry, FailOn, Policy};
use super::tally::Tally;
use super::{port, ServiceFacts};
use crate::catalog::Catalog;
use crate::model::{
    Coverage, Exit, Finding, FindingCounts, HostRecord, HostVerdict, PortResult, PortState,
    ResolvedFinding, ServiceNote, StateCounts,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

/// What the pipeline knows of an open port beyond its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Nothing more: the result speaks for itself.
    Plain,
    /// The port belongs to a host that accepts every port, and nothing showed
    /// it to be a service of its own (it answered like the host's canary
    /// ports, or was not fingerprinted).
    EveryPortHost,
}

/// How a run judges, beside the catalogue, policy and baseline.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `--fail-on` threshold (the policy's, or `high`, when not given).
    pub fail_on: Option<FailOn>,
    /// `--only-new`: findings the baseline had neither count nor list.
    pub only_new: bool,
    /// Give every answering host a verdict (shard outputs, for `merge`).
    pub all_hosts: bool,
    /// Addresses known to be one dual-stack host.
    pub pairs: Vec<BTreeSet<IpAddr>>,
}

/// How a run ended, for [`Judge::finish`].
pub struct RunEnd<'a> {
    /// Cut short by a signal.
    pub interrupted: bool,
    /// What was covered.
    pub coverage: &'a Coverage,
    /// Whether a policy entry's host and port were scanned.
    pub in_scope: &'a dyn Fn(&Entry) -> bool,
}

/// Everything a run decided, beside the host records handed out one by one.
#[derive(Debug)]
pub struct Decision {
    /// Counted findings per severity (port and host findings).
    pub counts: FindingCounts,
    /// Baseline findings gone from places this run probed.
    pub resolved: Vec<ResolvedFinding>,
    /// Baseline findings at places this run never probed (not known fixed).
    pub not_scanned: Vec<ResolvedFinding>,
    /// The threshold in force.
    pub fail_on: FailOn,
    /// A counted finding reached it.
    pub fails: bool,
    /// How the run ends.
    pub exit: Exit,
    /// Hosts left without a verdict because too many were tracked already:
    /// `(count, exact)`.
    pub untracked_hosts: (u64, bool),
}

/// The judge of one run.
pub struct Judge {
    facts: HashMap<String, ServiceFacts>,
    by_port: HashMap<u16, String>,
    policy: Option<Policy>,
    matched: HashSet<usize>,
    baseline: Option<Baseline>,
    seen: Vec<bool>,
    /// Per baseline finding: this run probed its place.
    probed: Vec<bool>,
    /// Baseline findings by place: `(ip, Some(port))` for a port,
    /// `(ip, None)` for a host finding.
    places: HashMap<(IpAddr, Option<u16>), Vec<usize>>,
    tally: Tally,
    fail_on: FailOn,
    /// The date end-of-life dates are compared with.
    today: jiff::civil::Date,
}

impl Judge {
    /// A judge over `catalog`'s services, with an optional policy and baseline.
    pub fn new(
        catalog: &Catalog,
        policy: Option<Policy>,
        baseline: Option<Baseline>,
        settings: Settings,
    ) -> Judge {
        let facts = catalog
            .services()
            .iter()
            .map(|d| (d.id.clone(), ServiceFacts::from(d)))
            .collect();
        let by_port = catalog
            .default_ports()
            .into_iter()
            .filter_map(|p| catalog.guess(p).map(|d| (p, d.id.clone())))
            .collect();
        let fail_on = settings
            .fail_on
            .or_else(|| policy.as_ref().and_then(|p| p.fail_on))
            .unwrap_or(FailOn::At(crate::model::Severity::High));
        let mut tally = Tally::new(fail_on, settings.only_new, settings.all_hosts);
        tally.pairs(settings.pairs);
        let n = baseline.as_ref().map_or(0, Baseline::len);
        let mut places: HashMap<(IpAddr, Option<u16>), Vec<usize>> = HashMap::new();
        // A finding with no address (a policy entry's) is judged afresh by
        // every run: in scope.
        let mut probed = vec![false; n];
        for (i, p) in probed.iter_mut().enumerate() {
            match baseline.as_ref().map(|b| b.place(i)) {
                Some((Some(ip), port)) => places.entry((ip, port)).or_default().push(i),
                _ => *p = true,
            }
        }
        Judge {
            facts,
            by_port,
            seen: vec![false; n],
            probed,
            places,
            policy,
            matched: HashSet::new(),
            baseline,
            tally,
            fail_on,
            today: super::policy::today(),
        }
    }

    /// Judges end-of-life dates as of `today` (tests; a run uses today's
    /// UTC date).
    pub fn set_today(&mut self, today: jiff::civil::Date) {
        self.today = today;
    }

    /// The policy in force.
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }

    /// Judges one result (sets its finding) and tallies it; returns whether
    /// it is listed (`--only-new` drops unchanged findings).
    pub fn port(&mut self, r: &mut PortResult, cx: Context) -> bool {
        r.finding = self.finding(r, cx);
        if r.state != PortState::Unresolved {
            self.probed_at(r.ip, Some(r.port));
            self.probed_at(r.ip, None);
        }
        let listed = self.tally.add(r);
        if cx == Context::Plain {
            let id = r.service.as_ref().and_then(|s| s.identified());
            if let Some(f) = id.and_then(|i| self.facts.get(i)) {
                if let Some(hf) = port::end_of_life(r, f, self.today) {
                    self.tally.port_finding(hf);
                }
            }
        }
        listed
    }

    /// Marks the baseline findings at a place as in this run's scope.
    fn probed_at(&mut self, ip: IpAddr, port: Option<u16>) {
        if let Some(list) = self.places.get(&(ip, port)) {
            for &i in list {
                self.probed[i] = true;
            }
        }
    }

    /// Marks as probed every baseline finding whose place `scanned` says
    /// this run covered (`merge`, whose shards list only what they show).
    pub fn probed_where(&mut self, scanned: impl Fn(IpAddr, Option<u16>) -> bool) {
        let places: Vec<(IpAddr, Option<u16>)> = self.places.keys().copied().collect();
        for (ip, port) in places {
            if scanned(ip, port) {
                self.probed_at(ip, port);
            }
        }
    }

    /// The finding of an open port, policy and baseline applied.
    fn finding(&mut self, r: &mut PortResult, cx: Context) -> Option<Finding> {
        if r.state != PortState::Open {
            return None;
        }
        let id = match &r.service {
            Some(s) => s.identified().map(str::to_owned),
            // Not fingerprinted: the port number is the only hint.
            None => self.by_port.get(&r.port).cloned(),
        };
        let facts = id.as_deref().and_then(|i| self.facts.get(i));
        let mut f = match cx {
            Context::EveryPortHost => {
                r.set_note(ServiceNote::HostAnswersEveryPort);
                port::on_every_port_host(r)
            }
            Context::Plain => port::assess(r, facts)?,
        };
        if let Some(p) = &self.policy {
            self.matched
                .extend(p.apply(r, facts.map(|x| x.id.as_str()), &mut f));
        }
        if let Some(b) = &self.baseline {
            if let Some(i) = b.mark(&mut f) {
                self.seen[i] = true;
            }
        }
        Some(f)
    }

    /// Records that `ip` accepts connections on every port.
    pub fn every_port(&mut self, ip: IpAddr) {
        self.tally.every_port(ip);
    }

    /// Records what `--check-ssh-rate` measured on `ip`.
    pub fn ssh_rate(&mut self, ip: IpAddr, check: crate::model::SshRateCheck) {
        self.tally.ssh_rate(ip, check);
    }

    /// Adds the non-open counts a shard reported for a host (merge only).
    pub fn host_counts(&mut self, v: &HostVerdict) {
        self.tally.host_counts(v);
    }

    /// The port states judged so far (the one count every output reads).
    pub fn states(&self) -> StateCounts {
        self.tally.states()
    }

    /// Ends the run: every host verdict and host finding goes to `each` as it
    /// is made (stale policy entries last, and only after a complete run).
    pub fn finish(self, end: RunEnd<'_>, each: impl FnMut(HostRecord)) -> Decision {
        let c = end.coverage;
        let complete = !end.interrupted && c.unresolved == 0;
        let Judge {
            policy,
            matched,
            baseline,
            mut seen,
            probed,
            tally,
            fail_on,
            ..
        } = self;
        let stale = match (&policy, complete) {
            (Some(p), true) => p.stale(&matched, end.in_scope),
            _ => Vec::new(),
        };
        let mark = |f: &mut Finding| {
            if let Some(p) = &policy {
                p.override_severity(f);
            }
            if let Some(i) = baseline.as_ref().and_then(|b| b.mark(f)) {
                seen[i] = true;
            }
        };
        let t = tally.finish(complete, stale, mark, each);
        let incomplete = c.unresolved > 0 || !c.unresolved_hosts.is_empty() || c.attempted == 0;
        let exit = if end.interrupted {
            Exit::Interrupted
        } else if t.fails {
            Exit::Findings
        } else if incomplete {
            Exit::Incomplete
        } else {
            Exit::Clean
        };
        let (resolved, not_scanned) = baseline
            .map(|b| b.unseen(&seen, &probed))
            .unwrap_or_default();
        Decision {
            counts: t.counts,
            resolved,
            not_scanned,
            fail_on,
            fails: t.fails,
            exit,
            untracked_hosts: t.untracked_hosts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PolicyStatus, Service, Severity};

    fn judge(policy: Option<&str>, baseline: Option<&str>) -> Judge {
        let policy =
            policy.map(|t| Policy::parse(t, "p.toml", jiff::civil::date(2026, 12, 2)).unwrap());
        let baseline = baseline.map(|t| Baseline::parse(t).unwrap());
        let settings = Settings {
            fail_on: None,
            only_new: false,
            all_hosts: false,
            pairs: Vec::new(),
        };
        Judge::new(&Catalog::builtin(), policy, baseline, settings)
    }

    fn redis(port: u16) -> PortResult {
        PortResult {
            service: Some(Service {
                name: "redis".into(),
                auth: crate::model::AuthState::None,
                ..Service::default()
            }),
            ..PortResult::test_open(port)
        }
    }

    /// Finishes `j` after a run that covered `attempted` ports.
    fn end(j: Judge, interrupted: bool, attempted: u64, each: impl FnMut(HostRecord)) -> Decision {
        let cov = coverage(attempted);
        j.finish(
            RunEnd {
                interrupted,
                coverage: &cov,
                in_scope: &|_| true,
            },
            each,
        )
    }

    fn coverage(attempted: u64) -> Coverage {
        Coverage {
            planned: attempted,
            attempted,
            ..Coverage::default()
        }
    }

    #[test]
    fn unfingerprinted_ports_are_guessed_from_the_port() {
        let mut j = judge(None, None);
        let mut r = PortResult::test_open(6379);
        assert!(j.port(&mut r, Context::Plain));
        let f = r.finding.unwrap();
        assert_eq!(
            (f.rule.as_str(), f.severity),
            ("redis-exposed", Severity::High)
        );
    }

    #[test]
    fn every_port_hosts_are_a_typed_fact() {
        let mut j = judge(None, None);
        j.every_port(PortResult::test_open(1).ip);
        let mut r = redis(6379);
        j.port(&mut r, Context::EveryPortHost);
        assert_eq!(r.finding.as_ref().unwrap().rule, "open-on-every-port-host");
        assert_eq!(
            r.service.as_ref().unwrap().note,
            Some(ServiceNote::HostAnswersEveryPort)
        );
        let mut hosts = Vec::new();
        let d = end(j, false, 1, |h| hosts.push(h));
        assert!(hosts.iter().any(
            |h| matches!(h, HostRecord::Finding(f) if f.finding.rule == "host-answers-every-port")
        ));
        assert_eq!(d.counts.medium, 1, "the host finding counts");
        assert_eq!(d.exit, Exit::Clean);
    }

    #[test]
    fn finish_decides_stale_resolved_and_the_exit_code() {
        let policy = "[[expect]]\nhost = \"198.18.0.2\"\nport = 22\nreason = \"bastion\"\n\n[severity]\nno-default-deny-firewall = \"info\"\n";
        // Port 1 is probed (closed) below; port 9999 and 198.18.0.9 never are.
        let baseline = concat!(
            "{\"type\":\"port\",\"ip\":\"198.18.0.2\",\"port\":1,\"finding\":{\"rule\":\"x\",\"fingerprint\":\"gone\"}}\n",
            "{\"type\":\"port\",\"ip\":\"198.18.0.2\",\"port\":9999,\"finding\":{\"rule\":\"x\",\"fingerprint\":\"other-port\"}}\n",
            "{\"type\":\"finding\",\"ip\":\"198.18.0.9\",\"finding\":{\"rule\":\"y\",\"fingerprint\":\"other-host\"}}\n",
            "{\"type\":\"finding\",\"ip\":\"198.18.0.2\",\"finding\":{\"rule\":\"z\",\"fingerprint\":\"this-host\"}}\n",
        );
        let mut j = judge(Some(policy), Some(baseline));
        let mut r = redis(6379);
        j.port(&mut r, Context::Plain);
        let f = r.finding.as_ref().unwrap();
        assert_eq!(f.policy, Some(PolicyStatus::Unexpected));
        for p in 1..=5 {
            let mut closed = PortResult {
                state: PortState::Closed,
                ..PortResult::test_open(p)
            };
            j.port(&mut closed, Context::Plain);
        }
        assert_eq!(
            j.states(),
            StateCounts {
                open: 1,
                closed: 5,
                filtered: 0,
                unresolved: 0,
                open_filtered: 0,
            }
        );
        let mut findings = Vec::new();
        let d = end(j, false, 6, |h| {
            if let HostRecord::Finding(f) = h {
                findings.push(f.finding);
            }
        });
        let stale = findings
            .iter()
            .find(|f| f.rule == "policy-stale-entry")
            .unwrap();
        assert_eq!(stale.policy, Some(PolicyStatus::Stale));
        let fw = findings
            .iter()
            .find(|f| f.rule == "no-default-deny-firewall")
            .unwrap();
        assert_eq!(
            fw.severity,
            Severity::Info,
            "[severity] reaches host findings"
        );
        let fps = |l: &[ResolvedFinding]| {
            let mut v: Vec<String> = l.iter().map(|r| r.fingerprint.clone()).collect();
            v.sort();
            v
        };
        assert_eq!(fps(&d.resolved), ["gone", "this-host"]);
        assert_eq!(fps(&d.not_scanned), ["other-host", "other-port"]);
        assert!(d.fails);
        assert_eq!(d.exit, Exit::Findings);
    }

    #[test]
    fn a_version_past_its_cycles_end_of_life_is_a_host_finding_about_the_port() {
        let redis_at = |version: &str| {
            let mut r = redis(6379);
            let s = r.service.as_mut().unwrap();
            s.product = Some("Redis".into());
            s.version = Some(version.into());
            r
        };
        let eol_findings = |version: &str, today: jiff::civil::Date| {
            let mut j = judge(None, None);
            j.set_today(today);
            let mut r = redis_at(version);
            j.port(&mut r, Context::Plain);
            assert_eq!(r.finding.unwrap().rule, "redis-unauthenticated");
            let mut found = Vec::new();
            end(j, false, 1, |h| {
                if let HostRecord::Finding(f) = h {
                    if f.finding.rule == "eol-version" {
                        found.push(*f);
                    }
                }
            });
            found
        };
        // Redis 7.0 ended on 2024-07-29 (services/redis.toml).
        let f = eol_findings("7.0.15", jiff::civil::date(2024, 7, 30));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].port, Some(6379));
        let x = &f[0].finding;
        assert_eq!(x.severity, Severity::Medium);
        for part in [
            "Redis 7.0.15",
            "version-inferred",
            "cycle 7.0",
            "2024-07-29",
        ] {
            assert!(x.title.contains(part), "{part}: {}", x.title);
        }
        assert!(x.evidence.contains("endoflife.date products/redis.md"));
        assert!(eol_findings("7.0.15", jiff::civil::date(2024, 7, 29)).is_empty());
        assert!(eol_findings("7.2.4", jiff::civil::date(2026, 12, 2)).is_empty());
        assert!(eol_findings("7.20.1", jiff::civil::date(2099, 1, 1)).is_empty());
    }

    #[test]
    fn an_interrupted_or_empty_run_is_not_clean() {
        let d = end(judge(None, None), false, 0, |_| {});
        assert_eq!(d.exit, Exit::Incomplete);
        let d = end(judge(None, None), true, 3, |_| {});
        assert_eq!(d.exit, Exit::Interrupted);
    }
}
