//! Unit tests of the `ETag` rules; the bundles themselves are tested through the server
//! (`tests/it/bundle.rs`).

use super::*;

fn id(n: u8) -> ObjectId {
    ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap()
}

#[test]
fn etag_depends_on_every_input_and_not_on_secret_order() {
    let smtp = ServiceName::parse("smtp").unwrap();
    let a = SecretRef::parse("dkim/a.example").unwrap();
    let b = SecretRef::parse("relay/b.example").unwrap();
    let base = etag(
        &smtp,
        Some(id(1)),
        id(2),
        &[(a.clone(), Some(id(3))), (b.clone(), None)],
    );
    let swapped = etag(
        &smtp,
        Some(id(1)),
        id(2),
        &[(b.clone(), None), (a.clone(), Some(id(3)))],
    );
    assert_eq!(base, swapped);
    let others = [
        etag(
            &ServiceName::parse("imap").unwrap(),
            Some(id(1)),
            id(2),
            &[(a.clone(), Some(id(3))), (b.clone(), None)],
        ),
        etag(
            &smtp,
            Some(id(9)),
            id(2),
            &[(a.clone(), Some(id(3))), (b.clone(), None)],
        ),
        etag(
            &smtp,
            None,
            id(2),
            &[(a.clone(), Some(id(3))), (b.clone(), None)],
        ),
        etag(
            &smtp,
            Some(id(1)),
            id(9),
            &[(a.clone(), Some(id(3))), (b.clone(), None)],
        ),
        etag(
            &smtp,
            Some(id(1)),
            id(2),
            &[(a.clone(), Some(id(9))), (b.clone(), None)],
        ),
        etag(&smtp, Some(id(1)), id(2), &[(a, Some(id(3)))]),
    ];
    for other in others {
        assert_ne!(base, other);
    }
}

#[test]
fn etag_parameters_match_quoted_weak_or_bare() {
    let tag = Etag("b1-abc".into());
    assert!(tag.is("b1-abc"));
    assert!(tag.is("\"b1-abc\""));
    assert!(tag.is("W/\"b1-abc\""));
    assert!(!tag.is("b1-abd"));
    assert_eq!(tag.header(), "\"b1-abc\"");
}

#[test]
fn manifest_words_are_quoted_for_the_shell() {
    assert_eq!(archive::quote("a b"), "'a b'");
    assert_eq!(archive::quote("it's"), "'it'\\''s'");
}
