//! exposecheck: audit a server the way an attacker sees it.
//!
//! # Layout
//! - [`targets`], [`ports`]: what to scan, parsed and expanded lazily.
//! - [`scan`]: the connect sweep (order, timing, limits, one connect).
//! - [`catalog`]: the service definitions compiled from `services/`.
//! - [`fingerprint`]: the engine that identifies open ports with the catalogue
//!   and the coded dialogues.
//! - [`pipeline`]: sweep → fingerprint → verdict, one [`model::PortResult`] per port.
//! - [`output`]: one module per format.
//! - [`verdict`]: the run's judge: the rules table, port and host findings,
//!   policy, baseline, the exit code.
//! - [`text`], [`reader`]: leaf helpers (terminal-safe text, RFC 3339 times,
//!   the NDJSON/JSON record reader of `merge` and `--baseline`).
//! - [`cli`], [`app`]: the command line; [`error`]: run-stopping errors and exit codes.
//!
//! `ARCHITECTURE.md` follows one port result through these stages.

// No function over 120 lines (`clippy.toml` sets the threshold).
#![warn(clippy::too_many_lines)]

// Lets shared test helpers name the crate the same way inside and outside it.
extern crate self as exposecheck;

pub mod app;
pub mod catalog;
pub mod cli;
pub mod dns;
pub mod error;
pub mod fingerprint;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod ports;
pub mod reader;
pub mod scan;
pub mod targets;
pub mod text;
pub mod verdict;
