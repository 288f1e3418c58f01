//! Baselines: a previous run's JSON or NDJSON output. Each current finding is
//! marked `new` or `unchanged` by its fingerprint, and the baseline's findings
//! that no longer appear are listed as resolved.
//!
//! The file is read incrementally ([`crate::reader`]) and only each
//! finding's fingerprint, rule, severity, address and port are kept, so a
//! baseline costs memory for its findings, not for its size.

use crate::model::{BaselineStatus, Finding, ResolvedFinding, Severity};
use crate::reader::{ReadError, Source};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

/// A baseline that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {msg}")]
pub struct BaselineError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub msg: String,
}

/// What a baseline finding is known by; the rest of the record is skipped.
#[derive(Deserialize, Default)]
#[serde(default)]
struct FindingKey {
    fingerprint: Option<String>,
    rule: Option<String>,
    severity: Option<String>,
}

/// A port result or host finding, as far as a baseline needs it.
/// A result, or a finding: nested (`{"ip", "finding": {...}}`, results and
/// NDJSON) or flat (the JSON document's `findings`, fields at the top).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Item {
    ip: Option<IpAddr>,
    port: Option<u16>,
    finding: Option<FindingKey>,
    fingerprint: Option<String>,
    rule: Option<String>,
    severity: Option<String>,
}

impl Item {
    /// The finding, nested or flat.
    fn key(self) -> Item {
        match (&self.finding, &self.fingerprint) {
            (None, Some(_)) => Item {
                finding: Some(FindingKey {
                    fingerprint: self.fingerprint,
                    rule: self.rule,
                    severity: self.severity,
                }),
                fingerprint: None,
                rule: None,
                severity: None,
                ..self
            },
            _ => self,
        }
    }
}

/// One top-level value of the file: an NDJSON record, or a whole JSON
/// document whose `results` and `findings` lists are read element by element
/// (every other field, `hosts` included, is skipped unread).
#[derive(Deserialize, Default)]
#[serde(default)]
struct TopLevel {
    #[serde(rename = "type")]
    kind: Option<String>,
    ip: Option<IpAddr>,
    port: Option<u16>,
    finding: Option<FindingKey>,
    results: Option<Items>,
    findings: Option<Items>,
}

/// The elements of a list that carry a finding (the others are dropped as read).
#[derive(Default)]
struct Items(Vec<Item>);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Items, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Items;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of results or findings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
                let mut kept = Vec::new();
                while let Some(item) = seq.next_element::<Item>()? {
                    let item = item.key();
                    if item
                        .finding
                        .as_ref()
                        .is_some_and(|f| f.fingerprint.is_some())
                    {
                        kept.push(item);
                    }
                }
                Ok(Items(kept))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Marks an absent rule or severity.
const NONE: u32 = u32::MAX;

/// One baseline finding, small: the rule and severity are indexes into a
/// table of the distinct names.
#[derive(Debug)]
struct Known {
    fingerprint: Box<str>,
    rule: u32,
    severity: u32,
    ip: Option<IpAddr>,
    port: Option<u16>,
}

/// Collects findings while the file is read.
#[derive(Default)]
struct Loader {
    known: Vec<Known>,
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
    recognised: bool,
}

impl Loader {
    fn name(&mut self, s: Option<String>) -> u32 {
        let Some(s) = s else { return NONE };
        if let Some(&i) = self.index.get(s.as_str()) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.clone().into());
        self.index.insert(s.into(), i);
        i
    }

    fn add(&mut self, item: Item) {
        let Some(FindingKey {
            fingerprint: Some(fp),
            rule,
            severity,
        }) = item.finding
        else {
            return;
        };
        let (rule, severity) = (self.name(rule), self.name(severity));
        self.known.push(Known {
            fingerprint: fp.into(),
            rule,
            severity,
            ip: item.ip,
            port: item.port,
        });
    }

    fn take(&mut self, v: TopLevel) {
        let is_doc = v.results.is_some();
        if is_doc {
            self.recognised = true;
            for item in v.results.into_iter().chain(v.findings).flat_map(|l| l.0) {
                self.add(item);
            }
        }
        match v.kind.as_deref() {
            Some("port") | Some("finding") => {
                self.recognised = true;
                self.add(Item {
                    ip: v.ip,
                    port: v.port,
                    finding: v.finding,
                    ..Item::default()
                });
            }
            Some("summary") | Some("host") => self.recognised = true,
            _ => {}
        }
    }
}

