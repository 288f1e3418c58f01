//! Where `-o` output goes, without harming what is there.
//!
//! [`OutputFile::open`] decides from what the path names, before the scan:
//!
//! - `-` is stdout.
//! - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N` (also as a
//!   symlink hop) write to this process's own descriptor N, like a shell
//!   redirection: nothing is truncated or renamed, an `>>` file is appended to.
//! - A symlink is written *through*: it is followed hop by hop (at most 40;
//!   a relative target resolves against the link's directory) and the rules
//!   below apply to its target, which may not exist yet. The link stays a link.
//! - A character device or FIFO is opened for writing and written through (no
//!   truncation, no rename): `/dev/null` stays a device, a FIFO's reader gets
//!   the report (the open waits for a reader, as a shell's `>` does). A
//!   zero-byte write is tried at once, so `/dev/full` fails before the scan.
//! - A directory, block device or socket is refused before the scan.
//! - A regular file, or a name that does not exist, is replaced atomically:
//!   the report goes to an unnamed `O_TMPFILE` in the same directory, which
//!   [`OutputFile::commit`] links under a random name (`.NAME.<16 hex>.tmp`)
//!   and renames over the destination. The old file's permission bits (and
//!   owner and group, when the process may set them) carry over; a new file
//!   gets `0666 & !umask`. An existing file this process may not write is
//!   refused before the scan. A SIGKILL during the scan leaves nothing; one
//!   between the link and the rename (microseconds) leaves the `.tmp` name.
//! - Where the filesystem has no `O_TMPFILE`, the temporary file is that
//!   `.NAME.<16 hex>.tmp` from the start, created `O_CREAT|O_EXCL|O_NOFOLLOW`
//!   mode 0600 (a planted file or symlink of that name is never opened); a
//!   SIGKILL during the scan leaves it behind.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, BufWriter, LineWriter, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Symlink hops followed at most (Linux's own limit).
const MAX_HOPS: usize = 40;

/// Longest part of the destination's name kept in a temporary name.
const MAX_TMP_STEM: usize = 200;

/// How the output reaches its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Written to an open stream (stdout, a descriptor, a device, a FIFO).
    Through,
    /// An unnamed `O_TMPFILE`, linked and renamed into place on commit.
    TmpFile,
    /// A named `O_EXCL` temporary file, renamed into place on commit.
    Named,
}

/// An output destination opened by [`OutputFile::open`].
pub struct OutputFile {
    replace: Option<Replace>,
}

/// The pending atomic replacement of a regular file.
struct Replace {
    dir: File,
    name: OsString,
    file: File,
    tmp: Option<OsString>,
    keep: Option<Metadata>,
}

/// What a path turned out to name.
enum Dest {
    Fd(i32),
    Path(PathBuf, Option<Metadata>),
}

impl OutputFile {
    /// Opens `path` as the module docs describe and returns a writer for the
    /// report (buffered for files, line-buffered for streams).
    pub fn open(path: &Path) -> io::Result<(OutputFile, Box<dyn Write>)> {
        if path.as_os_str() == "-" {
            return Ok((stream(), Box::new(LineWriter::new(io::stdout()))));
        }
        match resolve(path)? {
            Dest::Fd(n) => {
                // SAFETY: the descriptor is only borrowed for the dup.
                let fd = unsafe { BorrowedFd::borrow_raw(n) }.try_clone_to_owned()?;
                Ok((stream(), Box::new(LineWriter::new(File::from(fd)))))
            }
            Dest::Path(p, Some(m)) if !m.file_type().is_file() => {
                let f = open_special(&p, &m)?;
                Ok((stream(), Box::new(LineWriter::new(f))))
            }
            Dest::Path(p, keep) => {
                let r = Replace::create(&p, keep, true)?;
                let w = BufWriter::new(r.file.try_clone()?);
                Ok((OutputFile { replace: Some(r) }, Box::new(w)))
            }
        }
    }

    /// How this output is written.
    pub fn mode(&self) -> Mode {
        match &self.replace {
            None => Mode::Through,
            Some(r) if r.tmp.is_none() => Mode::TmpFile,
            Some(_) => Mode::Named,
        }
    }

