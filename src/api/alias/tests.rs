use super::*;
use crate::api::resource::Fixed;
use crate::api::user::tests::{status_field, tree};
use axum::http::header;

fn create(view: &dyn View, json: &str) -> Result<Change, Error> {
    plan_create(view, body::parse(json.as_bytes())?)
}

fn update(view: &dyn View, alias: &str, headers: &HeaderMap, json: &str) -> Result<Change, Error> {
    plan_update(view, alias, headers, body::parse(json.as_bytes())?)
}

fn apply(view: &Fixed, change: Change) -> Fixed {
    let mut files = view.files.clone();
    for e in change.edits {
        match e.content {
            Some(c) => files.insert(e.path, c),
            None => files.remove(&e.path),
        };
    }
    Fixed::load(files).unwrap()
}

#[test]
fn create_writes_the_alias_with_disabled_and_hostname() {
    let view = tree();
    let change = create(
        &view,
        r#"{"email": "Sales@Example.com", "destination": ["bob@example.com", "info@example.com", "ext@other.org"], "comment": "team", "disabled": true, "hostname": "shop.example"}"#,
    )
    .unwrap();
    assert_eq!(
        change.summary,
        "Alias sales@example.com to destination(s) bob@example.com, info@example.com, ext@other.org has been created"
    );
    let after = apply(&view, change);
    let (alias, _) = find(&after, "sales@example.com").unwrap();
    assert!(alias.disabled);
    assert_eq!(alias.hostname.as_deref(), Some("shop.example"));
    assert_eq!(alias.destination.len(), 3);
}

#[test]
fn create_follows_mailus_rules_and_codes() {
    let view = tree();
    let cases = [
        (
            r#"{"email": "a@nowhere.org", "destination": ["bob@example.com"]}"#,
            404,
            "",
        ),
        (
            r#"{"email": "info@example.com", "destination": ["bob@example.com"]}"#,
            409,
            "",
        ),
        (
            r#"{"email": "alice@example.com", "destination": ["bob@example.com"]}"#,
            409,
            "",
        ),
        (r#"{"destination": ["bob@example.com"]}"#, 400, "email"),
        (r#"{"email": "a@example.com"}"#, 400, "destination"),
        (
            r#"{"email": "a@example.com", "destination": []}"#,
            400,
            "destination",
        ),
        (
            r#"{"email": "a@example.com", "destination": ["ghost@example.com"]}"#,
            400,
            "destination.0",
        ),
        (
            r#"{"email": "a@example.com", "destination": ["nope"]}"#,
            400,
            "destination.0",
        ),
        (
            r#"{"email": "a@example.com", "destination": ["bob@example.com"], "owner_email": "bob@example.com"}"#,
            400,
            "owner_email",
        ),
        (
            r#"{"email": "a@example.com", "destination": ["bob@example.com"], "extra": 1}"#,
            400,
            "extra",
        ),
        (
            r#"{"email": "a%b@example.com", "destination": ["bob@example.com"]}"#,
            400,
            "wildcard",
        ),
    ];
    for (json, status, field) in cases {
        let got = status_field(create(&view, json).unwrap_err());
        assert_eq!(got, (status, field.to_owned()), "{json}");
    }
    // A wildcard alias, to a user of the IDN domain given in Unicode.
    assert!(
        create(
            &view,
            r#"{"email": "a%@example.com", "wildcard": true, "destination": ["carol@bücher.example"]}"#
        )
        .is_ok()
    );
}

#[test]
fn max_aliases_reached_is_409() {
    let view = tree();
    let full = apply(
        &view,
        create(
            &view,
            r#"{"email": "a@example.com", "destination": ["bob@example.com"]}"#,
        )
        .unwrap(),
    );
    let err = create(
        &full,
        r#"{"email": "b@example.com", "destination": ["bob@example.com"]}"#,
    )
    .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("Too many aliases"), "{err}");
}

#[test]
fn update_keeps_comments_and_checks_if_match() {
    let mut files = tree().files;
    files.insert(
        RepoPath::parse("domains/example.com/aliases/info.toml").unwrap(),
        b"# front desk\ndestination = [\"alice@example.com\"] # who reads it\n".to_vec(),
    );
    let view = Fixed::load(files).unwrap();
    let change = update(
        &view,
        "info@example.com",
        &HeaderMap::new(),
        r#"{"disabled": true, "comment": "old"}"#,
    )
    .unwrap();
    let text = String::from_utf8(change.edits[0].content.clone().unwrap()).unwrap();
    assert!(text.starts_with("# front desk\n"), "{text}");
    assert!(text.contains("# who reads it"), "{text}");
    assert!(text.contains("disabled = true"), "{text}");
    let mut headers = HeaderMap::new();
    headers.insert(header::IF_MATCH, "\"0000\"".parse().unwrap());
    assert_eq!(
        update(&view, "info@example.com", &headers, "{}")
            .unwrap_err()
            .status(),
        412
    );
    let cases = [
        ("ghost@example.com", "{}", 404, ""),
        (
            "info@example.com",
            r#"{"email": "x@example.com"}"#,
            400,
            "email",
        ),
        (
            "info@example.com",
            r#"{"destination": ["ghost@example.com"]}"#,
            400,
            "destination.0",
        ),
    ];
    for (alias, json, status, field) in cases {
        let got = status_field(update(&view, alias, &HeaderMap::new(), json).unwrap_err());
        assert_eq!(got, (status, field.to_owned()), "{alias} {json}");
    }
}

#[test]
fn delete_is_refused_while_another_alias_points_here() {
    let view = tree();
    let chained = apply(
        &view,
        create(
            &view,
            r#"{"email": "a@example.com", "destination": ["info@example.com"]}"#,
        )
        .unwrap(),
    );
    let err = plan_delete(&chained, "info@example.com", &HeaderMap::new()).unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(
        err.to_string().contains("aliases/a.toml (destination.0)"),
        "{err}"
    );
    let change = plan_delete(&view, "info@example.com", &HeaderMap::new()).unwrap();
    assert_eq!(change.summary, "Alias info@example.com has been deleted");
    assert_eq!(change.edits[0].content, None);
    assert_eq!(
        plan_delete(&view, "x@example.com", &HeaderMap::new())
            .unwrap_err()
            .status(),
        404
    );
}

#[test]
fn lists_of_all_and_of_a_domain() {
    let view = tree();
    let all = list(&view, &Search::default()).unwrap();
    assert_eq!(all.total, 1);
    assert_eq!(all.items[0].email, "info@example.com");
    assert_eq!(all.items[0].hostname, None);
    let none = list(
        &view,
        &Search {
            q: Some("zzz".into()),
            ..Search::default()
        },
    )
    .unwrap();
    assert_eq!((none.total, none.items.len()), (0, 0));
    assert_eq!(of_domain(&view, "example.com").unwrap().len(), 1);
    assert!(of_domain(&view, "bücher.example").unwrap().is_empty());
    assert_eq!(of_domain(&view, "nowhere.org").unwrap_err().status(), 404);
    assert_eq!(of_domain(&view, "bad").unwrap_err().status(), 400);
}
