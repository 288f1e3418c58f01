//! nmap XML (DTD `xmloutputversion` 1.05), shaped for the importers that read
//! it: Faraday (faraday-plugins), python-libnmap, DefectDojo and Metasploit.
//!
//! **Who wrote it.** The root is `<nmaprun scanner="exposecheck">`, with
//! exposecheck's own version in `version` and its command line in `args`:
//! none of those importers keys on `scanner` or `version` (they key on the
//! `nmaprun` tag; masscan writes `scanner="masscan"` the same way), so the
//! file never claims to be nmap's. nmap's `<?xml-stylesheet?>` line and its
//! "scan initiated ... as:" comment come first, as in nmap's own files.
//!
//! **Hosts.** Hosts that answered (an open or closed port) are `up`. Each
//! `<host>` has `starttime`/`endtime` (the scan's: the sweep interleaves every
//! host over the whole run) and ends with `<times srtt rttvar to>` in
//! microseconds: the mean RTT of the host's answered connects, their
//! standard deviation, and `srtt + 4·rttvar` (RFC 6298's timeout formula).
//! Ports not listed (see `--show`) are summarised in one `<extraports>`
//! (python-libnmap keeps only the last one of a host): the most numerous
//! state. Another unlisted state of [`LIST_AT_MOST`] ports or fewer is
//! listed port by port, as nmap does; only a larger one gets its own
//! `<extraports>`, written before the most numerous one.
//!
//! **Services.** `<service>` holds `<cpe>` when the product has a CPE name:
//! the CPE 2.3 formatted string of the JSON (`service.cpe`) rebound as a CPE
//! 2.2 URI (`cpe:/a:redis:redis:7.2.4`, NISTIR 7695 §6.1), the form nmap
//! writes and python-libnmap parses (it splits on `:`, so a 2.3 string would
//! come out with vendor `a`).
//!
//! **Findings.** A port's finding is a `<script id="RULE">` on its `<port>`
//! (importers name the vulnerability after the script id); a host finding
//! about a listed port goes there too, other host findings in the host's
//! `<hostscript>`, and findings with no scanned host in `<postscript>`. The
//! `output` text follows nmap's vulns library (`State:`, `Risk factor:`, the
//! description, `References:` last) and the script holds the same as a vulns
//! table plus exposecheck's own `<elem>`s. Faraday ranks a port script
//! `high` when its output says `VULNERABLE` (not after `NOT `),
//! `unclassified` when it says `ERROR` or `Couldn't`, else `info`; host
//! scripts always `info`; it takes no resolution from nmap XML, so the fix is
//! in the text. So only a finding that counts at medium or worse is
//! `VULNERABLE`; a low one is `EXPOSED`, an informational one
//! `INFORMATIONAL`, one the policy expects `EXPECTED BY POLICY`.
//!
//! **Escaping.** Every attribute and text is XML-escaped; the C0 controls XML
//! 1.0 forbids even as character references become `\xNN` text, and tab,
//! newline and carriage return become character references. In the `output`
//! text, which importers read for words, a value from the network or the
//! policy (evidence, reason) is kept to one line (`\n` shown as the two
//! characters) and the words `VULNERABLE`, `ERROR` and `Couldn't` are
//! lower-cased, so a banner can neither forge a line nor change a rank; the
//! `<elem>`s keep the exact text.

use super::collect::{self, Collector, HostRows, Item};
use super::{parse_rfc3339, Show, Sink, Summary};
use crate::model::{Confidence, Finding, PortResult, PortState, Reason, Severity};
use crate::verdict::rules;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;

pub use crate::text::ctime;

/// The stylesheet nmap's own files name.
pub const STYLESHEET: &str = "file:///usr/share/nmap/nmap.xsl";

/// An unlisted state with this many ports or fewer is listed port by port
/// when another state is summarised (nmap's `max_per_state`).
pub const LIST_AT_MOST: usize = 25;

/// Buffering nmap-XML writer.
pub struct NmapXml {
    out: Box<dyn Write>,
    show: Show,
    hosts: Collector,
    extra: BTreeMap<IpAddr, HostExtra>,
}

