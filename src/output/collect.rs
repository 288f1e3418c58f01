//! Buffering shared by the formats written when the scan ends (human,
//! markdown, nmap-xml, SARIF, the alert bodies): the listed results per host,
//! counts of the unlisted ones, every finding (port and host findings) in
//! report order, and [`AtEnd`], the sink of the JSON formats that only need
//! the ports with a finding.

use super::{Show, Sink, Summary};
use crate::model::{
    Finding, HostVerdict, PolicyStatus, PortResult, PortState, Proto, ResolvedFinding, Service,
    Severity,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// What a findings-only JSON format makes of a finished scan.
pub trait Render {
    /// The body to write, from the ports with a finding and the summary.
    fn render(&self, hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> Rendered;
}

/// A rendered body.
pub enum Rendered {
    /// One document, pretty-printed.
    Document(Value),
    /// One compact document per line (NDJSON); nothing when empty.
    Lines(Vec<Value>),
}

/// A sink that keeps the ports with a finding and writes `R`'s body when
/// the scan ends (SARIF, Slack, PagerDuty, Alertmanager).
pub struct AtEnd<R> {
    out: Box<dyn Write>,
    hosts: Collector,
    /// The format.
    pub render: R,
}

impl<R: Render> AtEnd<R> {
    /// `render` written to `out`.
    pub fn new(out: Box<dyn Write>, render: R) -> AtEnd<R> {
        AtEnd {
            out,
            hosts: Collector::new(Show::default()),
            render,
        }
    }
}

impl<R: Render> Sink for AtEnd<R> {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if r.finding.is_some() {
            self.hosts.add(r);
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        match self.render.render(&self.hosts.take(), s) {
            Rendered::Document(v) => {
                serde_json::to_writer_pretty(&mut self.out, &v)?;
                self.out.write_all(b"\n")?;
            }
            Rendered::Lines(lines) => {
                for v in lines {
                    serde_json::to_writer(&mut self.out, &v)?;
                    self.out.write_all(b"\n")?;
                }
            }
        }
        self.out.flush()
    }
}

/// What was seen of one address.
#[derive(Clone, Debug, Default)]
pub struct HostRows {
    /// The name the address was reached through, if any.
    pub name: Option<String>,
    /// Listed results, sorted by port once [`Collector::take`] returns them.
    pub rows: Vec<PortResult>,
    /// Open ports seen.
    pub open: u64,
    /// Closed ports seen, listed or not.
    pub closed: u64,
    /// Ports seen but not listed, per (state, reason).
    pub unlisted: BTreeMap<(PortState, &'static str), u64>,
}

impl HostRows {
    /// Whether anything answered (an open or closed port): nmap's "up".
    pub fn up(&self) -> bool {
        self.open > 0 || self.closed > 0
    }

    /// Ports in `state` seen but not listed.
    pub fn unlisted(&self, state: PortState) -> u64 {
        self.unlisted
            .iter()
            .filter(|((s, _), _)| *s == state)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Collects results per address as they stream in.
#[derive(Debug, Default)]
pub struct Collector {
    show: Show,
    hosts: BTreeMap<IpAddr, HostRows>,
}

impl Collector {
    /// A collector listing open ports and the states `show` asks for.
    pub fn new(show: Show) -> Collector {
        Collector {
            show,
            hosts: BTreeMap::new(),
        }
    }

    /// Records one result.
    pub fn add(&mut self, r: &PortResult) {
        let h = self.hosts.entry(r.ip).or_default();
        if h.name.is_none() {
            h.name.clone_from(&r.host);
        }
        match r.state {
            PortState::Open => h.open += 1,
            PortState::Closed => h.closed += 1,
            PortState::Filtered | PortState::Unresolved | PortState::OpenFiltered => {}
        }
        if self.show.lists(r) {
            h.rows.push(r.clone());
        } else {
            *h.unlisted.entry((r.state, r.reason.as_str())).or_default() += 1;
        }
    }

    /// Everything collected, rows sorted by port; the collector is left empty.
    pub fn take(&mut self) -> BTreeMap<IpAddr, HostRows> {
        let mut hosts = std::mem::take(&mut self.hosts);
        for h in hosts.values_mut() {
            h.rows.sort_by_key(|r| r.port);
        }
        hosts
    }
}

/// One finding with where it was seen.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// The address, when the finding is about one.
    pub ip: Option<IpAddr>,
    /// The hostname, if any.
    pub host: Option<&'a str>,
    /// The port, when the finding is about one.
    pub port: Option<u16>,
    /// The port's transport.
    pub proto: Proto,
    /// What answers on that port, when known.
    pub service: Option<&'a Service>,
    /// The finding.
    pub finding: &'a Finding,
    /// Whether it came from the summary's host findings.
    pub host_level: bool,
}

impl Item<'_> {
    /// `ip:port`, `[v6]:port`, `ip` (`ip:port/udp` for a UDP port); for a
    /// finding with no address its policy entry (`file:line`, raw user text)
    /// or `-`.
    pub fn location(&self) -> String {
        let place = self.place();
        match (self.proto, self.port) {
            (Proto::Udp, Some(_)) => format!("{place}/udp"),
            _ => place,
        }
    }

    /// [`Item::location`] without the transport.
    fn place(&self) -> String {
        match (self.ip, self.port) {
            (Some(IpAddr::V6(ip)), Some(p)) => format!("[{ip}]:{p}"),
            (Some(ip), Some(p)) => format!("{ip}:{p}"),
            (Some(ip), None) => ip.to_string(),
            (None, Some(p)) => format!("port {p}"),
            (None, None) => match &self.finding.policy_entry {
                Some(e) => format!("{}:{}", e.file, e.line),
                None => "-".into(),
            },
        }
    }

    /// The policy facts worth showing: a status other than `unexpected`,
    /// the entry (`file:line`) and its reason (raw text: escape it).
    pub fn policy_facts(&self) -> Vec<String> {
        let f = self.finding;
        let mut out = Vec::new();
        if let Some(p) = f.policy.filter(|p| *p != PolicyStatus::Unexpected) {
            out.push(p.as_str().to_string());
        }
        if let Some(e) = &f.policy_entry {
            out.push(format!("{}:{}", e.file, e.line));
        }
        if let Some(r) = &f.policy_reason {
            out.push(r.clone());
        }
        out
    }

    /// Whether the policy expects this exposure.
    pub fn expected(&self) -> bool {
        self.finding.is_expected()
    }
}

/// What the alert formats send: the findings the policy does not expect
/// (worst first), and the baseline findings now resolved; both only with a
/// fingerprint, the key an alert is matched by.
pub fn alerts<'a>(
    hosts: &'a BTreeMap<IpAddr, HostRows>,
    s: &'a Summary,
) -> (Vec<Item<'a>>, Vec<&'a ResolvedFinding>) {
    let firing = findings(hosts, s)
        .into_iter()
        .filter(|i| !i.expected() && !i.finding.fingerprint.is_empty())
        .collect();
    let resolved = s
        .resolved
        .iter()
        .filter(|r| !r.fingerprint.is_empty())
        .collect();
    (firing, resolved)
}

/// Every finding, port findings and host findings together, worst first, then
/// by address (address-less last) and port.
pub fn findings<'a>(hosts: &'a BTreeMap<IpAddr, HostRows>, s: &'a Summary) -> Vec<Item<'a>> {
    let mut items = Vec::new();
    for (ip, h) in hosts {
        for r in &h.rows {
            if let Some(f) = &r.finding {
                items.push(Item {
                    ip: Some(*ip),
                    host: r.host.as_deref().or(h.name.as_deref()),
                    port: Some(r.port),
                    proto: r.proto,
                    service: r.service.as_ref(),
                    finding: f,
                    host_level: false,
                });
            }
        }
    }
    for hf in &s.findings {
        let service = match (hf.ip, hf.port) {
            (Some(ip), Some(port)) => hosts
                .get(&ip)
                .and_then(|h| {
                    h.rows
                        .iter()
                        .find(|r| r.port == port && r.proto == Proto::Tcp)
                })
                .and_then(|r| r.service.as_ref()),
            _ => None,
        };
        items.push(Item {
            ip: hf.ip,
            host: hf.host.as_deref(),
            port: hf.port,
            proto: Proto::Tcp,
            service,
            finding: &hf.finding,
            host_level: true,
        });
    }
    items.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then_with(|| {
                (a.ip.is_none(), a.ip, a.port, a.proto as u8).cmp(&(
                    b.ip.is_none(),
                    b.ip,
                    b.port,
                    b.proto as u8,
                ))
            })
            .then_with(|| a.finding.rule.cmp(&b.finding.rule))
    });
    items
}

/// The verdict for `ip`, if the summary has one.
pub fn verdict(s: &Summary, ip: IpAddr) -> Option<&HostVerdict> {
    s.hosts.iter().find(|h| h.ip == ip)
}

/// The worst severity among `items` about `ip`.
pub fn worst(items: &[Item<'_>], ip: IpAddr) -> Option<Severity> {
    items
        .iter()
        .filter(|i| i.ip == Some(ip))
        .map(|i| i.finding.severity)
        .max()
}

/// What a firewall posture means, in a few words.
pub fn firewall_text(f: crate::model::Firewall) -> &'static str {
    use crate::model::Firewall;
    match f {
        Firewall::None => "none (closed ports answer RST: nothing filters)",
        Firewall::Drop => "default-deny (unlisted ports are dropped)",
        Firewall::Reject => "default-deny (unlisted ports are rejected with ICMP)",
        Firewall::Mixed => "mixed (some ports answer RST, others are filtered)",
        Firewall::Unknown => "unknown (too few non-open ports probed)",
    }
}

/// The warning printed for a host whose every port answers.
pub const ANSWERS_EVERY_PORT: &str =
    "answers every port: random high ports accept connections too, so its open ports prove nothing";
