//! STAND-IN for the global settings (`mailu.toml`), so the loader compiles; the real type comes from
//! the settings helper's branch at merge. Not the final schema.

use super::{FileType, Problem};

/// The global settings (placeholder: accepts any table).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Settings {}

impl FileType for Settings {
    fn validate(&self, _problems: &mut Vec<Problem>) {}
}