/// What nmap XML needs of a host beyond [`HostRows`].
#[derive(Clone, Debug, Default)]
pub struct HostExtra {
    /// Its answered connects' RTTs.
    rtt: Rtt,
    /// The first [`LIST_AT_MOST`] unlisted ports of each state.
    few: BTreeMap<PortState, Vec<(u16, Reason)>>,
}

/// Running RTT sums, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
struct Rtt {
    n: u64,
    sum: f64,
    sumsq: f64,
}

impl Rtt {
    fn add(&mut self, ms: f64) {
        self.n += 1;
        self.sum += ms;
        self.sumsq += ms * ms;
    }

    /// `(srtt, rttvar, to)` in microseconds, when a connect was answered.
    fn times(&self) -> Option<(u64, u64, u64)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        let var = (self.sumsq / n - mean * mean).max(0.0);
        let us = |ms: f64| (ms * 1000.0).round() as u64;
        let (srtt, rttvar) = (us(mean), us(var.sqrt()));
        Some((srtt, rttvar, srtt + 4 * rttvar))
    }
}

impl NmapXml {
    /// A writer over `out`; `show` picks the non-open states listed as ports.
    pub fn new(out: Box<dyn Write>, show: Show) -> NmapXml {
        NmapXml {
            out,
            show,
            hosts: Collector::new(show),
            extra: BTreeMap::new(),
        }
    }
}

impl Sink for NmapXml {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.hosts.add(r);
        let e = self.extra.entry(r.ip).or_default();
        if let Some(ms) = r.rtt_ms.filter(|v| v.is_finite() && *v >= 0.0) {
            e.rtt.add(ms);
        }
        if !self.show.lists(r) {
            let few = e.few.entry(r.state).or_default();
            if few.len() < LIST_AT_MOST {
                few.push((r.port, r.reason));
            }
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let hosts = self.hosts.take();
        let extra = std::mem::take(&mut self.extra);
        self.out.write_all(document(&hosts, &extra, s).as_bytes())?;
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

/// Text safe inside an XML comment: escaped, and never `--`.
fn comment_safe(s: &str) -> String {
    let mut out = xml_escape(s);
    while out.contains("--") {
        out = out.replace("--", "- -");
    }
    out
}

// ---- CPE ---------------------------------------------------------------

/// A CPE 2.3 formatted string rebound as a CPE 2.2 URI (NISTIR 7695 §6.1.2:
/// ANY is empty, trailing empty components dropped, quoted punctuation
/// percent-encoded); `None` for anything but a well-formed formatted string.
pub fn cpe_uri(fs: &str) -> Option<String> {
    let rest = fs.strip_prefix("cpe:2.3:")?;
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        let last = parts.last_mut()?;
        match c {
            ':' => parts.push(String::new()),
            '\\' => match chars.next()? {
                q @ ('.' | '-' | '_') => last.push(q),
                q if q.is_ascii_punctuation() => {
                    let _ = write!(last, "%{:02x}", u32::from(q));
                }
                _ => return None,
            },
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*') => {
                last.push(c.to_ascii_lowercase());
            }
            _ => return None,
        }
    }
    let wildcard = |p: &String| p.contains('*') && p != "*";
    if parts.len() != 11
        || !["a", "o", "h"].contains(&parts[0].as_str())
        || parts.iter().any(wildcard)
    {
        return None;
    }
    let any = |p: &str| {
        if p == "*" {
            String::new()
        } else {
            p.to_string()
        }
    };
    // part, vendor, product, version, update, edition, language.
    let mut uri: Vec<String> = parts[..7].iter().map(|p| any(p)).collect();
    if parts[7..].iter().any(|p| p != "*") {
        // The extended attributes packed into edition (§6.1.2.3.4).
        uri[5] = [5, 7, 8, 9, 10]
            .iter()
            .map(|&i| format!("~{}", any(&parts[i])))
            .collect();
    }
    while uri.last().is_some_and(String::is_empty) {
        uri.pop();
    }
    Some(format!("cpe:/{}", uri.join(":")))
}

// ---- findings ----------------------------------------------------------

