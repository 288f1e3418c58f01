//! `exposecheck services` and `exposecheck explain`: the catalogue and the
//! rules table as text for people.
//!
//! Pure functions that return the text; the command line prints it. A
//! `--services-dir` file is user input, so every string that comes from a
//! service file goes through [`terminal_safe`], and payload bytes through
//! the escaper (`\r \n \t \\ \xNN`, printable ASCII as is).
//!
//! Nothing here decides a severity or writes a fix: both are what
//! [`port::assess`] gives an open port of the service, with the service
//! answering in each auth state, so this text cannot disagree with a scan.
//! `explain` also takes a bare service id (`explain redis`): it then lists
//! the three rule ids of that service, with their severities.

use crate::catalog::format::MatchKind;
use crate::catalog::{Catalog, ProbeKey, ServiceDef};
use crate::error::Error;
use crate::model::{AuthState, Finding, PortResult, Remediation, Service, Severity};
use crate::text::terminal_safe;
use crate::verdict::rules::{self, Applied, Fix, RuleKind, ServiceFix};
use crate::verdict::{port, ServiceFacts};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

/// The width the text is laid out for.
const WIDTH: usize = 100;

/// The port a fix is written for when no service port applies.
const EXAMPLE_PORT: u16 = 4444;

/// Every auth state a service can answer with, in the order they are shown.
const AUTH_STATES: [AuthState; 4] = [
    AuthState::None,
    AuthState::Required,
    AuthState::Protected,
    AuthState::Unknown,
];

/// The catalogue as a table: one row per service (id, name, exposure,
/// ports), then one line per thing it sends, cut to fit [`WIDTH`] columns.
pub fn services(catalog: &Catalog) -> String {
    let order = by_id(catalog);
    let mut rows = vec![["ID", "NAME", "EXPOSURE", "PORTS"]
        .map(String::from)
        .to_vec()];
    rows.extend(order.iter().map(|&si| {
        let d = catalog.service_at(si);
        vec![
            safe(&d.id),
            safe(&d.name),
            d.exposure.as_str().to_owned(),
            ports_cell(d),
        ]
    }));
    let lines = table(&rows);
    let sends: Vec<Vec<(String, Vec<String>)>> =
        order.iter().map(|&si| sends(catalog, si)).collect();
    let label_w = sends
        .iter()
        .flatten()
        .map(|(l, _)| width(l))
        .max()
        .unwrap_or(0);
    let room = WIDTH.saturating_sub(4 + label_w + 2);
    let mut out = format!("{}\n", lines[0]);
    for (line, sent) in lines[1..].iter().zip(&sends) {
        let _ = writeln!(out, "{line}");
        for (label, what) in sent {
            let _ = writeln!(out, "    {}  {}", pad(label, label_w), cut(what, room));
        }
    }
    out.push('\n');
    out += &wrap(
        &format!(
            "{} services. Ports in (tls ...) get a TLS ClientHello first. Payloads are escaped \
             (\\r \\n \\t \\\\ \\xNN) and long ones cut (…): `exposecheck services ID` shows a \
             service whole.",
            order.len()
        ),
        0,
    );
    out
}

/// Service indices sorted by id.
fn by_id(catalog: &Catalog) -> Vec<usize> {
    let mut order: Vec<usize> = (0..catalog.services().len()).collect();
    order.sort_by(|&a, &b| catalog.service_at(a).id.cmp(&catalog.service_at(b).id));
    order
}

/// What service `si` sends, as (label, escaped pieces): the greeting it
/// reads, its own probes, the other files' probes its rules read, and its
/// dialogue.
fn sends(catalog: &Catalog, si: usize) -> Vec<(String, Vec<String>)> {
    let d = catalog.service_at(si);
    let mut out = Vec::new();
    if d.server_first {
        out.push(("greeting".to_owned(), text_pieces("(reads the greeting)")));
    }
    for pi in probes_of(catalog, si) {
        let p = &catalog.probes()[pi];
        let what = if p.service == si {
            byte_pieces(&p.payload)
        } else {
            let owner = &catalog.service_at(p.service).id;
            text_pieces(&format!("(the probe of {owner}, listed there)"))
        };
        out.push((safe(&p.name), what));
    }
    if let Some(code) = &d.code {
        let note = d.code_note.as_deref().unwrap_or_default();
        out.push((safe(code), text_pieces(&format!("dialogue: {note}"))));
    }
    out
}

/// The probes service `si` defines, then the others its rules read, each once.
fn probes_of(catalog: &Catalog, si: usize) -> Vec<usize> {
    let own = (0..catalog.probes().len()).filter(|&pi| catalog.probes()[pi].service == si);
    let read = catalog
        .rules()
        .iter()
        .filter(|r| r.service == si)
        .filter_map(|r| match r.probe {
            ProbeKey::Probe(pi) => Some(pi),
            ProbeKey::Greeting => None,
        });
    let mut out: Vec<usize> = Vec::new();
    for pi in own.chain(read) {
        if !out.contains(&pi) {
            out.push(pi);
        }
    }
    out
}

