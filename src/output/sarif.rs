//! SARIF 2.1.0 for GitHub code scanning and DefectDojo's SARIF importer: one
//! run whose driver lists one rule per rule id seen (titles, rationale and
//! references from the rules table, [`crate::verdict::rules`]), and one result
//! per finding the policy does not expect (expected ones are not alerts).
//!
//! **What GitHub requires** (docs.github.com, "SARIF support for code
//! scanning"): `$schema`, `version`, `runs[].tool.driver.{name, rules[]}`;
//! each rule an `id`, `shortDescription.text`, `fullDescription.text` and
//! `help.text`; each result `message.text`, `partialFingerprints` and at least
//! one location with `physicalLocation.artifactLocation.uri` and
//! `region.startLine`. A single result without a location makes code
//! scanning reject the whole file ("locationFromSarifResult: expected at least
//! one location", github/codeql-action#2459). At most 25,000 results per run
//! are accepted ([`MAX_RESULTS`]: the worst are kept and a tool notification
//! says how many were left out) and 10 MB per gzip-compressed file.
//!
//! **Where a result points.** A network scan has no source line, so each
//! result points at the file of this repository that declares what was
//! scanned or expected, as a path relative to the repository root
//! (`uriBaseId: %SRCROOT%`, never a `file://` URI: code scanning resolves
//! paths against the checkout). The first of these that is an existing file
//! inside the checkout ([`Checkout`]: the nearest ancestor of the working
//! directory holding `.git`, symlinks resolved) wins:
//! 1. the policy entry that matched the finding (`Finding::policy_entry`), at
//!    its line;
//! 2. the policy file in force (`Summary::policy`), line 1;
//! 3. the first `-iL` target list (`ScanMeta::targets` holds it as
//!    `@PATH (sha256:…)`), line 1;
//! 4. in GitHub Actions, the workflow file that ran the scan (the path in
//!    `GITHUB_WORKFLOW_REF`), line 1: it exists in the repository whether or
//!    not the job checked it out;
//! 5. the repository's README (`README.md`, `README`, `README.rst`,
//!    `README.txt`), line 1;
//! 6. else `exposecheck.toml` line 1, where `exposecheck policy init` would
//!    write a policy: the one case where the file may not exist (code
//!    scanning still shows the alert, without a code view).
//!
//! Each location's `message` says which of these it is. Alerts stay stable
//! across runs through `partialFingerprints.primaryLocationLineHash` = the
//! finding's fingerprint, and `runs[0].automationDetails.id` is
//! `exposecheck/<digest>/` ([`automation_id`]: the first 8 bytes of the
//! SHA-256 of the sorted, lower-cased target list, plus `shard-K-of-N/` for a
//! shard), so scans of different target sets are different code-scanning
//! categories and do not close each other's alerts. (The upload action's
//! `category` input only applies to runs without `automationDetails`.)
//!
//! **Messages and fixes.** `message.text` is one line: the finding's title and
//! where (`ip:port`, the hostname). The fix goes to the result's
//! `fixes[0].description.text` (what DefectDojo imports as the mitigation;
//! the fix's one artifact change is an empty, no-op replacement whose
//! artifact is described as the scanned host, since the change is made there)
//! and to the rule's `help.text` and `help.markdown`, each distinct fix of
//! the rule once with the places it applies to.
//!
//! **Severity.** Each rule carries `properties.security-severity`
//! ([`security_severity`]): 9.5, 8.0, 5.5, 3.0 and 0.0 for critical, high,
//! medium, low and info. GitHub reads over 9.0 as critical, 7.0–8.9 high,
//! 4.0–6.9 medium, 0.1–3.9 low and 0.0 as no security severity; DefectDojo's
//! importer (dojo/tools/sarif/parser.py, `cvss_to_severity`) reads ≥ 9
//! Critical, ≥ 7 High, ≥ 4 Medium, > 0 Low, else Info. Both read it from the
//! rule, not the result, so the one rule whose severity varies from finding
//! to finding under one id, `dual-stack-mismatch` (it takes the open port's
//! severity), gets a SARIF rule per severity other than its default:
//! `dual-stack-mismatch/critical` ([`sarif_rule_id`]).
//!
//! **Escaping.** Every message string (result messages, rule descriptions,
//! help, fix descriptions, location messages) is made literal: control
//! characters become `\xNN`, square brackets are backslash-escaped outside
//! code (SARIF 2.1.0 §3.11.6: otherwise `[text](1)` is an embedded link) and
//! curly braces are doubled (§3.11.5: otherwise `{0}` is a placeholder a
//! viewer substitutes). `help.markdown` escapes network text with
//! [`super::markdown::md_escape`] and puts commands in fenced blocks.

