//! [`FileType`]: what every typed file of the config repository implements, so one loader can parse
//! it and report its in-file problems with lines. Cross-file rules live in `rules`, not here.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Problem;

/// A file of the config repository that deserializes into a typed value (`mailu.toml`, a user, a
/// service, ...). Deserialization checks types and unknown keys; [`FileType::validate`] checks the
/// rules that need only this one value (ranges, formats, one field that depends on another).
pub trait FileType: DeserializeOwned + Serialize {
    /// Appends one [`Problem`] per broken rule; `Problem.field` is the dotted path of the field
    /// (`history.keep_last`, `ports.0.host_port`) so the loader can find its line.
    fn validate(&self, problems: &mut Vec<Problem>);
}
