//! The identification fixture list: every real server and fake, its default
//! and moved port, how to start it, and what exposecheck should report.
//!
//! Shared by `identify.rs` and `examples/fixture_host.rs` (which declares
//! `servers` and `http_fakes` at its root, as `main.rs` does). Expected
//! versions of real servers come from the installed binaries, fake ones from
//! the constants the fakes announce; nothing is hard-coded twice.

#![allow(dead_code)] // tests and the fixture host use different parts

use super::fakes::{self as proto_fakes, FakeHandle, Kind as ProtoKind};
use super::http_fakes::{self as fakes, Running};
use super::servers::{versions, MariaAccounts, PgHba, Place, RedisMode, Servers, TLS_NAME};
use super::servers_more::{versions as more_versions, Distcc, ZabbixServer};

/// Expected TLS facts.
#[derive(Clone, Debug)]
pub struct TlsExpect {
    /// A string the certificate subject must contain.
    pub subject: String,
    /// Whether the certificate is self-signed.
    pub self_signed: bool,
}

/// What exposecheck should report for a fixture.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// Acceptable `service.name` values (usually one; `http`/`https` style pairs).
    pub names: Vec<&'static str>,
    /// `service.product` must contain one of these (case-insensitive); empty: not checked.
    pub product: Vec<&'static str>,
    /// `service.version` must contain this (a leading `v` ignored on both sides).
    pub version: Option<String>,
    /// Expected `service.auth`.
    pub auth: Option<&'static str>,
    /// Expected TLS facts; `None`: `service.tls` must be absent.
    pub tls: Option<TlsExpect>,
    /// Expected `finding.severity` (from the rules table's impacts).
    pub severity: Option<&'static str>,
}

