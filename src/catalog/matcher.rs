//! Replies → identification: runs a probe's rules in catalogue order (first
//! hard match wins, then `enrich` rules of the same service fill gaps), refines
//! a match with a follow-up reply, and replays `[[fixture]]`s.
//!
//! Everything taken from a reply is escaped ([`escape`]) and bounded here, so
//! callers never see raw network bytes in a string.

use super::format::MatchKind;
use super::{Catalog, ProbeKey, Rule};
use crate::model::AuthState;
use regex::bytes::Captures;

/// Longest captured field, in characters.
pub const FIELD_MAX: usize = 128;

/// What a port's replies established, by a rule or a coded dialogue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ident {
    /// Service id (a `services/` file id); empty until matched.
    pub service: String,
    /// Product, e.g. `MariaDB`.
    pub product: Option<String>,
    /// Version string.
    pub version: Option<String>,
    /// Extra facts (auth plugin, cluster name, mode...).
    pub info: Option<String>,
    /// Whether a stranger gets in.
    pub auth: AuthState,
    /// The reply that decided `auth`, short and printable.
    pub auth_evidence: Option<String>,
}

impl Ident {
    /// True once the service is identified.
    pub fn matched(&self) -> bool {
        !self.service.is_empty()
    }
}

/// What one reply established.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplyMatch {
    /// The hard match (service filled), if any.
    pub hard: Option<Ident>,
    /// The first soft match, if no hard one.
    pub soft: Option<Ident>,
    /// The follow-up probe the winning rule asks for.
    pub then: Option<usize>,
    /// A `tls` rule matched: the port speaks TLS.
    pub tls_hint: bool,
    /// The hard match runs to the end of a reply that does not end a line:
    /// more bytes may extend it (a banner dribbled a byte at a time).
    pub cut: bool,
}

impl ReplyMatch {
    /// A hard match that more bytes cannot change: a reader may stop.
    pub fn settled(&self) -> bool {
        self.hard.is_some() && !self.cut
    }
}

/// Escapes bytes for display: printable ASCII kept, `\` doubled, anything
/// else as `\xNN`; cut to at most `max` characters without splitting an escape.
pub fn escape(b: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &c in b {
        let piece = match c {
            b'\\' => "\\\\".to_string(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02x}"),
        };
        if out.len() + piece.len() > max {
            break;
        }
        out.push_str(&piece);
    }
    out
}

