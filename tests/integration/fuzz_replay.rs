//! Replays the fuzz seed corpus (`fuzz/corpus/<dialogue>/`) on stable:
//! every file through every dialogue must not panic, and each `ok-*` file
//! must be identified by the dialogue its folder is named after.

use exposecheck::fingerprint::proto;
use std::path::PathBuf;

/// Corpus folders of the parser targets (`fingerprint::fuzzing`), not
/// dialogues; `hostile_props.rs` replays them through their own parser.
pub const PARSER_TARGETS: &[&str] = &["catalog", "http", "tls"];

fn corpus() -> Vec<(String, String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).expect("fuzz/corpus exists") {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let file = f.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name.clone(), file, std::fs::read(&f).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn corpus_never_panics_any_dialogue() {
    let files = corpus();
    assert!(
        files.len() >= 20,
        "seed corpus went missing: {} files",
        files.len()
    );
    for (_, _, data) in &files {
        for d in proto::all() {
            let _ = proto::exercise(*d, data);
        }
    }
}

#[test]
fn corpus_ok_files_are_identified() {
    for (dir, file, data) in corpus() {
        if PARSER_TARGETS.contains(&dir.as_str()) {
            continue;
        }
        let d =
            proto::by_name(&dir).unwrap_or_else(|| panic!("corpus folder {dir} names no dialogue"));
        let id = proto::exercise(d, &data);
        if file.starts_with("ok-") {
            assert_eq!(id.service, dir, "{dir}/{file}: {id:?}");
        } else if file.starts_with("bad-") {
            assert!(!id.matched() || id.service == dir, "{dir}/{file}: {id:?}");
        }
    }
}