use super::collect::{self, AtEnd, HostRows, Item, Render, Rendered};
use super::markdown::{fenced, md_escape};
use super::{terminal_safe, ScanMeta, Summary};
use crate::model::{Finding, Remediation, Severity};
use crate::verdict::rules::{self, Rule, RuleKind};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

/// The `$schema` written into every log.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The last-resort location: where `exposecheck policy init` writes a policy.
pub const DEFAULT_POLICY: &str = "exposecheck.toml";

/// The most results GitHub code scanning accepts in one run.
pub const MAX_RESULTS: usize = 25_000;

/// Distinct fixes a rule's help lists before it points at the results.
const MAX_FIX_VARIANTS: usize = 8;

/// Places listed for one fix in a rule's help.
const MAX_PLACES: usize = 5;

/// Characters of evidence kept in a result's properties.
const MAX_EVIDENCE: usize = 1000;

/// The SARIF format.
pub struct Sarif {
    checkout: Checkout,
}

impl Sarif {
    /// A writer over `out`, for the repository around the working directory.
    pub fn new(out: Box<dyn Write>) -> AtEnd<Sarif> {
        Sarif::with_checkout(out, Checkout::from_env())
    }

    /// A writer over `out` whose locations are resolved in `checkout`.
    pub fn with_checkout(out: Box<dyn Write>, checkout: Checkout) -> AtEnd<Sarif> {
        AtEnd::new(out, Sarif { checkout })
    }
}

impl Render for Sarif {
    fn render(&self, hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary) -> Rendered {
        Rendered::Document(log(hosts, s, &self.checkout))
    }
}

/// Resolves a path to the canonical path of an existing file, or `None`.
pub type Resolver = Box<dyn Fn(&Path) -> Option<PathBuf>>;

/// The repository the SARIF log is uploaded for: where relative paths are
/// taken from and what exists there.
pub struct Checkout {
    /// The working directory (relative paths the user gave start here).
    cwd: PathBuf,
    /// The repository root (the nearest ancestor of `cwd` holding `.git`).
    root: PathBuf,
    /// The workflow file of the GitHub Actions run, relative to the root.
    workflow: Option<String>,
    /// Existing files, symlinks resolved.
    resolve: Resolver,
}

impl Checkout {
    /// The checkout around the working directory, with the workflow file
    /// `GITHUB_WORKFLOW_REF` names.
    pub fn from_env() -> Checkout {
        let cwd = std::env::current_dir()
            .and_then(std::fs::canonicalize)
            .unwrap_or_else(|_| PathBuf::from("."));
        let root = cwd
            .ancestors()
            .find(|d| d.join(".git").exists())
            .unwrap_or(&cwd)
            .to_path_buf();
        let workflow = std::env::var("GITHUB_WORKFLOW_REF")
            .ok()
            .and_then(|r| workflow_path(&r));
        Checkout::new(
            cwd,
            root,
            workflow,
            Box::new(|p| std::fs::canonicalize(p).ok().filter(|c| c.is_file())),
        )
    }

    /// A checkout rooted at `root`, entered at `cwd` (both absolute).
    pub fn new(cwd: PathBuf, root: PathBuf, workflow: Option<String>, resolve: Resolver) -> Self {
        Checkout {
            cwd,
            root,
            workflow,
            resolve,
        }
    }

    /// `given` (as the user wrote it) as a `/`-separated path relative to the
    /// repository root, when it names an existing file inside it.
    pub fn repo_path(&self, given: &str) -> Option<String> {
        if given.is_empty() || given == "-" {
            return None;
        }
        let p = Path::new(given);
        let abs = normalize(&if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        });
        let real = (self.resolve)(&abs)?;
        let rel = real.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    /// The first README at the repository root.
    fn readme(&self) -> Option<String> {
        ["README.md", "README", "README.rst", "README.txt"]
            .into_iter()
            .find_map(|name| {
                let abs = self.root.join(name);
                (self.resolve)(&abs)?;
                Some(name.to_string())
            })
    }
}

