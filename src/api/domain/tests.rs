//! Tests of the domain resource's logic on small fixed trees; the fixture is shared with the
//! `alternative` and `relay` tests.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};

use super::*;
use crate::api::request::parse_json;
use crate::api::resource::Fixed;

const HASH: &str = "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS";

/// Two domains (example.com with users alice and bob, alias info, alternative other.example,
/// manager alice; second.example managed by alice too) and a relay, plus `extra` files.
pub(crate) fn fixture(extra: &[(&str, &str)]) -> Fixed {
    let user = format!("password = \"{HASH}\"\n");
    let mut files: Vec<(&str, String)> = vec![
        ("mailu.toml", "format = 1\n".into()),
        (
            "domains/example.com/domain.toml",
            "# limits agreed with the customer\nmax_users = 10\n\nalternatives = [\"other.example\"]\nmanagers = [\"alice@example.com\"]\n".into(),
        ),
        ("domains/example.com/users/alice.toml", user.clone()),
        ("domains/example.com/users/bob.toml", user.clone()),
        (
            "domains/example.com/aliases/info.toml",
            "destination = [\"alice@example.com\"]\n".into(),
        ),
        (
            "domains/second.example/domain.toml",
            "managers = [\"alice@example.com\"]\n".into(),
        ),
        ("domains/second.example/users/carol.toml", user),
        (
            "relays/relayed.example.toml",
            "# the partner's gateway\ncomment = \"partner\"\nsmtp = \"smtp.example.net:2525\"\n".into(),
        ),
    ];
    files.extend(extra.iter().map(|(p, t)| (*p, (*t).to_owned())));
    let files: BTreeMap<RepoPath, Vec<u8>> = files
        .into_iter()
        .map(|(p, t)| (RepoPath::parse(p).unwrap(), t.into_bytes()))
        .collect();
    Fixed::load(files).unwrap()
}

/// Headers with `If-Match: <etag>`.
pub(crate) fn headers_matching(etag: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::IF_MATCH, etag.parse().unwrap());
    headers
}

/// The new text the change writes to `path`.
pub(crate) fn text_of(change: &Change, path: &str) -> String {
    let edit = change
        .edits
        .iter()
        .find(|e| e.path.as_str() == path)
        .unwrap_or_else(|| panic!("{path} is not edited: {change:?}"));
    String::from_utf8(edit.content.clone().expect("written, not deleted")).unwrap()
}

