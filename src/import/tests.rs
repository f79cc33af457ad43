//! Unit tests of the import: the format's lenient forms, the conversion's problems, the merge
//! notation, entry lines, and export of a converted document.

use serde_json::json;

use super::document::Document;
use super::parse::{self, Format};
use super::{convert, export, merge, typed};

fn doc(value: serde_json::Value) -> Document {
    typed(value).unwrap()
}

#[test]
fn lenient_forms_and_mailu_ids_are_read() {
    let d = doc(json!({
        "domain": [{"name": "Example.COM", "dkim_key": ["<hidden>"]}],
        "user": [{"email": "a@example.com", "password": "{SHA512-CRYPT}$6$rounds=5000$x$y",
                  "tokens": [{"id": 17, "password": "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS"}]}],
        "alias": [{"email": "b@example.com", "destination": "a@example.com, x@y.org"}],
    }));
    assert_eq!(d.alias[0].destination.as_ref().unwrap().len(), 2);
    assert_eq!(
        d.user[0].tokens.as_ref().unwrap()[0].id.as_ref().unwrap().0,
        "17"
    );
    assert_eq!(d.domain[0].dkim_key.as_ref().unwrap().0, "<hidden>");
}

#[test]
fn problems_name_the_entry_and_the_field() {
    let d = doc(json!({
        "domain": [{"name": "example.com"}, {"name": "example.com"}],
        "user": [
            {"email": "a@example.com", "password": "plaintext"},
            {"email": "b@nowhere.org", "password": "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS",
             "manager_of": ["missing.org"], "spam_threshold": 120},
        ],
        "alias": [{"email": "%@example.com", "destination": ["a@example.com"]}],
        "relay": [{"name": "example.com"}, {"name": "r.org", "smtp": "lmtp:nope"}],
    }));
    let problems = convert::objects(&d).unwrap_err();
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let has = |s: &str| shown.iter().any(|p| p.contains(s));
    assert!(
        has("domain[1] (example.com).name: domain `example.com` is listed twice"),
        "{shown:?}"
    );
    assert!(has("user[0] (a@example.com).password"), "{shown:?}");
    assert!(has("user[1] (b@nowhere.org).spam_threshold"), "{shown:?}");
    assert!(
        has("user[1] (b@nowhere.org).manager_of.0: domain `missing.org` is not in the document"),
        "{shown:?}"
    );
    assert!(
        has("user[1] (b@nowhere.org).email: domain `nowhere.org` is not in the document"),
        "{shown:?}"
    );
    assert!(has("alias[0] (%@example.com).wildcard"), "{shown:?}");
    assert!(
        has("relay[0] (example.com).name: `example.com` is also a domain"),
        "{shown:?}"
    );
    assert!(has("relay[1] (r.org).smtp"), "{shown:?}");
}

#[test]
fn a_pkcs1_dkim_key_is_stored_as_pkcs8_with_its_public_half() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = crate::secret::dkim::generate().unwrap();
    let parsed = {
        use rsa::pkcs8::DecodePrivateKey;
        use secrecy::ExposeSecret;
        rsa::RsaPrivateKey::from_pkcs8_pem(key.private_pem.expose_secret()).unwrap()
    };
    let pkcs1 = parsed.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let lines: Vec<&str> = pkcs1.lines().collect();
    let d = doc(json!({"domain": [{"name": "example.com", "dkim_key": lines}]}));
    let objects = convert::objects(&d).unwrap();
    let domain = objects.domains.values().next().unwrap();
    assert_eq!(domain.domain.dkim_public_key, key.public);
    match &domain.dkim {
        convert::Secret::Set(pem) => {
            use secrecy::ExposeSecret;
            assert!(
                pem.expose_secret()
                    .starts_with("-----BEGIN PRIVATE KEY-----")
            );
        }
        other => panic!("{other:?}"),
    }
    let bad = doc(json!({"domain": [{"name": "example.com", "dkim_key": "-----BEGIN nonsense"}]}));
    let problems = convert::objects(&bad).unwrap_err();
    assert_eq!(problems[0].field, "dkim_key");
}

