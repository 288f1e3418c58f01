//! Minimal BSON: build small command documents, read top-level fields.
//!
//! BSON specification 1.1 (bsonspec.org): `document = int32 total_len |
//! element* | 0x00`, `element = type[1] | cstring name | value`. The reader
//! only decodes top-level scalars; embedded documents and arrays are skipped
//! by their own length after checking it fits, so there is no recursion and
//! no depth to cap.

use super::util::{text, Bad, Cur, Res};

/// A command field value for [`doc`].
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    /// int32 (type 0x10).
    I32(i32),
    /// UTF-8 string (type 0x02).
    Str(&'a str),
}

/// Encodes a flat document.
pub fn doc(fields: &[(&str, Val<'_>)]) -> Vec<u8> {
    let mut v = vec![0; 4];
    for (name, val) in fields {
        match val {
            Val::I32(n) => {
                v.push(0x10);
                v.extend_from_slice(name.as_bytes());
                v.push(0);
                v.extend_from_slice(&n.to_le_bytes());
            }
            Val::Str(s) => {
                v.push(0x02);
                v.extend_from_slice(name.as_bytes());
                v.push(0);
                v.extend_from_slice(&((s.len() + 1) as i32).to_le_bytes());
                v.extend_from_slice(s.as_bytes());
                v.push(0);
            }
        }
    }
    v.push(0);
    let len = (v.len() as i32).to_le_bytes();
    v[..4].copy_from_slice(&len);
    v
}

/// A decoded top-level value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// double, int32 or int64.
    Num(f64),
    /// boolean.
    Bool(bool),
    /// string (bounded, printable).
    Str(String),
    /// Anything else (skipped).
    Other,
}

/// Top-level fields of one document, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Doc {
    fields: Vec<(String, Value)>,
}

impl Doc {
    /// The value named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A number (double/int32/int64; booleans count as 0/1).
    pub fn num(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Num(n) => Some(*n),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    /// A string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// `ok: 1` (in any numeric encoding).
    pub fn ok(&self) -> bool {
        self.num("ok") == Some(1.0)
    }
}

/// Most top-level fields kept.
const MAX_FIELDS: usize = 256;

/// Reads one document at the cursor. The document must be complete:
/// a cut one is `Short`, a length that does not fit is `Invalid`.
pub fn read(c: &mut Cur<'_>) -> Res<Doc> {
    let len = c.i32_le()?;
    let len = usize::try_from(len).map_err(|_| Bad::Invalid)?;
    if len < 5 {
        return Err(Bad::Invalid);
    }
    let body = c.take(len - 4)?;
    let (&end, elems) = body.split_last().ok_or(Bad::Invalid)?;
    if end != 0 {
        return Err(Bad::Invalid);
    }
    // The document is complete: any shortfall inside is a lie.
    parse_elements(elems).map_err(|_| Bad::Invalid)
}

fn parse_elements(elems: &[u8]) -> Res<Doc> {
    let mut c = Cur::new(elems);
    let mut doc = Doc::default();
    while c.remaining() > 0 {
        let ty = c.u8()?;
        let name = c.cstr(elems.len())?;
        let value = match ty {
            0x01 => Value::Num(f64::from_le_bytes(
                c.take(8)?.try_into().map_err(|_| Bad::Invalid)?,
            )),
            0x10 => Value::Num(f64::from(c.i32_le()?)),
            0x12 => {
                let b: [u8; 8] = c.take(8)?.try_into().map_err(|_| Bad::Invalid)?;
                Value::Num(i64::from_le_bytes(b) as f64)
            }
            0x08 => Value::Bool(c.u8()? != 0),
            0x02 => Value::Str(text(string(&mut c)?, 200)),
            0x0D | 0x0E => {
                string(&mut c)?;
                Value::Other
            }
            0x03 | 0x04 | 0x0F => {
                let n = usize::try_from(c.i32_le()?).map_err(|_| Bad::Invalid)?;
                if n < 5 {
                    return Err(Bad::Invalid);
                }
                c.skip(n - 4)?;
                Value::Other
            }
            0x05 => {
                let n = usize::try_from(c.i32_le()?).map_err(|_| Bad::Invalid)?;
                c.skip(n.checked_add(1).ok_or(Bad::Invalid)?)?;
                Value::Other
            }
            0x06 | 0x0A | 0x7F | 0xFF => Value::Other,
            0x07 => {
                c.skip(12)?;
                Value::Other
            }
            0x09 | 0x11 => {
                c.skip(8)?;
                Value::Other
            }
            0x0B => {
                c.cstr(elems.len())?;
                c.cstr(elems.len())?;
                Value::Other
            }
            0x0C => {
                string(&mut c)?;
                c.skip(12)?;
                Value::Other
            }
            0x13 => {
                c.skip(16)?;
                Value::Other
            }
            _ => return Err(Bad::Invalid),
        };
        if doc.fields.len() < MAX_FIELDS {
            doc.fields.push((text(name, 64), value));
        }
    }
    Ok(doc)
}

/// A BSON string: `int32 len (incl. NUL) | bytes | 0x00`.
fn string<'a>(c: &mut Cur<'a>) -> Res<&'a [u8]> {
    let n = usize::try_from(c.i32_le()?).map_err(|_| Bad::Invalid)?;
    if n < 1 {
        return Err(Bad::Invalid);
    }
    let s = c.take(n)?;
    Ok(&s[..n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_flat() {
        let d = doc(&[("hello", Val::I32(1)), ("$db", Val::Str("admin"))]);
        assert_eq!(
            d.len(),
            i32::from_le_bytes(d[..4].try_into().unwrap()) as usize
        );
        let r = read(&mut Cur::new(&d)).unwrap();
        assert_eq!(r.num("hello"), Some(1.0));
        assert_eq!(r.str("$db"), Some("admin"));
    }

    #[test]
    fn skips_nested_and_rejects_lies() {
        let inner = doc(&[("a", Val::I32(1))]);
        let mut d = vec![0, 0, 0, 0, 0x03];
        d.extend_from_slice(b"x\0");
        d.extend_from_slice(&inner);
        d.extend_from_slice(&[0x01]);
        d.extend_from_slice(b"ok\0");
        d.extend_from_slice(&1f64.to_le_bytes());
        d.push(0);
        let n = d.len() as i32;
        d[..4].copy_from_slice(&n.to_le_bytes());
        let r = read(&mut Cur::new(&d)).unwrap();
        assert!(r.ok());
        assert_eq!(r.get("x"), Some(&Value::Other));
        // Nested length pointing past the end.
        let mut bad = d.clone();
        bad[7..11].copy_from_slice(&0x7fff_ffffi32.to_le_bytes());
        assert_eq!(read(&mut Cur::new(&bad)), Err(Bad::Invalid));
        // Outer length too large: wait; negative: invalid.
        assert_eq!(read(&mut Cur::new(&d[..d.len() - 1])), Err(Bad::Short));
        let mut neg = d.clone();
        neg[..4].copy_from_slice(&(-1i32).to_le_bytes());
        assert_eq!(read(&mut Cur::new(&neg)), Err(Bad::Invalid));
    }
}