fn field(err: Error) -> String {
    match err {
        Error::Invalid { errors, .. } => errors.into_keys().next().unwrap_or_default(),
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn create(name: &str) -> DomainCreate {
    DomainCreate {
        name: name.into(),
        ..DomainCreate::default()
    }
}

#[test]
fn create_writes_a_fresh_file_and_answers_mailus_message() {
    let view = fixture(&[]);
    let body: DomainCreate = parse_json(
        br#"{"name": "B\u00fccher.example", "max_users": 5, "alternatives": ["buecher.example"], "signup_enabled": true}"#,
    )
    .unwrap();
    let change = plan_create(&view, body).unwrap();
    assert_eq!(change.summary, "Domain bücher.example has been created");
    assert_eq!(
        text_of(&change, "domains/xn--bcher-kva.example/domain.toml"),
        "max_users = 5\nsignup_enabled = true\nalternatives = [\"buecher.example\"]\n"
    );
}

#[test]
fn names_in_use_are_409_across_domains_alternatives_and_relays() {
    let view = fixture(&[]);
    for taken in ["example.com", "Other.Example", "relayed.example"] {
        let err = plan_create(&view, create(taken)).unwrap_err();
        assert_eq!(err.status(), 409, "{taken}: {err}");
    }
    let mut body = create("new.example");
    body.alternatives = Some(vec!["a.example".into(), "A.example".into()]);
    let err = plan_create(&view, body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Duplicate alternative domain names in request"
    );
    let mut body = create("new.example");
    body.alternatives = Some(vec!["relayed.example".into()]);
    assert_eq!(plan_create(&view, body).unwrap_err().status(), 409);
}

#[test]
fn invalid_input_is_400_naming_the_field() {
    let view = fixture(&[]);
    assert_eq!(
        field(plan_create(&view, create("not a domain")).unwrap_err()),
        "name"
    );
    let mut body = create("new.example");
    body.alternatives = Some(vec!["ok.example".into(), "-bad.example".into()]);
    assert_eq!(
        field(plan_create(&view, body).unwrap_err()),
        "alternatives.1"
    );
    let mut body = create("new.example");
    body.max_users = Some(-2);
    assert_eq!(field(plan_create(&view, body).unwrap_err()), "max_users");
    let mut body = create("new.example");
    body.alternatives = Some(vec!["new.example".into()]);
    assert_eq!(
        field(plan_create(&view, body).unwrap_err()),
        "alternatives.0"
    );
    let err = parse_json::<DomainCreate>(br#"{"name": "a.example", "dkim_key": "x"}"#).unwrap_err();
    assert_eq!(field(err), "dkim_key");
    let err =
        parse_json::<DomainCreate>(br#"{"name": "a.example", "max_quota_bytes": -1}"#).unwrap_err();
    assert_eq!(field(err), "max_quota_bytes");
    assert_eq!(get(&view, "bad name").unwrap_err().status(), 400);
    assert_eq!(get(&view, "nowhere.example").unwrap_err().status(), 404);
}

#[test]
fn patch_adds_alternatives_keeps_comments_and_honours_if_match() {
    let view = fixture(&[]);
    let current = get(&view, "example.com").unwrap();
    let body: DomainUpdate =
        parse_json(br#"{"alternatives": ["third.example"], "comment": "main"}"#).unwrap();
    let change = plan_update(&view, "Example.COM", &headers_matching(&current.etag), body).unwrap();
    assert_eq!(change.summary, "Domain example.com has been updated");
    let text = text_of(&change, "domains/example.com/domain.toml");
    assert!(
        text.starts_with("# limits agreed with the customer\n"),
        "{text}"
    );
    assert!(
        text.contains("\"other.example\", \"third.example\""),
        "{text}"
    );
    assert!(text.contains("comment = \"main\""), "{text}");
    assert!(
        text.contains("managers = [\"alice@example.com\"]"),
        "{text}"
    );

    let stale = headers_matching("\"0123\"");
    let err = plan_update(&view, "example.com", &stale, DomainUpdate::default()).unwrap_err();
    assert_eq!(err.status(), 412);
    let again = DomainUpdate {
        alternatives: Some(vec!["other.example".into()]),
        ..DomainUpdate::default()
    };
    let err = plan_update(&view, "example.com", &HeaderMap::new(), again).unwrap_err();
    assert_eq!(
        err.status(),
        409,
        "Mailu refuses an alternative in use, even its own"
    );
    let err = plan_update(
        &view,
        "nowhere.example",
        &HeaderMap::new(),
        DomainUpdate::default(),
    );
    assert_eq!(err.unwrap_err().status(), 404);
}

#[test]
fn patch_below_the_current_counts_names_the_limit() {
    let view = fixture(&[]);
    let body = DomainUpdate {
        max_users: Some(1),
        ..DomainUpdate::default()
    };
    let err = plan_update(&view, "example.com", &HeaderMap::new(), body).unwrap_err();
    assert_eq!(field(err), "max_users");
    let body = DomainUpdate {
        max_quota_bytes: Some(1000),
        ..DomainUpdate::default()
    };
    let err = plan_update(&view, "example.com", &HeaderMap::new(), body).unwrap_err();
    assert_eq!(field(err), "max_quota_bytes");
}

#[test]
fn delete_removes_the_folder_and_its_users_as_managers_elsewhere() {
    let view = fixture(&[]);
    let change = plan_delete(&view, "example.com", &HeaderMap::new()).unwrap();
    let deleted: Vec<&str> = change
        .edits
        .iter()
        .filter(|e| e.content.is_none())
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        deleted,
        vec![
            "domains/example.com/domain.toml",
            "domains/example.com/users/alice.toml",
            "domains/example.com/users/bob.toml",
            "domains/example.com/aliases/info.toml",
        ]
    );
    assert_eq!(text_of(&change, "domains/second.example/domain.toml"), "");
    let err = plan_delete(&view, "example.com", &headers_matching("\"x\"")).unwrap_err();
    assert_eq!(err.status(), 412);
    let err = plan_delete(&view, "nowhere.example", &HeaderMap::new()).unwrap_err();
    assert_eq!(err.status(), 404);
}

#[test]
fn get_and_list_show_unicode_names_dns_and_etags() {
    let view = fixture(&[("domains/xn--bcher-kva.example/domain.toml", "")]);
    let got = get(&view, "bücher.example").unwrap();
    assert_eq!(got.value.name, "bücher.example");
    assert_eq!(got.etag, etag_of(b""));
    assert_eq!(
        got.value.dns.dns_mx.as_deref(),
        Some("xn--bcher-kva.example. 600 IN MX 10 mail.example.com.")
    );
    let json = serde_json::to_value(&got.value).unwrap();
    for key in [
        "dns_autoconfig",
        "dns_spf",
        "dns_dkim",
        "dns_tlsa",
        "managers",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    let example = get(&view, "example.com").unwrap();
    assert_eq!(example.value.managers, vec!["alice@example.com"]);
    assert_eq!(example.value.alternatives, vec!["other.example"]);

    let all = list(&view, &Search::default());
    assert_eq!(all.total, 3);
    let page = Search {
        q: Some("BÜCHER".to_lowercase()),
        ..Search::default()
    };
    assert_eq!(list(&view, &page).items[0].name, "bücher.example");
    let page = Search {
        q: None,
        limit: Some(2),
        offset: 2,
        ..Search::default()
    };
    let paged = list(&view, &page);
    assert_eq!((paged.total, paged.items.len()), (3, 1));
}

#[test]
fn users_of_a_domain_never_show_the_hash() {
    let view = fixture(&[]);
    let users = users::list(&view, "example.com", &Search::default()).unwrap();
    assert_eq!(users.total, 2);
    assert_eq!(users.items[0].email, "alice@example.com");
    let json = serde_json::to_string(&users.items).unwrap();
    assert!(!json.contains("password") && !json.contains(HASH), "{json}");
    assert_eq!(
        users::list(&view, "nowhere.example", &Search::default())
            .unwrap_err()
            .status(),
        404
    );
}

#[test]
fn managers_list_check_add_and_remove() {
    let view = fixture(&[]);
    let managers = manager::list(&view, "example.com").unwrap();
    assert_eq!(managers.value.managers, vec!["alice@example.com"]);
    assert_eq!(
        manager::get(&view, "example.com", "Alice@example.com")
            .unwrap()
            .code,
        200
    );
    let status = |r: Result<Change, Error>| r.unwrap_err().status();
    assert_eq!(
        manager::get(&view, "example.com", "bob@example.com")
            .unwrap_err()
            .status(),
        404
    );
    let add = |email: &str| manager::ManagerCreate {
        user_email: email.into(),
    };
    let none = HeaderMap::new();
    let change = manager::plan_add(&view, "second.example", &none, add("bob@example.com")).unwrap();
    assert_eq!(
        text_of(&change, "domains/second.example/domain.toml"),
        "managers = [\"alice@example.com\", \"bob@example.com\"]\n"
    );
    assert_eq!(
        status(manager::plan_add(
            &view,
            "example.com",
            &none,
            add("alice@example.com")
        )),
        409
    );
    assert_eq!(
        status(manager::plan_add(
            &view,
            "example.com",
            &none,
            add("ghost@example.com")
        )),
        404
    );
    match manager::plan_add(&view, "example.com", &none, add("no-at-sign")).unwrap_err() {
        Error::Invalid { errors, .. } => assert!(errors.contains_key("user_email")),
        other => panic!("{other:?}"),
    }
    let change = manager::plan_delete(
        &view,
        "example.com",
        "alice@example.com",
        &managers_etag(&view),
    )
    .unwrap();
    let text = text_of(&change, "domains/example.com/domain.toml");
    assert!(!text.contains("managers"), "{text}");
    assert!(text.contains("# limits agreed"), "{text}");
    assert_eq!(
        status(manager::plan_delete(
            &view,
            "example.com",
            "bob@example.com",
            &none
        )),
        404
    );
}

fn managers_etag(view: &Fixed) -> HeaderMap {
    headers_matching(&manager::list(view, "example.com").unwrap().etag)
}

#[test]
fn a_name_that_would_strand_an_alias_destination_is_409() {
    let alias = (
        "domains/second.example/aliases/fwd.toml",
        "destination = [\"zed@later.example\", \"bob@also.example\"]\n",
    );
    let view = fixture(&[alias]);
    let err = plan_create(&view, create("later.example")).unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    assert!(err.to_string().contains("fwd@second.example"), "{err}");
    // bob exists in example.com, so also.example may become its alternative ...
    let body = DomainUpdate {
        alternatives: Some(vec!["also.example".into()]),
        ..DomainUpdate::default()
    };
    assert!(plan_update(&view, "example.com", &HeaderMap::new(), body).is_ok());
    // ... but not second.example's, which has no bob.
    let body = DomainUpdate {
        alternatives: Some(vec!["also.example".into()]),
        ..DomainUpdate::default()
    };
    let err = plan_update(&view, "second.example", &HeaderMap::new(), body).unwrap_err();
    assert_eq!(err.status(), 409);
}
