//! nmap XML (DTD `xmloutputversion` 1.05), enough for the DefectDojo, Faraday
//! and Metasploit importers.
//!
//! The root says `scanner="nmap"`: the DTD allows no other value and importers
//! key on it. `args` starts with `exposecheck` and a comment names the real
//! tool, so the file is never mistaken for nmap's own.
//!
//! Hosts that answered (an open or closed port) are written `up`; ports not
//! listed (see `--show`) are summarised in `<extraports>`. A port's finding is
//! a `<script id="exposecheck">`; host findings go in the host's
//! `<hostscript>`, and findings with no scanned host in `<postscript>`.
//!
//! Every attribute and text is XML-escaped; the C0 controls XML 1.0 forbids
//! even as character references become `\xNN` text, and tab, newline and
//! carriage return become character references.

use super::collect::{self, Collector, HostRows, Item};
use super::{parse_rfc3339, Show, Sink, Summary};
use crate::model::{Confidence, Finding, PortResult, PortState};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;

/// The nmap version claimed, for importers that check it.
pub const NMAP_VERSION: &str = "7.94";

/// Buffering nmap-XML writer.
pub struct NmapXml {
    out: Box<dyn Write>,
    hosts: Collector,
}

impl NmapXml {
    /// A writer over `out`; `show` picks the non-open states listed as ports.
    pub fn new(out: Box<dyn Write>, show: Show) -> NmapXml {
        NmapXml {
            out,
            hosts: Collector::new(show),
        }
    }
}

impl Sink for NmapXml {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.hosts.add(r);
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let hosts = self.hosts.take();
        self.out.write_all(document(&hosts, s).as_bytes())?;
        self.out.flush()
    }
}

/// Escapes text for an XML 1.0 attribute value or element content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() && (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

pub use crate::text::ctime;

fn script_output(f: &Finding) -> String {
    let mut o = format!(
        "{} {}: {}\n  evidence: {}",
        f.severity.as_str().to_uppercase(),
        f.rule,
        f.title,
        f.evidence
    );
    if let (Some(p), reason) = (f.policy, &f.policy_reason) {
        let _ = write!(o, "\n  policy: {}", p.as_str());
        if let Some(r) = reason {
            let _ = write!(o, " ({r})");
        }
    }
    let r = &f.remediation;
    for line in r
        .config
        .iter()
        .chain(&r.iptables)
        .chain(&r.nftables)
        .chain(&r.ufw)
    {
        let _ = write!(o, "\n  fix: {line}");
    }
    for line in &r.notes {
        let _ = write!(o, "\n  note: {line}");
    }
    o
}

fn script(x: &mut String, indent: &str, f: &Finding) {
    let _ = writeln!(
        x,
        "{indent}<script id=\"exposecheck\" output=\"{}\">",
        xml_escape(&script_output(f))
    );
    let mut elem = |k: &str, v: &str| {
        let _ = writeln!(x, "{indent}  <elem key=\"{k}\">{}</elem>", xml_escape(v));
    };
    elem("rule", &f.rule);
    elem("severity", f.severity.as_str());
    elem("title", &f.title);
    elem("evidence", &f.evidence);
    elem("fingerprint", &f.fingerprint);
    if let Some(p) = f.policy {
        elem("policy", p.as_str());
    }
    if let Some(b) = f.baseline {
        elem("baseline", b.as_str());
    }
    let _ = writeln!(x, "{indent}</script>");
}

fn service(x: &mut String, r: &PortResult) {
    let Some(s) = &r.service else { return };
    let name = if s.name == "tls" {
        "ssl"
    } else {
        s.name.as_str()
    };
    let _ = write!(x, "        <service name=\"{}\"", xml_escape(name));
    for (attr, v) in [("product", &s.product), ("version", &s.version)] {
        if let Some(v) = v {
            let _ = write!(x, " {attr}=\"{}\"", xml_escape(v));
        }
    }
    let mut extra: Vec<String> = s.info.iter().cloned().collect();
    if s.auth != crate::model::AuthState::Unknown {
        extra.push(format!("auth {}", s.auth.as_str()));
    }
    if !extra.is_empty() {
        let _ = write!(x, " extrainfo=\"{}\"", xml_escape(&extra.join("; ")));
    }
    if s.tls.is_some() {
        x.push_str(" tunnel=\"ssl\"");
    }
    let (method, conf) = match s.confidence {
        Confidence::Probed => ("probed", 10),
        Confidence::Guessed => ("table", 3),
    };
    let _ = writeln!(x, " method=\"{method}\" conf=\"{conf}\"/>");
}