/// The whole definition of service `id`: facts, probes, match rules,
/// remediation, and the rule ids it can raise with their severity.
pub fn service(catalog: &Catalog, id: &str) -> Result<String, Error> {
    let Some(d) = catalog.service(id) else {
        let ids: Vec<String> = catalog.services().iter().map(|d| d.id.clone()).collect();
        return Err(unknown("service", id, &ids, "exposecheck services"));
    };
    let si = catalog
        .services()
        .iter()
        .position(|s| s.id == d.id)
        .expect("a service found by id is in the list");
    let mut out = format!("{} ({})\n", safe(&d.name), safe(&d.id));
    let tls = if d.tls_ports.is_empty() {
        "-".to_owned()
    } else {
        port_list(&d.tls_ports)
    };
    let facts = [
        ("category", d.category.as_str().to_owned()),
        ("exposure", d.exposure.as_str().to_owned()),
        ("ports", port_list(&d.ports)),
        ("TLS ports", tls),
        ("priority", d.priority.to_string()),
        ("generic", if d.generic { "yes" } else { "no" }.to_owned()),
        ("source", safe(&d.source)),
    ];
    for (k, v) in facts {
        let _ = writeln!(out, "  {k:<10} {v}");
    }
    if d.server_first {
        out += "  greeting   read first: the server speaks before anything is sent\n";
    }
    if let Some(code) = &d.code {
        let _ = writeln!(out, "\nDialogue {}", safe(code));
        out += &wrap(d.code_note.as_deref().unwrap_or_default(), 2);
    }
    out += &probe_section(catalog, si);
    out += &match_section(catalog, si);
    out += &remediation_section(d);
    out += &eol_section(d);
    out += &raised_section(d);
    Ok(out)
}

/// The release cycles with their end-of-life dates and sources (what
/// `eol-version` compares an identified version against).
fn eol_section(d: &ServiceDef) -> String {
    if d.eol.is_empty() {
        return String::new();
    }
    let mut rows = vec![vec![
        "product".to_owned(),
        "cycle".to_owned(),
        "end of life".to_owned(),
        "source".to_owned(),
    ]];
    for c in d.eol.cycles() {
        rows.push(vec![
            safe(c.product.as_deref().unwrap_or("*")),
            safe(&c.cycle),
            c.eol.map_or_else(|| "-".to_owned(), |e| e.to_string()),
            safe(&c.source),
        ]);
    }
    let mut out = String::from("\nEnd of life (eol-version; version-inferred)\n");
    for line in table(&rows) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// Every probe the service sends or reads, in full.
fn probe_section(catalog: &Catalog, si: usize) -> String {
    let probes = probes_of(catalog, si);
    if probes.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nProbes\n");
    for pi in probes {
        let p = &catalog.probes()[pi];
        let _ = writeln!(out, "  {}", safe(&p.name));
        let _ = writeln!(out, "    sends      {}", byte_pieces(&p.payload).concat());
        let mut on = if p.hint_ports.is_empty() {
            String::new()
        } else {
            port_list(&p.hint_ports.iter().copied().collect::<Vec<_>>())
        };
        if p.fallback {
            on += if on.is_empty() {
                "every port (a fallback probe)"
            } else {
                ", and every other port (a fallback probe)"
            };
        }
        if on.is_empty() {
            on = "no port of its own".into();
        }
        out += &hang("    on ports   ", &on.replace(',', ", "), 15);
        let _ = writeln!(out, "    family     {}, rank {}", safe(&p.family), p.rank);
        if let Some(g) = p.guard {
            let g = safe(&catalog.probes()[g].name);
            let _ = writeln!(
                out,
                "    guard      {g} is sent first, unless the port already spoke"
            );
        }
        if p.follow_up {
            let after: Vec<String> = catalog
                .rules()
                .iter()
                .filter(|r| r.then == Some(pi))
                .map(|r| probe_label(catalog, r.probe))
                .collect();
            let after = if after.is_empty() {
                "a match".to_owned()
            } else {
                format!("a match on {}", after.join(", "))
            };
            let _ = writeln!(
                out,
                "    follow-up  only sent after {after} (a rule's `then`)"
            );
        }
        if p.reply_from == crate::catalog::format::ReplyFrom::NewPort {
            let _ = writeln!(
                out,
                "    replies    from a port the server picks; read only when a rule matches"
            );
        }
        if p.service != si {
            let owner = safe(&catalog.service_at(p.service).id);
            let _ = writeln!(out, "    defined by {owner}");
        }
        out += &hang("    note       ", &p.note, 15);
    }
    out
}

/// The name of the reply a rule reads.
fn probe_label(catalog: &Catalog, key: ProbeKey) -> String {
    match key {
        ProbeKey::Greeting => "greeting".to_owned(),
        ProbeKey::Probe(pi) => safe(&catalog.probes()[pi].name),
    }
}

/// The service's match rules, in matching order, with what each sets.
fn match_section(catalog: &Catalog, si: usize) -> String {
    let rules: Vec<_> = catalog.rules().iter().filter(|r| r.service == si).collect();
    if rules.is_empty() {
        return String::new();
    }
    let labels: Vec<String> = rules
        .iter()
        .map(|r| probe_label(catalog, r.probe))
        .collect();
    let w = labels.iter().map(|l| width(l)).max().unwrap_or(0);
    let mut out = String::from("\nMatch rules (reply, then pattern; in matching order)\n");
    for (r, label) in rules.iter().zip(&labels) {
        let kind = match r.kind {
            MatchKind::Match => "",
            MatchKind::Soft => "[soft] ",
            MatchKind::Enrich => "[enrich] ",
            MatchKind::Tls => "[tls] ",
        };
        let _ = writeln!(out, "  {}  {kind}{}", pad(label, w), safe(r.regex.as_str()));
        let mut sets: Vec<String> = [
            ("product", &r.product),
            ("version", &r.version),
            ("info", &r.info),
            ("evidence", &r.evidence),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k} \"{}\"", safe(v))))
        .collect();
        if let Some(a) = r.auth {
            sets.push(format!("auth {}", a.as_str()));
        }
        if let Some(t) = r.then {
            sets.push(format!("then {}", safe(&catalog.probes()[t].name)));
        }
        if r.kind == MatchKind::Tls {
            sets.push("means the port speaks TLS".into());
        }
        if !sets.is_empty() {
            let _ = writeln!(out, "  {}  -> {}", pad("", w), sets.join(", "));
        }
    }
    out
}