    /// Puts a replaced file in place (after the writer was flushed and
    /// dropped); nothing to do for a stream.
    pub fn commit(mut self) -> io::Result<()> {
        match self.replace.take() {
            Some(r) => r.commit(),
            None => Ok(()),
        }
    }
}

fn stream() -> OutputFile {
    OutputFile { replace: None }
}

/// The descriptor a `/dev/fd/N`-like path names, if it is one.
fn self_fd(p: &Path) -> Option<i32> {
    let s = p.to_str()?;
    match s {
        "/dev/stdin" => return Some(0),
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => {}
    }
    let pid = format!("/proc/{}/fd/", std::process::id());
    let n = ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", &pid]
        .iter()
        .find_map(|pre| s.strip_prefix(pre))?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

/// Follows symlinks to what `path` finally names.
fn resolve(path: &Path) -> io::Result<Dest> {
    let mut p = path.to_path_buf();
    for _ in 0..=MAX_HOPS {
        if let Some(n) = self_fd(&p) {
            return Ok(Dest::Fd(n));
        }
        let m = match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Dest::Path(p, None)),
            Err(e) => return Err(e),
            Ok(m) => m,
        };
        if !m.file_type().is_symlink() {
            return Ok(Dest::Path(p, Some(m)));
        }
        let target = std::fs::read_link(&p)?;
        p = if target.is_absolute() {
            target
        } else {
            parent(&p).join(target)
        };
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

fn parent(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn refuse(what: &str) -> io::Error {
    io::Error::other(format!(
        "is a {what}; -o writes to files, pipes and character devices only"
    ))
}

/// Opens a non-regular destination for writing through.
fn open_special(p: &Path, m: &Metadata) -> io::Result<File> {
    let t = m.file_type();
    if t.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    if t.is_block_device() {
        return Err(refuse("block device"));
    }
    if t.is_socket() {
        return Err(refuse("socket"));
    }
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(p)?;
    // What was opened must still be what was examined (not a regular file
    // swapped in, which this open would overwrite in place).
    let now = f.metadata()?;
    if (now.dev(), now.ino()) != (m.dev(), m.ino()) {
        return Err(io::Error::other("changed while it was being opened"));
    }
    if t.is_char_device() {
        // A zero-byte write costs a device nothing and fails now where
        // every write would (`/dev/full`: ENOSPC).
        let n = (&f).write(&[])?;
        debug_assert_eq!(n, 0);
    }
    Ok(f)
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// 16 hex digits from the kernel's random source.
fn random_hex() -> String {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // Never predictable enough to matter: the name is only a hint,
        // O_EXCL and EEXIST retries are what make it safe.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        b = (t ^ (u64::from(std::process::id()) << 40)).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `.NAME.<16 hex>.tmp`.
fn tmp_name(name: &OsStr) -> OsString {
    let stem = &name.as_bytes()[..name.len().min(MAX_TMP_STEM)];
    let mut v = b".".to_vec();
    v.extend_from_slice(stem);
    v.extend_from_slice(format!(".{}.tmp", random_hex()).as_bytes());
    OsString::from_vec(v)
}

/// The process umask, read without changing it.
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

impl Replace {
    /// Opens the directory and the temporary file (an O_TMPFILE when
    /// `tmpfile` and the filesystem has them); refuses an existing file this
    /// process may not write.
    fn create(p: &Path, keep: Option<Metadata>, tmpfile: bool) -> io::Result<Replace> {
        let name = p
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?
            .to_os_string();
        if keep.is_some() {
            let c = cstr(p.as_os_str())?;
            // SAFETY: c is a valid NUL-terminated path.
            check(unsafe {
                libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS)
            })?;
        }
        let dir = open_dir(parent(p))?;
        let unnamed = if tmpfile { open_tmpfile(&dir)? } else { None };
        let (file, tmp) = match unnamed {
            Some(f) => (f, None),
            None => {
                let (f, t) = named_tmp(&dir, &name)?;
                (f, Some(t))
            }
        };
        Ok(Replace {
            dir,
            name,
            file,
            tmp,
            keep,
        })
    }

    /// Syncs, sets mode and owner, links (O_TMPFILE) and renames into place.
    fn commit(mut self) -> io::Result<()> {
        self.file.sync_all()?;
        self.set_perms()?;
        let tmp = match self.tmp.clone() {
            Some(t) => t,
            None => {
                let t = self.link()?;
                self.tmp = Some(t.clone());
                t
            }
        };
        let (from, to) = (cstr(&tmp)?, cstr(&self.name)?);
        let d = self.dir.as_raw_fd();
        // SAFETY: both names are valid C strings relative to the same dir fd.
        check(unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) })?;
        self.tmp = None;
        let _ = self.dir.sync_all();
        Ok(())
    }

    /// The old file's owner and permission bits, or `0666 & !umask`.
    fn set_perms(&self) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        let mode = match &self.keep {
            Some(m) => {
                // Best effort: only root (or a member of the group) may.
                // SAFETY: fchown on our own open fd.
                let _ = unsafe { libc::fchown(fd, m.uid(), m.gid()) };
                m.mode() & 0o777
            }
            None if self.tmp.is_some() => 0o666 & !umask(),
            None => return Ok(()), // O_TMPFILE was created 0666 & !umask
        };
        // SAFETY: fchmod on our own open fd.
        check(unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(drop)
    }

    /// Gives the O_TMPFILE a random name in the directory.
    fn link(&self) -> io::Result<OsString> {
        let d = self.dir.as_raw_fd();
        let proc = cstr(OsStr::new(&format!(
            "/proc/self/fd/{}",
            self.file.as_raw_fd()
        )))?;
        let mut last = io::Error::from_raw_os_error(libc::EEXIST);
        for _ in 0..16 {
            let t = tmp_name(&self.name);
            let c = cstr(&t)?;
            // SAFETY: valid fds and C strings; AT_EMPTY_PATH links the fd itself.
            let rc = unsafe {
                libc::linkat(
                    self.file.as_raw_fd(),
                    c"".as_ptr(),
                    d,
                    c.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            };
            // Without CAP_DAC_READ_SEARCH, AT_EMPTY_PATH fails: link the
            // /proc magic link instead (documented in open(2), O_TMPFILE).
            let rc = if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                // SAFETY: as above.
                unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        proc.as_ptr(),
                        d,
                        c.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                }
            } else {
                rc
            };
            match check(rc) {
                Ok(_) => return Ok(t),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

impl Drop for Replace {
    fn drop(&mut self) {
        if let Some(t) = &self.tmp {
            if let Ok(c) = cstr(t) {
                // SAFETY: unlinkat of our own temporary name in our dir fd.
                unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
            }
        }
    }
}

/// An unnamed temporary file in `dir`, or `None` where the filesystem has
/// no O_TMPFILE.
fn open_tmpfile(dir: &File) -> io::Result<Option<File>> {
    // SAFETY: openat on a directory fd with a valid relative path.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".".as_ptr(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
            0o666 as libc::c_uint,
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just opened and is owned by nothing else.
        return Ok(Some(unsafe { File::from_raw_fd(fd) }));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL) => Ok(None),
        _ => Err(e),
    }
}

/// The directory, readable if possible (to fsync it), else as a path handle.
fn open_dir(p: &Path) -> io::Result<File> {
    let c = cstr(p.as_os_str())?;
    for flags in [libc::O_RDONLY, libc::O_PATH] {
        // SAFETY: open with a valid C path.
        let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: fd was just opened and is owned by nothing else.
            return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EACCES) || flags == libc::O_PATH {
            return Err(e);
        }
    }
    unreachable!("the loop returns")
}

/// Creates `.NAME.<16 hex>.tmp` with O_EXCL|O_NOFOLLOW, retrying on a clash.
fn named_tmp(dir: &File, name: &OsStr) -> io::Result<(File, OsString)> {
    let mut last = io::Error::from_raw_os_error(libc::EEXIST);
    for _ in 0..16 {
        let t = tmp_name(name);
        let c = cstr(&t)?;
        // SAFETY: openat on a dir fd with a valid relative name.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        };
        if fd >= 0 {
            // SAFETY: fd was just opened and is owned by nothing else.
            return Ok((unsafe { File::from_raw_fd(fd) }, t));
        }
        last = io::Error::last_os_error();
        if last.raw_os_error() != Some(libc::EEXIST) {
            return Err(last);
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests;