/// `.` and `..` taken out of an absolute path, without touching the disk.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The workflow file in a `GITHUB_WORKFLOW_REF`
/// (`owner/repo/.github/workflows/scan.yml@refs/heads/main`).
pub fn workflow_path(workflow_ref: &str) -> Option<String> {
    let path = workflow_ref.split('@').next()?;
    let mut parts = path.splitn(3, '/');
    let (_owner, _repo, file) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = file.starts_with(".github/") && !file.split('/').any(|s| s.is_empty() || s == "..");
    ok.then(|| file.to_string())
}

/// The files of the `-iL` lists among `targets` (`@PATH (sha256:…)`, as the
/// command line records them).
pub fn target_lists(targets: &[String]) -> Vec<&str> {
    targets
        .iter()
        .filter_map(|t| {
            let rest = t.strip_prefix('@')?;
            let (path, digest) = rest.rsplit_once(" (sha256:")?;
            digest.ends_with(')').then_some(path)
        })
        .collect()
}

/// Where a result points, and why there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// Path relative to the repository root.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// What the file is to this result.
    pub why: &'static str,
}

/// Where results with no policy entry point (steps 2–6 of the module doc).
pub fn run_anchor(s: &Summary, checkout: &Checkout) -> Anchor {
    let at = |path: String, why| Anchor { path, line: 1, why };
    if let Some(p) = s.policy.as_deref().and_then(|p| checkout.repo_path(p)) {
        return at(
            p,
            "The policy file in force; no entry in it covers this finding.",
        );
    }
    if let Some(p) = target_lists(&s.scan.targets)
        .into_iter()
        .find_map(|l| checkout.repo_path(l))
    {
        return at(p, "The target list this scan read.");
    }
    if let Some(p) = &checkout.workflow {
        return at(p.clone(), "The workflow that ran this scan.");
    }
    if let Some(p) = checkout.readme() {
        return at(
            p,
            "The repository's README: no policy file, target list or workflow file names this scan (pass --policy FILE to point alerts there).",
        );
    }
    at(
        DEFAULT_POLICY.to_string(),
        "Where exposecheck policy init writes a policy: no policy file, target list, workflow file or README was found in this repository.",
    )
}

/// Where one result points: its policy entry, else the run's anchor.
fn anchor(item: &Item<'_>, run: &Anchor, checkout: &Checkout) -> Anchor {
    item.finding
        .policy_entry
        .as_ref()
        .and_then(|e| {
            Some(Anchor {
                path: checkout.repo_path(&e.file)?,
                line: e.line.max(1),
                why: "The policy entry this finding is about.",
            })
        })
        .unwrap_or_else(|| run.clone())
}

/// `runs[0].automationDetails.id`: `exposecheck/<digest of the sorted,
/// lower-cased targets>/`, with `shard-K-of-N/` for one shard of several.
pub fn automation_id(scan: &ScanMeta) -> String {
    let mut targets: Vec<String> = scan
        .targets
        .iter()
        .map(|t| t.trim().to_lowercase())
        .collect();
    targets.sort();
    targets.dedup();
    let digest = Sha256::digest(targets.join("\n"));
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let shard = match scan.shard.split_once('/') {
        Some((k, n)) if n != "1" && k != "all" && k.parse::<u32>().is_ok() => {
            format!("shard-{k}-of-{n}/")
        }
        _ => String::new(),
    };
    format!("exposecheck/{hex}/{shard}")
}

/// GitHub's `security-severity` for a severity (DefectDojo reads it too).
pub fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// The SARIF `level` for a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium | Severity::Low => "warning",
        Severity::Info => "note",
    }
}

/// The SARIF rule id of a finding: its rule id, except that a
/// `dual-stack-mismatch` at a severity other than the table's gets
/// `/<severity>` (SARIF consumers take severity from the rule).
pub fn sarif_rule_id(f: &Finding) -> String {
    match rules::kind_of(&f.rule) {
        Some(k @ RuleKind::DualStackMismatch) if f.severity != k.rule().severity => {
            format!("{}/{}", f.rule, f.severity.as_str())
        }
        _ => f.rule.clone(),
    }
}

