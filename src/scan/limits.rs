//! File-descriptor budget: raise the soft RLIMIT_NOFILE to the hard limit and
//! derive how many sockets the sweep and the fingerprinter may hold at once.

/// The socket budget derived from the descriptor limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The soft limit after raising it.
    pub nofile: u64,
    /// Default number of connects in flight.
    pub connect_window: usize,
    /// Default number of ports fingerprinted at once.
    pub fingerprint_window: usize,
}

/// Descriptors kept back for stdio, the runtime, output files and DNS.
const RESERVE: u64 = 24;

/// Raises the soft NOFILE limit to the hard limit (best effort) and returns the
/// resulting budget.
pub fn raise_and_budget() -> Budget {
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    let nofile = unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            1024
        } else {
            if r.rlim_cur < r.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: r.rlim_max,
                    rlim_max: r.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    r.rlim_cur = r.rlim_max;
                }
            }
            r.rlim_cur
        }
    };
    budget_for(nofile)
}

/// Descriptors a run needs free at least: the runtime's epoll and waker,
/// the signal handlers' socket pair (tokio panics when it cannot make it), a
/// probe socket, a fingerprint connection and its reconnect, the output file.
pub const MIN_FREE: u64 = 8;

/// Refuses a descriptor limit that leaves fewer than [`MIN_FREE`] free once
/// the runtime is up (`in_use` open now), naming the limit.
pub fn check_headroom(nofile: u64, in_use: u64) -> Result<(), String> {
    if nofile.saturating_sub(in_use) >= MIN_FREE {
        return Ok(());
    }
    Err(format!(
        "the file-descriptor limit (ulimit -n) is {nofile} and {in_use} are in use: a scan needs at least {} (raise it with ulimit -n)",
        in_use + MIN_FREE
    ))
}

/// Descriptors this process has open now (from /proc/self/fd; 3 if unknown).
pub fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(3, |d| d.count().saturating_sub(1) as u64)
}

/// Most connects in flight by default. Behind a DROP firewall every connect
/// waits out its timeout, so the window is what bounds a silent host's
/// sweep: it takes whatever the descriptor limit leaves.
pub const MAX_WINDOW: u64 = 65_536;

/// The budget for a given descriptor limit: fingerprinting gets a tenth (each
/// fingerprint may hold two sockets while it reconnects), connects get the rest,
/// up to [`MAX_WINDOW`] in flight.
pub fn budget_for(nofile: u64) -> Budget {
    let usable = nofile.saturating_sub(RESERVE).max(4);
    let fingerprint_window = (usable / 10).clamp(1, 256) as usize;
    let connect_window = (usable - 2 * fingerprint_window as u64).clamp(2, MAX_WINDOW) as usize;
    Budget {
        nofile,
        connect_window,
        fingerprint_window,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_fits_the_limit() {
        for n in [16u64, 64, 256, 1024, 20_000, 1_048_576] {
            let b = budget_for(n);
            assert!(b.connect_window >= 2);
            assert!(b.fingerprint_window >= 1);
            if n >= 64 {
                assert!(
                    (b.connect_window + 2 * b.fingerprint_window) as u64 + RESERVE <= n,
                    "{n}"
                );
            }
        }
        assert_eq!(budget_for(1_048_576).connect_window, 65_536);
        assert_eq!(budget_for(20_000).connect_window, 19_464);
    }

    #[test]
    fn too_few_free_descriptors_are_refused_naming_the_limit() {
        assert!(check_headroom(1024, 10).is_ok());
        assert!(check_headroom(18, 10).is_ok());
        let e = check_headroom(14, 10).unwrap_err();
        assert!(e.contains("ulimit -n") && e.contains("14"), "{e}");
    }
}