/// The service's own remediation lines and notes.
fn remediation_section(d: &ServiceDef) -> String {
    let r = &d.remediation;
    let mut out = String::new();
    if !r.config.is_empty() {
        out += "\nConfiguration\n";
        for line in &r.config {
            let _ = writeln!(out, "  {}", safe(line));
        }
    }
    if !r.notes.is_empty() {
        out += "\nNotes\n";
        for n in &r.notes {
            out += &hang("  - ", n, 4);
        }
    }
    let first = RuleKind::ALL
        .into_iter()
        .find(|&k| k.rule().per_service() && raised(d, k).is_some());
    if let Some(k) = first {
        let id = safe(&k.id(&d.id));
        let _ = writeln!(
            out,
            "\nEach rule's fix, with its firewall lines where it has any: `exposecheck explain {id}`."
        );
    }
    out
}

/// The three per-service rule ids of `d`, with the severity each gets.
fn raised_section(d: &ServiceDef) -> String {
    let mut mine: Vec<Applied> = rules::catalogue(std::iter::once(d.id.as_str()))
        .into_iter()
        .filter(|a| a.service.as_deref() == Some(d.id.as_str()))
        .collect();
    mine.sort_by_key(|a| a.kind);
    let rows: Vec<Vec<String>> = mine
        .iter()
        .map(|a| match raised(d, a.kind) {
            Some(r) => vec![safe(&a.id), r.severity.as_str().to_owned(), when(&r, "it")],
            None => vec![
                safe(&a.id),
                "-".into(),
                format!(
                    "never, for a {} {} service",
                    d.exposure.as_str(),
                    d.category.as_str()
                ),
            ],
        })
        .collect();
    let mut out =
        String::from("\nRules it can raise (severity before a policy's [severity] overrides)\n");
    for line in table(&rows) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// When a raised rule is raised: the auth states `who` answers with.
fn when(r: &Raised, who: &str) -> String {
    if r.auth.len() == AUTH_STATES.len() {
        format!("whenever {who} answers, whatever its auth")
    } else {
        format!("when {who} answers with auth {}", or_list(&r.auth))
    }
}

/// Why a per-service rule is never raised for `d`: the ids it gets instead.
fn never(d: &ServiceDef) -> String {
    let mut ids: Vec<String> = AUTH_STATES
        .iter()
        .filter_map(|&a| verdict(d, fix_port(d).0, a))
        .map(|f| safe(&f.rule))
        .collect();
    ids.sort();
    ids.dedup();
    format!(
        "a {} {} service raises {}",
        d.exposure.as_str(),
        d.category.as_str(),
        ids.join(" or ")
    )
}

/// How the verdict raises a per-service rule for `d`.
struct Raised {
    /// The severity a scan reports.
    severity: Severity,
    /// The auth states that raise it.
    auth: Vec<AuthState>,
    /// The fix a finding carries, for [`fix_port`].
    fix: Remediation,
}

/// The finding the verdict gives an open port of `d` that answered with `auth`.
fn verdict(d: &ServiceDef, port: u16, auth: AuthState) -> Option<Finding> {
    let r = PortResult {
        service: Some(Service {
            name: d.id.clone(),
            auth,
            ..Service::default()
        }),
        ..open_port(port)
    };
    port::assess(&r, Some(&ServiceFacts::from(d)))
}

/// Rule `kind` as the verdict raises it for `d`, or `None` when no auth
/// state raises it.
fn raised(d: &ServiceDef, kind: RuleKind) -> Option<Raised> {
    let id = kind.id(&d.id);
    let hits: Vec<(AuthState, Finding)> = AUTH_STATES
        .iter()
        .filter_map(|&a| verdict(d, fix_port(d).0, a).map(|f| (a, f)))
        .filter(|(_, f)| f.rule == id)
        .collect();
    let (_, first) = hits.first()?;
    Some(Raised {
        severity: first.severity,
        fix: first.remediation.clone(),
        auth: hits.iter().map(|(a, _)| *a).collect(),
    })
}

/// The port a service's fix is written for: its first default port (plain,
/// else TLS), else [`EXAMPLE_PORT`]; and whether it is the service's.
fn fix_port(d: &ServiceDef) -> (u16, bool) {
    d.ports
        .first()
        .or(d.tls_ports.first())
        .map_or((EXAMPLE_PORT, false), |&p| (p, true))
}

/// What `explain` says about a rule id, or about a service id (its rules).
pub fn explain(catalog: &Catalog, rule_id: &str) -> Result<String, Error> {
    let ids = || catalog.services().iter().map(|d| d.id.as_str());
    if let Some(a) = rules::find(rule_id, ids()) {
        return Ok(explain_rule(catalog, &a));
    }
    if let Some(d) = catalog.service(rule_id) {
        let mut out = format!(
            "{} is a service, not a rule; `exposecheck explain ID` explains one of its rules:\n",
            safe(&d.id)
        );
        out += &raised_section(d);
        return Ok(out);
    }
    let mut known: Vec<String> = rules::catalogue(ids()).into_iter().map(|a| a.id).collect();
    known.extend(ids().map(str::to_owned));
    Err(unknown(
        "rule",
        rule_id,
        &known,
        "exposecheck explain --list",
    ))
}

/// Title, subject, severity, rationale, fix and references of one rule.
fn explain_rule(catalog: &Catalog, a: &Applied) -> String {
    let rule = a.rule();
    let def = a.service.as_deref().and_then(|s| catalog.service(s));
    let mut out = format!("{}: {}\n", safe(&a.id), rule.title);
    let subject = match def {
        Some(d) => format!(
            "{}, per service: {} ({}, {} {})",
            rule.subject.as_str(),
            safe(&d.id),
            safe(&d.name),
            d.exposure.as_str(),
            d.category.as_str()
        ),
        None => rule.subject.as_str().to_owned(),
    };
    let _ = writeln!(out, "  subject   {subject}");
    let v = rule_verdict(a, def);
    let mut severity = v.severity;
    if !rule.severity_note.is_empty() {
        let _ = write!(
            severity,
            " (table default {}; {})",
            rule.severity.as_str(),
            rule.severity_note
        );
    }
    severity += ". A policy's [severity] table can override it.";
    out += &hang("  severity  ", &severity, 12);
    if let Some(when) = v.when {
        out += &hang("  raised    ", &when, 12);
    }
    out += "\nWhy\n";
    out += &wrap(rule.rationale, 2);
    out += &fix_section(rule.fix, v.fix.as_ref(), v.port, def);
    if !rule.references.is_empty() {
        out += "\nReferences\n";
        for r in rule.references {
            let _ = writeln!(out, "  {r}");
        }
    }
    out
}

/// What the verdict makes of a rule, for [`explain_rule`].
struct RuleVerdict {
    /// The severity, in words.
    severity: String,
    /// When a per-service rule is raised.
    when: Option<String>,
    /// The fix a finding carries; `None` when none is raised.
    fix: Option<Remediation>,
    /// The port the fix is written for, and whether it is the service's.
    port: (u16, bool),
}

/// The severity and fix the verdict gives rule `a` (for its service, if any).
fn rule_verdict(a: &Applied, def: Option<&ServiceDef>) -> RuleVerdict {
    let rule = a.rule();
    let Some(d) = def else {
        let fix = match a.kind {
            RuleKind::UnexpectedOpenPort => unidentified(EXAMPLE_PORT).map(|f| f.remediation),
            _ => Some(rule.fix(
                EXAMPLE_PORT,
                rule.proto.map(|proto| ServiceFix {
                    proto,
                    ..ServiceFix::default()
                }),
            )),
        };
        return RuleVerdict {
            severity: rule.severity.as_str().to_owned(),
            when: None,
            fix,
            port: (EXAMPLE_PORT, false),
        };
    };
    let id = safe(&d.id);
    match raised(d, a.kind) {
        Some(r) => RuleVerdict {
            severity: format!("{} for {id}, as a scan reports it", r.severity.as_str()),
            when: Some(when(&r, &id)),
            fix: Some(r.fix),
            port: fix_port(d),
        },
        None => RuleVerdict {
            severity: format!("never raised for {id}: {}", never(d)),
            when: None,
            fix: None,
            port: fix_port(d),
        },
    }
}

/// The finding of an open port where nothing was identified.
fn unidentified(port: u16) -> Option<Finding> {
    port::assess(&open_port(port), None)
}

/// An open port of a documentation address, nothing identified yet.
fn open_port(port: u16) -> PortResult {
    PortResult::open(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port)
}

/// The fix of a rule: which port it is written for, then each firewall
/// tool's lines, the service's configuration and the notes.
fn fix_section(
    how: Fix,
    fix: Option<&Remediation>,
    (port, own): (u16, bool),
    def: Option<&ServiceDef>,
) -> String {
    let written = if own {
        let id = def.map(|d| safe(&d.id)).unwrap_or_default();
        format!("written for port {port}, the first default port of {id}; a finding carries the lines for its own port")
    } else {
        format!("written for port {port}, an example; a finding carries the lines for its own port")
    };
    let intro = match how {
        Fix::Nothing => "Nothing to close on the port: see Why.".to_owned(),
        Fix::EditPolicy => "Delete the policy entry the finding names.".to_owned(),
        Fix::Upgrade => "Upgrade to a supported release cycle of the product (or confirm the distribution still patches its package).".to_owned(),
        Fix::DefaultDeny => {
            "A default-deny input policy (keep each port that must be public open).".to_owned()
        }
        Fix::ServiceAdvice => "No firewall lines: a public service stays reachable.".to_owned(),
        Fix::SshRateLimit => format!("The article's SSH rate limit, {written}: at most 3 new connections per source per 60 s."),
        Fix::CloseOtherFamily => {
            format!("{written}. The finding keeps the lines of the address family that lacks them.")
        }
        Fix::ClosePort | Fix::CloseService => format!("{written}."),
    };
    let mut out = String::from("\nFix\n");
    let Some(fix) = fix else {
        out += "  No finding carries this id for this service: there is no fix to show.\n";
        return out;
    };
    out += &wrap(&intro, 2);
    let config = match def {
        Some(d) => format!("{} configuration", safe(&d.id)),
        None => "configuration".to_owned(),
    };
    let parts = [
        ("iptables / ip6tables", &fix.iptables),
        ("nftables", &fix.nftables),
        ("ufw", &fix.ufw),
        ("published by Docker", &fix.docker),
        (config.as_str(), &fix.config),
    ];
    for (name, lines) in parts.into_iter().filter(|(_, l)| !l.is_empty()) {
        let _ = writeln!(out, "  {name}");
        for l in lines {
            let _ = writeln!(out, "    {}", safe(l));
        }
    }
    if !fix.notes.is_empty() {
        out += "  notes\n";
        for n in &fix.notes {
            out += &hang("    - ", n, 6);
        }
    }
    out
}

/// Every rule id the catalogue can raise, with its severity and title,
/// grouped by rule (per-service rules first, one group each).
pub fn explain_list(catalog: &Catalog) -> String {
    let all = rules::catalogue(catalog.services().iter().map(|d| d.id.as_str()));
    let mut groups: Vec<(String, Vec<&Applied>)> = RuleKind::ALL
        .iter()
        .filter(|k| k.rule().per_service())
        .map(|k| {
            let head = format!("Per service: {}", k.rule().id);
            (head, all.iter().filter(|a| a.kind == *k).collect())
        })
        .collect();
    groups.push((
        "Port, host and policy rules".to_owned(),
        all.iter().filter(|a| !a.rule().per_service()).collect(),
    ));
    let mut rows = vec![["ID", "SEVERITY", "TITLE"].map(String::from).to_vec()];
    for (_, members) in &groups {
        rows.extend(members.iter().map(|a| list_row(catalog, a)));
    }
    let lines = table(&rows);
    let mut out = format!("{}\n", lines[0]);
    let mut next = lines[1..].iter();
    for (head, members) in &groups {
        let _ = writeln!(out, "\n{head}");
        for line in next.by_ref().take(members.len()) {
            let _ = writeln!(out, "{line}");
        }
    }
    out.push('\n');
    out += &wrap(
        "Severities are as a scan reports them, before a policy's [severity] overrides; - marks \
         an id the verdict never raises for that service (its category and exposure give it \
         another of the three). `exposecheck explain ID` tells more.",
        0,
    );
    out
}

/// One row of [`explain_list`]: id, severity, title.
fn list_row(catalog: &Catalog, a: &Applied) -> Vec<String> {
    let rule = a.rule();
    let severity = match a.service.as_deref().and_then(|s| catalog.service(s)) {
        Some(d) => raised(d, a.kind).map_or("-", |r| r.severity.as_str()),
        None => rule.severity.as_str(),
    };
    vec![safe(&a.id), severity.to_owned(), rule.title.to_owned()]
}

/// The one-line usage error for an unknown id, with the closest known ones.
fn unknown(what: &str, given: &str, known: &[String], listing: &str) -> Error {
    let near = suggest(given, known);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", near.join(", "))
    };
    Error::Usage(format!(
        "unknown {what} '{}'{hint} (`{listing}` lists them)",
        cut(&text_pieces(given), 80)
    ))
}