/// Network text as a SARIF plain-text message fragment.
pub fn plain(s: &str) -> String {
    literal(&terminal_safe(s))
}

/// Terminal-safe text as literal message text: `[`/`]` escaped, `{`/`}` doubled.
pub fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '{' | '}' => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to at most `max` characters (on a character boundary), the cut
/// marked with `…`; shared by the alert formats, whose fields have limits.
pub fn clip(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text whose brackets are already taken care of (Markdown) with its
/// braces doubled.
fn braces(s: &str) -> String {
    s.replace('{', "{{").replace('}', "}}")
}

/// A repository path as a relative URI: unsafe bytes percent-encoded.
pub fn path_uri(path: &str) -> String {
    let mut enc = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    enc
}

/// `redis-unauthenticated` → `Redis unauthenticated`.
fn rule_text(id: &str) -> String {
    let words = id.replace(['-', '_', '/'], " ");
    let mut c = words.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// `redis-unauthenticated` → `RedisUnauthenticated` (also Alertmanager's
/// `alertname`).
pub fn rule_name(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The fix, by family, each line terminal-safe:
/// `Configuration:`, `  line`, `iptables:`, …
pub fn fix_lines(r: &Remediation) -> Vec<String> {
    let mut out = Vec::new();
    for (label, lines) in families(r) {
        out.push(format!("{label}:"));
        out.extend(lines.iter().map(|l| format!("  {}", terminal_safe(l))));
    }
    out
}

/// The non-empty families of a fix, labelled.
pub fn families(r: &Remediation) -> Vec<(&'static str, &[String])> {
    [
        ("Configuration", &r.config),
        ("iptables", &r.iptables),
        ("nftables", &r.nftables),
        ("ufw", &r.ufw),
        ("Docker", &r.docker),
        ("Notes", &r.notes),
    ]
    .into_iter()
    .filter(|(_, l)| !l.is_empty())
    .map(|(label, l)| (label, l.as_slice()))
    .collect()
}

/// One SARIF rule: the findings under it share an id.
struct RuleGroup<'a, 'b> {
    id: String,
    worst: Severity,
    items: Vec<&'b Item<'a>>,
}

/// The distinct fixes among `items`, each with the places it applies to.
fn fix_variants<'a>(items: &[&Item<'a>]) -> Vec<(&'a Remediation, Vec<String>)> {
    let mut out: Vec<(&Remediation, Vec<String>)> = Vec::new();
    for i in items {
        let r = &i.finding.remediation;
        if families(r).is_empty() {
            continue;
        }
        match out.iter_mut().find(|(v, _)| *v == r) {
            Some((_, places)) => places.push(i.location()),
            None => out.push((r, vec![i.location()])),
        }
    }
    out
}

/// `a, b, c and 4 more`.
fn places_text(places: &[String]) -> String {
    places_list(places, terminal_safe)
}

/// The first [`MAX_PLACES`] places, each written by `show`, then how many more.
fn places_list(places: &[String], show: impl Fn(&str) -> String) -> String {
    let mut s = places
        .iter()
        .take(MAX_PLACES)
        .map(|p| show(p))
        .collect::<Vec<_>>()
        .join(", ");
    if places.len() > MAX_PLACES {
        s.push_str(&format!(" and {} more", places.len() - MAX_PLACES));
    }
    s
}

/// Text as a Markdown code span (the fence longer than any backtick run in
/// it), where nothing is an emoji, link or mention.
fn md_code(s: &str) -> String {
    let t = terminal_safe(s);
    let longest = t.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {t} {fence}")
}

/// `a`, `b` and 4 more, as Markdown.
fn places_markdown(places: &[String]) -> String {
    places_list(places, md_code)
}

/// A rule's `help`: (text, markdown).
fn help(lead: &str, items: &[&Item<'_>]) -> (String, String) {
    let variants = fix_variants(items);
    if variants.is_empty() {
        let t = format!("{lead}: nothing to close; the alert says what was seen and where.");
        return (literal(&t), braces(&md_escape(&t)));
    }
    let (mut text, mut md) = (Vec::new(), Vec::new());
    for (r, places) in variants.iter().take(MAX_FIX_VARIANTS) {
        let head = format!("Fix for {}:", places_text(places));
        text.push(head.clone());
        text.extend(fix_lines(r));
        md.push(format!("**Fix** for {}:\n", places_markdown(places)));
        for (label, lines) in families(r) {
            md.push(format!("{label}:\n\n{}", fenced(lines)));
        }
    }
    if variants.len() > MAX_FIX_VARIANTS {
        let more = format!(
            "{} more places have fixes of their own: each alert's fix (and the JSON report) lists its commands.",
            variants.len() - MAX_FIX_VARIANTS
        );
        text.push(more.clone());
        md.push(md_escape(&more));
    }
    (literal(&text.join("\n")), braces(&md.join("\n")))
}

fn rule(group: &RuleGroup<'_, '_>) -> Value {
    let (id, worst, items) = (group.id.as_str(), group.worst, &group.items);
    let first = items[0].finding;
    let lead = if items.iter().all(|i| i.finding.title == first.title) {
        first.title.trim_end_matches('.').to_string()
    } else {
        rule_text(id)
    };
    let known = rules::kind_of(&first.rule).map(RuleKind::rule);
    // Ids the table does not know (read back from another version's output)
    // get descriptions made up from their findings.
    let (short, full) = match known {
        Some(k) => (literal(k.title), literal(&table_description(k, worst))),
        None => (
            plain(&rule_text(id)),
            format!(
                "{}. exposecheck reports {} when a service answers from where the scan ran that should not; worst severity seen: {}.",
                plain(&lead),
                plain(id),
                worst.as_str()
            ),
        ),
    };
    let (help_text, help_md) = help(&terminal_safe(&lead), items);
    let mut tags = vec!["security", "exposure"];
    tags.extend(known.map(|k| k.subject.as_str()));
    let mut r = json!({
        "id": id,
        "name": rule_name(id),
        "shortDescription": { "text": short },
        "fullDescription": { "text": full },
        "help": { "text": help_text, "markdown": help_md },
        "defaultConfiguration": { "level": level(worst) },
        "properties": {
            "tags": tags,
            "security-severity": security_severity(worst),
        },
    });
    if let Some(uri) = known.and_then(|k| k.references.first()) {
        r["helpUri"] = json!(uri);
    }
    r
}

/// The tool object; `informationUri` is the crate's `homepage` when
/// Cargo.toml names one (the validator's SARIF2005 asks for it).
fn driver(version: &str, rules: Vec<Value>) -> Value {
    let mut d = json!({ "name": "exposecheck", "semanticVersion": version, "rules": rules });
    if let Some(home) = HOMEPAGE {
        d["informationUri"] = json!(home);
    }
    d
}

/// Cargo.toml's `homepage`, when set.
const HOMEPAGE: Option<&str> = match env!("CARGO_PKG_HOMEPAGE").as_bytes() {
    [] => None,
    _ => Some(env!("CARGO_PKG_HOMEPAGE")),
};

/// A table rule's full description: its rationale and default severity.
fn table_description(known: &Rule, worst: Severity) -> String {
    let mut full = format!(
        "{} Default severity {}",
        known.rationale,
        known.severity.as_str()
    );
    if !known.severity_note.is_empty() {
        full.push_str(&format!(" ({})", known.severity_note));
    }
    full.push_str(&format!("; worst seen in this run: {}.", worst.as_str()));
    full
}

fn location(a: &Anchor) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": path_uri(&a.path), "uriBaseId": "%SRCROOT%" },
            "region": { "startLine": a.line },
        },
        "message": { "text": literal(a.why) },
    })
}

