//! Errors that stop a run before or around the scan, and the exit codes.
//!
//! What happens to a port is a result (see [`crate::model`]), never an error.

use std::path::PathBuf;

/// Documented process exit codes.
pub mod exit {
    use crate::model::Exit;

    /// Scan complete; no finding at or above `--fail-on`.
    pub const CLEAN: u8 = Exit::Clean.code();
    /// A finding at or above `--fail-on`.
    pub const FINDINGS: u8 = Exit::Findings.code();
    /// Usage or configuration error.
    pub const USAGE: u8 = 2;
    /// Scan incomplete (unresolved ports or hosts above the threshold).
    pub const INCOMPLETE: u8 = Exit::Incomplete.code();
    /// Interrupted by Ctrl-C / SIGINT / SIGTERM; output still written.
    pub const INTERRUPTED: u8 = Exit::Interrupted.code();
}

/// A run-stopping error. Each renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A target token did not parse.
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    /// A port spec did not parse.
    #[error(transparent)]
    Ports(#[from] crate::ports::PortError),
    /// An input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file (`-` for stdout).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A flag value or combination is invalid.
    #[error("{0}")]
    Usage(String),
    /// Nothing to scan.
    #[error("no targets to scan: {0}")]
    NoTargets(String),
    /// The policy file is unreadable or invalid.
    #[error(transparent)]
    Policy(#[from] crate::verdict::policy::PolicyError),
    /// The baseline file is unreadable or not exposecheck output.
    #[error(transparent)]
    Baseline(#[from] crate::verdict::baseline::BaselineError),
    /// Shard outputs given to `merge` are missing or incomplete.
    #[error("{0}")]
    Incomplete(String),
    /// A services file (built in or from `--services-dir`) is invalid.
    #[error("{0}")]
    Catalog(String),
    /// The scan scope needs explicit confirmation.
    #[error("{0}")]
    Scope(String),
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Incomplete(_) => exit::INCOMPLETE,
            _ => exit::USAGE,
        }
    }
}
