//! Request bodies of the resource writes, read strictly, and the `{code, message}` body Mailu answers
//! a successful write with.
//!
//! Mailu's Flask-RESTX validation names the offending field (`errors: {"quota_bytes": "..."}`); a plain
//! `serde_json::from_slice` names only a line and column. [`parse`] therefore reads the body as a JSON
//! object first and, when the typed read fails, reads each key on its own to find the field that
//! breaks it (an unknown key, a wrong type, a malformed address or date). That needs body types whose
//! fields are all optional (`Option<T>` or `#[serde(default)]`), which also lets a PATCH tell "absent"
//! from "given"; required fields are checked by the resource. Not here: what the fields mean.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Error;

/// Reads `bytes` as a JSON object into `T` (which denies unknown fields); a problem becomes a 400
/// naming the field (`request::parse_json` does the naming, for every resource).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) => super::request::parse_json(bytes),
        Ok(_) => Err(Error::Invalid {
            message: "the request body must be a JSON object".into(),
            errors: BTreeMap::new(),
        }),
        Err(e) => Err(Error::Invalid {
            message: format!("the request body is not valid JSON: {e}"),
            errors: BTreeMap::new(),
        }),
    }
}

/// A required field that is absent (or `null`): Mailu's wording for it.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::field(field, format!("'{field}' is a required property")))
}

/// A field the path already fixes (or the resource computes) that a body must not carry.
pub fn refuse<T>(value: &Option<T>, field: &str, why: &str) -> Result<(), Error> {
    match value {
        Some(_) => Err(Error::field(field, why)),
        None => Ok(()),
    }
}

/// Mailu's answer to a successful write: `{"code": 200, "message": "User ... has been created"}`.
/// The message is the [`super::resource::Change`]'s summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub code: u16,
    pub message: String,
}

impl Reply {
    pub fn ok(message: impl Into<String>) -> Reply {
        Reply {
            code: 200,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        count: Option<u32>,
        name: Option<String>,
    }

    fn field_of(err: Error) -> (String, String) {
        match err {
            Error::Invalid { errors, .. } => errors.into_iter().next().unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_broken_field_is_named() {
        let (field, msg) = field_of(parse::<Body>(br#"{"name": "x", "cuont": 1}"#).unwrap_err());
        assert_eq!(field, "cuont");
        assert!(msg.contains("unknown field"), "{msg}");
        let (field, _) = field_of(parse::<Body>(br#"{"name": "x", "count": -1}"#).unwrap_err());
        assert_eq!(field, "count");
        let ok: Body = parse(br#"{"count": null, "name": "x"}"#).unwrap();
        assert_eq!((ok.count, ok.name.as_deref()), (None, Some("x")));
    }

    #[test]
    fn non_objects_and_bad_json_are_400() {
        for bad in [&b"[1]"[..], b"{", b"\"x\""] {
            assert_eq!(parse::<Body>(bad).unwrap_err().status(), 400);
        }
        let (field, msg) = field_of(required::<u8>(None, "email").unwrap_err());
        assert_eq!(field, "email");
        assert!(msg.contains("required"));
    }
}