/// Fingerprints of a previous run's findings.
#[derive(Debug)]
pub struct Baseline {
    /// Sorted by fingerprint, one entry each (the last one read wins).
    known: Vec<Known>,
    names: Vec<Box<str>>,
}

impl Baseline {
    /// Reads a JSON document or NDJSON stream written by exposecheck.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let file = path.display().to_string();
        let fail = |msg: String| BaselineError {
            file: file.clone(),
            msg,
        };
        let src = Source::open(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        Baseline::read(src).map_err(fail)
    }

    /// Parses baseline text.
    pub fn parse(text: &str) -> Result<Baseline, String> {
        Baseline::read(Source::new(text.as_bytes()))
    }

    fn read<R: Read>(mut src: Source<R>) -> Result<Baseline, String> {
        let mut loader = Loader::default();
        for v in src.values::<TopLevel>() {
            loader.take(v.map_err(|e| match e {
                ReadError::Malformed { line, msg } => {
                    format!("line {line}: not exposecheck JSON or NDJSON output ({msg})")
                }
                other => other.to_string(),
            })?);
        }
        if !loader.recognised {
            return Err("not exposecheck JSON or NDJSON output".into());
        }
        let mut known = loader.known;
        // Stable sort of the reversed list: the first of each run of equal
        // fingerprints is the last one read.
        known.reverse();
        known.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        known.dedup_by(|later, kept| later.fingerprint == kept.fingerprint);
        known.shrink_to_fit();
        Ok(Baseline {
            known,
            names: loader.names,
        })
    }

    fn find(&self, fingerprint: &str) -> Option<usize> {
        self.known
            .binary_search_by(|k| (*k.fingerprint).cmp(fingerprint))
            .ok()
    }

    /// How many findings it holds.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether it holds no finding.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Marks a finding `new` or `unchanged`; returns the index of the
    /// baseline finding it matched (below [`Baseline::len`]), if any.
    pub fn mark(&self, f: &mut Finding) -> Option<usize> {
        let known = self.find(&f.fingerprint);
        f.baseline = Some(if known.is_some() {
            BaselineStatus::Unchanged
        } else {
            BaselineStatus::New
        });
        known
    }

    /// Where finding `i` was: its address and port (no port for a host
    /// finding; no address for a policy finding).
    pub fn place(&self, i: usize) -> (Option<IpAddr>, Option<u16>) {
        self.known.get(i).map_or((None, None), |k| (k.ip, k.port))
    }

