//! The verdict on one open port: which rule of the table it raises, with what
//! severity, title, evidence and fix, before the policy and the baseline; and
//! the end-of-life finding an identified version may raise beside it.

use super::rules::{self, RuleKind, ServiceFix};
use super::{finding_key, port_finding_key, ServiceFacts};
use crate::catalog::format::UdpRisk;
use crate::catalog::format::{Exposure, Impact};
use crate::model::{
    AuthState, Finding, HostFinding, PortResult, PortState, Proto, Severity, UNKNOWN_SERVICE,
};
use jiff::civil::Date;

/// The finding for one open port, before policy and baseline; `facts` are the
/// identified (or guessed) service's.
pub fn assess(r: &PortResult, facts: Option<&ServiceFacts>) -> Option<Finding> {
    if r.state != PortState::Open {
        return None;
    }
    Some(match facts {
        None => unidentified(r),
        Some(f) if r.proto == Proto::Udp => udp_service(r, f),
        Some(f) => service(r, f),
    })
}

/// The finding for an open port of a host that accepts every port, whose
/// answer was like its canary ports'.
pub fn on_every_port_host(r: &PortResult) -> Finding {
    let kind = RuleKind::OpenOnEveryPortHost;
    Finding {
        rule: kind.literal().into(),
        severity: kind.rule().severity,
        title: format!("Port {} open on a host that accepts every port", r.port),
        evidence: format!(
            "{}:{} accepted a connection, as do random unused ports of this host",
            r.ip, r.port
        ),
        fingerprint: finding_key(r.ip, Some(r.port), UNKNOWN_SERVICE, kind.literal()),
        ..Finding::default()
    }
}

/// The finding of an open port whose identified product and version belong
/// to a release cycle that ended before `today` (a host finding about the
/// port, beside the port's own finding).
pub fn end_of_life(r: &PortResult, f: &ServiceFacts, today: Date) -> Option<Box<HostFinding>> {
    let s = r.service.as_ref().filter(|_| r.state == PortState::Open)?;
    let (product, version) = (s.product.as_deref()?, s.version.as_deref()?);
    let c = f.eol.cycle_of(product, version)?;
    let eol = c.eol.filter(|_| c.ended(today))?;
    let kind = RuleKind::EndOfLife;
    let id = kind.literal();
    let mut remediation = kind.rule().fix(r.port, None);
    remediation.notes = vec![
        format!("Upgrade {product} to a release cycle its upstream still supports."),
        "Version-inferred: distributions backport security fixes and keep the upstream version in the banner (Debian, Ubuntu, RHEL), so check whether the package's own distribution release still patches it before acting.".into(),
    ];
    let finding = Finding {
        fingerprint: port_finding_key(r, &f.id, id),
        rule: id.into(),
        severity: kind.rule().severity,
        title: format!(
            "{product} {version} (version-inferred) is past its end of life: cycle {} ended {eol}",
            c.cycle
        ),
        evidence: format!(
            "{}:{} answers as {product} {version}; release cycle {} reached its end of life on {eol} (source: {})",
            r.ip, r.port, c.cycle, c.source
        ),
        remediation,
        ..Finding::default()
    };
    Some(Box::new(HostFinding {
        ip: Some(r.ip),
        host: r.host.clone(),
        port: Some(r.port),
        finding,
    }))
}

/// An open port where nothing was identified.
fn unidentified(r: &PortResult) -> Finding {
    let kind = RuleKind::UnexpectedOpenPort;
    let said = r
        .service
        .as_ref()
        .and_then(|s| s.banner.as_deref())
        .map(|b| format!(", it said {b:?}"))
        .unwrap_or_default();
    let id = kind.literal().to_string();
    Finding {
        fingerprint: port_finding_key(r, UNKNOWN_SERVICE, &id),
        rule: id,
        severity: kind.rule().severity,
        title: match r.proto {
            Proto::Tcp => format!("Open port {} with no identified service", r.port),
            Proto::Udp => format!("Open UDP port {} with no identified service", r.port),
        },
        evidence: match r.proto {
            Proto::Tcp => format!("{}:{} accepted a TCP connection{said}", r.ip, r.port),
            Proto::Udp => format!("{}:{}/udp answered a datagram{said}", r.ip, r.port),
        },
        remediation: kind.rule().fix(
            r.port,
            Some(ServiceFix {
                proto: r.proto,
                ..ServiceFix::default()
            }),
        ),
        ..Finding::default()
    }
}

