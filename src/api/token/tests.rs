use super::*;
use crate::api::resource::Fixed;
use crate::api::user::tests::{HASH, status_field, tree};
use crate::model::RepoPath;
use crate::password::Hash;
use axum::http::header;

fn parse(json: &str) -> TokenBody {
    body::parse(json.as_bytes()).unwrap()
}

fn apply(view: &Fixed, change: Change) -> Fixed {
    let mut files = view.files.clone();
    for e in change.edits {
        files.insert(e.path, e.content.unwrap());
    }
    Fixed::load(files).unwrap()
}

#[test]
fn create_shows_the_plaintext_once_and_stores_its_hash() {
    let view = tree();
    let (change, created) = plan_create(
        &view,
        parse(r#"{"email": "alice@example.com", "comment": "phone", "AuthorizedIP": ["192.0.2.7/24", "::1"]}"#),
    )
    .unwrap();
    assert_eq!(created.token.len(), 32);
    assert_eq!(created.email, "alice@example.com");
    let text = String::from_utf8(change.edits[0].content.clone().unwrap()).unwrap();
    assert!(
        !text.contains(&created.token),
        "the plaintext must not be stored"
    );
    assert!(text.starts_with("# Alice, since 2019\n"), "{text}");
    let after = apply(&view, change);
    let alice = after
        .config
        .user(&Email::parse("alice@example.com").unwrap())
        .unwrap();
    let token = &alice.tokens[0];
    assert!(password::verify(
        &Hash::parse(&token.password).unwrap(),
        &created.token
    ));
    assert!(token.password.starts_with("{SSHA512}"));
    // Reads never show it again.
    let (shown, _) = find(&after, &created.id).unwrap();
    assert_eq!(shown.comment, "phone");
    assert_eq!(shown.authorized_ip, ["192.0.2.7/24", "::1/128"]);
    let json = serde_json::to_string(&list(&after)).unwrap();
    assert!(
        !json.contains(&created.token) && !json.contains("SSHA512"),
        "{json}"
    );
    assert!(
        json.contains("\"Last edit\":null") && json.contains("\"AuthorizedIP\""),
        "{json}"
    );
    // The user's password hash is untouched.
    assert!(
        String::from_utf8(
            after.files[&RepoPath::user(&Email::parse("alice@example.com").unwrap())].clone()
        )
        .unwrap()
        .contains(HASH)
    );
}

#[test]
fn create_rules() {
    let view = tree();
    let cases = [
        (r#"{"comment": "x"}"#, 400, "email"),
        (r#"{"email": "ghost@example.com"}"#, 404, ""),
        (
            r#"{"email": "alice@example.com", "AuthorizedIP": ["10.0.0.0/99"]}"#,
            400,
            "AuthorizedIP",
        ),
        (
            r#"{"email": "alice@example.com", "AuthorizedIP": ["ASN1234"]}"#,
            400,
            "AuthorizedIP",
        ),
    ];
    for (json, status, field) in cases {
        let got = status_field(plan_create(&view, parse(json)).map(|_| ()).unwrap_err());
        assert_eq!(got, (status, field.to_owned()), "{json}");
    }
    let (_, created) = plan_create_for(&view, "carol@bücher.example", parse("{}")).unwrap();
    assert_eq!(created.email, "carol@bücher.example");
    let err = plan_create_for(
        &view,
        "carol@bücher.example",
        parse(r#"{"email": "a@example.com"}"#),
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(status_field(err), (400, "email".to_owned()));
}

#[test]
fn update_delete_and_reads_by_id() {
    let view = tree();
    let (change, created) = plan_create(&view, parse(r#"{"email": "bob@example.com"}"#)).unwrap();
    let view = apply(&view, change);
    let (_, etag) = find(&view, &created.id).unwrap();
    let (mine, user_etag) = of_user(&view, "bob@example.com").unwrap();
    assert_eq!((mine.len(), &user_etag), (1, &etag));
    let mut stale = HeaderMap::new();
    stale.insert(header::IF_MATCH, "\"1234\"".parse().unwrap());
    let err = plan_update(&view, &created.id, &stale, parse("{}")).unwrap_err();
    assert_eq!(err.status(), 412);
    let mut fresh = HeaderMap::new();
    fresh.insert(header::IF_MATCH, etag.parse().unwrap());
    let updated = apply(
        &view,
        plan_update(
            &view,
            &created.id,
            &fresh,
            parse(r#"{"comment": "laptop"}"#),
        )
        .unwrap(),
    );
    assert_eq!(find(&updated, &created.id).unwrap().0.comment, "laptop");
    let deleted = apply(
        &updated,
        plan_delete(&updated, &created.id, &HeaderMap::new()).unwrap(),
    );
    assert_eq!(find(&deleted, &created.id).unwrap_err().status(), 404);
    assert!(of_user(&deleted, "bob@example.com").unwrap().0.is_empty());
    for bad in ["nope", "UPPER", ""] {
        assert_eq!(find(&view, bad).unwrap_err().status(), 404, "{bad}");
        assert_eq!(
            plan_delete(&view, bad, &HeaderMap::new())
                .unwrap_err()
                .status(),
            404
        );
    }
    assert_eq!(
        of_user(&view, "ghost@example.com").unwrap_err().status(),
        404
    );
}