    /// The baseline's findings not `seen` this run, split in two: those
    /// whose place this run `probed` and found without them (resolved), and
    /// those it never probed (not scanned: they are not known to be fixed).
    pub fn unseen(
        &self,
        seen: &[bool],
        probed: &[bool],
    ) -> (Vec<ResolvedFinding>, Vec<ResolvedFinding>) {
        let name = |i: u32| self.names.get(i as usize).map(|s| s.to_string());
        let (mut resolved, mut not_scanned) = (Vec::new(), Vec::new());
        for (i, k) in self.known.iter().enumerate() {
            if seen.get(i).copied().unwrap_or(false) {
                continue;
            }
            let r = ResolvedFinding {
                fingerprint: k.fingerprint.to_string(),
                rule: name(k.rule),
                severity: name(k.severity).and_then(|s| Severity::parse(&s)),
                ip: k.ip,
                port: k.port,
            };
            if probed.get(i).copied().unwrap_or(false) {
                resolved.push(r);
            } else {
                not_scanned.push(r);
            }
        }
        (resolved, not_scanned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_and_json_baselines() {
        let nd = r#"{"type":"port","ip":"198.18.0.2","port":6379,"finding":{"rule":"redis-unauthenticated","severity":"critical","fingerprint":"aa"}}
{"type":"port","ip":"198.18.0.2","port":22,"finding":{"rule":"ssh-public","severity":"info","fingerprint":"bb"}}
{"type":"finding","ip":"fd00:e0c::2","port":80,"finding":{"rule":"dual-stack-mismatch","fingerprint":"cc"}}
{"type":"summary","schema":"exposecheck/1"}
"#;
        let b = Baseline::parse(nd).unwrap();
        let mut f = Finding {
            fingerprint: "aa".into(),
            ..Finding::default()
        };
        let seen_aa = b.mark(&mut f);
        assert_eq!(f.baseline, Some(BaselineStatus::Unchanged));
        let mut g = Finding {
            fingerprint: "zz".into(),
            ..Finding::default()
        };
        assert_eq!(b.mark(&mut g), None);
        assert_eq!(g.baseline, Some(BaselineStatus::New));
        let mut seen = vec![false; b.len()];
        seen[seen_aa.unwrap()] = true;
        // bb's port was probed; cc's (another address) was not.
        let probed: Vec<bool> = (0..b.len())
            .map(|i| b.place(i).0 == Some("198.18.0.2".parse().unwrap()))
            .collect();
        let (resolved, not_scanned) = b.unseen(&seen, &probed);
        let fps: Vec<&str> = resolved.iter().map(|v| v.fingerprint.as_str()).collect();
        assert_eq!(fps, vec!["bb"]);
        assert_eq!(not_scanned.len(), 1);
        assert_eq!(not_scanned[0].fingerprint, "cc");
        let (resolved, _) = b.unseen(&seen, &[true; 3]);
        assert_eq!(resolved[0].rule.as_deref(), Some("ssh-public"));
        assert_eq!(resolved[0].severity, Some(Severity::Info));
        assert_eq!(resolved[0].ip, Some("198.18.0.2".parse().unwrap()));
        assert_eq!(resolved[0].port, Some(22));
        let v = serde_json::to_value(&resolved[1]).unwrap();
        assert!(v.get("severity").is_none(), "absent, not null");
        let doc = r#"{"schema":"exposecheck/1","results":[{"ip":"198.18.0.2","port":6379,"finding":{"fingerprint":"aa"}},{"ip":"198.18.0.2","port":1,"state":"closed"}],
  "findings":[{"ip":"198.18.0.3","finding":{"fingerprint":"dd","rule":"x"}}]}"#;
        let b = Baseline::parse(doc).unwrap();
        assert_eq!(b.known.len(), 2);
        assert_eq!(b.unseen(&[], &[true, true]).0[1].rule.as_deref(), Some("x"));
        assert!(Baseline::parse("hello\n").is_err());
        assert!(Baseline::parse("{\"a\":1}\n").is_err());
        assert!(Baseline::parse("").is_err());
        assert!(Baseline::parse("[1,2]\n").is_err());
    }

    #[test]
    fn flat_json_findings_are_read_too() {
        let doc = r#"{"schema":"exposecheck/1","results":[],
  "findings":[{"ip":"198.18.0.3","port":6379,"service":"redis","rule":"redis-unauthenticated","severity":"critical","fingerprint":"ff","remediation":{}}]}"#;
        let b = Baseline::parse(doc).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(
            b.place(0),
            (Some("198.18.0.3".parse().unwrap()), Some(6379))
        );
        let (_, not_scanned) = b.unseen(&[false], &[false]);
        assert_eq!(
            not_scanned[0].rule.as_deref(),
            Some("redis-unauthenticated")
        );
        assert_eq!(not_scanned[0].severity, Some(Severity::Critical));
    }

    #[test]
    fn repeated_fingerprints_keep_the_last_and_cut_files_fail() {
        let nd = r#"{"type":"port","ip":"198.18.0.2","port":1,"finding":{"rule":"old","fingerprint":"aa"}}
{"type":"port","ip":"198.18.0.2","port":1,"finding":{"rule":"new","fingerprint":"aa"}}
"#;
        let b = Baseline::parse(nd).unwrap();
        assert_eq!(b.known.len(), 1);
        assert_eq!(b.unseen(&[], &[]).1[0].rule.as_deref(), Some("new"));
        let cut = &nd[..nd.len() - 20];
        let e = Baseline::parse(cut).unwrap_err();
        assert!(e.contains("line 2") && e.contains("cut short"), "{e}");
        let e = Baseline::parse("{\"type\":\"port\",\"port\":70000}\n").unwrap_err();
        assert!(e.starts_with("line 1: not exposecheck"), "{e}");
    }
}