/// One line: the title and where.
fn message(item: &Item<'_>) -> String {
    let mut m = format!(
        "{} on {}",
        plain(item.finding.title.trim_end_matches('.')),
        plain(&item.location())
    );
    if let Some(h) = item.host {
        m.push_str(&format!(" ({})", plain(h)));
    }
    m
}

/// The result's `fixes`: the fix lines as the description, made on the
/// scanned host (so the artifact change is an empty replacement).
fn fixes(item: &Item<'_>) -> Option<Value> {
    let lines = fix_lines(&item.finding.remediation);
    if lines.is_empty() {
        return None;
    }
    let on = format!(
        "The service on {} and the host's firewall: the change is made there, not in this repository.",
        item.location()
    );
    Some(json!([{
        "description": { "text": literal(&lines.join("\n")) },
        "artifactChanges": [{
            "artifactLocation": { "description": { "text": plain(&on) } },
            "replacements": [{ "deletedRegion": { "charOffset": 0, "charLength": 0 } }],
        }],
    }]))
}

fn properties(item: &Item<'_>) -> Map<String, Value> {
    let f = item.finding;
    let mut props = Map::new();
    if let Some(ip) = item.ip {
        props.insert("ip".into(), json!(ip.to_string()));
    }
    if let Some(port) = item.port {
        props.insert("port".into(), json!(port));
    }
    if let Some(h) = item.host {
        props.insert("host".into(), json!(terminal_safe(h)));
    }
    if let Some(svc) = item.service {
        props.insert("service".into(), json!(terminal_safe(&svc.name)));
        for (k, v) in [("product", &svc.product), ("version", &svc.version)] {
            if let Some(v) = v {
                props.insert(k.into(), json!(terminal_safe(v)));
            }
        }
    }
    props.insert("severity".into(), json!(f.severity.as_str()));
    props.insert(
        "evidence".into(),
        json!(clip(&terminal_safe(&f.evidence), MAX_EVIDENCE)),
    );
    if let Some(p) = f.policy {
        props.insert("policy".into(), json!(p.as_str()));
    }
    props.insert("rule".into(), json!(f.rule));
    props
}

