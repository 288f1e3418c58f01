//! The JSON Schemas (draft 2020-12) of the machine-readable formats, derived
//! from the types those formats serialise ([`json::Document`] and
//! [`ndjson::Stamped`]) by schemars, so a field added to the model is in the
//! schema at once. `--print-schema json|ndjson` prints what the tests
//! validate against.

use super::{json, ndjson};
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;

/// Which schema `--print-schema` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// The `--format json` document.
    Json,
    /// One `--format ndjson` line.
    Ndjson,
}

impl SchemaKind {
    /// The schema, as pretty-printed JSON with a final newline.
    pub fn text(self) -> String {
        let value = match self {
            SchemaKind::Json => schema_of::<json::Document<'static>>(),
            SchemaKind::Ndjson => schema_of::<ndjson::Stamped<'static>>(),
        };
        let mut text = serde_json::to_string_pretty(&value).expect("a schema serialises");
        text.push('\n');
        text
    }

    /// The schema as a JSON value.
    pub fn value(self) -> serde_json::Value {
        serde_json::from_str(&self.text()).expect("a schema is JSON")
    }
}

/// The draft 2020-12 schema of `T`.
fn schema_of<T: JsonSchema>() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    serde_json::to_value(generator.into_root_schema_for::<T>()).expect("a schema serialises")
}
