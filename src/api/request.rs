//! What resource handlers take from a request besides the path: JSON bodies parsed into typed DTOs
//! with the failing field named (a 400 in Mailu's shape), list paging and search (`?q=&limit=&offset=`),
//! and the read-only [`View`] of the head of `main` that GET handlers answer from.
//!
//! Not here: the write path (the journal, the writer's lock), which hands the write handlers their
//! view of the acknowledged state; until it exists, GETs read the head of main.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
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

/// `?q=&limit=&offset=` of a list. Without `limit` the whole list is returned, as Mailu does, so a
/// script written for Mailu sees everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Keep only items whose name contains this, case-insensitively (ASCII or Unicode form).
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// One page of a list and the number of items that matched before paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: usize,
}

impl<T> Paged<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

impl Page {
    /// Reads the paging parameters; other parameters are left to the handler (and ignored here).
    pub fn from_query(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    ) -> Result<Page, Error> {
        let Query(pairs) = query.map_err(|e| Error::field("query", e.body_text()))?;
        let mut page = Page::default();
        for (key, value) in pairs {
            let number = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| Error::field(&key, format!("`{v}` is not a whole number")))
            };
            match key.as_str() {
                "q" if !value.is_empty() => page.q = Some(value.to_lowercase()),
                "limit" => page.limit = Some(number(&value)?),
                "offset" => page.offset = number(&value)?,
                _ => {}
            }
        }
        Ok(page)
    }

    /// Whether an item with these names matches `q`.
    pub fn matches(&self, names: &[&str]) -> bool {
        self.q
            .as_deref()
            .is_none_or(|q| names.iter().any(|n| n.to_lowercase().contains(q)))
    }

    /// Filters `items` (already in order) by `q` on `names`, then cuts the page.
    pub fn apply<T>(
        &self,
        items: impl Iterator<Item = T>,
        names: impl Fn(&T) -> Vec<String>,
    ) -> Paged<T> {
        let matching: Vec<T> = items
            .filter(|item| {
                let names = names(item);
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                self.matches(&refs)
            })
            .collect();
        let total = matching.len();
        let items = matching
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect();
        Paged { items, total }
    }
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

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        ([(TOTAL_COUNT, self.total.to_string())], Json(self.items)).into_response()
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
        let page = Page {
            q: Some("b".into()),
            limit: Some(1),
            offset: 1,
        };
        let got = page.apply(["ab", "b", "c", "bb"].into_iter(), |s| vec![s.to_string()]);
        assert_eq!(got.total, 3);
        assert_eq!(got.items, vec!["b"]);
    }
}
