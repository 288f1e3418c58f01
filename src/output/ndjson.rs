//! NDJSON: one JSON object per line, flushed as each result completes, then a
//! `{"type":"summary",...}` line. Every string is JSON-escaped by serde_json,
//! so a banner holding a newline cannot forge a record.

use super::{Show, Sink, Summary};
use crate::model::PortResult;
use serde::Serialize;
use std::io::{self, Write};

/// Streaming NDJSON writer.
pub struct Ndjson {
    out: Box<dyn Write>,
    show: Show,
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

impl Ndjson {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>, show: Show) -> Ndjson {
        Ndjson { out, show }
    }

    fn line<T: Serialize>(&mut self, kind: &'static str, body: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &Tagged { kind, body })?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl Sink for Ndjson {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if self.show.lists(r) {
            self.line("port", r)?;
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        self.line("summary", s)
    }
}
