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

/// The budget for a given descriptor limit: fingerprinting gets a tenth (each
/// fingerprint may hold two sockets while it reconnects), connects get the rest,
/// capped at 16,384 in flight.
pub fn budget_for(nofile: u64) -> Budget {
    let usable = nofile.saturating_sub(RESERVE).max(4);
    let fingerprint_window = (usable / 10).clamp(1, 256) as usize;
    let connect_window = (usable - 2 * fingerprint_window as u64).clamp(2, 16_384) as usize;
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
        assert_eq!(budget_for(1_048_576).connect_window, 16_384);
    }
}
