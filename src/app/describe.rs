//! `exposecheck services` and `exposecheck explain`: the catalogue and the
//! rules table as text for people.

use crate::catalog::Catalog;
use crate::error::Error;

/// Placeholder until the describe branch lands.
pub fn services(_c: &Catalog) -> String {
    String::new()
}
/// Placeholder until the describe branch lands.
pub fn service(_c: &Catalog, _id: &str) -> Result<String, Error> {
    Ok(String::new())
}
/// Placeholder until the describe branch lands.
pub fn explain(_c: &Catalog, _id: &str) -> Result<String, Error> {
    Ok(String::new())
}
/// Placeholder until the describe branch lands.
pub fn explain_list(_c: &Catalog) -> String {
    String::new()
}