/// An answering UDP port where a catalogue service was identified: its
/// `udp_risk` when it answered without restriction (reflector, open
/// resolver, default community), else exposed or public by its class.
fn udp_service(r: &PortResult, f: &ServiceFacts) -> Finding {
    let svc = r.service.as_ref();
    let auth = svc.map_or(AuthState::Unknown, |s| s.auth);
    let risk = f.udp_risk.filter(|_| auth == AuthState::None);
    let kind = match risk {
        Some(UdpRisk::OpenResolver) => RuleKind::OpenResolver,
        Some(UdpRisk::DefaultCommunity) => RuleKind::SnmpPublicCommunity,
        Some(UdpRisk::Reflector) => RuleKind::UdpAmplifier,
        None if f.exposure == Exposure::PublicOk => RuleKind::ServicePublic,
        None => RuleKind::UdpExposed,
    };
    let rule = kind.rule();
    let severity = match kind {
        RuleKind::UdpAmplifier if rules::is_takeover(f.category) => Severity::Critical,
        _ => rule.severity,
    };
    let name = &f.name;
    let title = match kind {
        RuleKind::UdpAmplifier => format!("{name} answers strangers over UDP: a DDoS reflector"),
        RuleKind::OpenResolver => format!("{name} resolves names for anyone: an open resolver"),
        RuleKind::SnmpPublicCommunity => format!("{name} answers the default community 'public'"),
        RuleKind::ServicePublic => format!("{name} (UDP) is public"),
        _ => format!("{name} answers over UDP from outside"),
    };
    let mut evidence = format!("{}/udp: {}", r.port, evidence(r, auth));
    if let Some(x) = r.udp.as_ref() {
        evidence.push_str(&format!(
            "; {} B in {} datagram(s) back for {} B sent",
            x.received_bytes, x.received_datagrams, x.sent_bytes
        ));
        if let Some(a) = x.amplification {
            evidence.push_str(&format!(" (amplification: \u{d7}{a})"));
        }
        if let Some(p) = &x.published {
            evidence.push_str(&format!("; published worst case {p}"));
        }
    }
    let config = if f.udp_config.is_empty() {
        &f.config
    } else {
        &f.udp_config
    };
    let fix = ServiceFix {
        exposure: if kind == RuleKind::ServicePublic {
            Exposure::PublicOk
        } else {
            f.exposure
        },
        config,
        notes: &f.notes,
        proto: Proto::Udp,
    };
    let id = kind.id(&f.id);
    Finding {
        fingerprint: port_finding_key(r, &f.id, &id),
        rule: id,
        severity,
        title,
        evidence,
        remediation: rule.fix(r.port, Some(fix)),
        ..Finding::default()
    }
}

/// An open port where a catalogue service answers (or is guessed).
fn service(r: &PortResult, f: &ServiceFacts) -> Finding {
    let auth = r.service.as_ref().map_or(AuthState::Unknown, |s| s.auth);
    let open = auth == AuthState::None;
    let dev = rules::is_dev(f.category);
    // A development server closes to loopback even where its catalogue
    // entry calls it public-ok.
    let exposure = if dev && f.exposure == Exposure::PublicOk {
        Exposure::LocalhostOnly
    } else {
        f.exposure
    };
    let kind = match auth {
        // A service whose impact it gives away without credentials.
        AuthState::None if f.impact.is_some() && exposure != Exposure::PublicOk => {
            RuleKind::ServiceUnauthenticated
        }
        _ if dev => RuleKind::ServiceExposed,
        _ if exposure == Exposure::PublicOk => RuleKind::ServicePublic,
        AuthState::None => RuleKind::ServiceUnauthenticated,
        _ => RuleKind::ServiceExposed,
    };
    let rule = kind.rule();
    let severity = match kind {
        RuleKind::ServiceUnauthenticated
            if !rules::is_takeover(f.category) && exposure != Exposure::LocalhostOnly =>
        {
            crate::model::Severity::High
        }
        RuleKind::ServiceExposed if dev => crate::model::Severity::Medium,
        _ => rule.severity,
    };
    let impact = f.impact.filter(|_| kind != RuleKind::ServicePublic);
    let severity = impact.map_or(severity, |i| i.rule().severity(open, severity));
    let mut notes = f.notes.clone();
    if let Some(i) = impact {
        notes.insert(
            0,
            format!("Why {}: {}.", severity.as_str(), i.rule().rationale),
        );
    }
    let name = &f.name;
    let title = match (kind, auth) {
        (RuleKind::ServicePublic, _) => format!("{name} is public"),
        (RuleKind::ServiceUnauthenticated, _) if impact == Some(Impact::CodeExecution) => {
            format!("{name} runs code for anyone, without authentication")
        }
        (RuleKind::ServiceUnauthenticated, _) => {
            format!("{name} answers anyone, without authentication")
        }
        _ if dev => {
            format!("{name} (a development server or admin UI) reachable from outside")
        }
        (_, AuthState::Required) => format!(
            "{name} reachable from outside (it asks for credentials, but the port must close)"
        ),
        (_, AuthState::Protected) => format!(
            "{name} reachable from outside (it refuses this client, but the port must close)"
        ),
        _ => format!("{name} reachable from outside"),
    };
    let fix = ServiceFix {
        exposure,
        config: &f.config,
        notes: &notes,
        proto: Proto::Tcp,
    };
    let id = kind.id(&f.id);
    Finding {
        fingerprint: port_finding_key(r, &f.id, &id),
        rule: id,
        severity,
        title,
        evidence: evidence(r, auth),
        remediation: rule.fix(r.port, Some(fix)),
        ..Finding::default()
    }
}

