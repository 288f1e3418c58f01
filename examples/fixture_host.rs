//! A host full of services for `benches/fingerprint.sh`: starts every
//! identification fixture (real Debian servers, the faithful fakes of
//! `tests/integration/http_fakes.rs` and the protocol fakes of
//! `tests/integration/fakes/`) bound to one address, prints
//! `<fixture-id> <port>` lines and then `READY`, and runs until SIGTERM or
//! SIGINT, when it stops every server it started.
//!
//! Run it inside the benchmark's target namespace (as root):
//! `ip netns exec T target/release/examples/fixture_host 198.18.200.2 [--moved-too]`.
//! One port per fixture by default: the default port, or the moved one when
//! an earlier fixture already took the default.

#[path = "../tests/integration/fakes/mod.rs"]
mod fakes;
#[path = "../tests/integration/fixtures.rs"]
mod fixtures;
#[path = "../tests/integration/http_fakes.rs"]
mod http_fakes;
#[path = "../tests/integration/servers.rs"]
mod servers;
#[path = "../tests/integration/servers_more.rs"]
mod servers_more;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(addr) = args.first().and_then(|a| a.parse::<IpAddr>().ok()) else {
        eprintln!("usage: fixture_host <bind-address> [--moved-too]");
        std::process::exit(2);
    };
    let moved_too = args.iter().any(|a| a == "--moved-too");
    let mut plan = fixtures::shared_ports(&fixtures::all());
    if !moved_too {
        for (_, ports) in &mut plan {
            ports.truncate(1);
        }
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let place = servers::Place { ns: None, addr };
    let host = fixtures::start(&place, &plan);
    for (f, ports) in &plan {
        for p in ports {
            println!("{} {p}", f.id);
        }
    }
    println!("READY");
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(host);
    eprintln!("fixture_host: stopped");
}
