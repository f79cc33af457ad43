//! What list and object GETs share: paging and search of lists (`?q=&domain=&limit=&offset=`, the
//! total in `X-Total-Count`, an unknown parameter refused by name), and one object with its `ETag`
//! (304 on `If-None-Match`). The view they read is `resource::read`'s: the acknowledged state.
//!
//! Lists are built in one pass over the configuration's sorted maps: every object is tested against
//! the search, but only the objects of the requested page are turned into response bodies.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Error;
use crate::model::DomainName;

/// The header that carries the number of objects a list search matched, before paging.
pub const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// A list search: `q` (a case-insensitive substring), `domain` (Unicode or ASCII), and a page
/// (`offset`, then at most `limit` objects; no `limit` means all, as Mailu answers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub q: Option<String>,
    pub domain: Option<DomainName>,
    pub limit: Option<usize>,
    pub offset: usize,
}

impl Search {
    /// Reads the query string; an unknown parameter or a bad number is a 400 naming it.
    pub fn parse(
        query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    ) -> Result<Search, Error> {
        let Query(params) =
            query.map_err(|e| Error::field("query", format!("malformed query string: {e}")))?;
        let mut search = Search::default();
        for (key, value) in params {
            let number = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| Error::field(&key, format!("`{v}` is not a whole number")))
            };
            match key.as_str() {
                "q" if !value.is_empty() => search.q = Some(value.to_lowercase()),
                "q" => {}
                "domain" => {
                    search.domain =
                        Some(DomainName::parse(&value).map_err(|e| Error::field("domain", e.0))?)
                }
                "limit" => search.limit = Some(number(&value)?),
                "offset" => search.offset = number(&value)?,
                other => {
                    return Err(Error::field(
                        other,
                        "unknown query parameter; lists take q, domain, limit and offset",
                    ));
                }
            }
        }
        Ok(search)
    }

    /// Whether `text` (one of an object's searchable texts) holds the search's `q`.
    pub fn finds(&self, texts: &[&str]) -> bool {
        match &self.q {
            None => true,
            Some(q) => texts.iter().any(|t| t.to_lowercase().contains(q.as_str())),
        }
    }
}

impl Search {
    /// Filters `items` (already in order) by `q` on the texts `names` gives, then cuts the page.
    pub fn apply<T>(
        &self,
        items: impl Iterator<Item = T>,
        names: impl Fn(&T) -> Vec<String>,
    ) -> Page<T> {
        Page::collect(
            items,
            self,
            |item| {
                let names = names(item);
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                self.finds(&refs)
            },
            |item| item,
        )
    }
}

/// One page of a list, and how many objects matched in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub total: usize,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            total: self.total,
            items: self.items.into_iter().map(f).collect(),
        }
    }

    /// Walks `objects` once: counts those that `matches`, and builds the ones on the page.
    pub fn collect<O>(
        objects: impl Iterator<Item = O>,
        search: &Search,
        matches: impl Fn(&O) -> bool,
        build: impl Fn(O) -> T,
    ) -> Page<T> {
        let end = search
            .limit
            .map_or(usize::MAX, |l| search.offset.saturating_add(l));
        let mut total = 0;
        let mut items = Vec::new();
        for object in objects.filter(|o| matches(o)) {
            if total >= search.offset && total < end {
                items.push(build(object));
            }
            total += 1;
        }
        Page { total, items }
    }
}

impl<T: Serialize> IntoResponse for Page<T> {
    /// A plain JSON list, as Mailu answers, with the total in `X-Total-Count`.
    fn into_response(self) -> Response {
        ([(TOTAL_COUNT, self.total.to_string())], Json(self.items)).into_response()
    }
}

/// One object with its `ETag`, or 304 when the request's `If-None-Match` names that tag.
pub fn object<T: Serialize>(headers: &HeaderMap, etag: String, body: T) -> Response {
    if super::none_match(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    ([(header::ETAG, etag)], Json(body)).into_response()
}

/// A view over a few files, for the resources' unit tests.
#[cfg(test)]
pub(crate) fn fixed(files: &[(&str, &str)]) -> super::resource::Fixed {
    use crate::model::RepoPath;
    let files = files
        .iter()
        .map(|(p, t)| (RepoPath::parse(p).unwrap(), t.as_bytes().to_vec()))
        .collect();
    super::resource::Fixed::load(files).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(query: &str) -> Result<Search, Error> {
        let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
        Search::parse(Query::try_from_uri(&uri))
    }

    #[test]
    fn search_parameters() {
        let s = search("q=Ali&domain=B%C3%BCcher.example&limit=2&offset=1").unwrap();
        assert_eq!(s.q.as_deref(), Some("ali"));
        assert_eq!(s.domain.unwrap().as_str(), "xn--bcher-kva.example");
        assert_eq!((s.limit, s.offset), (Some(2), 1));
        for bad in ["limit=-1", "offset=x", "domain=nodot", "page=2"] {
            assert_eq!(search(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn a_page_builds_only_its_items_and_counts_all() {
        let s = Search {
            limit: Some(2),
            offset: 3,
            ..Search::default()
        };
        let built = std::cell::Cell::new(0);
        let page = Page::collect(
            0..10,
            &s,
            |n| n % 2 == 0,
            |n| {
                built.set(built.get() + 1);
                n
            },
        );
        assert_eq!(page.total, 5);
        assert_eq!(page.items, vec![6, 8]);
        assert_eq!(built.get(), 2);
        let all = Page::collect(0..3, &Search::default(), |_| true, |n| n);
        assert_eq!((all.total, all.items.len()), (3, 3));
    }
}
