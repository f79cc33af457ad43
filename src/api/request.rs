//! JSON request bodies parsed into typed DTOs with the failing field named in the model's dotted form
//! (`alternatives.1`, a 400 in Mailu's shape), and [`Tagged`], one object answered with its `ETag`.
//! Paging and search are `listing`'s; the view every handler reads is `resource`'s.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Error;

/// The header that carries the number of matches of a list before paging (the body stays a plain
/// list, as Mailu's).
pub const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// Parses a JSON body into `T`. A body that does not fit is a 400 whose `errors` names the field, in
/// the model's dotted form (`alternatives.1`); an unknown field is named too (DTOs deny them).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner().to_string();
        let mut field = dotted(e.path());
        // serde reports a missing field at the object that holds it (an unknown one at itself): name
        // the field either way.
        for prefix in ["unknown field `", "missing field `"] {
            if let Some(name) = inner
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
            {
                let named = field == name || field.ends_with(&format!(".{name}"));
                if !named {
                    field = if field.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{field}.{name}")
                    };
                }
            }
        }
        // serde_json appends the position, which means nothing to the caller once the field is named.
        let message = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        if field.is_empty() {
            Error::Invalid {
                message: format!("the request body is not valid JSON for this path: {message}"),
                errors: BTreeMap::new(),
            }
        } else {
            Error::field(&field, message)
        }
    })?;
    de.end().map_err(|e| Error::Invalid {
        message: format!("the request body has trailing characters: {e}"),
        errors: BTreeMap::new(),
    })?;
    Ok(value)
}

fn dotted(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let parts: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    parts.join(".")
}

/// One object as a GET answers it: the DTO and the `ETag` of the file that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged<T> {
    pub value: T,
    pub etag: String,
}

impl<T: Serialize> IntoResponse for Tagged<T> {
    fn into_response(self) -> Response {
        ([(header::ETAG, self.etag)], Json(self.value)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        list: Vec<u8>,
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::Invalid { errors, .. } => errors.into_keys().next().unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": "a", "bogus": 1}"#).unwrap_err();
        assert_eq!(field_of(err), "bogus");
        let err = parse_json::<Body>(br#"{"list": [1, "x"]}"#).unwrap_err();
        assert_eq!(field_of(err), "list.1");
        let err = parse_json::<Body>(br#"{"list": []}"#).unwrap_err();
        assert_eq!(field_of(err), "name");
        let err = parse_json::<Body>(b"{").unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(parse_json::<Body>(br#"{"name": "a"}"#).is_ok());
    }

    #[test]
    fn paging_filters_then_cuts() {
        let page = crate::api::listing::Search {
            q: Some("b".into()),
            limit: Some(1),
            offset: 1,
            ..Default::default()
        };
        let got = page.apply(["ab", "b", "c", "bb"].into_iter(), |s| vec![s.to_string()]);
        assert_eq!(got.total, 3);
        assert_eq!(got.items, vec!["b"]);
    }
}