#[test]
fn the_update_notation_deletes_prunes_resets_and_merges_lists() {
    let current = json!({
        "domain": [{"name": "a.org", "alternatives": ["x.org", "y.org"]}, {"name": "b.org"}],
        "user": [{"email": "u@a.org", "password": "h", "spam_threshold": 60,
                  "tokens": [{"id": 1, "password": "t1"}, {"id": 2, "password": "t2"}]}],
        "alias": [{"email": "l@a.org", "destination": ["u@a.org"]}, {"email": "m@a.org", "destination": ["u@a.org"]}],
    });
    let input = json!({
        "domain": [{"name": "A.ORG", "alternatives": ["-x.org", "z.org"]}, {"-name": "b.org"}],
        "user": [{"email": "u@a.org", "-spam_threshold": null, "comment": "c",
                  "tokens": [{"-id": 1}, {"id": 2, "comment": "kept"}, {"id": 9, "password": "t9"}]}],
        "alias": [{"email": "m@a.org", "destination": ["-prune-", "x@y.org"]}, {"-email": null}],
    });
    let merged = merge::merge(current, &input).unwrap();
    assert_eq!(
        merged["domain"],
        json!([{"name": "a.org", "alternatives": ["y.org", "z.org"]}])
    );
    let user = &merged["user"][0];
    assert!(user.get("spam_threshold").is_none());
    assert_eq!(user["comment"], "c");
    assert_eq!(
        user["tokens"],
        json!([{"id": 2, "password": "t2", "comment": "kept"}, {"id": 9, "password": "t9"}])
    );
    assert_eq!(
        merged["alias"],
        json!([{"email": "m@a.org", "destination": ["x@y.org"]}])
    );
    let bad = merge::merge(
        json!({}),
        &json!({"user": [{"email": "u@a.org", "-comment": "x"}], "users": []}),
    );
    let problems = bad.unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn entry_lines_are_found_in_yaml_and_json() {
    let yaml = "# c\ndomain:\n- name: a.org\n  comment: x\n- name: b.org\nuser:\n  - email: u@a.org\n    password: h\n";
    let lines = parse::entry_lines(yaml, Format::Yaml);
    assert_eq!(lines[&("domain".to_owned(), 1)], 5);
    assert_eq!(lines[&("user".to_owned(), 0)], 7);
    let json_text = "{\n \"user\": [\n  {\"email\": \"a\"},\n  {\n   \"email\": \"b]\"\n  }\n ],\n \"domain\": [{\"name\": \"x\"}]\n}";
    let lines = parse::entry_lines(json_text, Format::Json);
    assert_eq!(lines[&("user".to_owned(), 1)], 4);
    assert_eq!(lines[&("domain".to_owned(), 0)], 8);
    let err =
        parse::document("domain:\n- name: a.org\n  max_users: many\n", Format::Yaml).unwrap_err();
    assert_eq!(err.line, Some(3));
    assert!(err.path.starts_with("domain[0].max_users"), "{err:?}");
}

#[test]
fn export_leaves_defaults_out_and_hides_secrets() {
    let files = std::collections::BTreeMap::from([
        (crate::model::RepoPath::settings(), b"format = 1\n".to_vec()),
        (
            crate::model::RepoPath::parse("domains/xn--bcher-kva.example/domain.toml").unwrap(),
            b"max_users = 3\n".to_vec(),
        ),
        (
            crate::model::RepoPath::parse("domains/xn--bcher-kva.example/users/a.toml").unwrap(),
            b"password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nenable_pop = false\n".to_vec(),
        ),
    ]);
    let config = crate::model::load(&files).unwrap();
    let d = export::document(&config, &|_| None);
    let value = serde_json::to_value(&d).unwrap();
    assert_eq!(
        value["domain"],
        json!([{"name": "bücher.example", "max_users": 3}])
    );
    assert_eq!(
        value["user"][0],
        json!({"email": "a@bücher.example", "password": "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS", "enable_pop": false})
    );
    // And it converts back to the same objects.
    let objects = convert::objects(&d).unwrap();
    assert!(!objects.users.values().next().unwrap().user.enable_pop);
}