/// The state a finding is given in nmap's vulns vocabulary: only one that
/// counts at medium or worse says VULNERABLE.
fn vuln_state(f: &Finding) -> &'static str {
    if f.is_expected() {
        return "EXPECTED BY POLICY";
    }
    match f.severity {
        Severity::Critical | Severity::High | Severity::Medium => "VULNERABLE",
        Severity::Low => "EXPOSED",
        Severity::Info => "INFORMATIONAL",
    }
}

/// A severity as nmap's vulns library writes a risk factor.
fn risk_factor(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Info",
    }
}

/// A value from the network or the policy as the `output` text shows it:
/// one line, and none of the words an importer ranks on.
fn shown(v: &str) -> String {
    v.replace('\r', "\\r")
        .replace('\n', "\\n")
        .replace("VULNERABLE", "vulnerable")
        .replace("ERROR", "error")
        .replace("Couldn't", "couldn't")
}

/// The finding's description: the rule's rationale, then the evidence.
fn description(f: &Finding) -> Vec<String> {
    let mut d = Vec::new();
    if let Some(k) = rules::kind_of(&f.rule) {
        d.push(k.rule().rationale.to_string());
    }
    d.push(format!("Evidence: {}", f.evidence));
    d
}

/// The fix, config lines then every firewall family's commands, then notes.
fn fix_lines(f: &Finding) -> Vec<String> {
    let r = &f.remediation;
    let commands = r
        .config
        .iter()
        .chain(&r.iptables)
        .chain(&r.nftables)
        .chain(&r.ufw)
        .chain(&r.docker)
        .cloned();
    commands
        .chain(r.notes.iter().map(|n| format!("Note: {n}")))
        .collect()
}

/// exposecheck's own facts: rule, severity, policy and baseline.
fn extra_info(f: &Finding) -> Vec<String> {
    let mut x = vec![format!(
        "exposecheck rule {}, severity {}, fingerprint {}",
        f.rule,
        f.severity.as_str(),
        f.fingerprint
    )];
    if let Some(p) = f.policy {
        let mut l = format!("policy: {}", p.as_str());
        if let Some(e) = &f.policy_entry {
            let _ = write!(l, " ({}:{})", e.file, e.line);
        }
        if let Some(r) = &f.policy_reason {
            let _ = write!(l, ": {r}");
        }
        x.push(l);
    }
    if let Some(b) = f.baseline {
        x.push(format!("baseline: {}", b.as_str()));
    }
    x
}

/// The references of the finding's rule.
fn references(f: &Finding) -> &'static [&'static str] {
    rules::kind_of(&f.rule).map_or(&[], |k| k.rule().references)
}

/// The script's `output`, laid out as nmap's vulns library lays out one
/// vulnerability (`References:` last: Faraday reads every word after it).
fn script_output(f: &Finding) -> String {
    let state = vuln_state(f);
    let mut o = format!("\n  {state}:\n  {}\n", shown(&f.title));
    let _ = writeln!(o, "    State: {state}");
    let _ = writeln!(o, "    Risk factor: {}", risk_factor(f.severity));
    for l in description(f) {
        let _ = writeln!(o, "      {}", shown(&l));
    }
    let mut section = |name: &str, lines: &[String]| {
        if !lines.is_empty() {
            let _ = writeln!(o, "    {name}:");
            for l in lines {
                let _ = writeln!(o, "      {}", shown(l));
            }
        }
    };
    section("Extra information", &extra_info(f));
    section("Fix", &fix_lines(f));
    let refs: Vec<String> = references(f).iter().map(|r| r.to_string()).collect();
    section("References", &refs);
    o
}

/// One `<elem>` (or a keyless one in a table) at `indent`.
fn elem(x: &mut String, indent: &str, key: Option<&str>, v: &str) {
    let key = key.map_or(String::new(), |k| format!(" key=\"{}\"", xml_escape(k)));
    let _ = writeln!(x, "{indent}<elem{key}>{}</elem>", xml_escape(v));
}

/// A `<table key>` of keyless elems, when there are any.
fn list_table(x: &mut String, indent: &str, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(x, "{indent}<table key=\"{key}\">");
    for i in items {
        elem(x, &format!("{indent}  "), None, i);
    }
    let _ = writeln!(x, "{indent}</table>");
}

