//! Golden files under `src/output/testdata/`: compare, or rewrite them all
//! with `UPDATE_GOLDEN=1`; a mismatch panics with a line diff.

use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/output/testdata")
        .join(name)
}

/// Asserts `actual` equals the golden file `name` (or rewrites it).
pub fn check(name: &str, actual: &str) {
    let p = path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&p, actual).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        return;
    }
    let expected = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "golden {} unreadable ({e}); run with UPDATE_GOLDEN=1 to create it",
            p.display()
        )
    });
    if expected != actual {
        panic!(
            "output differs from golden {} (- golden, + actual; UPDATE_GOLDEN=1 accepts it):\n{}",
            p.display(),
            diff(&expected, actual)
        );
    }
}

/// A line diff with two lines of context around each change.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|o| o.0 != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push_str("   ...\n");
                skipped = false;
            }
            out.push_str(&format!("{op}{:>4} {line:?}\n", k + 1));
        } else {
            skipped = true;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(trailing newline differs)\n");
    }
    out
}

#[test]
fn diff_marks_changed_lines() {
    let d = diff("a\nb\nc\n", "a\nB\nc\n");
    assert!(
        d.contains("-   2 \"b\"") && d.contains("+   3 \"B\""),
        "{d}"
    );
}
