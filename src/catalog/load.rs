//! Loading: the embedded `services/*.toml` plus an optional `--services-dir`,
//! validated into a [`Catalog`]. Every problem is collected (not just the
//! first) and reported as `file:line: reason`.

use super::eol::{Cycle, Lifecycle};
use super::format::{
    CpeDef, EolDate, FixtureDef, MatchDef, MatchKind, ProbeDef, ReplyFrom, ServiceFile,
};
use super::{cpe_prefix_error, Catalog, Cpe, Probe, ProbeKey, Rule, ServiceDef};
use crate::model::{Proto, Remediation};
use regex::bytes::{Regex, RegexBuilder};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use toml::Spanned;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/services.rs"));
}

/// Compiled-regex size cap (bytes of program), per pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The `services/*.toml` files compiled into the binary, as (file name, text).
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::FILES
}

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// File name (as given: `redis.toml`, or a path under `--services-dir`).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.msg),
            None => write!(f, "{}: {}", self.file, self.msg),
        }
    }
}

/// Every problem found while loading; renders on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "services: {n} error{}: ", if n == 1 { "" } else { "s" })?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// A source file: name and text.
pub struct Source {
    /// Name used in errors.
    pub name: String,
    /// TOML text.
    pub text: String,
    /// Whether it came from `--services-dir` (may replace a built-in id).
    pub user: bool,
}

