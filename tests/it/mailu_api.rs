//! A script written for Mailu's API, run against the real server: every resource created, read,
//! changed and deleted through `/api/v1` with Mailu's paths, fields and status codes; the files that
//! land in the repository checked with the real `git`; and 16 concurrent clients whose writes all
//! arrive exactly once.

use serde_json::json;

use crate::support::{TestServer, git, have_tool, request};

#[test]
fn a_mailu_script_manages_domains_users_aliases_relays_and_tokens() {
    if !have_tool("git") {
        return;
    }
    let server = TestServer::start();
    let token = server.generated_admin_token().unwrap();
    let api = |method: &str, path: &str, body: Option<serde_json::Value>| {
        request(
            method,
            &format!("{}/api/v1/{path}", server.url),
            &token,
            body,
        )
    };

    let r = api(
        "POST",
        "domain",
        Some(json!({"name": "Example.com", "max_users": 10, "alternatives": ["example.net"]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["code"], 200);
    assert_eq!(
        api("POST", "domain", Some(json!({"name": "example.com"}))).status,
        409
    );
    assert_eq!(
        api("POST", "relay", Some(json!({"name": "example.net"}))).status,
        409,
        "alternatives share the namespace"
    );
    let bad = api("POST", "domain", Some(json!({"name": "bad_domain"})));
    assert_eq!(bad.status, 400, "{}", bad.body);

    let r = api(
        "POST",
        "user",
        Some(
            json!({"email": "alice@example.com", "raw_password": "correct horse", "quota_bytes": 1000000}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api(
            "POST",
            "user",
            Some(json!({"email": "bob@nowhere.org", "raw_password": "x"}))
        )
        .status,
        404
    );
    let missing = api("POST", "user", Some(json!({"email": "carol@example.com"})));
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(missing.body.contains("raw_password"), "{}", missing.body);

    let r = api(
        "POST",
        "alias",
        Some(
            json!({"email": "team@example.com", "destination": ["alice@example.com", "someone@elsewhere.org"]}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ghost = api(
        "POST",
        "alias",
        Some(json!({"email": "x@example.com", "destination": ["ghost@example.com"]})),
    );
    assert_eq!(ghost.status, 400, "{}", ghost.body);
    assert_eq!(
        api(
            "POST",
            "relay",
            Some(json!({"name": "relayed.org", "smtp": "[mx.relayed.org]:25"}))
        )
        .status,
        200
    );

    let t = api(
        "POST",
        "tokenuser/alice@example.com",
        Some(json!({"comment": "phone"})),
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let plaintext = t.json()["token"].as_str().unwrap().to_owned();

    // Reads see every acknowledged write at once, and never a hash.
    let user = api("GET", "user/alice@example.com", None);
    assert_eq!(user.status, 200);
    assert_eq!(user.json()["quota_bytes"], 1000000);
    assert!(user.json().get("password").is_none(), "{}", user.body);
    let etag = user.headers["etag"].to_str().unwrap().to_owned();
    let domain = api("GET", "domain/example.com", None).json();
    assert_eq!(domain["alternatives"], json!(["example.net"]));
    assert!(
        domain["dns_mx"].as_str().unwrap().contains("MX"),
        "{domain}"
    );
    assert_eq!(
        api("GET", "alias/destination/example.com", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // PATCH with a stale If-Match is refused; with the current one it applies, and waits for the version.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let patch = |tag: &str| {
        runtime.block_on(async {
            let r = reqwest::Client::new()
                .patch(format!(
                    "{}/api/v1/user/alice@example.com?wait=true",
                    server.url
                ))
                .bearer_auth(&token)
                .header("If-Match", tag)
                .json(&json!({"displayed_name": "Alice", "spam_threshold": 90}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    assert_eq!(patch("\"0000000000000000000000000000000000000000\"").0, 412);
    let (status, body) = patch(&etag);
    assert_eq!(status, 200, "{body}");
    let written: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(written["version"].as_u64().unwrap() >= 2, "{written}");

    // The repository holds exactly what the API said, as files, with no plaintext secret.
    let repo = server.data.join("config.git");
    let user_file = git(
        &repo,
        &["show", "main:domains/example.com/users/alice.toml"],
    );
    assert!(
        user_file.contains("displayed_name = \"Alice\""),
        "{user_file}"
    );
    assert!(
        user_file.contains("{BLF-CRYPT}") || user_file.contains("$2"),
        "{user_file}"
    );
    assert!(
        !user_file.contains("correct horse") && !user_file.contains(&plaintext),
        "{user_file}"
    );
    let domain_file = git(&repo, &["show", "main:domains/example.com/domain.toml"]);
    assert!(domain_file.contains("example.net"), "{domain_file}");
    git(&repo, &["show", "main:relays/relayed.org.toml"]);
    let log = git(&repo, &["log", "-1", "--format=%B", "main"]);
    assert!(log.contains("Mailu-Change:"), "{log}");

    // DKIM: generated on request, the private key encrypted, the record in the domain's answer.
    let r = api("POST", "domain/example.com/dkim?wait=true", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let domain = api("GET", "domain/example.com", None).json();
    let dkim = domain["dns_dkim"]
        .as_str()
        .expect("a DKIM record once the key exists");
    assert!(
        dkim.starts_with("dkim._domainkey.example.com. 600 IN TXT \"v=DKIM1; k=rsa; p=MII"),
        "{dkim}"
    );
    assert!(domain["dns_dmarc"].is_string(), "{domain}");
    let key = git(&repo, &["show", "main:secrets/dkim/example.com"]);
    assert!(
        key.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{key}"
    );
    if have_tool("age") {
        let mut child = std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(server.data.join("secret.key"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), key.as_bytes()).unwrap();
        let pem = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "the server's key decrypts a PKCS#8 key"
        );
    }

    // Fetched accounts: the remote password is stored encrypted and never shown.
    let f = api(
        "POST",
        "fetch",
        Some(
            json!({"email": "alice@example.com", "protocol": "imap", "host": "imap.remote.org", "username": "alice", "password": "remote-s3cret", "tls": true}),
        ),
    );
    assert_eq!(f.status, 200, "{}", f.body);
    let fetches = api("GET", "fetch", None).json();
    let id = fetches[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(fetches[0]["host"], "imap.remote.org");
    assert!(
        !api("GET", &format!("fetch/{id}"), None)
            .body
            .contains("remote-s3cret")
    );
    let no_password = api(
        "POST",
        "fetch",
        Some(
            json!({"email": "alice@example.com", "protocol": "pop3", "host": "h", "username": "u"}),
        ),
    );
    assert_eq!(no_password.status, 400, "{}", no_password.body);

    // Services (not in Mailu's API): listed, and patched keeping the file's comments.
    let services = api("GET", "service", None).json();
    assert!(
        services
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "smtp"),
        "{services}"
    );
    let r = api(
        "PATCH",
        "service/webdav?wait=true",
        Some(json!({"enabled": true})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api("GET", "service/webdav", None).json()["enabled"], true);
    let webdav = git(&repo, &["show", "main:services/webdav.toml"]);
    let secret = git(&repo, &["show", &format!("main:secrets/fetch/{id}")]);
    assert!(
        secret.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
            && !secret.contains("remote-s3cret"),
        "{secret}"
    );
    assert!(
        webdav.contains("enabled = true") && webdav.contains('#'),
        "{webdav}"
    );

    // Overrides: any bytes, larger than the JSON body limit, never outside their folder.
    let big = vec![b'#'; 2 << 20];
    let put = |path: &str, body: Vec<u8>| {
        runtime.block_on(async {
            let r = reqwest::Client::new()
                .put(format!("{}/api/v1/override/smtp/{path}", server.url))
                .bearer_auth(&token)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (status, body) = put("etc/postfix/header_checks?wait=true", big.clone());
    assert_eq!(status, 200, "{body}");
    let stored = git(
        &repo,
        &[
            "cat-file",
            "-s",
            "main:overrides/smtp/etc/postfix/header_checks",
        ],
    );
    assert_eq!(stored.trim(), (2 << 20).to_string());
    let (status, body) = put("etc%2F..%2F..%2F..%2Fmailu.toml", b"format = 2\n".to_vec());
    assert_eq!(status, 400, "{body}");
    let listed = api("GET", "override/smtp", None).json();
    assert_eq!(listed[0]["path"], "/etc/postfix/header_checks", "{listed}");

    // Deleting a user an alias points at is refused; the alias first, then the user, then the domain.
    let refused = api("DELETE", "user/alice@example.com", None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("team"), "{}", refused.body);
    assert_eq!(api("DELETE", "alias/team@example.com", None).status, 200);
    assert_eq!(api("DELETE", "user/alice@example.com", None).status, 200);
    assert_eq!(api("GET", "user/alice@example.com", None).status, 404);
    let gone = api("DELETE", "domain/example.com?wait=true", None);
    assert_eq!(gone.status, 200, "{}", gone.body);
    let tree = git(&repo, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(!tree.contains("domains/example.com/"), "{tree}");
    git(&repo, &["fsck", "--strict"]);
}

#[test]
fn sixteen_concurrent_clients_write_and_every_write_lands_once() {
    if !have_tool("git") {
        return;
    }
    let server = TestServer::start();
    let token = server.generated_admin_token().unwrap();
    let r = request(
        "POST",
        &format!("{}/api/v1/domain", server.url),
        &token,
        Some(json!({"name": "load.example"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let ids: Vec<String> = runtime.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..16 {
            let (url, token) = (server.url.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut ids = Vec::new();
                for n in 0..100 {
                    let r = client
                        .post(format!("{url}/api/v1/alias"))
                        .bearer_auth(&token)
                        .json(&json!({"email": format!("c{c}-n{n}@load.example"), "destination": ["someone@elsewhere.org"]}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let body: serde_json::Value = r.json().await.unwrap();
                    ids.push(body["change"].as_str().unwrap().to_owned());
                }
                ids
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 1600, "every write has its own change id");
    // Wait for the last write's version, then count files and change lines with git.
    let last = request(
        "POST",
        &format!("{}/api/v1/alias?wait=true", server.url),
        &token,
        Some(json!({"email": "last@load.example", "destination": ["someone@elsewhere.org"]})),
    );
    assert_eq!(last.status, 200, "{}", last.body);
    let repo = server.data.join("config.git");
    let files = git(
        &repo,
        &[
            "ls-tree",
            "--name-only",
            "main",
            "domains/load.example/aliases/",
        ],
    );
    assert_eq!(files.lines().count(), 1601);
    let log = git(&repo, &["log", "--format=%B", "main"]);
    for id in &ids {
        assert_eq!(
            log.matches(&format!("Mailu-Change: {id} ")).count(),
            1,
            "change {id} is in exactly one version"
        );
    }
}
