//! The OpenAPI document and its page on the real server: OpenAPI 3.1, every Mailu resource route
//! present, the same document at Mailu's `swagger.json`, and a page that needs nothing from the
//! internet. All without a token.

use std::process::{Command, Stdio};

use crate::support::TestServer;

/// Every route of `api::router` (as the document writes it), with its methods. Listed by hand so
/// that a route added to the router without a `#[utoipa::path]` fails here.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/v1/settings", &["get", "patch"]),
    ("/api/v1/init", &["post"]),
    ("/api/v1/change/{id}", &["get"]),
    ("/api/v1/pending", &["get"]),
    ("/api/v1/gc", &["post"]),
    ("/api/v1/backup", &["get"]),
    ("/api/v1/import", &["post"]),
    ("/api/v1/export", &["get"]),
    ("/api/v1/client/python", &["get"]),
    ("/api/v1/client/python/{file}", &["get"]),
    ("/api/v1/tag", &["get", "post"]),
    ("/api/v1/tag/{name}", &["delete"]),
    ("/api/v1/version", &["get"]),
    ("/api/v1/version/{rev}", &["get"]),
    ("/api/v1/version/{a}/diff/{b}", &["get"]),
    ("/api/v1/version/{rev}/revert", &["post"]),
    ("/api/v1/suspend", &["post"]),
    ("/api/v1/resume", &["post"]),
    ("/api/v1/status", &["get"]),
    ("/api/v1/service", &["get"]),
    ("/api/v1/service/{name}", &["get", "patch"]),
    ("/api/v1/service/{name}/token", &["post"]),
    ("/api/v1/override/{service}", &["get"]),
    (
        "/api/v1/override/{service}/{path}",
        &["get", "put", "delete"],
    ),
    ("/api/v1/template/{service}", &["get"]),
    (
        "/api/v1/template/{service}/{file}",
        &["get", "put", "delete"],
    ),
    ("/api/v1/mailu-override", &["get"]),
    (
        "/api/v1/mailu-override/{dir}/{file}",
        &["get", "put", "delete"],
    ),
    ("/api/v1/service/{name}/bundle", &["get"]),
    ("/api/v1/deploy", &["get"]),
    ("/api/v1/deploy/report", &["post"]),
    ("/api/v1/fetch", &["get", "post"]),
    ("/api/v1/fetch/{id}", &["get", "patch", "delete"]),
    ("/api/v1/secret/recipient", &["get"]),
    ("/api/v1/certificate", &["get", "put"]),
    ("/api/v1/user", &["get", "post"]),
    ("/api/v1/user/{email}", &["get", "patch", "delete"]),
    ("/api/v1/alias", &["get", "post"]),
    ("/api/v1/alias/{alias}", &["get", "patch", "delete"]),
    ("/api/v1/alias/destination/{domain}", &["get"]),
    ("/api/v1/token", &["get", "post"]),
    ("/api/v1/token/{id}", &["get", "patch", "delete"]),
    ("/api/v1/tokenuser/{email}", &["get", "post"]),
    ("/api/v1/domain", &["get", "post"]),
    ("/api/v1/domain/{domain}", &["get", "patch", "delete"]),
    ("/api/v1/domain/{domain}/users", &["get"]),
    ("/api/v1/domain/{domain}/dkim", &["post"]),
    ("/api/v1/domain/{domain}/manager", &["get", "post"]),
    (
        "/api/v1/domain/{domain}/manager/{email}",
        &["get", "delete"],
    ),
    ("/api/v1/alternative", &["get", "post"]),
    ("/api/v1/alternative/{alt}", &["get", "delete"]),
    ("/api/v1/relay", &["get", "post"]),
    ("/api/v1/relay/{name}", &["get", "patch", "delete"]),
];

/// A GET without any `Authorization` header: status, content type and body.
fn get(url: &str) -> (u16, String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    })
}

#[test]
fn the_document_is_openapi_3_1_and_lists_every_route() {
    let server = TestServer::start();
    let (status, content_type, body) = get(&format!("{}/api/v1/openapi.json", server.url));
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "mailu-git");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in ROUTES {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is missing from the document"));
        for method in *methods {
            let op = &item[*method];
            assert!(op.is_object(), "{method} {path} is missing");
            // The Python wheel needs no token, so it answers no authentication error.
            let codes: &[&str] = if path.starts_with("/api/v1/client/python") {
                assert_eq!(op["security"], serde_json::json!([{}]), "{path}");
                &["200"]
            } else {
                &["200", "401", "403", "429"]
            };
            for code in codes {
                assert!(
                    op["responses"][*code].is_object(),
                    "{method} {path} lacks {code}"
                );
            }
        }
    }
    assert_eq!(paths.len(), ROUTES.len(), "{:?}", paths.keys());
    // Every schema an operation names is defined.
    for name in [
        "DomainCreate",
        "DomainGet",
        "UserGet",
        "UserBody",
        "AliasBody",
        "AliasGet",
        "TokenBody",
        "TokenGet",
        "TokenCreated",
        "RelayDto",
        "RelayUpdate",
        "AlternativeDomain",
        "ManagerCreate",
        "Managers",
        "Settings",
        "Written",
        "ChangeStatus",
        "PendingBody",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "no schema {name}"
        );
    }
    let refs = body.match_indices("\"#/components/schemas/");
    for (at, _) in refs {
        let name = body[at + 22..].split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference to {name}"
        );
    }
    // Mailu's field names survive (utoipa reads serde's renames).
    assert!(doc["components"]["schemas"]["TokenGet"]["properties"]["AuthorizedIP"].is_object());
    assert!(doc["components"]["schemas"]["TokenGet"]["properties"]["Last edit"].is_object());

    let (status, _, mailu) = get(&format!("{}/api/v1/swagger.json", server.url));
    assert_eq!(status, 200);
    assert_eq!(mailu, body, "swagger.json serves the same document");

    validate(&server.data, &body);
}

/// Checks the document against the OpenAPI 3.1 schema with `openapi-spec-validator` (Python), the
/// reference validator; skipped when it is not installed, unless `MAILU_GIT_REQUIRE_ALL=1`.
fn validate(dir: &std::path::Path, doc: &str) {
    let available = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
            "openapi-spec-validator is required (MAILU_GIT_REQUIRE_ALL=1): pip install openapi-spec-validator"
        );
        eprintln!("SKIPPED: openapi-spec-validator (Python) is not installed");
        return;
    }
    let file = dir.join("openapi.json");
    std::fs::write(&file, doc).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_page_works_offline() {
    let server = TestServer::start();
    // Without the slash, a redirect to the page (reqwest follows it), under /api/v1.
    let (status, content_type, html) = get(&format!("{}/api/v1/ui", server.url));
    assert_eq!(status, 200, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads something remote: {html}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let (status, _, body) = get(&format!("{}/api/v1/ui/{asset}", server.url));
        assert_eq!(status, 200, "{asset}");
        assert!(!body.is_empty(), "{asset}");
        if asset == "swagger-initializer.js" {
            assert!(body.contains("/api/v1/openapi.json"), "{body}");
        }
    }
}
