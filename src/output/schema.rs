//! The JSON Schemas (draft 2020-12) of the machine-readable formats, embedded
//! so `--print-schema json|ndjson` prints exactly what the tests validate against.

/// Schema of the `--format json` document.
pub const JSON: &str = include_str!("schema/exposecheck.schema.json");

/// Schema of one `--format ndjson` line (a `oneOf` over the record types).
pub const NDJSON: &str = include_str!("schema/exposecheck-ndjson.schema.json");

/// Which schema `--print-schema` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// The `--format json` document.
    Json,
    /// One `--format ndjson` line.
    Ndjson,
}

impl SchemaKind {
    /// The schema text.
    pub fn text(self) -> &'static str {
        match self {
            SchemaKind::Json => JSON,
            SchemaKind::Ndjson => NDJSON,
        }
    }
}