fn e(names: &[&'static str]) -> Expect {
    Expect {
        names: names.to_vec(),
        ..Expect::default()
    }
}

impl Expect {
    fn product(mut self, p: &[&'static str]) -> Expect {
        self.product = p.to_vec();
        self
    }
    fn version(mut self, v: impl Into<String>) -> Expect {
        self.version = Some(v.into());
        self
    }
    fn auth(mut self, a: &'static str) -> Expect {
        self.auth = Some(a);
        self
    }
    fn severity(mut self, s: &'static str) -> Expect {
        self.severity = Some(s);
        self
    }
    fn tls(mut self, subject: &str) -> Expect {
        self.tls = Some(TlsExpect {
            subject: subject.to_string(),
            self_signed: true,
        });
        self
    }
}

/// How a fixture is started.
#[derive(Clone, Copy)]
pub enum Start {
    /// A real server: started on the given ports.
    Real(fn(&mut Servers, &[u16])),
    /// A fake from `http_fakes` by id.
    Fake(&'static str),
    /// A binary-protocol fake from `fakes/` (engineer B's).
    Proto(ProtoKind),
}

/// One identification fixture.
#[derive(Clone, Copy)]
pub struct Fixture {
    /// Fixture id.
    pub id: &'static str,
    /// The product's default port (variants of one product share it).
    pub port: u16,
    /// A non-default port, unique across all fixtures.
    pub moved: u16,
    /// How to start it.
    pub start: Start,
    /// What to expect (computed lazily: it may run `--version` commands).
    pub expect: fn() -> Expect,
}

fn mariadb(s: &mut Servers, ports: &[u16], acc: MariaAccounts) {
    s.mariadb(acc, ports[0], ports.get(1).copied());
}

fn postgres(s: &mut Servers, ports: &[u16], hba: PgHba) {
    for &p in ports {
        s.postgres(hba, p);
    }
}

/// Every fixture.
pub fn all() -> Vec<Fixture> {
    use Start::*;
    let r = |id, port, moved, start, expect| Fixture {
        id,
        port,
        moved,
        start: Real(start),
        expect,
    };
    let mut v = vec![
        r(
            "redis-open",
            6379,
            16400,
            |s, p| s.redis(RedisMode::Open, p),
            || {
                e(&["redis"])
                    .product(&["redis"])
                    .version(versions::redis())
                    .auth("none")
            },
        ),
        r(
            "redis-password",
            6379,
            16401,
            |s, p| s.redis(RedisMode::Password, p),
            || e(&["redis"]).product(&["redis"]).auth("required"),
        ),
        r(
            "redis-protected",
            6379,
            16402,
            |s, p| s.redis(RedisMode::Protected, p),
            || e(&["redis"]).product(&["redis"]).auth("protected"),
        ),
        r(
            "memcached",
            11211,
            21211,
            |s, p| s.memcached(p),
            || {
                e(&["memcached"])
                    .product(&["memcached"])
                    .version(versions::memcached())
                    .auth("none")
            },
        ),
        r(
            "mariadb-local-only",
            3306,
            13306,
            |s, p| mariadb(s, p, MariaAccounts::LocalOnly),
            || e(&["mysql"]).product(&["mariadb"]).auth("protected"),
        ),
        r(
            "mariadb-any-host",
            3306,
            13307,
            |s, p| mariadb(s, p, MariaAccounts::AnyHost),
            || {
                e(&["mysql"])
                    .product(&["mariadb"])
                    .version(versions::mariadb())
                    .auth("required")
            },
        ),
        r(
            "postgres-no-hba-entry",
            5432,
            15432,
            |s, p| postgres(s, p, PgHba::NoEntry),
            || {
                e(&["postgresql"])
                    .product(&["postgresql"])
                    .auth("protected")
            },
        ),
        r(
            "postgres-md5",
            5432,
            15433,
            |s, p| postgres(s, p, PgHba::Md5),
            || e(&["postgresql"]).product(&["postgresql"]).auth("required"),
        ),
        r(
            "postgres-trust",
            5432,
            15434,
            |s, p| postgres(s, p, PgHba::Trust),
            // No version: the startup names a role that does not exist, so the
            // server says AuthenticationOk, then "role does not exist", and
            // never sends server_version (no session is opened as a real user).
            || e(&["postgresql"]).product(&["postgresql"]).auth("none"),
        ),
        r(
            "openssh",
            22,
            10022,
            |s, p| s.sshd(p),
            || {
                e(&["ssh"])
                    .product(&["openssh"])
                    .version(versions::openssh())
            },
        ),
        r(
            "nginx-http",
            80,
            8181,
            |s, p| s.nginx(p, &[]),
            || e(&["http"]).product(&["nginx"]).version(versions::nginx()),
        ),
        r(
            "nginx-https",
            443,
            8443,
            |s, p| s.nginx(&[], p),
            || {
                e(&["https", "http"])
                    .product(&["nginx"])
                    .version(versions::nginx())
                    .tls(TLS_NAME)
            },
        ),
        r(
            "mosquitto-anonymous",
            1883,
            11883,
            |s, p| s.mosquitto(true, p),
            || e(&["mqtt"]).auth("none"),
        ),
        r(
            "mosquitto-auth",
            1883,
            11884,
            |s, p| s.mosquitto(false, p),
            || e(&["mqtt"]).auth("required"),
        ),
        r(
            "beanstalkd",
            11300,
            21300,
            |s, p| s.beanstalkd(p),
            || {
                e(&["beanstalkd"])
                    .version(versions::beanstalkd())
                    .auth("none")
            },
        ),
        r("rsyncd", 873, 10873, |s, p| s.rsyncd(p), || e(&["rsync"])),
        r(
            "python-http-server",
            8000,
            18000,
            |s, p| s.python_http(p),
            || {
                e(&["python-http-server"])
                    .product(&["python"])
                    .version(versions::python())
            },
        ),
        r(
            "munin-node",
            4949,
            14949,
            |s, p| s.munin_node(p),
            || {
                e(&["munin-node"])
                    .product(&["munin"])
                    .version(more_versions::munin_node())
                    .auth("none")
                    .severity("medium")
            },
        ),
        r(
            "svnserve",
            3690,
            13690,
            |s, p| s.svnserve(p),
            || e(&["svnserve"]).product(&["svnserve"]).severity("medium"),
        ),
        r(
            "git-daemon",
            9418,
            19418,
            |s, p| s.git_daemon(p),
            || e(&["git-daemon"]).product(&["git"]).severity("medium"),
        ),
        r(
            "zabbix-agent",
            10050,
            20050,
            |s, p| s.zabbix_agent(ZabbixServer::ScannerAllowed, p),
            || {
                e(&["zabbix-agent"])
                    .product(&["zabbix"])
                    .version(more_versions::zabbix_agent())
                    .auth("none")
                    .severity("medium")
            },
        ),
        r(
            "bind9",
            53,
            10053,
            |s, p| s.bind9(p),
            || {
                e(&["dns"])
                    .product(&["bind"])
                    .version(more_versions::bind9())
            },
        ),
        r(
            "rpcbind",
            111,
            10111,
            |s, p| s.rpcbind(p),
            || {
                e(&["rpcbind"])
                    .product(&["portmapper"])
                    .auth("none")
                    .severity("medium")
            },
        ),
        r(
            "slapd",
            389,
            10389,
            |s, p| s.slapd(p),
            || e(&["ldap"]).auth("none").severity("medium"),
        ),
        r(
            "xvfb-open",
            6000,
            6013,
            |s, p| s.xvfb(p),
            || {
                e(&["x11"])
                    .product(&["x.org"])
                    .auth("none")
                    .severity("critical")
            },
        ),
        r(
            "php-fpm",
            9000,
            19000,
            |s, p| s.php_fpm(p),
            || e(&["fastcgi"]).auth("none").severity("critical"),
        ),
        r(
            "prometheus",
            9090,
            19090,
            |s, p| s.prometheus(p),
            || {
                e(&["prometheus"])
                    .product(&["prometheus"])
                    .version(more_versions::prometheus())
                    .auth("none")
                    .severity("medium")
            },
        ),
        r(
            "node-exporter",
            9121,
            19100,
            |s, p| s.node_exporter(p),
            || {
                e(&["prometheus-exporter"])
                    .product(&["node"])
                    .auth("none")
                    .severity("medium")
            },
        ),
        r(
            "dnsmasq",
            53,
            10054,
            |s, p| s.dnsmasq(p),
            || {
                e(&["dns"])
                    .product(&["dnsmasq"])
                    .version(more_versions::dnsmasq())
            },
        ),
        r(
            "unbound",
            53,
            10055,
            |s, p| s.unbound(p, ""),
            || {
                e(&["dns"])
                    .product(&["unbound"])
                    .version(more_versions::unbound())
            },
        ),
        r(
            "knot",
            53,
            10057,
            |s, p| s.knot(p),
            || {
                e(&["dns"])
                    .product(&["knot dns"])
                    .version(more_versions::knot())
            },
        ),
        // Closes a connection that sent no query for 200 ms (what any
        // Unbound does for 30 s after a burst of connections beyond its
        // incoming-num-tcp): shorter than a greeting wait, and no wrapper.
        r(
            "unbound-idle",
            53,
            10056,
            |s, p| s.unbound(p, "  tcp-idle-timeout: 200\n"),
            || {
                e(&["dns"])
                    .product(&["unbound"])
                    .version(more_versions::unbound())
            },
        ),
        r(
            "distcc-insecure",
            3632,
            13632,
            |s, p| s.distccd(Distcc::Insecure, p),
            || {
                e(&["distcc"])
                    .product(&["distccd"])
                    .auth("none")
                    .severity("critical")
            },
        ),
        r(
            "tomcat-ajp",
            8009,
            18009,
            |s, p| s.tomcat(p, None),
            || e(&["ajp13"]).product(&["ajp13"]).severity("medium"),
        ),
        r(
            "tomcat-shutdown",
            8005,
            18005,
            |s, p| s.tomcat_shutdown(p),
            || {
                e(&["tomcat-shutdown"])
                    .product(&["tomcat"])
                    .severity("medium")
            },
        ),
        r(
            "nrpe",
            5666,
            15666,
            |s, p| s.nrpe(true, p),
            || {
                e(&["nrpe"])
                    .product(&["nrpe"])
                    .version(more_versions::nrpe())
                    .auth("none")
                    .tls("exposecheck-nrpe.test")
                    .severity("medium")
            },
        ),
        r(
            "epmd-otp",
            4369,
            14371,
            |s, p| s.epmd(p),
            || {
                e(&["epmd"])
                    .product(&["erlang port mapper"])
                    .auth("none")
                    .severity("medium")
            },
        ),
        r(
            "erlang-otp",
            25672,
            45672,
            |s, p| s.erlang_nodes(p),
            || {
                e(&["erlang-dist"])
                    .product(&["erlang"])
                    .auth("required")
                    .severity("medium")
            },
        ),
    ];
    let f = |id: &'static str, expect: fn() -> Expect| {
        let fk = fakes::fake(id);
        Fixture {
            id,
            port: fk.port,
            moved: fk.moved,
            start: Fake(id),
            expect,
        }
    };
    use fakes::*;
    v.extend([
        f("elasticsearch-secured", || {
            e(&["elasticsearch"])
                .product(&["elasticsearch"])
                .auth("required")
        }),
        f("elasticsearch-open", || {
            e(&["elasticsearch"])
                .product(&["elasticsearch"])
                .version(ES_VERSION)
                .auth("none")
        }),
        f("opensearch", || {
            e(&["opensearch"])
                .product(&["opensearch"])
                .version(OPENSEARCH_VERSION)
                .auth("none")
        }),
        f("docker", || {
            e(&["docker"])
                .product(&["docker"])
                .version(DOCKER_VERSION)
                .auth("none")
        }),
        f("etcd", || e(&["etcd"]).version(ETCD_VERSION)),
        f("grafana", || e(&["grafana"]).version(GRAFANA_VERSION)),
        f("kube-apiserver", || {
            e(&["kube-apiserver", "kubernetes"])
                .version(K8S_VERSION)
                .tls("kube-apiserver")
        }),
        f("kubelet-secured", || {
            e(&["kubelet"]).auth("required").tls("node-1@")
        }),
        f("kubelet-open", || {
            e(&["kubelet"]).auth("none").tls("node-2@")
        }),
        f("kubelet-readonly", || {
            e(&["kubelet", "kubelet-readonly"]).auth("none")
        }),
        f("consul", || e(&["consul"]).version(CONSUL_VERSION)),
        f("couchdb-admin-party", || {
            e(&["couchdb"])
                .product(&["couchdb"])
                .version(COUCHDB_VERSION)
                .auth("none")
        }),
        f("couchdb-secured", || {
            e(&["couchdb"])
                .product(&["couchdb"])
                .version(COUCHDB_VERSION)
                .auth("required")
        }),
        f("influxdb", || {
            e(&["influxdb"])
                .product(&["influxdb"])
                .version(INFLUX_VERSION)
        }),
        f("zookeeper", || {
            e(&["zookeeper"]).version(ZK_VERSION).auth("none")
        }),
        f("zookeeper-restricted", || {
            e(&["zookeeper"]).auth("protected")
        }),
        f("nats", || e(&["nats"]).version(NATS_VERSION).auth("none")),
        f("nats-auth", || {
            e(&["nats"]).version(NATS_VERSION).auth("required")
        }),
        f("jupyter", || {
            e(&["jupyter"]).version(JUPYTER_VERSION).auth("required")
        }),
        f("werkzeug-debug", || {
            e(&["werkzeug"])
                .product(&["werkzeug"])
                .version(WERKZEUG_VERSION)
        }),
        f("vite", || e(&["vite"])),
        f("webpack-dev-server", || e(&["webpack-dev-server"])),
        f("express", || e(&["express"]).product(&["express"])),
        f("echo", || e(&["echo"])),
        f("random-bytes", || e(&["unknown"])),
    ]);
    let p = |id, port, moved, kind, expect| Fixture {
        id,
        port,
        moved,
        start: Proto(kind),
        expect,
    };
    v.extend([
        p(
            "mongodb-open",
            27017,
            37017,
            ProtoKind::Mongo { auth: false },
            || e(&["mongodb"]).auth("none"),
        ),
        p(
            "mongodb-auth",
            27017,
            37018,
            ProtoKind::Mongo { auth: true },
            || e(&["mongodb"]).auth("required"),
        ),
        p(
            "mongodb-4.0",
            27017,
            37019,
            ProtoKind::MongoOld { auth: false },
            || e(&["mongodb"]).auth("none"),
        ),
        p(
            "cassandra-open",
            9042,
            19042,
            ProtoKind::Cassandra { auth: false },
            || e(&["cassandra"]).auth("none"),
        ),
        p(
            "cassandra-auth",
            9042,
            19043,
            ProtoKind::Cassandra { auth: true },
            || e(&["cassandra"]).auth("required"),
        ),
        p("kafka", 9092, 19092, ProtoKind::Kafka, || e(&["kafka"])),
        p("amqp", 5672, 15672, ProtoKind::Amqp, || e(&["amqp"])),
        p("mssql", 1433, 11433, ProtoKind::Mssql, || e(&["mssql"])),
        p("rdp-nla", 3389, 13389, ProtoKind::Rdp { nla: true }, || {
            e(&["rdp"])
        }),
        p("smb", 445, 10445, ProtoKind::Smb, || e(&["smb"])),
        p(
            "vnc-open",
            5900,
            15900,
            ProtoKind::Vnc { auth: false },
            || e(&["vnc"]).auth("none"),
        ),
        p(
            "vnc-auth",
            5900,
            15901,
            ProtoKind::Vnc { auth: true },
            || e(&["vnc"]).auth("required"),
        ),
        p("telnet", 23, 10023, ProtoKind::Telnet, || e(&["telnet"])),
        p("epmd", 4369, 14369, ProtoKind::Epmd, || e(&["epmd"])),
        p("erlang-dist", 25672, 35672, ProtoKind::ErlangDist, || {
            e(&["erlang-dist"])
        }),
    ]);
    v
}

/// The fixture `id`.
pub fn by_id(id: &str) -> Fixture {
    all()
        .into_iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no fixture {id:?}"))
}

/// Ports for running `list` together on one host: each fixture gets its
/// moved port, plus its default port unless an earlier one already has it.
pub fn shared_ports(list: &[Fixture]) -> Vec<(Fixture, Vec<u16>)> {
    let mut taken = std::collections::BTreeSet::new();
    list.iter()
        .map(|f| {
            let mut ports = Vec::new();
            if taken.insert(f.port) {
                ports.push(f.port);
            }
            assert!(
                taken.insert(f.moved),
                "moved port {} of {} is not unique",
                f.moved,
                f.id
            );
            ports.push(f.moved);
            (*f, ports)
        })
        .collect()
}

/// Started fixtures; drop stops them (fakes first, then real servers).
pub struct Host {
    /// The fakes' accept loops.
    pub fakes: Vec<Running>,
    /// Engineer B's binary-protocol fakes.
    pub proto_fakes: Vec<FakeHandle>,
    /// The real servers.
    pub servers: Servers,
}

/// Starts each fixture on its ports at `place`.
pub fn start(place: &Place, list: &[(Fixture, Vec<u16>)]) -> Host {
    let mut host = Host {
        fakes: Vec::new(),
        proto_fakes: Vec::new(),
        servers: Servers::new(place.clone()),
    };
    for (f, ports) in list {
        match f.start {
            Start::Real(start) => start(&mut host.servers, ports),
            Start::Fake(id) => {
                let listeners = ports.iter().map(|&p| place.listen(p)).collect();
                host.fakes.push(fakes::serve(fakes::fake(id), listeners));
            }
            Start::Proto(kind) => {
                for &p in ports {
                    host.proto_fakes
                        .push(proto_fakes::spawn_on(kind, place.listen(p)));
                }
            }
        }
    }
    host
}
