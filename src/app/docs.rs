//! The commands that print documentation rather than scan: `services`,
//! `explain`, `completions` and `man`, and `--print-schema`. The text comes
//! from the catalogue, the rules table ([`super::describe`]) and the clap
//! definitions (completions and the man page are generated, never written
//! by hand).

use crate::catalog::Catalog;
use crate::cli::{ExplainArgs, ServicesArgs};
use crate::error::exit;
use crate::error::Error;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes `text` to stdout; a reader that went away (`| head`) is not an error.
pub fn emit(text: &str) -> Result<u8, Error> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: PathBuf::from("-"),
            source: e,
        }),
        _ => Ok(exit::CLEAN),
    }
}

/// The built-in catalogue, or it with `dir`'s files added.
fn catalog(dir: Option<&Path>) -> Result<Arc<Catalog>, Error> {
    match dir {
        None => Ok(Catalog::builtin()),
        Some(d) => Ok(Arc::new(
            Catalog::load(Some(d)).map_err(|e| Error::Catalog(e.to_string()))?,
        )),
    }
}

/// `exposecheck services [ID]`.
pub fn services(a: &ServicesArgs) -> Result<u8, Error> {
    let c = catalog(a.services_dir.as_deref())?;
    match &a.id {
        None => emit(&super::describe::services(&c)),
        Some(id) => emit(&super::describe::service(&c, id)?),
    }
}

/// `exposecheck explain RULE` and `explain --list`.
pub fn explain(a: &ExplainArgs) -> Result<u8, Error> {
    let c = catalog(a.services_dir.as_deref())?;
    match &a.rule {
        Some(id) if !a.list => emit(&super::describe::explain(&c, id)?),
        _ => emit(&super::describe::explain_list(&c)),
    }
}

/// `exposecheck completions SHELL`.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> Result<u8, Error> {
    let mut buf = Vec::new();
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, &mut buf);
    emit(&String::from_utf8_lossy(&buf))
}

/// `exposecheck man`: the page on stdout, or with `dir` one page per command.
pub fn man(cmd: clap::Command, dir: Option<&Path>) -> Result<u8, Error> {
    let written = |path: &Path, source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    match dir {
        Some(d) => {
            clap_mangen::generate_to(cmd, d).map_err(|e| written(d, e))?;
            Ok(exit::CLEAN)
        }
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| written(Path::new("-"), e))?;
            emit(&String::from_utf8_lossy(&buf))
        }
    }
}
