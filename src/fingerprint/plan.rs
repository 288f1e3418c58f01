//! What a port is sent, in order (nmap's design, `-sV`: hinted probes first,
//! then the rest; a softmatch narrows what follows).
//!
//! 1. Hinted: every probe and client-first dialogue whose service names the
//!    port, by `rank`.
//! 2. The walk, on every port: the `fallback = true` probes by rank (RESP
//!    PING first, so no HTTP `Host:` line reaches Redis; then HTTP `GET /`
//!    and the line protocols), then one [`Plan::Batch`] of every other
//!    client-first dialogue, each on its own connection, a few at a time
//!    by rank (`Session::batch`), after each dialogue that goes
//!    [`alone`](Dialogue::alone) (DNS).
//! 3. Narrowed, after a soft or generic match of service S: the probes with
//!    a rule for S and S's dialogue; for a generic S (plain HTTP, Express)
//!    every probe of its family too (`GET /version`, `/v1/agent/self`,
//!    `/pods`, `/api`, ...), so that a specific service wins over it.

use super::dialogue::Dialogue;
use super::{proto, Layer, Session};
use crate::model::Proto;
use std::collections::{HashSet, VecDeque};

/// Rank of a dialogue in the walk when its service sets no `code_fallback`.
const CODE_RANK: u32 = 70;