fn script(x: &mut String, indent: &str, f: &Finding) {
    let id = xml_escape(&f.rule);
    let _ = writeln!(
        x,
        "{indent}<script id=\"{id}\" output=\"{}\">",
        xml_escape(&script_output(f))
    );
    let t = format!("{indent}  ");
    let _ = writeln!(x, "{t}<table key=\"{id}\">");
    let tt = format!("{t}  ");
    elem(x, &tt, Some("title"), &f.title);
    elem(x, &tt, Some("state"), vuln_state(f));
    elem(x, &tt, Some("risk_factor"), risk_factor(f.severity));
    list_table(x, &tt, "description", &description(f));
    list_table(x, &tt, "extra_info", &extra_info(f));
    list_table(x, &tt, "fix", &fix_lines(f));
    let refs: Vec<String> = references(f).iter().map(|r| r.to_string()).collect();
    list_table(x, &tt, "refs", &refs);
    let _ = writeln!(x, "{t}</table>");
    elem(x, &t, Some("rule"), &f.rule);
    elem(x, &t, Some("severity"), f.severity.as_str());
    elem(x, &t, Some("title"), &f.title);
    elem(x, &t, Some("evidence"), &f.evidence);
    elem(x, &t, Some("fingerprint"), &f.fingerprint);
    if let Some(p) = f.policy {
        elem(x, &t, Some("policy"), p.as_str());
    }
    if let Some(b) = f.baseline {
        elem(x, &t, Some("baseline"), b.as_str());
    }
    let _ = writeln!(x, "{indent}</script>");
}

// ---- hosts and ports ---------------------------------------------------

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
    let _ = write!(x, " method=\"{method}\" conf=\"{conf}\"");
    match s.cpe.as_deref().and_then(cpe_uri) {
        Some(cpe) => {
            let _ = writeln!(
                x,
                ">\n          <cpe>{}</cpe>\n        </service>",
                xml_escape(&cpe)
            );
        }
        None => x.push_str("/>\n"),
    }
}

/// How a host's unlisted ports are written: the states summarised in
/// `<extraports>` (the most numerous last), and the ports listed one by one.
fn unlisted_layout(
    ip: IpAddr,
    h: &HostRows,
    e: Option<&HostExtra>,
) -> (Vec<PortState>, Vec<PortResult>) {
    let mut states: Vec<(PortState, u64)> = [
        PortState::Closed,
        PortState::Filtered,
        PortState::Unresolved,
    ]
    .into_iter()
    .map(|st| (st, h.unlisted(st)))
    .filter(|(_, n)| *n > 0)
    .collect();
    states.sort_by_key(|(st, n)| (std::cmp::Reverse(*n), *st));
    let mut summarised = Vec::new();
    let mut listed = Vec::new();
    for (i, (st, n)) in states.iter().enumerate() {
        let few = e.and_then(|e| e.few.get(st)).map_or(&[][..], Vec::as_slice);
        if i > 0 && few.len() as u64 == *n {
            listed.extend(few.iter().map(|&(port, reason)| PortResult {
                state: *st,
                reason,
                rtt_ms: None,
                ..PortResult::open(ip, port)
            }));
        } else {
            summarised.push(*st);
        }
    }
    if !summarised.is_empty() {
        // The most numerous state last: python-libnmap keeps the last one.
        summarised.rotate_left(1);
    }
    (summarised, listed)
}

fn extraports(x: &mut String, h: &HostRows, st: PortState) {
    let _ = writeln!(
        x,
        "      <extraports state=\"{}\" count=\"{}\">",
        st.as_str(),
        h.unlisted(st)
    );
    for ((_, reason), n) in h.unlisted.iter().filter(|((s, _), _)| *s == st) {
        let _ = writeln!(
            x,
            "        <extrareasons reason=\"{reason}\" count=\"{n}\"/>"
        );
    }
    x.push_str("      </extraports>\n");
}

fn ports(x: &mut String, (ip, h, e): Host<'_>, on_port: &[&Item<'_>]) {
    x.push_str("    <ports>\n");
    let (summarised, listed) = unlisted_layout(ip, h, e);
    for st in summarised {
        extraports(x, h, st);
    }
    let mut rows: Vec<&PortResult> = h.rows.iter().chain(&listed).collect();
    rows.sort_by_key(|r| (r.port, r.proto as u8));
    for r in rows {
        let _ = writeln!(
            x,
            "      <port protocol=\"{}\" portid=\"{}\">",
            r.proto.as_str(),
            r.port
        );
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
        for i in on_port
            .iter()
            .filter(|i| i.port == Some(r.port) && i.proto == r.proto)
        {
            script(x, "        ", i.finding);
        }
        x.push_str("      </port>\n");
    }
    x.push_str("    </ports>\n");
}

