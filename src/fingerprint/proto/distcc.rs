//! distcc (3632): one compile job whose compiler is `/`, which cannot run.
//!
//! distcc protocol (distcc's `doc/protocol-1.txt`): every item is a 4-letter
//! token and 8 lower-case hex digits, a string's bytes following its length.
//! The job is `DIST 1`, `ARGC`, each `ARGV`, `DOTI` (the preprocessed
//! source); the answer `DONE <protocol>`, `STAT <wait status>`, `SERR`,
//! `SOUT`, `DOTO`. distccd says nothing before it has tried to run the
//! compiler: a job it refuses earlier is closed in silence.
//!
//! The compiler named is `/`: distccd's `dcc_execvp` calls `execvp("/")`,
//! which always fails (a directory is not executable), then `execvp` of the
//! basename after the last `/`, the empty string, which always fails too
//! (ENOENT). So nothing runs, and distccd reports the failed job. Only a
//! distccd that runs whatever compiler it is sent (`--enable-tcp-insecure`,
//! i.e. any command for anyone allowed) gets that far; the default
//! whitelist refuses an absolute path in silence, and no harmless job draws
//! a word from it (it would have to run a real compiler).

use super::util::{add_info, matched, set_auth, text, Bad, Cur, Res};
use crate::fingerprint::dialogue::{Ident, Step};
use crate::model::AuthState;

/// The job's argv: compiler `/`, `-c exposecheck.c -o exposecheck.o`.
pub const ARGV: [&str; 5] = ["/", "-c", "exposecheck.c", "-o", "exposecheck.o"];

/// The distcc dialogue.
#[derive(Debug, Clone, Copy)]
pub struct Distcc;

fn token(out: &mut Vec<u8>, name: &[u8; 4], n: usize) {
    out.extend_from_slice(name);
    out.extend_from_slice(format!("{n:08x}").as_bytes());
}

/// `DIST00000001`, `ARGC00000005`, the five `ARGV`s, `DOTI00000000` (127 bytes).
pub fn request() -> Vec<u8> {
    let mut r = Vec::with_capacity(128);
    token(&mut r, b"DIST", 1);
    token(&mut r, b"ARGC", ARGV.len());
    for a in ARGV {
        token(&mut r, b"ARGV", a.len());
        r.extend_from_slice(a.as_bytes());
    }
    token(&mut r, b"DOTI", 0);
    r
}

/// One `NAMExxxxxxxx` item: `Short` while it is a prefix of one.
fn item(c: &mut Cur<'_>, name: &[u8; 4]) -> Res<u32> {
    let head = c.rest();
    let n = head.len().min(4);
    if head[..n] != name[..n] {
        return Err(Bad::Invalid);
    }
    let t = c.take(12)?;
    let hex = std::str::from_utf8(&t[4..]).map_err(|_| Bad::Invalid)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Bad::Invalid);
    }
    u32::from_str_radix(hex, 16).map_err(|_| Bad::Invalid)
}

fn judge(buf: &[u8], ident: &mut Ident) -> Res<Step> {
    let mut c = Cur::new(buf);
    let proto = item(&mut c, b"DONE")?;
    let status = item(&mut c, b"STAT")?;
    if !(1..=3).contains(&proto) {
        return Err(Bad::Invalid);
    }
    matched(ident, "distcc");
    ident.product = Some("distccd".into());
    ident.info = None;
    add_info(ident, "protocol", &proto.to_string());
    add_info(ident, "exit", &(status >> 8).to_string());
    set_auth(
        ident,
        AuthState::None,
        "a compile job naming an arbitrary compiler was accepted and run (it could not start)",
    );
    // Wait for SERR (distccd's own "failed to exec" line) while it is short.
    let err = match item(&mut c, b"SERR").and_then(|n| c.take((n as usize).min(512))) {
        Ok(err) => err,
        Err(Bad::Short) => return Ok(Step::NeedMore),
        Err(Bad::Invalid) => return Ok(Step::Done),
    };
    let line = err.split(|&b| b == b'\n').next().unwrap_or_default();
    if !line.is_empty() {
        add_info(ident, "stderr", &text(line, 100));
    }
    Ok(Step::Done)
}

super::util::one_shot!(Distcc, "distcc", |_ctx| request(), judge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::dialogue::Dialogue;

    /// Debian distccd 3.4 `--enable-tcp-insecure`, answering [`request`].
    const REPLY: &[u8] = b"DONE00000001STAT00006e00SERR0000004fdistccd[19044] (dcc_execvp) ERROR: failed to exec /: No such file or directory\nSOUT00000000DOTO00000000";

    #[test]
    fn request_bytes() {
        let r = request();
        assert_eq!(r.len(), 127);
        assert!(r.starts_with(b"DIST00000001ARGC00000005ARGV00000001/ARGV00000002-c"));
        assert!(r.ends_with(b"ARGV0000000dexposecheck.oDOTI00000000"));
    }

    #[test]
    fn failed_job_names_distccd() {
        let mut id = Ident::default();
        assert_eq!(Distcc.step(0, &REPLY[..18], &mut id), Step::NeedMore);
        assert!(!id.matched());
        assert_eq!(Distcc.step(0, &REPLY[..40], &mut id), Step::NeedMore);
        assert!(id.matched());
        assert_eq!(Distcc.step(0, REPLY, &mut id), Step::Done);
        assert_eq!(id.service, "distcc");
        assert_eq!(id.auth, AuthState::None);
        let info = id.info.unwrap();
        assert!(
            info.starts_with("protocol=1; exit=110; stderr=distccd["),
            "{info}"
        );
    }

    #[test]
    fn garbage_and_echo() {
        crate::fingerprint::proto::assert_rejects(
            &Distcc,
            &[
                &request(),
                b"HTTP/1.0 400",
                b"DONE0000000zSTAT00000000",
                b"DONE00000009STAT00000000",
            ],
        );
    }
}