fn result(item: &Item<'_>, index: usize, at: &Anchor) -> Value {
    let f = item.finding;
    let mut r = json!({
        "ruleId": sarif_rule_id(f),
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": message(item) },
        "locations": [location(at)],
        "partialFingerprints": {
            "primaryLocationLineHash": f.fingerprint,
            "exposecheck/v1": f.fingerprint,
        },
        "properties": properties(item),
    });
    if let Some(fx) = fixes(item) {
        r["fixes"] = fx;
    }
    if let Some(b) = f.baseline {
        r["baselineState"] = json!(b.as_str());
    }
    r
}

/// The run's invocation, with a notification when results were left out.
fn invocation(s: &Summary, left_out: usize) -> Value {
    let mut inv = json!({
        "executionSuccessful": !s.interrupted,
        "exitCode": s.exit_code,
        "startTimeUtc": s.scan.start,
    });
    if let Some(end) = &s.scan.end {
        inv["endTimeUtc"] = json!(end);
    }
    if left_out > 0 {
        inv["toolExecutionNotifications"] = json!([{
            "level": "warning",
            "message": { "text": format!(
                "{left_out} findings of the lowest severities were left out: GitHub code scanning accepts at most {MAX_RESULTS} results per run (the JSON report has them all)."
            ) },
        }]);
    }
    inv
}

/// The whole SARIF log for the collected hosts and the summary, its
/// locations resolved in `checkout`.
pub fn log(hosts: &BTreeMap<IpAddr, HostRows>, s: &Summary, checkout: &Checkout) -> Value {
    let mut items: Vec<Item<'_>> = collect::findings(hosts, s)
        .into_iter()
        .filter(|i| !i.expected())
        .collect();
    let left_out = items.len().saturating_sub(MAX_RESULTS);
    items.truncate(MAX_RESULTS);
    let mut groups: BTreeMap<String, RuleGroup<'_, '_>> = BTreeMap::new();
    for item in &items {
        let id = sarif_rule_id(item.finding);
        let g = groups.entry(id.clone()).or_insert_with(|| RuleGroup {
            id,
            worst: item.finding.severity,
            items: Vec::new(),
        });
        g.worst = g.worst.max(item.finding.severity);
        g.items.push(item);
    }
    let index: BTreeMap<&str, usize> = groups
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let rules: Vec<Value> = groups.values().map(rule).collect();
    let run_at = run_anchor(s, checkout);
    let results: Vec<Value> = items
        .iter()
        .map(|i| {
            let at = anchor(i, &run_at, checkout);
            result(i, index[sarif_rule_id(i.finding).as_str()], &at)
        })
        .collect();
    let targets = plain(&clip(&s.scan.targets.join(", "), 1000));
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver(&s.scan.version, rules) },
            "automationDetails": {
                "id": automation_id(&s.scan),
                "description": { "text": format!("exposecheck scan of {targets}") },
            },
            "invocations": [invocation(s, left_out)],
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "The repository root." } } },
            "results": results,
        }],
    })
}