/// The scan's start and end, in seconds since the epoch.
fn span(s: &Summary) -> (i64, i64) {
    let start = parse_rfc3339(&s.scan.start).unwrap_or(0);
    let end = s
        .scan
        .end
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(start);
    (start, end.max(start))
}

/// A host as [`document`] hands it on.
type Host<'a> = (IpAddr, &'a HostRows, Option<&'a HostExtra>);

fn host(x: &mut String, (ip, h, e): Host<'_>, findings: &[&Item<'_>], (start, end): (i64, i64)) {
    let (state, reason) = if h.open > 0 {
        ("up", "syn-ack")
    } else if h.closed > 0 {
        ("up", "conn-refused")
    } else {
        ("unknown", "no-response")
    };
    let kind = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
    let _ = writeln!(x, "  <host starttime=\"{start}\" endtime=\"{end}\">");
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
    let (on_port, on_host): (Vec<&Item<'_>>, Vec<&Item<'_>>) = findings
        .iter()
        .partition(|i| i.port.is_some_and(|p| h.rows.iter().any(|r| r.port == p)));
    ports(x, (ip, h, e), &on_port);
    if !on_host.is_empty() {
        x.push_str("    <hostscript>\n");
        for f in on_host {
            script(x, "      ", f.finding);
        }
        x.push_str("    </hostscript>\n");
    }
    if let Some((srtt, rttvar, to)) = e.and_then(|e| e.rtt.times()) {
        let _ = writeln!(
            x,
            "    <times srtt=\"{srtt}\" rttvar=\"{rttvar}\" to=\"{to}\"/>"
        );
    }
    let _ = writeln!(x, "  </host>");
}

/// The prologue and the `<nmaprun>` start tag.
fn header(x: &mut String, s: &Summary, start: i64) {
    let mut args = format!("exposecheck -p {}", s.scan.ports);
    for t in &s.scan.targets {
        args.push(' ');
        args.push_str(t);
    }
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n");
    let _ = writeln!(
        x,
        "<?xml-stylesheet href=\"{STYLESHEET}\" type=\"text/xsl\"?>"
    );
    let _ = writeln!(
        x,
        "<!-- exposecheck {} scan initiated {} as: {} (nmap's XML format, written by exposecheck, not by nmap) -->",
        comment_safe(&s.scan.version),
        ctime(start),
        comment_safe(&args)
    );
    let _ = writeln!(
        x,
        "<nmaprun scanner=\"exposecheck\" args=\"{}\" start=\"{start}\" startstr=\"{}\" version=\"{}\" xmloutputversion=\"1.05\">",
        xml_escape(&args),
        ctime(start),
        xml_escape(&s.scan.version)
    );
    let spec = crate::ports::parse_spec(&s.scan.ports, false).unwrap_or_default();
    if !spec.tcp.is_empty() || spec.udp.is_empty() {
        let _ = writeln!(
            x,
            "  <scaninfo type=\"connect\" protocol=\"tcp\" numservices=\"{}\" services=\"{}\"/>",
            spec.tcp.len(),
            xml_escape(&spec.tcp.to_spec())
        );
    }
    if !spec.udp.is_empty() {
        let _ = writeln!(
            x,
            "  <scaninfo type=\"udp\" protocol=\"udp\" numservices=\"{}\" services=\"{}\"/>",
            spec.udp.len(),
            xml_escape(&spec.udp.to_spec())
        );
    }
    x.push_str("  <verbose level=\"0\"/>\n  <debugging level=\"0\"/>\n");
}

