//! The web admin: the client-side application in `web/` (plain ES modules, no build step), embedded
//! in the binary and served at `/admin/`, with `/` redirecting there. This module only serves files;
//! the application talks to the REST API like any other client (`docs/admin.md`).
//!
//! Every answer carries a strict `Content-Security-Policy` (`default-src 'self'`, no inline script or
//! style), so text that users or imports control can never run as code even if a page mistakenly
//! rendered it as HTML. Nothing here needs a token: the files hold no configuration.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the application is served.
pub const MOUNT: &str = "/admin";

/// The policy every file of the application is served with: its own files only, nothing inline,
/// no framing, no `<base>` tricks, forms only to itself.
pub const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Files;

/// The routes of the application: `/`, `/admin`, `/admin/` and `/admin/<file>`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/admin/") }))
        .route(MOUNT, get(|| async { Redirect::to("/admin/") }))
        .route(&format!("{MOUNT}/"), get(|| async { file("index.html") }))
        .route(
            &format!("{MOUNT}/{{*path}}"),
            get(|Path(path): Path<String>| async move { file(&path) }),
        )
}

/// The content type of a file of the application, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// One embedded file with the security headers, or a 404 (with the same headers).
fn file(path: &str) -> Response {
    let mut response = match Files::get(path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, content_type(path)),
                // The files change with the binary: revalidate rather than run a stale module.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            file.data,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file of the web admin\n").into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_application_is_embedded_and_every_module_it_loads_exists() {
        let index = Files::get("index.html").expect("index.html is embedded");
        let index = String::from_utf8(index.data.into_owned()).unwrap();
        assert!(index.contains("app.js"), "{index}");
        assert!(!index.contains("<script>"), "no inline script: {index}");
        assert!(!index.contains("style="), "no inline style: {index}");
        // Every relative import of every module names an embedded file.
        for name in Files::iter().filter(|n| n.ends_with(".js")) {
            let text = String::from_utf8(Files::get(&name).unwrap().data.into_owned()).unwrap();
            assert!(!text.contains("innerHTML"), "{name} uses innerHTML");
            for import in text.lines().filter_map(|l| l.split("from './").nth(1)) {
                let target = import.split('\'').next().unwrap();
                assert!(
                    Files::get(target).is_some(),
                    "{name} imports missing {target}"
                );
            }
        }
        assert_eq!(file("nope.js").status(), StatusCode::NOT_FOUND);
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
    }
}
