//! Baselines: a previous run's JSON or NDJSON output. Each current finding is
//! marked `new` or `unchanged` by its fingerprint, and the baseline's findings
//! that no longer appear are listed as resolved.
//!
//! The file is read incrementally ([`crate::output::reader`]) and only each
//! finding's fingerprint, rule, severity, address and port are kept, so a
//! baseline costs memory for its findings, not for its size.

use crate::model::Finding;
use crate::output::reader::{ReadError, Source};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

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
#[derive(Deserialize, Default)]
#[serde(default)]
struct Item {
    ip: Option<IpAddr>,
    port: Option<u16>,
    finding: Option<FindingKey>,
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
    seen: Vec<AtomicBool>,
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
        let seen = known.iter().map(|_| AtomicBool::new(false)).collect();
        Ok(Baseline {
            known,
            names: loader.names,
            seen,
        })
    }

    fn find(&self, fingerprint: &str) -> Option<usize> {
        self.known
            .binary_search_by(|k| (*k.fingerprint).cmp(fingerprint))
            .ok()
    }

    /// Marks a finding `new` or `unchanged`.
    pub fn mark(&self, f: &mut Finding) {
        let known = self.find(&f.fingerprint);
        if let Some(i) = known {
            self.seen[i].store(true, Ordering::Relaxed);
        }
        f.baseline = Some(if known.is_some() { "unchanged" } else { "new" }.into());
    }

    /// The baseline's findings never marked since (fingerprint, rule,
    /// severity, ip, port), by fingerprint.
    pub fn resolved(&self) -> Vec<Value> {
        let name = |i: u32| self.names.get(i as usize).map(|s| Value::from(&**s));
        self.known
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !seen.load(Ordering::Relaxed))
            .map(|(k, _)| {
                let mut m = Map::new();
                m.insert("fingerprint".into(), Value::from(&*k.fingerprint));
                let fields = [
                    ("rule", name(k.rule)),
                    ("severity", name(k.severity)),
                    ("ip", k.ip.map(|ip| Value::from(ip.to_string()))),
                    ("port", k.port.map(Value::from)),
                ];
                for (key, v) in fields {
                    if let Some(v) = v {
                        m.insert(key.into(), v);
                    }
                }
                Value::Object(m)
            })
            .collect()
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
        b.mark(&mut f);
        assert_eq!(f.baseline.as_deref(), Some("unchanged"));
        let mut g = Finding {
            fingerprint: "zz".into(),
            ..Finding::default()
        };
        b.mark(&mut g);
        assert_eq!(g.baseline.as_deref(), Some("new"));
        let resolved = b.resolved();
        let fps: Vec<&str> = resolved
            .iter()
            .map(|v| v["fingerprint"].as_str().unwrap())
            .collect();
        assert_eq!(fps, vec!["bb", "cc"]);
        assert_eq!(resolved[0]["rule"], "ssh-public");
        assert_eq!(resolved[0]["severity"], "info");
        assert_eq!(resolved[0]["ip"], "198.18.0.2");
        assert_eq!(resolved[0]["port"], 22);
        assert!(resolved[1].get("severity").is_none(), "absent, not null");
        let doc = r#"{"schema":"exposecheck/1","results":[{"ip":"198.18.0.2","port":6379,"finding":{"fingerprint":"aa"}},{"ip":"198.18.0.2","port":1,"state":"closed"}],
  "findings":[{"ip":"198.18.0.3","finding":{"fingerprint":"dd","rule":"x"}}]}"#;
        let b = Baseline::parse(doc).unwrap();
        assert_eq!(b.known.len(), 2);
        assert_eq!(b.resolved()[1]["rule"], "x");
        assert!(Baseline::parse("hello\n").is_err());
        assert!(Baseline::parse("{\"a\":1}\n").is_err());
        assert!(Baseline::parse("").is_err());
        assert!(Baseline::parse("[1,2]\n").is_err());
    }

    #[test]
    fn repeated_fingerprints_keep_the_last_and_cut_files_fail() {
        let nd = r#"{"type":"port","ip":"198.18.0.2","port":1,"finding":{"rule":"old","fingerprint":"aa"}}
{"type":"port","ip":"198.18.0.2","port":1,"finding":{"rule":"new","fingerprint":"aa"}}
"#;
        let b = Baseline::parse(nd).unwrap();
        assert_eq!(b.known.len(), 1);
        assert_eq!(b.resolved()[0]["rule"], "new");
        let cut = &nd[..nd.len() - 20];
        let e = Baseline::parse(cut).unwrap_err();
        assert!(e.contains("line 2") && e.contains("cut short"), "{e}");
        let e = Baseline::parse("{\"type\":\"port\",\"port\":70000}\n").unwrap_err();
        assert!(e.starts_with("line 1: not exposecheck"), "{e}");
    }
}