/// Up to four known ids close to `given`: within a few edits (and no more
/// than one edit worse than the closest), or starting with it; closest first.
fn suggest(given: &str, known: &[String]) -> Vec<String> {
    let limit = (given.chars().count() / 4).max(2);
    let scored: Vec<(usize, &String)> = known.iter().map(|k| (distance(given, k), k)).collect();
    let best = scored.iter().map(|(d, _)| *d).min().unwrap_or(0);
    let mut near: Vec<(usize, &String)> = scored
        .into_iter()
        .filter(|(d, k)| {
            (*d <= limit && *d <= best + 1) || (given.len() >= 3 && k.starts_with(given))
        })
        .collect();
    near.sort();
    near.dedup_by(|a, b| a.1 == b.1);
    near.into_iter().take(4).map(|(_, k)| safe(k)).collect()
}

/// Levenshtein distance, in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (up + 1).min(row[j] + 1).min(diag + usize::from(ca != cb));
            diag = up;
        }
    }
    row[b.len()]
}

/// Text from a service file, made safe for a terminal.
fn safe(s: &str) -> String {
    terminal_safe(s)
}

/// Payload bytes as display pieces: `\r \n \t \\` named, other bytes outside
/// printable ASCII as `\xNN`.
fn byte_pieces(b: &[u8]) -> Vec<String> {
    b.iter()
        .map(|&c| match c {
            b'\r' => "\\r".to_owned(),
            b'\n' => "\\n".to_owned(),
            b'\t' => "\\t".to_owned(),
            b'\\' => "\\\\".to_owned(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02x}"),
        })
        .collect()
}

