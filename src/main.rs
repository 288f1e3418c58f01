//! The `exposecheck` binary: read other tools' flags, parse the command line,
//! run a scan or a command (`merge`, `policy init`, `fix`, `services`,
//! `explain`, `completions`, `man`), exit with the documented code.

use clap::{CommandFactory, Parser};
use exposecheck::app;
use exposecheck::cli::{habits, help, Cli, Command, Config, PolicyCommand};
use exposecheck::error::{exit, Error};
use exposecheck::output::terminal_safe;
use std::ffi::OsString;
use std::process::ExitCode;

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
    let root = Cli::command();
    let argv = match habits::translate(std::env::args_os().collect(), &root) {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp && short_help(&argv) => {
            return app::docs::emit(&help::short(&root))
                .map_or_else(|e| failed(&e), ExitCode::from);
        }
        // --help and --version go to stdout as clap renders them.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(exit::CLEAN);
        }
        Err(e) => {
            eprintln!("exposecheck: error: {}", terminal_safe(&usage_line(&e)));
            return ExitCode::from(exit::USAGE);
        }
    };
    match run(cli) {
        Ok(c) => ExitCode::from(c),
        Err(e) => failed(&e),
    }
}

/// Runs what the command line asks for; returns the exit code.
fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        None => {
            if let Some(kind) = cli.scan.print_schema {
                return app::docs::emit(&kind.text());
            }
            Config::from_args(cli.scan).and_then(|cfg| block_on(app::run(cfg)))
        }
        Some(Command::Merge(m)) => {
            app::release_signals();
            app::merge::run(m)
        }
        Some(Command::Policy(PolicyCommand::Init(a))) => {
            Config::from_args(*a).and_then(|cfg| block_on(app::policy_init(cfg)))
        }
        Some(Command::Services(s)) => app::docs::services(&s),
        Some(Command::Explain(e)) => app::docs::explain(&e),
        Some(Command::Completions(c)) => app::docs::completions(c.shell, Cli::command()),
        Some(Command::Man(m)) => app::docs::man(Cli::command(), m.dir.as_deref()),
        Some(Command::Fix(f)) => app::fix::run(*f, |cfg, sink| block_on(app::scan_into(cfg, sink))),
    }
}

/// Prints an error as one line; returns its exit code.
fn failed(e: &Error) -> ExitCode {
    eprintln!("exposecheck: error: {}", terminal_safe(&e.to_string()));
    ExitCode::from(e.exit_code())
}

/// Whether a help request is `-h` at the top level (the one-screen help);
/// `--help` and a command's `-h` are clap's.
fn short_help(argv: &[OsString]) -> bool {
    let words: Vec<&str> = argv.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let is_short = |w: &&str| {
        w.len() > 1
            && w.starts_with('-')
            && !w.starts_with("--")
            && w[1..].chars().all(|c| matches!(c, 'h' | 'q' | 'v'))
            && w.contains('h')
    };
    let subcommand = Cli::command()
        .get_subcommands()
        .any(|sc| words.first() == Some(&sc.get_name()));
    !subcommand && words.iter().any(is_short) && !words.contains(&"--help")
}

/// A clap usage error as one line: the message, with what clap puts on
/// the lines below it (the possible values, the missing argument, a tip).
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    for extra in lines {
        if extra.starts_with("Usage:") || extra.starts_with("For more information") {
            break;
        }
        line.push(' ');
        line.push_str(extra);
    }
    line
}