/// Reads every `*.toml` in `dir` (sorted by name).
pub fn read_dir(dir: &Path) -> Result<Vec<Source>, LoadErrors> {
    let one = |msg: String| {
        LoadErrors(vec![LoadError {
            file: dir.display().to_string(),
            line: None,
            msg,
        }])
    };
    let entries = std::fs::read_dir(dir).map_err(|e| one(format!("cannot read directory: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::read_to_string(&p) {
            Ok(text) => out.push(Source {
                name: p.display().to_string(),
                text,
                user: true,
            }),
            Err(e) => errors.push(LoadError {
                file: p.display().to_string(),
                line: None,
                msg: format!("cannot read: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(LoadErrors(errors))
    }
}

/// The embedded files as sources.
pub fn embedded_sources() -> Vec<Source> {
    embedded_files()
        .iter()
        .map(|(n, t)| Source {
            name: (*n).to_string(),
            text: (*t).to_string(),
            user: false,
        })
        .collect()
}

/// Decodes payload escapes: `\r \n \t \0 \\ \" \' \xNN`; other bytes pass through.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1).ok_or("trailing backslash")?;
        i += 2;
        match c {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'\'' => out.push(b'\''),
            b'x' => {
                let hex = b.get(i..i + 2).ok_or("\\x needs two hex digits")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "\\x needs two hex digits")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape \\x{hex}"))?);
                i += 2;
            }
            other => return Err(format!("unknown escape \\{}", other as char)),
        }
    }
    Ok(out)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Compiles one pattern with the catalogue's limits.
pub fn compile_pattern(p: &str) -> Result<Regex, String> {
    RegexBuilder::new(p)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            e.to_string()
                .lines()
                .last()
                .unwrap_or("invalid regex")
                .trim()
                .to_string()
        })
}

/// One file that parsed, with its source.
struct Parsed {
    src: Source,
    file: ServiceFile,
}

/// Parses every source; syntax errors go to `errors`.
fn parse_files(sources: Vec<Source>, errors: &mut Vec<LoadError>) -> Vec<Parsed> {
    let mut parsed = Vec::new();
    for src in sources {
        match toml::from_str::<ServiceFile>(&src.text) {
            Ok(file) => parsed.push(Parsed { src, file }),
            Err(e) => errors.push(LoadError {
                line: e.span().map(|s| line_of(&src.text, s.start)),
                msg: e.message().trim().replace('\n', " "),
                file: src.name,
            }),
        }
    }
    parsed
}

/// The catalogue being compiled, and every error found so far.
#[derive(Default)]
struct Builder {
    errors: Vec<LoadError>,
    services: Vec<ServiceDef>,
    probes: Vec<Probe>,
    probe_by_name: HashMap<String, usize>,
    rules: Vec<Rule>,
    fixtures: Vec<(usize, FixtureDef)>,
}

impl Builder {
    /// Records an error at the line of `s` in `src`.
    fn at<T>(&mut self, src: &Source, s: &Spanned<T>, msg: impl Into<String>) {
        self.errors.push(LoadError {
            file: src.name.clone(),
            line: Some(line_of(&src.text, s.span().start)),
            msg: msg.into(),
        });
    }

    /// Keeps one file per id, in priority order: built-in ids must be
    /// unique; a user file replaces a built-in id, but two user files may not
    /// share one.
    fn resolve_ids(&mut self, parsed: Vec<Parsed>) -> Vec<Parsed> {
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut keep: Vec<Option<Parsed>> = Vec::new();
        for p in parsed {
            let id = p.file.id.get_ref().clone();
            if !valid_name(&id) {
                self.at(
                    &p.src,
                    &p.file.id,
                    format!("invalid id '{id}': use a-z, 0-9 and '-'"),
                );
                continue;
            }
            match by_id.get(&id).copied() {
                Some(prev) => {
                    let prev_user = keep[prev].as_ref().is_some_and(|q| q.src.user);
                    if p.src.user && !prev_user {
                        keep[prev] = Some(p);
                    } else {
                        let other = keep[prev]
                            .as_ref()
                            .map_or(String::new(), |q| q.src.name.clone());
                        self.at(
                            &p.src,
                            &p.file.id,
                            format!("duplicate id '{id}' (also in {other})"),
                        );
                    }
                }
                None => {
                    by_id.insert(id, keep.len());
                    keep.push(Some(p));
                }
            }
        }
        let mut parsed: Vec<Parsed> = keep.into_iter().flatten().collect();
        parsed.sort_by_key(|p| p.file.priority);
        parsed
    }

    /// Checks a file's ports and `code`, and adds its service.
    fn add_service(&mut self, p: &Parsed, dialogues: &[&str]) {
        let f = &p.file;
        for &port in f.ports.iter().chain(&f.tls_ports).chain(&f.udp_ports) {
            if port == 0 {
                self.at(&p.src, &f.id, "port 0 is not a port");
            }
        }
        if let Some(code) = &f.code {
            if !dialogues.contains(&code.get_ref().as_str()) {
                self.at(
                    &p.src,
                    code,
                    format!("code '{}' names no registered dialogue", code.get_ref()),
                );
            }
            if f.code_note.as_deref().is_none_or(|n| n.trim().is_empty()) {
                self.at(
                    &p.src,
                    code,
                    "code needs a code_note saying what the dialogue sends",
                );
            }
        } else if f.matches.is_empty() && !f.reflects {
            self.at(
                &p.src,
                &f.id,
                "a service needs match rules, a code dialogue or `reflects = true`",
            );
        }
        let cpe = self.cpe(p);
        let eol = self.eol(p);
        self.services.push(ServiceDef {
            id: f.id.get_ref().clone(),
            name: f.name.clone(),
            category: f.category,
            exposure: f.exposure,
            impact: f.impact,
            ports: f.ports.clone(),
            tls_ports: f.tls_ports.clone(),
            udp_ports: f.udp_ports.clone(),
            udp_config: f.remediation.udp.clone(),
            udp_risk: f.udp_risk,
            priority: f.priority,
            code: f.code.as_ref().map(|c| c.get_ref().clone()),
            code_note: f.code_note.clone(),
            code_fallback: f.code_fallback,
            generic: f.generic,
            reflects: f.reflects,
            remediation: Remediation {
                config: f.remediation.config.clone(),
                notes: f.remediation.notes.clone(),
                ..Remediation::default()
            },
            source: p.src.name.clone(),
            server_first: f.matches.iter().any(|m| m.probe.get_ref() == "greeting"),
            cpe,
            eol,
        });
    }

    /// Checks a file's `eol` cycles (dates, cycles, sources, duplicates).
    fn eol(&mut self, p: &Parsed) -> Lifecycle {
        let mut cycles = Vec::new();
        for def in &p.file.eol {
            let d = def.get_ref();
            let date = match &d.eol {
                EolDate::Date(s) => Ok(Some(s.as_str())),
                EolDate::Set(false) => Ok(None),
                EolDate::Set(true) => Err(format!(
                    "eol cycle {}: `eol = true` gives no date; write the date",
                    d.cycle
                )),
            };
            match date.and_then(|e| Cycle::new(d.product.clone(), &d.cycle, e, &d.source)) {
                Ok(c) => cycles.push(c),
                Err(e) => self.at(&p.src, def, e),
            }
        }
        Lifecycle::new(cycles).unwrap_or_else(|e| {
            let at = p.file.eol.first().expect("a duplicate needs two cycles");
            self.at(&p.src, at, e);
            Lifecycle::default()
        })
    }

    /// Checks a file's `cpe` prefixes and compiles them.
    fn cpe(&mut self, p: &Parsed) -> Cpe {
        let Some(def) = &p.file.cpe else {
            return Cpe::None;
        };
        let prefixes: Vec<&String> = match def.get_ref() {
            CpeDef::One(prefix) => vec![prefix],
            CpeDef::ByProduct(map) => map.values().collect(),
        };
        let mut ok = true;
        for prefix in prefixes {
            if let Some(e) = cpe_prefix_error(prefix) {
                self.at(&p.src, def, e);
                ok = false;
            }
        }
        match def.get_ref() {
            _ if !ok => Cpe::None,
            CpeDef::One(prefix) => Cpe::Any(prefix.clone()),
            CpeDef::ByProduct(map) if map.is_empty() => {
                self.at(&p.src, def, "cpe names no product");
                Cpe::None
            }
            CpeDef::ByProduct(map) => Cpe::ByProduct(
                map.iter()
                    .map(|(name, prefix)| (name.clone(), prefix.clone()))
                    .collect(),
            ),
        }
    }

    /// Checks and adds the probe `pd` of service `si` (guards come later).
    fn add_probe(&mut self, si: usize, p: &Parsed, pd: &ProbeDef) {
        let name = pd.name.get_ref().clone();
        if !valid_name(&name) || name == "greeting" {
            self.at(&p.src, &pd.name, format!("invalid probe name '{name}'"));
            return;
        }
        if let Some(&prev) = self.probe_by_name.get(&name) {
            let other = self
                .services
                .get(self.probes[prev].service)
                .map_or(String::new(), |s| s.source.clone());
            self.at(
                &p.src,
                &pd.name,
                format!("duplicate probe name '{name}' (also in {other})"),
            );
            return;
        }
        if pd.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            self.at(
                &p.src,
                &pd.name,
                format!("probe '{name}' needs a note saying what it sends"),
            );
        }
        let payload = match unescape(pd.send.get_ref()) {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => {
                self.at(&p.src, &pd.send, "empty payload");
                Vec::new()
            }
            Err(e) => {
                self.at(&p.src, &pd.send, e);
                Vec::new()
            }
        };
        if pd.proto == Proto::Udp && (pd.fallback || pd.guard.is_some() || pd.family.is_some()) {
            self.at(
                &p.src,
                &pd.name,
                "a udp probe takes no fallback, guard or family (each port gets its own datagrams)",
            );
        }
        if pd.proto == Proto::Tcp && pd.amplification.is_some() {
            self.at(&p.src, &pd.name, "amplification is for udp probes");
        }
        if pd.proto == Proto::Tcp && pd.reply_from != ReplyFrom::SamePort {
            self.at(&p.src, &pd.name, "reply_from is for udp probes");
        }
        self.probe_by_name.insert(name.clone(), self.probes.len());
        self.probes.push(Probe {
            family: pd.family.clone().unwrap_or_else(|| name.clone()),
            name,
            payload,
            note: pd.note.clone().unwrap_or_default(),
            rank: pd.rank,
            fallback: pd.fallback,
            guard: None,
            follow_up: pd.follow_up,
            service: si,
            hint_ports: pd.ports.iter().copied().collect(),
            proto: pd.proto,
            amplification: pd.amplification.clone(),
            reply_from: pd.reply_from,
        });
    }

    /// Resolves the `guard`s of a file's probes, now that every probe is known.
    fn resolve_guards(&mut self, p: &Parsed) {
        for pd in &p.file.probes {
            let (Some(g), Some(&pi)) = (&pd.guard, self.probe_by_name.get(pd.name.get_ref()))
            else {
                continue;
            };
            match self.probe_by_name.get(g.get_ref()) {
                Some(&gi) if gi != pi => self.probes[pi].guard = Some(gi),
                _ => self.at(
                    &p.src,
                    g,
                    format!("guard '{}' names no other probe", g.get_ref()),
                ),
            }
        }
    }

    /// The reply a rule reads, if its probe exists.
    fn rule_key(&mut self, p: &Parsed, m: &MatchDef) -> Option<ProbeKey> {
        match m.probe.get_ref().as_str() {
            "greeting" => Some(ProbeKey::Greeting),
            name => {
                let k = self.probe_by_name.get(name).map(|&i| ProbeKey::Probe(i));
                if k.is_none() {
                    self.at(
                        &p.src,
                        &m.probe,
                        format!("probe '{name}' is not defined in any file"),
                    );
                }
                k
            }
        }
    }

    /// Checks and compiles the rule `m` of service `si`.
    fn add_rule(&mut self, si: usize, p: &Parsed, m: &MatchDef) {
        let key = self.rule_key(p, m);
        let regex = compile_pattern(m.pattern.get_ref())
            .map_err(|e| self.at(&p.src, &m.pattern, format!("bad pattern: {e}")))
            .ok();
        let (Some(key), Some(regex)) = (key, regex) else {
            return;
        };
        if regex.is_match(b"") {
            self.at(&p.src, &m.pattern, "pattern matches the empty reply");
        }
        let then = match &m.then {
            None => None,
            Some(t) => match self.probe_by_name.get(t.get_ref()) {
                Some(&i) => Some(i),
                None => {
                    self.at(&p.src, t, format!("then '{}' names no probe", t.get_ref()));
                    None
                }
            },
        };
        if m.kind == MatchKind::Tls && (m.then.is_some() || m.auth.is_some()) {
            self.at(&p.src, &m.pattern, "a tls rule takes no then or auth");
        }
        if let ProbeKey::Probe(i) = key {
            let s = &self.services[si];
            let ports: Vec<u16> = match self.probes[i].proto {
                Proto::Tcp => s.ports.iter().chain(&s.tls_ports).copied().collect(),
                Proto::Udp => s.udp_ports.clone(),
            };
            self.probes[i].hint_ports.extend(ports);
        }
        self.rules.push(Rule {
            service: si,
            probe: key,
            regex,
            kind: m.kind,
            product: m.product.clone(),
            version: m.version.clone(),
            info: m.info.clone(),
            auth: m.auth,
            evidence: m.evidence.clone(),
            then,
        });
    }

    /// Adds the fixtures of service `si`, only checked for shape here (the
    /// tests replay them).
    fn add_fixtures(&mut self, si: usize, p: &Parsed) {
        for fx in &p.file.fixtures {
            let probe = fx
                .probe
                .clone()
                .or_else(|| p.file.matches.first().map(|m| m.probe.get_ref().clone()))
                .unwrap_or_default();
            if probe != "greeting" && !self.probe_by_name.contains_key(&probe) {
                self.at(
                    &p.src,
                    &fx.reply,
                    format!("fixture probe '{probe}' is not defined"),
                );
                continue;
            }
            if let Err(e) = unescape(fx.reply.get_ref()) {
                self.at(&p.src, &fx.reply, format!("fixture reply: {e}"));
                continue;
            }
            let mut fx = fx.clone();
            fx.probe = Some(probe);
            self.fixtures.push((si, fx));
        }
    }

    /// The catalogue, or every error found.
    fn finish(self) -> Result<Catalog, LoadErrors> {
        if !self.errors.is_empty() {
            return Err(LoadErrors(self.errors));
        }
        let service_by_id = self
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let tls_ports: BTreeSet<u16> = self
            .services
            .iter()
            .flat_map(|s| s.tls_ports.iter().copied())
            .collect();
        Ok(Catalog {
            services: self.services,
            probes: self.probes,
            rules: self.rules,
            probe_by_name: self.probe_by_name,
            service_by_id,
            fixtures: self.fixtures,
            tls_ports,
        })
    }
}