/// One step of a port's plan.
#[derive(Clone)]
pub(super) enum Plan {
    /// A catalogue probe (index).
    Probe(usize),
    /// A dialogue, on a fresh connection.
    Code(&'static dyn Dialogue),
    /// Dialogues run side by side (a few at a time), each on its own
    /// connection; first match wins.
    Batch(Vec<&'static dyn Dialogue>),
}

impl Session<'_> {
    /// Hinted steps, then the walk.
    pub(super) fn plan(&self) -> VecDeque<Plan> {
        let port = self.ctx.port;
        let mut hinted: Vec<(u32, Plan)> = Vec::new();
        let mut walk: Vec<(u32, Plan)> = Vec::new();
        for (i, p) in self.cat.probes().iter().enumerate() {
            if p.follow_up || p.proto == Proto::Udp {
                continue;
            }
            if p.hint_ports.contains(&port) {
                hinted.push((p.rank, Plan::Probe(i)));
            } else if p.fallback {
                walk.push((p.rank, Plan::Probe(i)));
            }
        }
        let mut batch: Vec<(u32, &'static dyn Dialogue)> = Vec::new();
        let mut alone = Vec::new();
        for (si, s) in self.cat.services().iter().enumerate() {
            let Some(d) = s.code.as_deref().and_then(proto::by_name) else {
                continue;
            };
            if d.first(&self.ctx).is_none() || (self.layer == Layer::Tls && d.plain_only()) {
                continue;
            }
            if self.cat.names_port(si, port) {
                hinted.push((s.code_fallback.unwrap_or(50), Plan::Code(d)));
            } else if d.alone() {
                alone.push(d);
            } else {
                batch.push((s.code_fallback.unwrap_or(CODE_RANK), d));
            }
        }
        batch.sort_by_key(|(r, _)| *r);
        // Each dialogue that goes alone is a batch of one, just before the
        // rest (a DNS server waits out every wrong guess's window).
        let rank = batch.first().map_or(CODE_RANK, |&(r, _)| r);
        walk.extend(alone.into_iter().map(|d| (rank, Plan::Batch(vec![d]))));
        if !batch.is_empty() {
            walk.push((
                rank,
                Plan::Batch(batch.into_iter().map(|(_, d)| d).collect()),
            ));
        }
        hinted.sort_by_key(|(r, _)| *r);
        walk.sort_by_key(|(r, _)| *r);
        let mut plan: VecDeque<Plan> = hinted.into_iter().chain(walk).map(|(_, p)| p).collect();
        // ALPN http/1.1 already says HTTP (and rules Redis out): ask HTTP first.
        if self.layer == Layer::Tls
            && self
                .tls
                .as_ref()
                .is_some_and(|t| matches!(t.alpn.as_deref(), Some("http/1.1" | "h2")))
        {
            plan.make_contiguous().sort_by_key(
                |p| !matches!(p, Plan::Probe(i) if self.cat.probes()[*i].family == "http"),
            );
        }
        plan
    }

    /// The steps that can name service `si` more precisely, not yet sent:
    /// probes with a rule for it (all of its probe families' probes if it is
    /// generic), fallback probes first, then its dialogue.
    pub(super) fn narrowed(&self, si: usize) -> VecDeque<Plan> {
        let svc = self.cat.service_at(si);
        let probes = self.cat.probes();
        let names = |i: usize| self.cat.probe_names(i, si);
        let families: HashSet<&str> = if svc.generic {
            (0..probes.len())
                .filter(|&i| names(i))
                .map(|i| probes[i].family.as_str())
                .collect()
        } else {
            HashSet::new()
        };
        let mut steps: Vec<usize> = (0..probes.len())
            .filter(|&i| !probes[i].follow_up && !self.sent.contains(&i))
            .filter(|&i| probes[i].proto == Proto::Tcp)
            .filter(|&i| names(i) || families.contains(probes[i].family.as_str()))
            .collect();
        steps.sort_by_key(|&i| (!probes[i].fallback, probes[i].rank));
        let mut plan: VecDeque<Plan> = steps.into_iter().map(Plan::Probe).collect();
        if let Some(d) = svc.code.as_deref().and_then(proto::by_name) {
            if d.first(&self.ctx).is_some() {
                plan.push_back(Plan::Code(d));
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::*;
    use crate::catalog::Catalog;
    use crate::model::PortResult;

    fn result(port: u16) -> PortResult {
        PortResult {
            ip: "127.0.0.1".parse().unwrap(),
            ..PortResult::test_open(port)
        }
    }

    fn names(cat: &Catalog, plan: &VecDeque<Plan>) -> Vec<String> {
        plan.iter()
            .flat_map(|p| match p {
                Plan::Probe(i) => vec![cat.probes()[*i].name.clone()],
                Plan::Code(d) => vec![format!("code:{}", d.name())],
                Plan::Batch(ds) => ds.iter().map(|d| format!("batch:{}", d.name())).collect(),
            })
            .collect()
    }

    #[test]
    fn the_walk_pings_resp_first_then_lines_then_every_dialogue() {
        let cat = Catalog::builtin();
        let settings = Settings::default();
        let s = Session::new(&cat, &settings, &result(41234));
        let plan = names(&cat, &s.plan());
        let at = |n: &str| {
            plan.iter()
                .position(|x| x == n)
                .unwrap_or_else(|| panic!("{n} missing: {plan:?}"))
        };
        assert_eq!(plan[0], "redis-ping", "{plan:?}");
        assert!(at("http-get") < at("memcached-version"));
        assert!(at("beanstalk-stats") < at("zk-srvr"));
        for d in [
            "mqtt",
            "kafka",
            "amqp",
            "cassandra",
            "mssql",
            "rdp",
            "smb",
            "epmd",
            "erlang-dist",
            "postgresql",
            "mongodb",
        ] {
            assert!(at("zk-srvr") < at(&format!("batch:{d}")), "{d}: {plan:?}");
        }
        // Path probes of the HTTP family wait for an HTTP reply.
        assert!(!plan
            .iter()
            .any(|n| n == "consul-self" || n == "kubelet-pods"));
        assert!(!plan
            .iter()
            .any(|n| n.contains("mysql") || n.contains("vnc")));
        assert_eq!(s.payload(b"Host: {host}\r\n"), b"Host: 127.0.0.1:41234\r\n");
    }

    #[test]
    fn a_dialogue_that_goes_alone_is_a_batch_of_one_before_the_rest() {
        let cat = Catalog::builtin();
        let settings = Settings::default();
        let s = Session::new(&cat, &settings, &result(41234));
        let batches: Vec<Vec<&str>> = s
            .plan()
            .iter()
            .filter_map(|p| match p {
                Plan::Batch(ds) => Some(ds.iter().map(|d| d.name()).collect()),
                _ => None,
            })
            .collect();
        assert_eq!(batches.len(), 2, "{batches:?}");
        assert_eq!(batches[0], vec!["dns"], "{batches:?}");
        assert!(
            batches[1].len() > 10 && !batches[1].contains(&"dns"),
            "{batches:?}"
        );
        // On its own port DNS is hinted, not walked.
        let s = Session::new(&cat, &settings, &result(53));
        assert_eq!(names(&cat, &s.plan())[0], "code:dns");
    }

    #[test]
    fn hinted_steps_come_first() {
        let cat = Catalog::builtin();
        let settings = Settings::default();
        let s = Session::new(&cat, &settings, &result(5432));
        assert_eq!(names(&cat, &s.plan())[0], "code:postgresql");
        let s = Session::new(&cat, &settings, &result(2181));
        assert_eq!(names(&cat, &s.plan())[0], "zk-srvr");
    }

    #[test]
    fn a_generic_http_match_narrows_to_every_http_path_probe() {
        let cat = Catalog::builtin();
        let settings = Settings::default();
        let mut s = Session::new(&cat, &settings, &result(41234));
        let http = cat.services().iter().position(|x| x.id == "http").unwrap();
        s.sent.insert(cat.probe_index("http-get").unwrap());
        let plan = names(&cat, &s.narrowed(http));
        for p in [
            "http-version",
            "consul-self",
            "kubelet-pods",
            "jupyter-api",
            "webpack-dev-server-page",
        ] {
            assert!(plan.iter().any(|n| n == p), "{p}: {plan:?}");
        }
        assert!(!plan
            .iter()
            .any(|n| n == "http-get" || n == "redis-ping" || n == "kube-namespaces"));
        let amqp = cat.services().iter().position(|x| x.id == "amqp").unwrap();
        assert_eq!(
            names(&cat, &s.narrowed(amqp)),
            vec!["code:amqp".to_string()]
        );
    }
}