fn host(x: &mut String, ip: IpAddr, h: &HostRows, findings: &[&Item<'_>]) {
    let (state, reason) = if h.open > 0 {
        ("up", "syn-ack")
    } else if h.closed > 0 {
        ("up", "conn-refused")
    } else {
        ("unknown", "no-response")
    };
    let kind = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
    let _ = writeln!(x, "  <host>");
    let _ = writeln!(
        x,
        "    <status state=\"{state}\" reason=\"{reason}\" reason_ttl=\"0\"/>"
    );
    let _ = writeln!(x, "    <address addr=\"{ip}\" addrtype=\"{kind}\"/>");
    match &h.name {
        Some(n) => {
            let _ = writeln!(
                x,
                "    <hostnames>\n      <hostname name=\"{}\" type=\"user\"/>\n    </hostnames>",
                xml_escape(n)
            );
        }
        None => x.push_str("    <hostnames/>\n"),
    }
    x.push_str("    <ports>\n");
    for st in [
        PortState::Closed,
        PortState::Filtered,
        PortState::Unresolved,
    ] {
        let count = h.unlisted(st);
        if count == 0 {
            continue;
        }
        let _ = writeln!(
            x,
            "      <extraports state=\"{}\" count=\"{count}\">",
            st.as_str()
        );
        for ((_, reason), n) in h.unlisted.iter().filter(|((s, _), _)| *s == st) {
            let _ = writeln!(
                x,
                "        <extrareasons reason=\"{reason}\" count=\"{n}\"/>"
            );
        }
        x.push_str("      </extraports>\n");
    }
    for r in &h.rows {
        let _ = writeln!(x, "      <port protocol=\"tcp\" portid=\"{}\">", r.port);
        let _ = writeln!(
            x,
            "        <state state=\"{}\" reason=\"{}\" reason_ttl=\"0\"/>",
            r.state.as_str(),
            r.reason.as_str()
        );
        service(x, r);
        if let Some(f) = &r.finding {
            script(x, "        ", f);
        }
        x.push_str("      </port>\n");
    }
    x.push_str("    </ports>\n");
    if !findings.is_empty() {
        x.push_str("    <hostscript>\n");
        for f in findings {
            script(x, "      ", f.finding);
        }
        x.push_str("    </hostscript>\n");
    }
    let _ = writeln!(x, "  </host>");
}

/// The whole document for the collected hosts and the summary.
pub fn document(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> String {
    let start = parse_rfc3339(&s.scan.start).unwrap_or(0);
    let end = s
        .scan
        .end
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(start);
    let mut args = format!("exposecheck -p {}", s.scan.ports);
    for t in &s.scan.targets {
        args.push(' ');
        args.push_str(t);
    }
    let numservices = crate::ports::parse_ports(&s.scan.ports).map_or(0, |l| l.len());
    let items = collect::findings(hosts, s);
    let host_level: Vec<&Item<'_>> = items.iter().filter(|i| i.host_level).collect();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n");
    let _ = writeln!(
        x,
        "<!-- exposecheck {} in nmap's XML format: scanner=\"nmap\" because importers require it; this is not nmap output -->",
        xml_escape(&s.scan.version).replace("--", "- -")
    );
    let _ = writeln!(
        x,
        "<nmaprun scanner=\"nmap\" args=\"{}\" start=\"{start}\" startstr=\"{}\" version=\"{NMAP_VERSION}\" xmloutputversion=\"1.05\">",
        xml_escape(&args),
        ctime(start)
    );
    let _ = writeln!(
        x,
        "  <scaninfo type=\"connect\" protocol=\"tcp\" numservices=\"{numservices}\" services=\"{}\"/>",
        xml_escape(&s.scan.ports)
    );
    x.push_str("  <verbose level=\"0\"/>\n  <debugging level=\"0\"/>\n");
    let (mut up, mut down) = (0u64, 0u64);
    for (ip, h) in hosts {
        if h.up() {
            up += 1;
        } else {
            down += 1;
        }
        let mine: Vec<&Item<'_>> = host_level
            .iter()
            .copied()
            .filter(|i| i.ip == Some(*ip))
            .collect();
        if h.up() || !h.rows.is_empty() || !mine.is_empty() {
            host(&mut x, *ip, h, &mine);
        }
    }
    let orphans: Vec<&Item<'_>> = host_level
        .iter()
        .copied()
        .filter(|i| match i.ip {
            Some(ip) => !hosts.contains_key(&ip),
            None => true,
        })
        .collect();
    if !orphans.is_empty() {
        x.push_str("  <postscript>\n");
        for f in orphans {
            script(&mut x, "    ", f.finding);
        }
        x.push_str("  </postscript>\n");
    }
    let elapsed = (end - start).max(0);
    let (exit, err) = if s.interrupted {
        ("error", " errormsg=\"interrupted\"")
    } else {
        ("success", "")
    };
    let _ = writeln!(
        x,
        "  <runstats>\n    <finished time=\"{end}\" timestr=\"{}\" elapsed=\"{elapsed}.00\" summary=\"exposecheck done: {} IP addresses ({up} hosts up) scanned in {elapsed}.00 seconds; {} findings\" exit=\"{exit}\"{err}/>",
        ctime(end),
        hosts.len(),
        items.len()
    );
    let _ = writeln!(
        x,
        "    <hosts up=\"{up}\" down=\"{down}\" total=\"{}\"/>\n  </runstats>\n</nmaprun>",
        hosts.len()
    );
    x
}