/// Text as terminal-safe display pieces, one per character.
fn text_pieces(s: &str) -> Vec<String> {
    s.chars()
        .map(|c| terminal_safe(c.encode_utf8(&mut [0; 4])))
        .collect()
}

/// The pieces joined, cut with an ellipsis to at most `max` columns (an
/// escape is never split).
fn cut(pieces: &[String], max: usize) -> String {
    let total: usize = pieces.iter().map(|p| width(p)).sum();
    if total <= max {
        return pieces.concat();
    }
    let mut out = String::new();
    let mut used = 0;
    for p in pieces {
        if used + width(p) + 1 > max {
            break;
        }
        used += width(p);
        out += p;
    }
    out + "…"
}

/// Ports compacted: runs of three or more as `a-b`.
fn port_list(ports: &[u16]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1] == ports[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            out.push(format!("{}-{}", ports[i], ports[j]));
        } else {
            out.extend(ports[i..=j].iter().map(u16::to_string));
        }
        i = j + 1;
    }
    if out.is_empty() {
        "-".to_owned()
    } else {
        out.join(",")
    }
}

/// A service's ports for the table: plain ones, then `(tls ...)`.
fn ports_cell(d: &ServiceDef) -> String {
    match (d.ports.is_empty(), d.tls_ports.is_empty()) {
        (_, true) => port_list(&d.ports),
        (true, false) => format!("(tls {})", port_list(&d.tls_ports)),
        (false, false) => format!("{} (tls {})", port_list(&d.ports), port_list(&d.tls_ports)),
    }
}

