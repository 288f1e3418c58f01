//! Coded probes: one [`Dialogue`] per binary or multi-step protocol.
//!
//! Each module holds the request builders, a bounded parser and the
//! dialogue, written from the protocol's own specification. `services/<id>.toml`
//! names a dialogue with `code = "<name>"`; [`by_name`] resolves it.

use crate::fingerprint::dialogue::{Dialogue, Ident, Step};

pub mod ajp;
pub mod amqp;
mod bson;
pub mod cassandra;
pub mod distcc;
pub mod dns;
pub mod epmd;
pub mod erlang_dist;
pub mod fastcgi;
pub mod git;
pub mod kafka;
pub mod ldap;
pub mod mongodb;
pub mod mqtt;
pub mod mssql;
pub mod mysql;
pub mod nrpe;
pub mod postgresql;
pub mod rdp;
pub mod rpcbind;
pub mod smb;
pub mod telnet;
pub mod tomcat_shutdown;
pub mod util;
pub mod vnc;
pub mod x11;
pub mod zabbix;

/// Every coded probe.
pub fn all() -> &'static [&'static dyn Dialogue] {
    static ALL: &[&dyn Dialogue] = &[
        &mysql::Mysql,
        &postgresql::Postgresql,
        &mongodb::Mongodb,
        &cassandra::Cassandra,
        &kafka::Kafka,
        &amqp::Amqp,
        &mqtt::Mqtt,
        &rdp::Rdp,
        &smb::Smb,
        &mssql::Mssql,
        &epmd::Epmd,
        &erlang_dist::ErlangDist,
        &vnc::Vnc,
        &telnet::Telnet,
        &git::Git,
        &zabbix::Zabbix,
        &dns::Dns,
        &rpcbind::Rpcbind,
        &ldap::Ldap,
        &x11::X11,
        &fastcgi::FastCgi,
        &distcc::Distcc,
        &ajp::Ajp,
        &tomcat_shutdown::TomcatShutdown,
        &nrpe::Nrpe,
    ];
    ALL
}

/// The dialogue called `name`, if any.
pub fn by_name(name: &str) -> Option<&'static dyn Dialogue> {
    all().iter().copied().find(|d| d.name() == name)
}

/// Separates the replies of successive stages in a fuzz or corpus input.
pub const STAGE_SPLIT: &[u8] = b"#--stage--#";

/// Plays `data` through `d` as the engine would, for fuzzing and corpus
/// replay: `data` holds one reply per stage, separated by [`STAGE_SPLIT`];
/// each reply is also fed in two pieces first (a cut read). Returns what was
/// identified. Never panics for any input (that is what the fuzzers check).
pub fn exercise(d: &dyn Dialogue, data: &[u8]) -> Ident {
    let mut ident = Ident::default();
    let mut rest = data;
    for stage in 0..MAX_STAGES {
        let (reply, next) = match rest
            .windows(STAGE_SPLIT.len())
            .position(|w| w == STAGE_SPLIT)
        {
            Some(i) => (&rest[..i], Some(&rest[i + STAGE_SPLIT.len()..])),
            None => (rest, None),
        };
        let _ = d.step(stage, &reply[..reply.len() / 2], &mut ident.clone());
        match d.step(stage, reply, &mut ident) {
            Step::Send(_) => {}
            _ => break,
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    ident
}

/// Most stages [`exercise`] plays.
const MAX_STAGES: usize = 8;

/// Asserts that `d` stops at stage 0 on every reply in `replies` without
/// matching anything (unit tests of the dialogues).
#[cfg(test)]
pub(crate) fn assert_rejects(d: &dyn Dialogue, replies: &[&[u8]]) {
    for r in replies {
        let mut id = Ident::default();
        assert_eq!(d.step(0, r, &mut id), Step::Stop, "{}: {r:?}", d.name());
        assert!(!id.matched(), "{}: {r:?}", d.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::{Ident, ProbeCtx, Step};
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_resolvable() {
        let mut seen = HashSet::new();
        for d in all() {
            assert!(seen.insert(d.name()), "duplicate dialogue {}", d.name());
            assert_eq!(by_name(d.name()).map(|x| x.name()), Some(d.name()));
        }
        assert!(by_name("nope").is_none());
    }

    #[test]
    fn empty_reply_never_matches() {
        let ctx = ProbeCtx::default();
        for d in all() {
            let _ = d.first(&ctx);
            for stage in 0..4 {
                let mut id = Ident::default();
                let s = d.step(stage, &[], &mut id);
                assert!(
                    !id.matched(),
                    "{} matched nothing at stage {stage}",
                    d.name()
                );
                if stage == 0 {
                    assert!(!matches!(s, Step::Done), "{} done on nothing", d.name());
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn step_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096), stage in 0usize..4) {
            for d in all() {
                let mut id = Ident::default();
                let _ = d.step(stage, &bytes, &mut id);
                // Again with state left by an earlier stage.
                let mut id = Ident { service: d.name().to_string(), info: Some("rfb=3.8".into()), ..Ident::default() };
                let _ = d.step(stage, &bytes, &mut id);
            }
        }

        #[test]
        fn prefixes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for d in all() {
                for n in 0..bytes.len() {
                    let mut id = Ident::default();
                    let _ = d.step(0, &bytes[..n], &mut id);
                }
            }
        }
    }
}
