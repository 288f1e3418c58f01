//! The `exposecheck` binary: parse flags, run a scan (or `merge`, or
//! `policy init`), exit with the documented code.

use clap::Parser;
use exposecheck::app;
use exposecheck::cli::{normalize_args, Args, Config};
use exposecheck::error::{exit, Error};
use exposecheck::output::terminal_safe;
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

/// One thread for the pipeline (fingerprinting, verdicts, output): on a
/// multi-thread runtime the hand-offs between workers cost more (futex
/// wake-ups, cross-core cache misses) than they give back. The sweep runs on
/// threads of its own, one runtime each (`scan::sweep`, `--threads`).
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    // The runtime's signal driver panics when it cannot make its socket
    // pair: a limit too low is refused here, naming it.
    let nofile = exposecheck::scan::limits::raise_and_budget().nofile;
    exposecheck::scan::limits::check_headroom(
        nofile,
        exposecheck::scan::limits::open_descriptors(),
    )
    .map_err(Error::Usage)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => Error::Usage(format!(
                "cannot start: no file descriptor left ({e}); raise the limit with ulimit -n (at least 16)"
            )),
            Some(libc::EAGAIN) => Error::Usage(format!(
                "cannot start: no thread could be made ({e}); raise the process limit (ulimit -u)"
            )),
            _ => Error::Usage(format!("cannot start the runtime: {e}")),
        })
}

/// Runs `f` on a fresh runtime, then drops the runtime without waiting for
/// its blocking threads: a DNS lookup that outlived `--dns-timeout`
/// (getaddrinfo cannot be cancelled) must not hold the process open.
fn block_on(f: impl std::future::Future<Output = Result<u8, Error>>) -> Result<u8, Error> {
    let rt = runtime()?;
    let code = rt.block_on(f);
    rt.shutdown_background();
    code
}

fn main() -> ExitCode {
    // One malloc arena: the sweep threads allocate little (a batch vector per
    // round), and an arena each would only hold freed memory (-4 MiB peak RSS
    // on large sweeps, no measurable slowdown).
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    app::hold_signals();
    let (cmd, argv) = command(normalize_args(std::env::args_os()));
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        // --help and --version go to stdout as clap renders them.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(exit::CLEAN);
        }
        // A usage error is one line naming the token, like every other error.
        Err(e) => {
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or_default();
            eprintln!(
                "exposecheck: error: {}",
                terminal_safe(line.strip_prefix("error: ").unwrap_or(line))
            );
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Some(kind) = args.print_schema {
        print!("{}", kind.text());
        return ExitCode::from(exit::CLEAN);
    }
    let code = match cmd {
        Command::Merge => {
            app::release_signals();
            app::merge::run(args)
        }
        Command::Scan => Config::from_args(args).and_then(|cfg| block_on(app::run(cfg))),
        Command::PolicyInit => {
            Config::from_args(args).and_then(|cfg| block_on(app::policy_init(cfg)))
        }
    };
    match code {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("exposecheck: error: {}", terminal_safe(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