/// Auth states as `a, b or c`.
fn or_list(states: &[AuthState]) -> String {
    let names: Vec<&str> = states.iter().map(|a| a.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Display width, in characters.
fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` padded with spaces to `w` columns.
fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

/// Rows as lines, columns aligned from their content (the last not padded).
fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| width(s))
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, s)| pad(s, widths[c]))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

/// `text` made terminal-safe and wrapped at [`WIDTH`], each line indented
/// by `indent` spaces.
fn wrap(text: &str, indent: usize) -> String {
    hang(&" ".repeat(indent), text, indent)
}

/// `text` made terminal-safe and wrapped at [`WIDTH`]: the first line after
/// `lead`, the others indented by `indent` spaces.
fn hang(lead: &str, text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = lead.to_owned();
    let mut empty = true;
    for word in safe(text).split_whitespace() {
        if !empty && width(&line) + 1 + width(word) > WIDTH {
            let _ = writeln!(out, "{line}");
            line = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line += word;
        empty = false;
    }
    if !empty {
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::parse_ports;
    use std::collections::BTreeSet;

    /// A services file with hostile text and a payload of CR, LF, NUL and BEL.
    const EVIL: &str = r#"id = "evil"
name = "Evil\u001b[2J\u202e name"
category = "database"
exposure = "localhost-only"
ports = [7777]

[[probe]]
name = "evil-hello"
send = '\r\n\0\x07hi\\'
note = "rings \u001b]0;title\u0007 the bell\nand forges a line"

[[match]]
probe = "evil-hello"
pattern = "^OK\u001b"
product = "Evil\u009b"
auth = "none"

[remediation]
config = ["bind 127.0.0.1 \u001b[31m"]
notes = ["a note \u202e reversed"]
"#;

    fn evil_catalog() -> Catalog {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("evil.toml"), EVIL).unwrap();
        Catalog::load(Some(dir.path())).unwrap_or_else(|e| panic!("{e}"))
    }

    /// No control character but the line ends, no bidi control.
    fn assert_clean(text: &str) {
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line
                    .chars()
                    .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
                "line {i}: {line:?}"
            );
        }
        assert!(!text.contains('\r'));
    }

    fn usage(r: Result<String, Error>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn every_builtin_service_is_listed_with_its_ports() {
        let cat = Catalog::builtin();
        let out = services(&cat);
        for d in cat.services() {
            let line = out
                .lines()
                .find(|l| l.split_whitespace().next() == Some(d.id.as_str()))
                .unwrap_or_else(|| panic!("{} not listed", d.id));
            let cell = line.split_once(d.exposure.as_str()).unwrap().1.trim();
            let want: BTreeSet<u16> = d.ports.iter().chain(&d.tls_ports).copied().collect();
            if want.is_empty() {
                assert_eq!(cell, "-", "{line}");
                continue;
            }
            let spec = cell
                .replace(" (tls ", ",")
                .replace("(tls ", "")
                .replace(')', "");
            let got: BTreeSet<u16> = parse_ports(&spec)
                .unwrap()
                .as_slice()
                .iter()
                .copied()
                .collect();
            assert_eq!(got, want, "{line}");
            if !d.tls_ports.is_empty() {
                assert!(
                    cell.contains(&format!("(tls {})", port_list(&d.tls_ports))),
                    "{line}"
                );
            }
        }
        assert!(out.contains("6379,6380,16379"), "redis ports compacted");
        assert!(out.contains(r"*1\r\n$4\r\nPING\r\n"), "redis-ping escaped");
        assert!(out.contains("(reads the greeting)"));
        assert!(
            out.contains("dialogue: Reads the server greeting"),
            "mysql's code_note"
        );
        assert!(out.contains("(the probe of http, listed there)"));
        assert!(out.contains("`exposecheck services ID`"));
        for line in out.lines() {
            assert!(width(line) <= 120, "{} columns: {line}", width(line));
        }
        assert_clean(&out);
    }

    #[test]
    fn long_payloads_are_cut_without_splitting_an_escape() {
        let p = byte_pieces(b"ab\r\ncd");
        assert_eq!(cut(&p, 10), r"ab\r\ncd");
        assert_eq!(cut(&p, 5), r"ab\r…");
        assert_eq!(cut(&p, 4), "ab…");
        assert_eq!(port_list(&[16379, 6380, 6379]), "6379,6380,16379");
        assert_eq!(port_list(&[1, 2, 3, 5]), "1-3,5");
        assert_eq!(port_list(&[]), "-");
    }

    #[test]
    fn hostile_service_files_are_escaped_everywhere() {
        let cat = evil_catalog();
        let listing = services(&cat);
        assert!(listing.contains(r"\r\n\x00\x07hi\\"), "{listing}");
        let whole = service(&cat, "evil").unwrap();
        assert!(whole.contains(r"sends      \r\n\x00\x07hi\\"), "{whole}");
        assert!(
            whole.contains(r"Evil\x1b[2J\u{202e} name (evil)"),
            "{whole}"
        );
        assert!(whole.contains(r"^OK\x1b"), "{whole}");
        assert!(whole.contains(r"bind 127.0.0.1 \x1b[31m"), "{whole}");
        let why = explain(&cat, "evil-unauthenticated").unwrap();
        assert!(why.contains(r"bind 127.0.0.1 \x1b[31m"), "{why}");
        assert!(why.contains("--dport 7777"), "{why}");
        let all = [
            listing,
            whole,
            why,
            explain_list(&cat),
            explain(&cat, "evil").unwrap(),
        ];
        for text in &all {
            assert_clean(text);
        }
        let e = usage(service(&cat, "x\u{1b}[2J\nforged"));
        assert!(!e.chars().any(char::is_control), "{e:?}");
    }

    #[test]
    fn one_service_in_full() {
        let cat = Catalog::builtin();
        let out = service(&cat, "redis").unwrap();
        for want in [
            r"*1\r\n$4\r\nPING\r\n",
            r"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n",
            r"^\+PONG\r\n",
            r"^-NOAUTH [^\r\n]*",
            "^-DENIED Redis is running in protected mode",
            "auth none",
            "then redis-info",
            "only sent after a match on redis-ping",
            "bind 127.0.0.1 -::1",
            "Protected mode only helps",
            "localhost-only",
            "database",
        ] {
            assert!(out.contains(want), "{want:?} missing:\n{out}");
        }
        let line = |id: &str| {
            out.lines()
                .find(|l| l.split_whitespace().next() == Some(id))
                .unwrap_or_else(|| panic!("{id} missing:\n{out}"))
                .to_owned()
        };
        assert!(line("redis-unauthenticated").contains("critical"));
        assert!(line("redis-exposed").contains("high"));
        assert!(line("redis-public").contains("never"));
        let es = service(&cat, "elasticsearch").unwrap();
        assert!(
            es.contains("GET / HTTP/1.1") && es.contains("defined by http"),
            "{es}"
        );
        assert!(
            out.contains("`exposecheck explain redis-unauthenticated`"),
            "{out}"
        );
        let ssh = service(&cat, "ssh").unwrap();
        assert!(ssh.contains("`exposecheck explain ssh-public`"), "{ssh}");
        let my = service(&cat, "mysql").unwrap();
        assert!(
            my.contains("Dialogue mysql") && my.contains("HandshakeV10"),
            "{my}"
        );
    }

    #[test]
    fn explain_gives_the_severity_and_every_tool_s_fix() {
        let cat = Catalog::builtin();
        let out = explain(&cat, "redis-unauthenticated").unwrap();
        assert!(out.contains("severity  critical for redis"), "{out}");
        assert!(out.contains("written for port 6379"), "{out}");
        let has = |prefix: &str, tail: &str| {
            out.lines()
                .any(|l| l.trim_start().starts_with(prefix) && l.contains(tail))
        };
        assert!(has("iptables -I INPUT", "--dport 6379 -j DROP"), "{out}");
        assert!(has("ip6tables -I INPUT", "--dport 6379"), "{out}");
        assert!(has("nft insert rule", "tcp dport 6379"), "{out}");
        assert!(has("ufw deny", "6379/tcp"), "{out}");
        assert!(has("bind 127.0.0.1", ""), "{out}");
        assert!(out.contains("https://cwe.mitre.org/data/definitions/306.html"));
        let host = explain(&cat, "no-default-deny-firewall").unwrap();
        assert!(
            host.contains("severity  low") && host.contains("ufw default deny incoming"),
            "{host}"
        );
        let port = explain(&cat, "unexpected-open-port").unwrap();
        assert!(
            port.contains("--dport 4444") && port.contains("an example"),
            "{port}"
        );
        for udp in ["udp-amplifier", "dns-open-resolver", "exposed-udp-service"] {
            let out = explain(&cat, udp).unwrap();
            assert!(
                out.contains("-p udp --dport 4444") && !out.contains("-p tcp"),
                "{out}"
            );
        }
    }

    #[test]
    fn severities_come_from_the_verdict_for_each_service() {
        let cat = Catalog::builtin();
        // epmd is internal-only and discloses: medium, with the why.
        let epmd = explain(&cat, "epmd-unauthenticated").unwrap();
        assert!(epmd.contains("severity  medium for epmd"), "{epmd}");
        assert!(epmd.contains("Why medium: it tells anyone"), "{epmd}");
        assert!(
            epmd.contains("<internal-cidr>"),
            "internal-only fix:\n{epmd}"
        );
        let dev = explain(&cat, "werkzeug-exposed").unwrap();
        assert!(dev.contains("severity  medium for werkzeug"), "{dev}");
        let never = explain(&cat, "ssh-unauthenticated").unwrap();
        assert!(never.contains("raises ssh-public"), "{never}");
        assert!(explain(&cat, "ssh-public")
            .unwrap()
            .contains("severity  info for ssh"));
        let list = explain_list(&cat);
        let sev = |id: &str| {
            let line = list
                .lines()
                .find(|l| l.split_whitespace().next() == Some(id))
                .unwrap_or_else(|| panic!("{id} not listed"));
            line.split_whitespace().nth(1).unwrap().to_owned()
        };
        assert_eq!(sev("redis-unauthenticated"), "critical");
        assert_eq!(sev("epmd-unauthenticated"), "medium");
        assert_eq!(sev("werkzeug-exposed"), "medium");
        assert_eq!(sev("werkzeug-unauthenticated"), "critical");
        assert_eq!(sev("jupyter-unauthenticated"), "critical");
        assert_eq!(sev("jupyter-exposed"), "medium");
        assert_eq!(sev("smb-exposed"), "high");
        assert_eq!(sev("vnc-unauthenticated"), "critical");
        assert_eq!(sev("x11-unauthenticated"), "critical");
        assert_eq!(sev("fastcgi-unauthenticated"), "critical");
        assert_eq!(sev("http-proxy-unauthenticated"), "high");
        assert_eq!(sev("http-proxy-exposed"), "medium");
        for disclosure in [
            "rpcbind",
            "ldap",
            "zabbix-agent",
            "munin-node",
            "git-daemon",
        ] {
            assert_eq!(sev(&format!("{disclosure}-unauthenticated")), "medium");
        }
        assert_eq!(sev("no-default-deny-firewall"), "low");
    }

    #[test]
    fn every_catalogue_id_is_listed_and_explained() {
        let cat = Catalog::builtin();
        let list = explain_list(&cat);
        let listed: BTreeSet<&str> = list
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let all = rules::catalogue(cat.services().iter().map(|d| d.id.as_str()));
        assert!(all.len() > 3 * cat.services().len());
        for a in &all {
            assert!(listed.contains(a.id.as_str()), "{} not listed", a.id);
            let out = explain(&cat, &a.id).unwrap();
            assert!(
                out.starts_with(&format!("{}: {}", a.id, a.rule().title)),
                "{out}"
            );
        }
        let redis = explain(&cat, "redis").unwrap();
        for id in ["redis-unauthenticated", "redis-exposed", "redis-public"] {
            assert!(redis.contains(id), "{redis}");
        }
    }

    #[test]
    fn unknown_ids_are_usage_errors_with_suggestions() {
        let cat = Catalog::builtin();
        let e = usage(explain(&cat, "redis-unauthenticatd"));
        assert!(e.contains("'redis-unauthenticatd'"), "{e}");
        assert!(e.contains("did you mean redis-unauthenticated"), "{e}");
        assert!(e.contains("exposecheck explain --list"), "{e}");
        assert!(!e.contains('\n'));
        let e = usage(service(&cat, "rediss"));
        assert!(
            e.contains("did you mean redis") && e.contains("`exposecheck services`"),
            "{e}"
        );
        let e = usage(service(&cat, "kube"));
        assert!(
            e.contains("kube-apiserver") && e.contains("kubelet"),
            "prefix: {e}"
        );
        let e = usage(explain(&cat, "zzzzzzzzzzzz"));
        assert!(!e.contains("did you mean"), "{e}");
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
