//! The user, alias and token GET routes on the real server: a configuration committed into the
//! data directory's repository through the library (with the server stopped), then read back over
//! HTTP. Checks Mailu's field names, Unicode addresses, ETags and 304, paging with `X-Total-Count`,
//! 404s, the read scope, and that no password or token hash reaches any body.

use mailu_git::model::RepoPath;
use mailu_git::store::{CommitMeta, Edit, Person, Rev, Store};

use crate::support::TestServer;

const TOKEN: &str = "it-admin-token-0123456789abcdef";
const HASH: &str = "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS";
const TOKEN_HASH: &str = "{SSHA512}";

/// One answer: status, headers we look at, body.
struct Answer {
    status: u16,
    etag: Option<String>,
    total: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut req = reqwest::Client::new()
            .get(format!("{}/api/v1{path}", server.url))
            .header("Authorization", format!("Bearer {TOKEN}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = req.send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (etag, total) = (header("etag"), header("x-total-count"));
        Answer {
            status: response.status().as_u16(),
            etag,
            total,
            body: response.text().await.unwrap(),
        }
    })
}

/// Commits users, aliases and a token into the data directory's repository.
fn seed(data: &std::path::Path) {
    let store = Store::open(&data.join("config.git")).unwrap();
    let head = store.resolve(&Rev::Head).unwrap();
    let user = format!("password = \"{HASH}\"\n");
    let alice = format!(
        "password = \"{HASH}\"\ndisplayed_name = \"Alice\"\n\n[[tokens]]\nid = \"abc123\"\ncomment = \"phone\"\nip = [\"192.0.2.0/24\"]\npassword = \"{token}\"\ncreated = \"2024-06-01\"\n",
        token = mailu_git::password::token_hash("0123456789abcdef0123456789abcdef").unwrap()
    );
    let mut files: Vec<(String, String)> = vec![
        ("domains/example.com/domain.toml".into(), String::new()),
        ("domains/example.com/users/alice.toml".into(), alice),
        (
            "domains/xn--bcher-kva.example/domain.toml".into(),
            String::new(),
        ),
        (
            "domains/xn--bcher-kva.example/users/x.toml".into(),
            user.clone(),
        ),
        (
            "domains/example.com/aliases/info.toml".into(),
            "destination = [\"alice@example.com\", \"x@bücher.example\"]\n".into(),
        ),
    ];
    for i in 0..5 {
        files.push((format!("domains/example.com/users/u{i}.toml"), user.clone()));
    }
    let edits: Vec<Edit> = files
        .into_iter()
        .map(|(p, t)| Edit::write(RepoPath::parse(&p).unwrap(), t))
        .collect();
    let who = Person {
        name: "test".into(),
        email: "test@example.com".into(),
    };
    store
        .commit(head, &edits, &CommitMeta::new(who, "seed users"))
        .unwrap();
}

#[test]
fn users_aliases_and_tokens_are_read_with_mailus_fields_and_no_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [("MAILU_GIT_ADMIN_TOKEN", TOKEN)];
    assert!(TestServer::start_with(&data, &env).stop().success());
    seed(&data);
    let server = TestServer::start_with(&data, &env);

    let users = get(&server, "/user", &[]);
    assert_eq!(users.status, 200, "{}", users.body);
    assert_eq!(users.total.as_deref(), Some("7"));
    let list = users.json();
    assert_eq!(list.as_array().unwrap().len(), 7);
    assert_eq!(list[0]["email"], "alice@example.com");
    assert_eq!(list[0]["displayed_name"], "Alice");
    assert_eq!(list[0]["quota_bytes"], 1_000_000_000u64);
    assert_eq!(list[6]["email"], "x@bücher.example");

    let page = get(&server, "/user?domain=example.com&limit=2&offset=1", &[]);
    assert_eq!(page.total.as_deref(), Some("6"));
    let emails: Vec<String> = page
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails, ["u0@example.com", "u1@example.com"]);
    assert_eq!(
        get(&server, "/user?q=ALICE", &[]).total.as_deref(),
        Some("1")
    );
    assert_eq!(get(&server, "/user?limit=x", &[]).status, 400);

    let one = get(&server, "/user/x@xn--bcher-kva.example", &[]);
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["email"], "x@bücher.example");
    let etag = one.etag.clone().expect("an ETag");
    let again = get(
        &server,
        "/user/X@Bücher.example",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    let missing = get(&server, "/user/ghost@example.com", &[]);
    assert_eq!(
        (missing.status, missing.json()["code"].as_i64()),
        (404, Some(404))
    );

    let aliases = get(&server, "/alias", &[]);
    assert_eq!(aliases.total.as_deref(), Some("1"));
    assert_eq!(aliases.json()[0]["destination"][1], "x@bücher.example");
    let alias = get(&server, "/alias/info@example.com", &[]);
    assert_eq!(
        (alias.status, alias.json()["disabled"].as_bool()),
        (200, Some(false))
    );
    assert!(alias.etag.is_some());
    assert_eq!(
        get(&server, "/alias/destination/example.com", &[])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get(&server, "/alias/destination/nowhere.org", &[]).status,
        404
    );

    let tokens = get(&server, "/token", &[]);
    assert_eq!(tokens.status, 200);
    let token = &tokens.json()[0];
    assert_eq!(token["id"], "abc123");
    assert_eq!(token["AuthorizedIP"][0], "192.0.2.0/24");
    assert_eq!(token["Created"], "2024-06-01");
    assert!(token.get("Last edit").is_some());
    let by_id = get(&server, "/token/abc123", &[]);
    let of_user = get(&server, "/tokenuser/alice@example.com", &[]);
    assert_eq!((by_id.status, of_user.status), (200, 200));
    assert_eq!(
        by_id.etag,
        get(&server, "/user/alice@example.com", &[]).etag
    );
    assert_eq!(get(&server, "/token/nope", &[]).status, 404);

    for answer in [&users, &one, &aliases, &alias, &tokens, &by_id, &of_user] {
        assert!(!answer.body.contains("$2b$"), "{}", answer.body);
        assert!(!answer.body.contains(TOKEN_HASH), "{}", answer.body);
        assert!(!answer.body.contains("\"password\""), "{}", answer.body);
    }
    assert!(server.stop().success());
}