/// Parses and validates `sources`; `dialogues` are the registered dialogue
/// names. Files marked `user` replace a built-in service with the same id.
pub fn compile(sources: Vec<Source>, dialogues: &[&str]) -> Result<Catalog, LoadErrors> {
    let mut b = Builder::default();
    let parsed = parse_files(sources, &mut b.errors);
    let parsed = b.resolve_ids(parsed);
    // Services and probes first, so rules can refer to any file's probe.
    for (si, p) in parsed.iter().enumerate() {
        b.add_service(p, dialogues);
        for pd in &p.file.probes {
            b.add_probe(si, p, pd);
        }
    }
    for p in &parsed {
        b.resolve_guards(p);
    }
    for (si, p) in parsed.iter().enumerate() {
        for m in &p.file.matches {
            b.add_rule(si, p, m);
        }
    }
    for (si, p) in parsed.iter().enumerate() {
        b.add_fixtures(si, p);
    }
    b.finish()
}

/// Loads the embedded catalogue, plus `dir` if given.
pub fn load(dir: Option<&Path>, dialogues: &[&str]) -> Result<Catalog, LoadErrors> {
    let mut sources = embedded_sources();
    if let Some(d) = dir {
        sources.extend(read_dir(d)?);
    }
    compile(sources, dialogues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(name: &str, text: &str, user: bool) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
            user,
        }
    }

    const OK: &str = "id = \"x\"\nname = \"X\"\ncategory = \"other\"\nexposure = \"public-ok\"\n\
        [[probe]]\nname = \"x-hello\"\nsend = 'hi\\r\\n'\nnote = \"says hi\"\n\
        [[match]]\nprobe = \"x-hello\"\npattern = '^HELLO'\n";

    #[test]
    fn unescape_handles_every_escape() {
        assert_eq!(
            unescape(r"a\r\n\t\0\\\x7f\xFF").unwrap(),
            b"a\r\n\t\0\\\x7f\xff"
        );
        assert!(unescape(r"\q").is_err());
        assert!(unescape(r"\x4").is_err());
        assert!(unescape("\\").is_err());
    }

    #[test]
    fn toml_syntax_error_names_file_and_line() {
        let e = compile(vec![src("bad.toml", "id = \"x\"\nname = \n", false)], &[]).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].file, "bad.toml");
        assert_eq!(e.0[0].line, Some(2), "{e}");
    }

    #[test]
    fn all_semantic_errors_are_collected_with_lines() {
        let text = "id = \"y\"\nname = \"Y\"\ncategory = \"other\"\nexposure = \"public-ok\"\n\
            [[probe]]\nname = \"y-p\"\nsend = 'a'\n\
            [[match]]\nprobe = \"nope\"\npattern = 'x'\n\
            [[match]]\nprobe = \"y-p\"\npattern = '('\n";
        let e = compile(vec![src("y.toml", text, false)], &[]).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("y.toml:6: probe 'y-p' needs a note"), "{s}");
        assert!(s.contains("y.toml:9: probe 'nope' is not defined"), "{s}");
        assert!(s.contains("y.toml:13: bad pattern"), "{s}");
        assert_eq!(e.0.len(), 3, "{s}");
        assert!(!s.contains('\n'));
    }

    #[test]
    fn unknown_category_and_field_name_the_line() {
        let text = OK.replace("category = \"other\"", "category = \"weird\"");
        let e = compile(vec![src("c.toml", &text, false)], &[]).unwrap_err();
        assert_eq!(e.0[0].line, Some(3), "{e}");
        let text = format!("{OK}colour = 1\n");
        let e = compile(vec![src("d.toml", &text, false)], &[]).unwrap_err();
        assert!(e.0[0].line.is_some(), "{e}");
    }

    #[test]
    fn user_file_overrides_builtin_but_duplicates_fail() {
        let over = OK
            .replace("name = \"X\"", "name = \"Mine\"")
            .replace("x-hello", "x-hello2");
        let c = compile(
            vec![src("x.toml", OK, false), src("dir/x.toml", &over, true)],
            &[],
        )
        .unwrap();
        assert_eq!(c.service("x").unwrap().name, "Mine");
        assert!(compile(
            vec![src("a.toml", OK, false), src("b.toml", OK, false)],
            &[]
        )
        .is_err());
    }

    #[test]
    fn services_dir_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{OK}[[match]]\nprobe = \"nope\"\npattern = '('\n");
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let srcs = read_dir(dir.path()).unwrap();
        assert_eq!(srcs.len(), 1);
        let e = compile(srcs, &[]).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("bad.toml:13: probe 'nope'"), "{s}");
        assert!(s.contains("bad.toml:14: bad pattern"), "{s}");
        assert!(read_dir(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn unregistered_code_is_an_error() {
        let text = "id = \"z\"\nname = \"Z\"\ncategory = \"database\"\nexposure = \"localhost-only\"\ncode = \"zz\"\n";
        let e = compile(vec![src("z.toml", text, false)], &["mysql"]).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("z.toml:5: code 'zz' names no registered dialogue"),
            "{s}"
        );
        assert!(s.contains("code_note"), "{s}");
        let ok = format!("{text}code_note = \"n\"\n").replace("zz", "mysql");
        assert!(compile(vec![src("z.toml", &ok, false)], &["mysql"]).is_ok());
    }

    #[test]
    fn cpe_prefixes_load_per_product_and_bad_ones_name_the_line() {
        let one = OK.replace(
            "exposure = \"public-ok\"\n",
            "exposure = \"public-ok\"\ncpe = \"cpe:2.3:a:x_project:x\"\n",
        );
        let c = compile(vec![src("x.toml", &one, false)], &[]).unwrap();
        let x = c.service("x").unwrap();
        assert_eq!(
            x.cpe_name(Some("X"), Some("1.2")).as_deref(),
            Some("cpe:2.3:a:x_project:x:1.2:*:*:*:*:*:*:*")
        );
        assert_eq!(x.cpe_name(None, Some("1.2")), None, "no product, no CPE");
        let table = OK.replace(
            "exposure = \"public-ok\"\n",
            "exposure = \"public-ok\"\ncpe = { XServer = \"cpe:2.3:a:x:x_server\" }\n",
        );
        let c = compile(vec![src("x.toml", &table, false)], &[]).unwrap();
        let x = c.service("x").unwrap();
        assert_eq!(
            x.cpe_name(Some("xserver"), None).as_deref(),
            Some("cpe:2.3:a:x:x_server:*:*:*:*:*:*:*:*")
        );
        assert_eq!(x.cpe_name(Some("Other"), None), None);
        for bad in [
            "cpe = \"cpe:/a:x:x\"",
            "cpe = \"cpe:2.3:a:X:x\"",
            "cpe = \"cpe:2.3:a:x:x:1.0\"",
            "cpe = \"cpe:2.3:q:x:x\"",
            "cpe = { X = \"cpe:2.3:a:x\" }",
            "cpe = {}",
        ] {
            let text = OK.replace(
                "exposure = \"public-ok\"\n",
                &format!("exposure = \"public-ok\"\n{bad}\n"),
            );
            let e = compile(vec![src("x.toml", &text, false)], &[]).unwrap_err();
            assert_eq!(e.0.len(), 1, "{bad}: {e}");
            assert_eq!(e.0[0].line, Some(5), "{bad}: {e}");
        }
    }

    /// `OK` with `eol` entries (one a line) after its top-level keys.
    fn with_eol(entries: &[&str]) -> String {
        OK.replace(
            "exposure = \"public-ok\"\n",
            &format!(
                "exposure = \"public-ok\"\neol = [\n{}]\n",
                entries.join(",\n")
            ),
        )
    }

    #[test]
    fn eol_cycles_load_and_bad_ones_name_their_line() {
        let text = with_eol(&[
            "{ cycle = \"7.0\", eol = \"2024-07-29\", source = \"s\" }",
            "{ cycle = \"8.4\", eol = false, source = \"s\" }",
            "{ product = \"Y\", cycle = \"7.0\", eol = \"2030-01-01\", source = \"s\" }",
        ]);
        let c = compile(vec![src("x.toml", &text, false)], &[]).unwrap();
        let life = &c.service("x").unwrap().eol;
        assert_eq!(life.cycles().len(), 3);
        let y = life.cycle_of("y", "7.0.1").unwrap();
        assert_eq!(y.eol, Some(jiff::civil::date(2030, 1, 1)));
        assert_eq!(life.cycle_of("x", "8.4.2").unwrap().eol, None);
        for bad in [
            "{ cycle = \"7.0\", eol = \"29/07/2024\", source = \"s\" }",
            "{ cycle = \"7.0\", eol = true, source = \"s\" }",
            "{ cycle = \"seven\", eol = false, source = \"s\" }",
            "{ cycle = \"7.0\", eol = false, source = \"\" }",
            "{ cycle = \"7.0\", eol = false }",
            "{ cycle = \"7.0\", eol = false, source = \"s\", latest = \"7.0.15\" }",
        ] {
            let text = with_eol(&["{ cycle = \"6.0\", eol = false, source = \"s\" }", bad]);
            let e = compile(vec![src("x.toml", &text, false)], &[]).unwrap_err();
            assert_eq!(e.0.len(), 1, "{bad}: {e}");
            assert_eq!(e.0[0].line, Some(7), "{bad}: {e}");
        }
        let twice = with_eol(&[
            "{ cycle = \"7.0\", eol = false, source = \"s\" }",
            "{ cycle = \"7.0\", eol = false, source = \"s\" }",
        ]);
        let e = compile(vec![src("x.toml", &twice, false)], &[]).unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
    }
}
