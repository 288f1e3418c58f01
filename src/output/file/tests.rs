//! Unit tests of [`OutputFile`] on a temporary directory: regular files are
//! replaced atomically keeping their mode, symlinks are written through,
//! FIFOs get the report in place, directories are refused, and neither a
//! planted symlink nor a dropped output leaves anything behind.

use super::*;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};

fn write(path: &Path, text: &str) -> io::Result<OutputFile> {
    let (f, mut w) = OutputFile::open(path)?;
    w.write_all(text.as_bytes())?;
    w.flush()?;
    drop(w);
    Ok(f)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_new_file_appears_only_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.json");
    let f = write(&dest, "{}").unwrap();
    assert_eq!(f.mode(), Mode::TmpFile, "tmpfs and ext4 have O_TMPFILE");
    assert!(!dest.exists());
    assert!(names(dir.path()).is_empty(), "an O_TMPFILE has no name");
    f.commit().unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "{}");
    assert_eq!(names(dir.path()), ["out.json"]);
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask(), "a new file gets 0666 & !umask");
    assert!(OutputFile::open(Path::new("/nonexistent-dir/x.json")).is_err());
}

#[test]
fn a_replaced_file_keeps_its_mode_and_a_dropped_one_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("report.json");
    std::fs::write(&dest, "old").unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
    drop(write(&dest, "half").unwrap());
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
    assert_eq!(names(dir.path()), ["report.json"]);
    write(&dest, "new").unwrap().commit().unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
    let m = std::fs::metadata(&dest).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o600);
    assert!(m.file_type().is_file());
}

#[test]
fn the_named_fallback_is_exclusive_private_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.md");
    std::fs::write(&dest, "old").unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o640)).unwrap();
    let keep = std::fs::symlink_metadata(&dest).ok();
    let r = Replace::create(&dest, keep.clone(), false).unwrap();
    let tmp = r.tmp.clone().expect("a named temporary file");
    let t = tmp.to_string_lossy().into_owned();
    assert!(t.starts_with(".out.md.") && t.ends_with(".tmp"), "{t}");
    assert_eq!(t.len(), ".out.md.".len() + 16 + ".tmp".len(), "{t}");
    let tm = std::fs::metadata(dir.path().join(&tmp)).unwrap();
    assert_eq!(
        tm.permissions().mode() & 0o777,
        0o600,
        "private while written"
    );
    drop(r);
    assert_eq!(
        names(dir.path()),
        ["out.md"],
        "dropped: the temporary is gone"
    );
    let r = Replace::create(&dest, keep, false).unwrap();
    (&r.file).write_all(b"new").unwrap();
    r.commit().unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
    let m = std::fs::metadata(&dest).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o640);
    assert_eq!(names(dir.path()), ["out.md"]);
}

#[test]
fn temporary_names_are_unpredictable() {
    let a = tmp_name(OsStr::new("x"));
    let b = tmp_name(OsStr::new("x"));
    assert_ne!(a, b);
    let long = "y".repeat(255);
    assert!(tmp_name(OsStr::new(&long)).len() <= 255, "fits NAME_MAX");
}

/// The old scheme's name (`.NAME.PID.tmp`) planted as a symlink to a victim:
/// the victim is untouched and the link is neither followed nor replaced.
#[test]
fn a_planted_symlink_at_the_old_temporary_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let dest = dir.path().join("out.json");
    let planted = dir
        .path()
        .join(format!(".out.json.{}.tmp", std::process::id()));
    symlink(&victim, &planted).unwrap();
    for tmpfile in [true, false] {
        let r = Replace::create(&dest, None, tmpfile).unwrap();
        (&r.file).write_all(b"report").unwrap();
        r.commit().unwrap();
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(std::fs::symlink_metadata(&planted)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "report");
}

#[test]
fn a_symlink_is_written_through_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    let target = dir.path().join("real/report.json");
    std::fs::write(&target, "old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    // link -> link2 -> real/report.json, relative hops.
    symlink("real/report.json", dir.path().join("link2")).unwrap();
    symlink("link2", dir.path().join("link")).unwrap();
    write(&dir.path().join("link"), "new")
        .unwrap()
        .commit()
        .unwrap();
    for l in ["link", "link2"] {
        let m = std::fs::symlink_metadata(dir.path().join(l)).unwrap();
        assert!(m.file_type().is_symlink(), "{l} is still a symlink");
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A dangling link creates its target.
    symlink("real/new.json", dir.path().join("dangling")).unwrap();
    write(&dir.path().join("dangling"), "x")
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("real/new.json")).unwrap(),
        "x"
    );
    // A loop is an error, not a hang.
    symlink("loop2", dir.path().join("loop1")).unwrap();
    symlink("loop1", dir.path().join("loop2")).unwrap();
    let e = OutputFile::open(&dir.path().join("loop1")).err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
}

#[test]
fn a_directory_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let e = OutputFile::open(dir.path()).err().expect("refused");
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_fifo_gets_the_report_and_stays_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let p = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        File::open(p).unwrap().read_to_string(&mut s).unwrap();
        s
    });
    let f = write(&fifo, "{\"type\":\"summary\"}\n").unwrap();
    assert_eq!(f.mode(), Mode::Through);
    f.commit().unwrap();
    assert_eq!(reader.join().unwrap(), "{\"type\":\"summary\"}\n");
    let m = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(m.file_type().is_fifo(), "still a FIFO");
    assert_eq!(names(dir.path()), ["pipe"]);
}

#[test]
fn self_descriptor_paths() {
    assert_eq!(self_fd(Path::new("/dev/stdout")), Some(1));
    assert_eq!(self_fd(Path::new("/dev/stderr")), Some(2));
    assert_eq!(self_fd(Path::new("/dev/fd/7")), Some(7));
    assert_eq!(self_fd(Path::new("/proc/self/fd/12")), Some(12));
    let own = format!("/proc/{}/fd/3", std::process::id());
    assert_eq!(self_fd(Path::new(&own)), Some(3));
    assert_eq!(self_fd(Path::new("/proc/1/fd/3")), None);
    assert_eq!(self_fd(Path::new("/dev/fd/")), None);
    assert_eq!(self_fd(Path::new("/dev/fd/1x")), None);
    assert_eq!(self_fd(Path::new("out.json")), None);
}

#[test]
fn an_unwritable_existing_file_is_refused_at_open() {
    // Root may write anything: only meaningful for other users, and then
    // the file must be refused before the scan rather than replaced.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("ro.json");
        std::fs::write(&dest, "old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o444)).unwrap();
        // Root passes faccessat: the file is replaced, mode kept.
        write(&dest, "new").unwrap().commit().unwrap();
        let m = std::fs::metadata(&dest).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o444);
    } else {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("ro.json");
        std::fs::write(&dest, "old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o444)).unwrap();
        let e = OutputFile::open(&dest).err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
    }
}
