//! Text helpers every layer shares, importing nothing of the crate: network
//! text made safe for a terminal, and RFC 3339 times (through jiff).

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats a time as RFC 3339 UTC with second precision
/// (`2026-11-18T11:06:40Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Parses an RFC 3339 time (with `Z` or an offset) to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// `Tue Nov 25 15:32:00 2026` (the ctime layout, UTC) for Unix seconds.
pub fn ctime(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// Unicode's explicit bidirectional formatting characters (UAX #9).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Makes network text safe for a terminal: control characters (C0, C1, DEL,
/// ESC sequences) become `\xNN` escapes, so a banner cannot move the cursor,
/// recolour the screen or forge a line; bidirectional-text controls become
/// `\u{NNNN}`, so it cannot reorder what is shown either.
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) {
            let n = c as u32;
            if n <= 0xff {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parse_rfc3339_inverts_rfc3339_and_takes_offsets() {
        for secs in [0u64, 951_782_400, 1_795_000_000, 4_102_444_799] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(secs as i64));
        }
        assert_eq!(
            parse_rfc3339("2026-11-18T12:06:40+01:00"),
            Some(1_795_000_000)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-25 10:00:00"), None);
    }

    #[test]
    fn ctime_layout() {
        assert_eq!(ctime(1_795_000_000), "Wed Nov 18 11:06:40 2026");
        assert_eq!(ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn terminal_safe_escapes_controls() {
        assert_eq!(terminal_safe("a\x1b[2Jb\nc\u{9b}"), "a\\x1b[2Jb\\x0ac\\x9b");
        assert_eq!(terminal_safe("plain ü"), "plain ü");
        assert_eq!(terminal_safe("a\u{202e}b\u{2066}"), "a\\u{202e}b\\u{2066}");
    }
}