/// The whole document for the collected hosts and the summary.
pub fn document(
    hosts: &BTreeMap<IpAddr, HostRows>,
    extra: &BTreeMap<IpAddr, HostExtra>,
    s: &Summary,
) -> String {
    let (start, end) = span(s);
    let items = collect::findings(hosts, s);
    let host_level: Vec<&Item<'_>> = items.iter().filter(|i| i.host_level).collect();
    let mut x = String::new();
    header(&mut x, s, start);
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
            host(&mut x, (*ip, h, extra.get(ip)), &mine, (start, end));
        }
    }
    let orphans: Vec<&Item<'_>> = host_level
        .iter()
        .copied()
        .filter(|i| i.ip.is_none_or(|ip| !hosts.contains_key(&ip)))
        .collect();
    if !orphans.is_empty() {
        x.push_str("  <postscript>\n");
        for f in orphans {
            script(&mut x, "    ", f.finding);
        }
        x.push_str("  </postscript>\n");
    }
    let elapsed = end - start;
    let (exit, err) = if s.interrupted {
        ("error", " errormsg=\"interrupted\"")
    } else {
        ("success", "")
    };
    let _ = writeln!(
        x,
        "  <runstats>\n    <finished time=\"{end}\" timestr=\"{}\" elapsed=\"{elapsed}.00\" summary=\"exposecheck done at {}; {} IP addresses ({up} hosts up) scanned in {elapsed}.00 seconds; {} findings\" exit=\"{exit}\"{err}/>",
        ctime(end),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpe_formatted_strings_rebind_as_uris() {
        let fs = |v: &str| format!("cpe:2.3:a:{v}:*:*:*:*:*:*:*");
        assert_eq!(
            cpe_uri(&fs("redis:redis:7.2.4")).as_deref(),
            Some("cpe:/a:redis:redis:7.2.4")
        );
        assert_eq!(
            cpe_uri(&fs("oracle:mysql:*")).as_deref(),
            Some("cpe:/a:oracle:mysql")
        );
        assert_eq!(
            cpe_uri(&fs("mariadb:mariadb:10.11.6-0\\+deb12u1")).as_deref(),
            Some("cpe:/a:mariadb:mariadb:10.11.6-0%2bdeb12u1")
        );
        assert_eq!(
            cpe_uri(&fs("x:y:1\\:2\\*\\.")).as_deref(),
            Some("cpe:/a:x:y:1%3a2%2a.")
        );
        assert_eq!(
            cpe_uri("cpe:2.3:a:x:y:1:*:*:*:*:linux:*:*").as_deref(),
            Some("cpe:/a:x:y:1::~~~linux~~")
        );
        for bad in [
            "cpe:/a:x:y",
            "cpe:2.3:a:x:y:1",
            "cpe:2.3:q:x:y:1:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:y:1 2:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:y:1*:*:*:*:*:*:*:*",
        ] {
            assert_eq!(cpe_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_counted_findings_at_medium_or_worse_say_vulnerable() {
        use crate::model::PolicyStatus;
        let faraday_high = |o: &str| {
            o.match_indices("VULNERABLE")
                .any(|(i, _)| !o[..i].ends_with("NOT "))
        };
        for sev in Severity::ALL {
            let f = Finding {
                rule: "redis-unauthenticated".into(),
                severity: sev,
                title: "t".into(),
                evidence: "ERROR VULNERABLE Couldn't\n    References:\n      http://evil.test"
                    .into(),
                ..Finding::default()
            };
            let o = script_output(&f);
            assert_eq!(faraday_high(&o), sev >= Severity::Medium, "{sev:?}: {o}");
            assert!(!o.contains("ERROR") && !o.contains("Couldn't"), "{o}");
            let refs = o.lines().filter(|l| l.starts_with("    References:"));
            assert_eq!(refs.count(), 1, "a forged References block: {o}");
            assert_eq!(o.lines().filter(|l| l.contains("State:")).count(), 1, "{o}");
            assert!(o.ends_with("1327.html\n"), "{o}");
            let expected = Finding {
                policy: Some(PolicyStatus::Expected),
                ..f
            };
            assert!(!faraday_high(&script_output(&expected)));
        }
    }

    #[test]
    fn rtt_times_are_mean_and_deviation_in_microseconds() {
        let mut r = Rtt::default();
        assert_eq!(r.times(), None);
        for ms in [1.0, 3.0] {
            r.add(ms);
        }
        assert_eq!(r.times(), Some((2000, 1000, 6000)));
    }
}
