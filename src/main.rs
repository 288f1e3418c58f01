//! The `exposecheck` binary: parse flags, run a scan (or `merge`, or
//! `policy init`), exit with the documented code.

use clap::Parser;
use exposecheck::app;
use exposecheck::cli::{normalize_args, Args, Config};
use exposecheck::error::{exit, Error};
use std::ffi::OsString;
use std::process::ExitCode;

/// What the command line asks for.
enum Command {
    Scan,
    Merge,
    PolicyInit,
}

/// Splits `merge ...` and `policy init ...` off the front of the arguments.
fn command(mut argv: Vec<OsString>) -> (Command, Vec<OsString>) {
    let word =
        |i: usize, argv: &[OsString]| argv.get(i).and_then(|a| a.to_str()).map(str::to_owned);
    match (word(1, &argv).as_deref(), word(2, &argv).as_deref()) {
        (Some("merge"), _) => {
            argv.remove(1);
            (Command::Merge, argv)
        }
        (Some("policy"), Some("init")) => {
            argv.drain(1..3);
            (Command::PolicyInit, argv)
        }
        _ => (Command::Scan, argv),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the runtime: {e}")))
}

fn main() -> ExitCode {
    let (cmd, argv) = command(normalize_args(std::env::args_os()));
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::CLEAN
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(kind) = args.print_schema {
        print!("{}", kind.text());
        return ExitCode::from(exit::CLEAN);
    }
    let code = match cmd {
        Command::Merge => app::merge::run(args),
        Command::Scan => Config::from_args(args).and_then(|cfg| runtime()?.block_on(app::run(cfg))),
        Command::PolicyInit => {
            Config::from_args(args).and_then(|cfg| runtime()?.block_on(app::policy_init(cfg)))
        }
    };
    match code {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("exposecheck: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
