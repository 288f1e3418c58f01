//! Just enough HTTP/1.x response framing to know when a reply is complete and
//! whether the connection can carry the next request (keep-alive).

/// A complete response's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Bytes the response occupies.
    pub len: usize,
    /// The connection may carry another request.
    pub keep_alive: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (k, v) = line.split_at(colon);
        k.eq_ignore_ascii_case(name.as_bytes())
            .then(|| v[1..].trim_ascii())
    })
}

/// Walks a chunked body; returns its length once the last chunk has arrived.
fn chunked_len(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    for _ in 0..10_000 {
        let eol = find(&body[at..], b"\r\n")?;
        let size_text = body[at..at + eol].split(|&b| b == b';').next()?;
        let size_text = std::str::from_utf8(size_text).ok()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        at += eol + 2;
        if size == 0 {
            // Trailers end with an empty line.
            let end = find(&body[at..], b"\r\n")?;
            if end == 0 {
                return Some(at + 2);
            }
            let rest = find(&body[at..], b"\r\n\r\n")?;
            return Some(at + rest + 4);
        }
        at = at.checked_add(size)?.checked_add(2)?;
        if at > body.len() {
            return None;
        }
    }
    None
}

/// The framing of the response at the start of `buf`, once complete; `None`
/// while more is needed, or when only EOF can end it (no length given).
pub fn complete(buf: &[u8]) -> Option<Framing> {
    if !buf.starts_with(b"HTTP/1.") {
        return None;
    }
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = &buf[..head_end];
    let status: u16 = std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()?;
    let version_11 = buf.starts_with(b"HTTP/1.1");
    let close = header(head, "connection").is_some_and(|v| v.eq_ignore_ascii_case(b"close"));
    let body_len = if (100..200).contains(&status) || status == 204 || status == 304 {
        0
    } else if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"))
    {
        chunked_len(&buf[head_end..])?
    } else if let Some(v) = header(head, "content-length") {
        let n: usize = std::str::from_utf8(v).ok()?.parse().ok()?;
        if buf.len() - head_end < n {
            return None;
        }
        n
    } else {
        return None;
    };
    let len = head_end + body_len;
    Some(Framing {
        len,
        keep_alive: version_11 && !close && len == buf.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            complete(r),
            Some(Framing {
                len: r.len(),
                keep_alive: true
            })
        );
        assert_eq!(complete(&r[..r.len() - 1]), None);
        let c = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!complete(c).unwrap().keep_alive);
        let ch = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(complete(ch).map(|f| f.len), Some(ch.len()));
        assert_eq!(complete(&ch[..ch.len() - 2]), None);
        assert_eq!(
            complete(b"HTTP/1.0 204 No Content\r\n\r\n").map(|f| f.keep_alive),
            Some(false)
        );
        assert_eq!(complete(b"HTTP/1.1 200 OK\r\n\r\nbody until eof"), None);
        assert_eq!(
            complete(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            None
        );
        assert_eq!(
            complete(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\n"
            ),
            None
        );
    }
}
