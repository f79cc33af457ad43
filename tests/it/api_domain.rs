//! The `domain`, `alternative`, `manager` and `relay` GET routes on the real server, over a
//! repository whose files were committed with the store (server stopped) and then served: Mailu's
//! field names, Unicode names, `dns_*` records, `ETag`s equal to the files' git blob ids, paging with
//! `X-Total-Count`, and Mailu-shaped 400/404 bodies.

use std::path::Path;

use mailu_git::model::RepoPath;
use mailu_git::store::{CommitMeta, Edit, Person, Store};

use crate::support::{TestServer, git, have_tool};

const TOKEN: &str = "test-admin-token-0123456789abcdef";
const HASH: &str = "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS";

/// Starts a server on a fresh data directory, stops it, commits `files` on main, starts it again.
fn server_with(tmp: &Path, files: &[(&str, &str)]) -> TestServer {
    let data = tmp.join("data");
    let env = [("MAILU_GIT_ADMIN_TOKEN", TOKEN)];
    assert!(TestServer::start_with(&data, &env).stop().success());
    let store = Store::open(&data.join("config.git")).unwrap();
    let edits: Vec<Edit> = files
        .iter()
        .map(|(p, t)| Edit::write(RepoPath::parse(p).unwrap(), t.as_bytes()))
        .collect();
    let who = Person {
        name: "test".into(),
        email: "test@example.invalid".into(),
    };
    let meta = CommitMeta::new(who, "Add test domains");
    store.commit(store.head().unwrap(), &edits, &meta).unwrap();
    TestServer::start_with(&data, &env)
}

struct Answer {
    status: u16,
    etag: Option<String>,
    total: Option<String>,
    json: serde_json::Value,
}

fn get(server: &TestServer, path: &str) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1{path}", server.url))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (etag, total) = (header("etag"), header("x-total-count"));
        let status = response.status().as_u16();
        let json = response.json().await.unwrap();
        Answer {
            status,
            etag,
            total,
            json,
        }
    })
}

#[test]
fn domain_alternative_manager_and_relay_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let user = format!("password = \"{HASH}\"\n");
    let domain_toml = "# a comment\nmax_users = 10\nalternatives = [\"xn--bcher-kva.example\"]\nmanagers = [\"alice@example.com\"]\n";
    let server = server_with(
        tmp.path(),
        &[
            ("domains/example.com/domain.toml", domain_toml),
            ("domains/example.com/users/alice.toml", &user),
            ("domains/second.example/domain.toml", ""),
            ("relays/relayed.example.toml", "smtp = \"mx:example.net\"\n"),
        ],
    );

    let all = get(&server, "/domain");
    assert_eq!(all.status, 200);
    assert_eq!(all.total.as_deref(), Some("2"));
    assert_eq!(all.json.as_array().unwrap().len(), 2);
    let page = get(&server, "/domain?q=second&limit=5&offset=0");
    assert_eq!(page.total.as_deref(), Some("1"));
    assert_eq!(page.json[0]["name"], "second.example");
    let bad = get(&server, "/domain?limit=many");
    assert_eq!(bad.status, 400);
    assert!(bad.json["errors"]["limit"].is_string(), "{}", bad.json);

    let one = get(&server, "/domain/Example.com");
    assert_eq!(one.status, 200, "{}", one.json);
    assert_eq!(one.json["name"], "example.com");
    assert_eq!(one.json["max_users"], 10);
    assert_eq!(one.json["alternatives"][0], "bücher.example");
    assert_eq!(one.json["managers"][0], "alice@example.com");
    assert_eq!(
        one.json["dns_mx"],
        "example.com. 600 IN MX 10 mail.example.com."
    );
    // The server's self-signed certificate: DANE-EE on its key (`TLSA 3 1 1`).
    let tlsa = one.json["dns_tlsa"][0].as_str().unwrap();
    assert!(
        tlsa.starts_with("_25._tcp.mail.example.com. 600 IN TLSA 3 1 1 ") && tlsa.len() > 64,
        "{tlsa}"
    );
    assert!(one.json["dns_autoconfig"].as_array().unwrap().len() > 1);
    if have_tool("git") {
        let repo = server.data.join("config.git");
        let blob = git(
            &repo,
            &["rev-parse", "main:domains/example.com/domain.toml"],
        );
        assert_eq!(one.etag, Some(format!("\"{}\"", blob.trim())));
    }

    let users = get(&server, "/domain/example.com/users");
    assert_eq!(users.json[0]["email"], "alice@example.com");
    assert!(users.json[0].get("password").is_none(), "{}", users.json);
    let managers = get(&server, "/domain/example.com/manager");
    assert_eq!(
        managers.json,
        serde_json::json!({"managers": ["alice@example.com"]})
    );
    assert_eq!(managers.etag, one.etag);
    let manager = get(&server, "/domain/example.com/manager/alice@example.com");
    assert_eq!(manager.json["code"], 200);
    assert_eq!(
        get(&server, "/domain/second.example/manager/alice@example.com").status,
        404
    );

    let alternatives = get(&server, "/alternative");
    assert_eq!(
        alternatives.json,
        serde_json::json!([{"name": "bücher.example", "domain": "example.com"}])
    );
    let alternative = get(&server, "/alternative/xn--bcher-kva.example");
    assert_eq!(alternative.json["domain"], "example.com");
    assert_eq!(alternative.etag, one.etag);

    let relays = get(&server, "/relay");
    assert_eq!(relays.total.as_deref(), Some("1"));
    let relay = get(&server, "/relay/relayed.example");
    assert_eq!(relay.json["smtp"], "mx:example.net");
    assert!(relay.etag.is_some());

    let missing = get(&server, "/domain/nowhere.example");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json["message"],
        "Domain nowhere.example does not exist"
    );
    let invalid = get(&server, "/relay/not_a_domain");
    assert_eq!(invalid.status, 400);
    assert!(
        invalid.json["errors"]["name"].is_string(),
        "{}",
        invalid.json
    );
    assert!(server.stop().success());
}