fn expand(caps: &Captures<'_>, tmpl: &str) -> Option<String> {
    let mut buf = Vec::new();
    caps.expand(tmpl.as_bytes(), &mut buf);
    let s = escape(&buf, FIELD_MAX);
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn first_line(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(b.len());
    &b[..end]
}

/// Fields a rule's templates produce.
fn fields(rule: &Rule, caps: &Captures<'_>) -> Ident {
    let evidence = match &rule.evidence {
        Some(t) => expand(caps, t),
        None => {
            let whole = caps.get(0).map_or(&[][..], |m| m.as_bytes());
            Some(escape(first_line(whole), FIELD_MAX)).filter(|s| !s.is_empty())
        }
    };
    Ident {
        service: String::new(),
        product: rule.product.as_deref().and_then(|t| expand(caps, t)),
        version: rule.version.as_deref().and_then(|t| expand(caps, t)),
        info: rule.info.as_deref().and_then(|t| expand(caps, t)),
        auth: rule.auth.unwrap_or(AuthState::Unknown),
        auth_evidence: rule.auth.and(evidence),
    }
}

/// Overwrites `into` with every field `from` sets.
pub fn overlay(into: &mut Ident, from: Ident) {
    if from.product.is_some() {
        into.product = from.product;
    }
    if from.version.is_some() {
        into.version = from.version;
    }
    if from.info.is_some() {
        into.info = from.info;
    }
    if from.auth != AuthState::Unknown {
        into.auth = from.auth;
        into.auth_evidence = from.auth_evidence;
    }
}

/// Fills the fields of `into` that are still empty.
pub fn fill(into: &mut Ident, from: Ident) {
    into.product = into.product.take().or(from.product);
    into.version = into.version.take().or(from.version);
    into.info = into.info.take().or(from.info);
    if into.auth == AuthState::Unknown && from.auth != AuthState::Unknown {
        into.auth = from.auth;
        into.auth_evidence = from.auth_evidence;
    }
}

impl Catalog {
    fn enrich(&self, key: ProbeKey, service: usize, reply: &[u8], ident: &mut Ident) {
        for r in self
            .rules
            .iter()
            .filter(|r| r.probe == key && r.service == service && r.kind == MatchKind::Enrich)
        {
            if let Some(c) = r.regex.captures(reply) {
                fill(ident, fields(r, &c));
            }
        }
    }

    /// Judges `reply` to `key` with every service's rules.
    pub fn match_reply(&self, key: ProbeKey, reply: &[u8]) -> ReplyMatch {
        let mut out = ReplyMatch::default();
        if reply.is_empty() {
            return out;
        }
        // "Speak TLS to me" outranks whatever the error page itself matches.
        if self
            .rules
            .iter()
            .any(|r| r.probe == key && r.kind == MatchKind::Tls && r.regex.is_match(reply))
        {
            out.tls_hint = true;
            return out;
        }
        let mut soft: Option<(usize, Ident)> = None;
        for r in self.rules.iter().filter(|r| r.probe == key) {
            match r.kind {
                MatchKind::Enrich | MatchKind::Tls => {}
                MatchKind::Soft => {
                    if soft.is_none() {
                        if let Some(c) = r.regex.captures(reply) {
                            soft = Some((r.service, fields(r, &c)));
                        }
                    }
                }
                MatchKind::Match => {
                    if let Some(c) = r.regex.captures(reply) {
                        let end = c.get(0).map_or(0, |m| m.end());
                        out.cut = end == reply.len() && !reply.ends_with(b"\n");
                        let mut id = fields(r, &c);
                        id.service = self.services[r.service].id.clone();
                        self.enrich(key, r.service, reply, &mut id);
                        out.hard = Some(id);
                        out.then = r.then;
                        return out;
                    }
                }
            }
        }
        if let Some((si, mut id)) = soft {
            id.service = self.services[si].id.clone();
            self.enrich(key, si, reply, &mut id);
            out.soft = Some(id);
        }
        out
    }

    /// Refines `ident` (a match of service `service`) with the reply to its
    /// follow-up probe; returns the next follow-up, if the rule asks for one.
    pub fn refine(
        &self,
        service: usize,
        probe: usize,
        reply: &[u8],
        ident: &mut Ident,
    ) -> Option<usize> {
        let key = ProbeKey::Probe(probe);
        let mut then = None;
        for r in self
            .rules
            .iter()
            .filter(|r| r.probe == key && r.service == service && r.kind == MatchKind::Match)
        {
            if let Some(c) = r.regex.captures(reply) {
                overlay(ident, fields(r, &c));
                then = r.then;
                break;
            }
        }
        self.enrich(key, service, reply, ident);
        then
    }

    /// Replays every fixture; returns one message per failure.
    pub fn check_fixtures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for (si, fx) in &self.fixtures {
            let svc = &self.services[*si];
            let probe = fx.probe.as_deref().unwrap_or("greeting");
            let key = match self.probe_index(probe) {
                Some(i) => ProbeKey::Probe(i),
                None => ProbeKey::Greeting,
            };
            let reply = match super::load::unescape(fx.reply.get_ref()) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{}: fixture reply: {e}", svc.source));
                    continue;
                }
            };
            let follow_up = matches!(key, ProbeKey::Probe(i) if self.probes[i].follow_up);
            let got = if follow_up {
                let mut id = Ident {
                    service: svc.id.clone(),
                    ..Ident::default()
                };
                self.refine(*si, self.probe_index(probe).unwrap_or(0), &reply, &mut id);
                id
            } else {
                let o = self.match_reply(key, &reply);
                match (o.hard, o.tls_hint) {
                    (Some(h), _) => h,
                    (None, true) => Ident {
                        service: "tls".into(),
                        ..Ident::default()
                    },
                    (None, false) => o.soft.unwrap_or_else(|| Ident {
                        service: "unknown".into(),
                        ..Ident::default()
                    }),
                }
            };
            let e = &fx.expect;
            let mut bad = Vec::new();
            if got.service != e.service {
                bad.push(format!("service {:?} != {:?}", got.service, e.service));
            }
            for (name, want, have) in [
                ("product", &e.product, &got.product),
                ("version", &e.version, &got.version),
                ("info", &e.info, &got.info),
            ] {
                if want.is_some() && want != have {
                    bad.push(format!("{name} {have:?} != {want:?}"));
                }
            }
            if let Some(a) = e.auth {
                if a != got.auth {
                    bad.push(format!("auth {} != {}", got.auth.as_str(), a.as_str()));
                }
            }
            if !bad.is_empty() {
                failures.push(format!(
                    "{}: fixture on {probe} ({}): {}",
                    svc.source,
                    escape(&reply, 60),
                    bad.join(", ")
                ));
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_cut_by_a_partial_read_is_not_settled() {
        let cat = Catalog::builtin();
        let part = cat.match_reply(ProbeKey::Greeting, b"SSH-2.0-O");
        assert!(part.hard.is_some() && !part.settled(), "{part:?}");
        let line = cat.match_reply(ProbeKey::Greeting, b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n");
        assert!(line.settled(), "{line:?}");
        assert_eq!(line.hard.and_then(|i| i.version).as_deref(), Some("9.6p1"));
    }

    #[test]
    fn escape_is_bounded_and_printable() {
        assert_eq!(escape(b"ab\r\n\\\x1b", 100), "ab\\x0d\\x0a\\\\\\x1b");
        assert_eq!(escape(b"abc\x00", 5), "abc");
        assert_eq!(escape(&[0xff; 300], 256).len(), 256);
    }
}