/// What was observed on an identified port: what answers and, when known,
/// whether it let us in.
fn evidence(r: &PortResult, auth: AuthState) -> String {
    let svc = r.service.as_ref();
    let described = svc
        .map(|s| {
            let d = [s.product.as_deref(), s.version.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if d.is_empty() {
                s.name.clone()
            } else {
                d
            }
        })
        .unwrap_or_default();
    let at = format!("{}:{}", r.ip, r.port);
    match auth {
        AuthState::Unknown => format!("{at} answers as {described}"),
        a => {
            let why = svc
                .and_then(|s| s.auth_evidence.as_deref())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            format!("{at} answers as {described}; auth {}{why}", a.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::format::Category;
    use crate::model::{Service, Severity};

    fn facts(id: &str, category: Category, exposure: Exposure) -> ServiceFacts {
        ServiceFacts {
            id: id.into(),
            name: id.to_uppercase(),
            category,
            exposure,
            impact: None,
            config: vec![format!("{id}.conf: bind 127.0.0.1")],
            notes: vec![],
            udp_config: vec![],
            udp_risk: None,
            eol: Default::default(),
        }
    }

    fn open(port: u16, name: &str, auth: AuthState) -> PortResult {
        PortResult {
            service: Some(Service {
                name: name.into(),
                auth,
                ..Service::default()
            }),
            ..PortResult::test_open(port)
        }
    }

    #[test]
    fn severity_table() {
        use AuthState as A;
        use Category as C;
        use Exposure as E;
        let cases = [
            (
                "redis",
                C::Database,
                E::LocalhostOnly,
                A::None,
                "redis-unauthenticated",
                Severity::Critical,
            ),
            (
                "redis",
                C::Database,
                E::LocalhostOnly,
                A::Required,
                "redis-exposed",
                Severity::High,
            ),
            (
                "redis",
                C::Database,
                E::LocalhostOnly,
                A::Protected,
                "redis-exposed",
                Severity::High,
            ),
            (
                "mysql",
                C::Database,
                E::LocalhostOnly,
                A::Protected,
                "mysql-exposed",
                Severity::High,
            ),
            (
                "docker",
                C::ContainerApi,
                E::LocalhostOnly,
                A::None,
                "docker-unauthenticated",
                Severity::Critical,
            ),
            (
                "epmd",
                C::Other,
                E::InternalOnly,
                A::None,
                "epmd-unauthenticated",
                Severity::High,
            ),
            (
                "zookeeper",
                C::Coordination,
                E::InternalOnly,
                A::None,
                "zookeeper-unauthenticated",
                Severity::Critical,
            ),
            (
                "werkzeug",
                C::DevServer,
                E::PublicOk,
                A::Unknown,
                "werkzeug-exposed",
                Severity::Medium,
            ),
            (
                "ssh",
                C::RemoteAccess,
                E::PublicOk,
                A::Required,
                "ssh-public",
                Severity::Info,
            ),
        ];
        for (id, cat, exp, auth, rule, sev) in cases {
            let f = assess(&open(1234, id, auth), Some(&facts(id, cat, exp))).unwrap();
            assert_eq!((f.rule.as_str(), f.severity), (rule, sev), "{id} {auth:?}");
            assert_eq!(
                rules::kind_of(rule).map(|k| k.rule().id.ends_with(&rule[id.len()..])),
                Some(true)
            );
        }
        let f = assess(&open(4444, "unknown", AuthState::Unknown), None).unwrap();
        assert_eq!(
            (f.rule.as_str(), f.severity),
            ("unexpected-open-port", Severity::Low)
        );
    }

    #[test]
    fn remediation_and_fingerprint() {
        let r = open(6379, "redis", AuthState::None);
        let redis = facts("redis", Category::Database, Exposure::LocalhostOnly);
        let f = assess(&r, Some(&redis)).unwrap();
        assert_eq!(f.remediation.config, vec!["redis.conf: bind 127.0.0.1"]);
        assert!(f
            .remediation
            .iptables
            .iter()
            .any(|l| l.contains("--dport 6379 -j DROP")));
        assert_eq!(
            f.fingerprint,
            finding_key(r.ip, Some(6379), "redis", "redis-unauthenticated")
        );
        assert_eq!(f.fingerprint.len(), 32);
        let mut r2 = r.clone();
        r2.service.as_mut().unwrap().banner = Some("different banner".into());
        r2.rtt_ms = Some(9.0);
        assert_eq!(
            f.fingerprint,
            assess(&r2, Some(&redis)).unwrap().fingerprint
        );
        let public = assess(
            &open(22, "ssh", AuthState::Required),
            Some(&facts("ssh", Category::RemoteAccess, Exposure::PublicOk)),
        )
        .unwrap();
        assert!(public.remediation.iptables.is_empty());
        assert_eq!(public.remediation.config, vec!["ssh.conf: bind 127.0.0.1"]);
    }

    #[test]
    fn impact_sets_severity_and_opens_the_notes() {
        use AuthState as A;
        use Category as C;
        use Exposure as E;
        use Impact as I;
        let cases = [
            (
                C::DevServer,
                E::LocalhostOnly,
                I::CodeExecution,
                A::None,
                "-unauthenticated",
                Severity::Critical,
            ),
            (
                C::DevServer,
                E::LocalhostOnly,
                I::CodeExecution,
                A::Required,
                "-exposed",
                Severity::Medium,
            ),
            (
                C::DevServer,
                E::PublicOk,
                I::CodeExecution,
                A::None,
                "-unauthenticated",
                Severity::Critical,
            ),
            (
                C::Other,
                E::InternalOnly,
                I::CodeExecution,
                A::Protected,
                "-exposed",
                Severity::High,
            ),
            (
                C::RemoteAccess,
                E::InternalOnly,
                I::RemoteLogin,
                A::Required,
                "-exposed",
                Severity::High,
            ),
            (
                C::RemoteAccess,
                E::LocalhostOnly,
                I::RemoteLogin,
                A::None,
                "-unauthenticated",
                Severity::Critical,
            ),
            (
                C::Web,
                E::InternalOnly,
                I::Relay,
                A::None,
                "-unauthenticated",
                Severity::High,
            ),
            (
                C::Web,
                E::InternalOnly,
                I::Relay,
                A::Protected,
                "-exposed",
                Severity::Medium,
            ),
            (
                C::Other,
                E::InternalOnly,
                I::Disclosure,
                A::None,
                "-unauthenticated",
                Severity::Medium,
            ),
            (
                C::Monitoring,
                E::InternalOnly,
                I::Disclosure,
                A::Unknown,
                "-exposed",
                Severity::Medium,
            ),
            (
                C::Other,
                E::LocalhostOnly,
                I::TestService,
                A::Unknown,
                "-exposed",
                Severity::Low,
            ),
        ];
        for (cat, exp, impact, auth, suffix, sev) in cases {
            let mut f = facts("svc", cat, exp);
            f.impact = Some(impact);
            let got = assess(&open(1234, "svc", auth), Some(&f)).unwrap();
            let ctx = format!("{cat:?} {exp:?} {impact:?} {auth:?}");
            assert_eq!(
                (got.rule.as_str(), got.severity),
                (&*format!("svc{suffix}"), sev),
                "{ctx}"
            );
            let why = &got.remediation.notes[0];
            assert!(
                why.starts_with(&format!("Why {}: ", sev.as_str())),
                "{ctx}: {why}"
            );
            assert!(why.contains(impact.rule().rationale), "{ctx}");
            assert!(!got.remediation.iptables.is_empty(), "{ctx}: a port fix");
        }
        let mut public = facts("web", C::Web, E::PublicOk);
        public.impact = Some(I::Relay);
        let got = assess(&open(80, "web", A::None), Some(&public)).unwrap();
        assert_eq!(
            (got.rule.as_str(), got.severity),
            ("web-public", Severity::Info)
        );
    }

    #[test]
    fn impacts_table_is_in_enum_order() {
        for i in [
            Impact::CodeExecution,
            Impact::Relay,
            Impact::RemoteLogin,
            Impact::Disclosure,
            Impact::Shutdown,
            Impact::TestService,
        ] {
            assert_eq!(i.rule().impact, i);
        }
    }

    #[test]
    fn closed_ports_have_no_finding() {
        let mut r = open(6379, "redis", AuthState::None);
        r.state = PortState::Closed;
        assert!(assess(&r, None).is_none());
    }

    fn udp(port: u16, name: &str, auth: AuthState) -> PortResult {
        PortResult {
            proto: Proto::Udp,
            ..open(port, name, auth)
        }
    }

    #[test]
    fn udp_rules_follow_the_service_risk_and_its_answer() {
        use crate::catalog::format::UdpRisk as R;
        let with = |id: &str, c: Category, e: Exposure, risk: Option<R>| ServiceFacts {
            udp_risk: risk,
            udp_config: vec![format!("{id}: UDP off")],
            ..facts(id, c, e)
        };
        let cases = [
            (
                "memcached",
                Category::Cache,
                Exposure::LocalhostOnly,
                Some(R::Reflector),
                AuthState::None,
                "udp-amplifier",
                Severity::Critical,
            ),
            (
                "ntp",
                Category::Other,
                Exposure::PublicOk,
                Some(R::Reflector),
                AuthState::None,
                "udp-amplifier",
                Severity::High,
            ),
            (
                "ntp",
                Category::Other,
                Exposure::PublicOk,
                Some(R::Reflector),
                AuthState::Unknown,
                "ntp-public",
                Severity::Info,
            ),
            (
                "dns",
                Category::Other,
                Exposure::InternalOnly,
                Some(R::OpenResolver),
                AuthState::None,
                "dns-open-resolver",
                Severity::High,
            ),
            (
                "dns",
                Category::Other,
                Exposure::InternalOnly,
                Some(R::OpenResolver),
                AuthState::Protected,
                "exposed-udp-service",
                Severity::Medium,
            ),
            (
                "snmp",
                Category::Monitoring,
                Exposure::InternalOnly,
                Some(R::DefaultCommunity),
                AuthState::None,
                "snmp-public-community",
                Severity::High,
            ),
        ];
        for (id, c, e, risk, auth, rule, sev) in cases {
            let f = assess(&udp(123, id, auth), Some(&with(id, c, e, risk))).expect("finding");
            assert_eq!((f.rule.as_str(), f.severity), (rule, sev), "{id} {auth:?}");
            if rule != "ntp-public" {
                assert!(
                    f.remediation.iptables.iter().all(|l| l.contains("-p udp")),
                    "{:?}",
                    f.remediation
                );
                assert!(
                    f.remediation.ufw.iter().any(|l| l.ends_with("123/udp")),
                    "{:?}",
                    f.remediation
                );
                assert_eq!(f.remediation.config, [format!("{id}: UDP off")]);
            }
        }
    }

    #[test]
    fn a_tcp_and_a_udp_finding_on_one_port_never_share_a_fingerprint() {
        let a = assess(&open(53, "x", AuthState::Unknown), None).expect("tcp");
        let b = assess(&udp(53, "x", AuthState::Unknown), None).expect("udp");
        assert_eq!(a.rule, b.rule);
        assert_ne!(a.fingerprint, b.fingerprint);
        assert!(
            b.evidence.contains("53/udp answered a datagram"),
            "{}",
            b.evidence
        );
    }
}
