//! The `exposecheck` binary: parse flags, run, exit with the documented code.

use clap::Parser;
use exposecheck::cli::{normalize_args, Args, Config};
use exposecheck::error::exit;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv = normalize_args(std::env::args_os());
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::CLEAN };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = Config::from_args(args).and_then(|cfg| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| exposecheck::error::Error::Usage(format!("cannot start the runtime: {e}")))?;
        rt.block_on(exposecheck::app::run(cfg))
    });
    match code {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("exposecheck: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
