//! Reads exposecheck's own JSON and NDJSON output back, for `merge` and
//! `--baseline`: one JSON value at a time (an NDJSON record, or a whole JSON
//! document) straight from a buffered file into the caller's type, which keeps
//! only the fields it needs. No line or file is ever held whole, so memory
//! follows what the caller keeps, not the size of the input.

use serde::de::DeserializeOwned;
use serde_json::error::Category;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

/// Read buffer: large enough that the hashing below works on big chunks.
const BUFFER: usize = 64 * 1024;

/// Why an input could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading failed.
    #[error("cannot read: {0}")]
    Io(io::Error),
    /// The input stops inside a value: the file was cut short.
    #[error("line {line}: the file ends in the middle of a record (cut short)")]
    Truncated {
        /// 1-based line where the input ends.
        line: usize,
    },
    /// A value is not JSON, or not what the caller reads.
    #[error("line {line}: {msg}")]
    Malformed {
        /// 1-based line of the fault.
        line: usize,
        /// serde_json's description (without its position).
        msg: String,
    },
}

impl From<serde_json::Error> for ReadError {
    fn from(e: serde_json::Error) -> ReadError {
        let line = e.line();
        match e.classify() {
            Category::Io => ReadError::Io(e.into()),
            Category::Eof => ReadError::Truncated { line },
            Category::Syntax | Category::Data => {
                let text = e.to_string();
                let msg = match text.rfind(" at line ") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                ReadError::Malformed { line, msg }
            }
        }
    }
}

/// An input whose bytes are hashed (SHA-256) as they are read, so that two
/// files can be told apart or found identical in the same single pass.
pub struct Source<R> {
    inner: R,
    hash: Sha256,
}

impl Source<File> {
    /// Opens a file.
    pub fn open(path: &Path) -> io::Result<Source<File>> {
        Ok(Source::new(File::open(path)?))
    }

    /// Whether it is a regular file (not a pipe or a device), which can be
    /// read again.
    pub fn is_file(&self) -> bool {
        self.inner.metadata().is_ok_and(|m| m.is_file())
    }
}

impl<R: Read> Source<R> {
    /// Reads from `inner`.
    pub fn new(inner: R) -> Source<R> {
        Source {
            inner,
            hash: Sha256::new(),
        }
    }

    /// The JSON values of the input, one by one, each decoded as a `T`; the
    /// first error ends the sequence.
    pub fn values<T: DeserializeOwned>(&mut self) -> Values<'_, R, T> {
        let buffered = BufReader::with_capacity(BUFFER, Hashing(self));
        Values {
            stream: Some(serde_json::Deserializer::from_reader(buffered).into_iter()),
            _t: PhantomData,
        }
    }

    /// The SHA-256 of every byte read so far (the whole input once
    /// [`Source::values`] has run to its end without error).
    pub fn digest(self) -> [u8; 32] {
        self.hash.finalize().into()
    }
}

/// Feeds what is read through the hash.
struct Hashing<'a, R>(&'a mut Source<R>);

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.inner.read(buf)?;
        self.0.hash.update(&buf[..n]);
        Ok(n)
    }
}

type Stream<'a, R, T> =
    serde_json::StreamDeserializer<'static, serde_json::de::IoRead<BufReader<Hashing<'a, R>>>, T>;

/// The values of a [`Source`].
pub struct Values<'a, R: Read, T> {
    stream: Option<Stream<'a, R, T>>,
    _t: PhantomData<T>,
}

impl<R: Read, T: DeserializeOwned> Iterator for Values<'_, R, T> {
    type Item = Result<T, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.stream.as_mut()?.next()?;
        if item.is_err() {
            self.stream = None;
        }
        Some(item.map_err(ReadError::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Rec {
        #[serde(rename = "type")]
        kind: String,
        n: Option<u32>,
    }

    fn read(text: &str) -> (Vec<Result<Rec, ReadError>>, [u8; 32]) {
        let mut src = Source::new(text.as_bytes());
        let v = src.values::<Rec>().collect();
        (v, src.digest())
    }

    #[test]
    fn reads_lines_and_documents() {
        let (v, digest) = read(
            "{\"type\":\"a\",\"n\":1,\"big\":[1,2,{\"x\":\"y\"}]}\n\n{\n  \"type\": \"b\"\n}\n",
        );
        let v: Vec<Rec> = v.into_iter().map(Result::unwrap).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].n, Some(1));
        assert_eq!(v[1].kind, "b");
        assert_ne!(digest, read("{\"type\":\"a\"}\n").1);
        assert_eq!(
            digest,
            read(
                "{\"type\":\"a\",\"n\":1,\"big\":[1,2,{\"x\":\"y\"}]}\n\n{\n  \"type\": \"b\"\n}\n"
            )
            .1
        );
    }

    #[test]
    fn a_cut_file_is_truncated_and_garbage_is_malformed() {
        let (v, _) = read("{\"type\":\"a\"}\n{\"type\":\"b\",\"n\":");
        assert!(v[0].is_ok());
        assert!(
            matches!(v[1], Err(ReadError::Truncated { line: 2 })),
            "{:?}",
            v[1]
        );
        assert_eq!(v.len(), 2);
        let (v, _) = read("{\"type\":\"a\"}\nnot json\n{\"type\":\"c\"}\n");
        assert_eq!(v.len(), 2, "the first error ends the sequence");
        match &v[1] {
            Err(ReadError::Malformed { line: 2, msg }) => {
                assert!(!msg.contains(" at line "), "{msg}")
            }
            other => panic!("{other:?}"),
        }
        let (v, _) = read("{\"type\":\"a\",\"n\":-1}\n");
        assert!(matches!(v[0], Err(ReadError::Malformed { line: 1, .. })));
        let (v, _) = read("   \n");
        assert!(v.is_empty());
    }
}
