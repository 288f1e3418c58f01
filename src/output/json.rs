//! JSON: one document with the schema version, scan metadata, coverage counts
//! and the listed results, written when the scan ends (or is interrupted).

use super::{Show, Sink, Summary};
use crate::model::PortResult;
use serde::Serialize;
use std::io::{self, Write};

/// Buffering JSON document writer.
pub struct Json {
    out: Box<dyn Write>,
    show: Show,
    results: Vec<PortResult>,
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'a str,
    scan: &'a super::ScanMeta,
    coverage: &'a crate::model::Coverage,
    results: &'a [PortResult],
}

impl Json {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>, show: Show) -> Json {
        Json {
            out,
            show,
            results: Vec::new(),
        }
    }
}

impl Sink for Json {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if self.show.lists(r) {
            self.results.push(r.clone());
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        self.results.sort_by(|a, b| (a.ip, a.port).cmp(&(b.ip, b.port)));
        let doc = Document {
            schema: &s.schema,
            scan: &s.scan,
            coverage: &s.coverage,
            results: &self.results,
        };
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
