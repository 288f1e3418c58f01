//! Criterion benches for the sweep's and the fingerprinter's hot paths: walking
//! the keyed permutation, mapping indices to addresses, refused loopback
//! connects through the sweep's connect set and through one future per connect,
//! and matching replies against the whole service catalogue.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use exposecheck::catalog::{Catalog, ProbeKey};
use exposecheck::scan::connect;
use exposecheck::scan::order::{Order, Shard};
use exposecheck::scan::reactor::ConnectSet;
use exposecheck::targets::{Resolved, TargetSet};
use futures::stream::{FuturesUnordered, StreamExt};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

fn order(c: &mut Criterion) {
    let mut g = c.benchmark_group("order");
    for n in [65_535u128, 100 * 65_536] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("walk", n), &n, |b, &n| {
            b.iter(|| Order::new(n, 42, Shard::default()).fold(0u128, |a, x| a ^ black_box(x)))
        });
    }
    g.finish();
}

fn targets(c: &mut Criterion) {
    let set = TargetSet::build(
        &[
            Resolved::Net("198.18.0.0/16".parse().unwrap()),
            Resolved::Net("fd00:e0c::/112".parse().unwrap()),
        ],
        &["198.18.7.0/24".parse().unwrap()],
    );
    let n = set.len();
    let mut g = c.benchmark_group("targets");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("get_permuted_10k", |b| {
        b.iter(|| {
            Order::new(n, 7, Shard::default())
                .take(10_000)
                .filter_map(|i| set.get(i))
                .count()
        })
    });
    g.finish();
}

/// 1,000 connects to a closed loopback port, 64 in flight.
fn connects(c: &mut Criterion) {
    const N: usize = 1_000;
    const WINDOW: usize = 64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let closed: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let timeout = Duration::from_secs(1);
    let mut g = c.benchmark_group("connect_refused");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("connect_set", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = ConnectSet::new(false).unwrap();
                let (mut sent, mut done) = (0, 0);
                while done < N {
                    while sent < N && set.len() < WINDOW {
                        set.start(closed, timeout, sent);
                        sent += 1;
                    }
                    black_box(set.next().await);
                    done += 1;
                }
            })
        })
    });
    g.bench_function("future_per_connect", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = FuturesUnordered::new();
                let (mut sent, mut done) = (0, 0);
                while done < N {
                    while sent < N && set.len() < WINDOW {
                        set.push(connect::attempt(closed, timeout));
                        sent += 1;
                    }
                    black_box(set.next().await);
                    done += 1;
                }
            })
        })
    });
    g.finish();
}

fn matching(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    let http = catalog.probe_index("http-get").map(ProbeKey::Probe);
    let replies: Vec<(&str, ProbeKey, &[u8])> = vec![
        (
            "ssh-greeting",
            ProbeKey::Greeting,
            b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
        ),
        (
            "garbage-greeting",
            ProbeKey::Greeting,
            b"\x00\x01\x02garbage that matches nothing\xff\xfe",
        ),
    ];
    let mut g = c.benchmark_group("match_reply");
    for (name, key, reply) in replies {
        g.bench_function(name, |b| {
            b.iter(|| catalog.match_reply(key, black_box(reply)))
        });
    }
    if let Some(key) = http {
        let es = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 300\r\n\r\n{\"name\":\"n1\",\"cluster_name\":\"c\",\"version\":{\"number\":\"8.13.0\",\"lucene_version\":\"9.10.0\"},\"tagline\":\"You Know, for Search\"}";
        g.bench_function("http-elasticsearch", |b| {
            b.iter(|| catalog.match_reply(key, black_box(es)))
        });
    }
    g.finish();
}

criterion_group!(benches, order, targets, connects, matching);
criterion_main!(benches);
