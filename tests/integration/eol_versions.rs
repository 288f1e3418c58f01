//! Issue 15 item 3, end to end: versions past their end of life, read from
//! real daemons' banners. Debian 12's Redis (7.0) and nginx (1.22) belong to
//! release cycles that ended; its MariaDB (10.11), PostgreSQL (15) and
//! Python (3.11) do not yet, and Memcached 1.6 has no date set. (PostgreSQL
//! is left out: it tells its version only after a login.) Each runs on its default port and Redis and
//! nginx on a moved one too; the scan must raise `eol-version` (marked
//! version-inferred, with the date and its source) exactly for the ended
//! cycles, on every port they answer, and `exposecheck services ID` must
//! show the same data.

use super::netns::{findings_of, parse_json_doc, show, TestNet};
use super::servers::{allow_low_ports, versions, MariaAccounts, Place, RedisMode, Servers};
use jiff::civil::Date;
use serde_json::Value;
use std::net::IpAddr;

/// One daemon: the service id, the installed version, the cycle it belongs
/// to with the end-of-life date in `services/` (checked against
/// `exposecheck services`), and the ports it listens on.
struct Daemon {
    id: &'static str,
    product: &'static str,
    version: String,
    cycle: &'static str,
    eol: &'static str,
    ports: &'static [u16],
}

fn daemons() -> Vec<Daemon> {
    let d = |id, product, version: String, cycle, eol, ports| Daemon {
        id,
        product,
        version,
        cycle,
        eol,
        ports,
    };
    vec![
        d(
            "redis",
            "Redis",
            versions::redis(),
            "7.0",
            "2024-07-29",
            &[6379, 16390],
        ),
        d(
            "http",
            "nginx",
            versions::nginx(),
            "1.22",
            "2023-04-11",
            &[80, 18081],
        ),
        d(
            "mysql",
            "MariaDB",
            versions::mariadb(),
            "10.11",
            "2028-02-16",
            &[3306],
        ),
        d(
            "memcached",
            "Memcached",
            versions::memcached(),
            "1.6",
            "-",
            &[11211],
        ),
        d(
            "python-http-server",
            "Python http.server",
            versions::python(),
            "3.11",
            "2027-10-31",
            &[8000],
        ),
    ]
}

/// The cycle's end of life; a cycle with none set never ends.
fn ended(d: &Daemon) -> Date {
    d.eol.parse().unwrap_or(Date::MAX)
}

fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// The installed version is in the cycle this test expects (a newer Debian
/// package needs the table above updated), and the catalogue holds that
/// cycle with that date.
fn check_data(net: &TestNet, d: &Daemon) {
    assert!(
        d.version == d.cycle || d.version.starts_with(&format!("{}.", d.cycle)),
        "{} {} is not in cycle {}: update this test's table",
        d.product,
        d.version,
        d.cycle
    );
    let out = net.exposecheck(&["services", d.id]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let section = text
        .split("End of life")
        .nth(1)
        .unwrap_or_else(|| panic!("no End of life section for {}: {text}", d.id));
    assert!(
        section.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.len() >= 4
                && cells[1] == d.cycle
                && cells[2] == d.eol
                && (cells[0] == "*" || cells[0].eq_ignore_ascii_case(d.product))
        }),
        "{}: cycle {} with end of life {} not in\n{section}",
        d.id,
        d.cycle,
        d.eol
    );
}

fn result(doc: &Value, port: u16) -> &Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["port"] == port)
        .unwrap_or_else(|| panic!("no result for {port}: {doc:#}"))
}

#[test]
fn versions_past_their_end_of_life_are_found_on_real_daemons_with_date_and_source() {
    let net = TestNet::new();
    allow_low_ports(&net.target_ns);
    let addr = IpAddr::from(net.target_v4());
    let mut s = Servers::new(Place {
        ns: Some(net.target_ns.clone()),
        addr,
    });
    let all = daemons();
    s.redis(RedisMode::Open, all[0].ports);
    s.nginx(all[1].ports, &[]);
    s.mariadb(MariaAccounts::AnyHost, 3306, None);
    s.memcached(&[11211]);
    s.python_http(&[8000]);
    for d in &all {
        check_data(&net, d);
    }
    let ports: Vec<String> = all
        .iter()
        .flat_map(|d| d.ports.iter().map(u16::to_string))
        .collect();
    let ip = addr.to_string();
    let out = net.exposecheck(&[
        "--json",
        "-q",
        "--no-policy",
        "--fail-on",
        "none",
        "-p",
        &ports.join(","),
        &ip,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let doc = parse_json_doc(&out.stdout);
    let eol = findings_of(&doc, "eol-version", &ip);
    let today = today();
    for d in &all {
        let ended = ended(d);
        for &port in d.ports {
            let r = result(&doc, port);
            assert_eq!(r["service"]["product"], d.product, "{port}: {r:#}");
            assert_eq!(r["service"]["version"], d.version.as_str(), "{port}: {r:#}");
            let here: Vec<&&Value> = eol.iter().filter(|f| f["port"] == port).collect();
            if ended >= today {
                assert!(
                    here.is_empty(),
                    "{port}: cycle {} not ended: {here:#?}",
                    d.cycle
                );
                continue;
            }
            assert_eq!(here.len(), 1, "{} on {port}: {doc:#}", d.product);
            let f = here[0];
            let title = f["title"].as_str().unwrap();
            assert!(
                title.contains(&format!("{} {}", d.product, d.version))
                    && title.contains("version-inferred")
                    && title.contains(d.eol),
                "{title}"
            );
            let evidence = f["evidence"].as_str().unwrap();
            assert!(evidence.contains("source: endoflife.date"), "{evidence}");
            assert_eq!(f["severity"], "medium");
        }
    }
    let expected = all
        .iter()
        .filter(|d| ended(d) < today)
        .map(|d| d.ports.len())
        .sum::<usize>();
    assert_eq!(eol.len(), expected, "{eol:#?}");
}
