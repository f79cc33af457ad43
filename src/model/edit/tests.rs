//! Round-trip tests: a written-back file keeps its comments, key order and untouched formatting.

use super::*;
use crate::model::service::Service;
use crate::model::user::User;

const HAND_WRITTEN: &str = r#"# Bob, from accounting.
comment = "accounting"   # ask Carol before deleting

password = "$2b$12$abc"
enabled = true          # written out by hand although it is the default
quota_bytes = 5000000000

# His phone.
[[tokens]]
id = "t1"
password = "$p1"   # old phone

# His laptop.
[[tokens]]
id = "t2"
password = "$p2"
"#;

fn user(text: &str) -> User {
    toml::from_str(text).unwrap()
}

#[test]
fn unchanged_value_leaves_the_file_byte_for_byte() {
    let u = user(HAND_WRITTEN);
    assert_eq!(update(HAND_WRITTEN, &u).unwrap(), HAND_WRITTEN);
}

#[test]
fn a_changed_field_keeps_comments_and_order() {
    let mut u = user(HAND_WRITTEN);
    u.quota_bytes = 7_000_000_000;
    u.comment = "finance".into();
    u.displayed_name = "Bob".into();
    let out = update(HAND_WRITTEN, &u).unwrap();
    let expected = HAND_WRITTEN
        .replace("quota_bytes = 5000000000", "quota_bytes = 7000000000")
        .replace(
            "comment = \"accounting\"   # ask",
            "comment = \"finance\"   # ask",
        )
        .replace(
            "quota_bytes = 7000000000\n",
            "quota_bytes = 7000000000\ndisplayed_name = \"Bob\"\n",
        );
    assert_eq!(out, expected);
    assert_eq!(user(&out), u);
}

#[test]
fn removed_fields_and_tokens_go_and_comments_follow_their_token() {
    let mut u = user(HAND_WRITTEN);
    u.comment.clear();
    u.quota_bytes = crate::model::user::DEFAULT_QUOTA_BYTES;
    u.tokens.remove(0);
    let out = update(HAND_WRITTEN, &u).unwrap();
    assert!(!out.contains("comment ="), "{out}");
    assert!(!out.contains("quota_bytes"), "{out}");
    assert!(!out.contains("t1") && !out.contains("His phone"), "{out}");
    assert!(
        out.contains("# His laptop.\n[[tokens]]\nid = \"t2\""),
        "{out}"
    );
    assert!(
        out.contains("enabled = true          # written out by hand"),
        "{out}"
    );
    assert!(out.starts_with("# Bob, from accounting.\n"), "{out}");
    assert_eq!(user(&out), u);
}

#[test]
fn a_default_written_by_hand_changes_when_the_value_does() {
    let mut u = user(HAND_WRITTEN);
    u.enabled = false;
    let out = update(HAND_WRITTEN, &u).unwrap();
    assert!(
        out.contains("enabled = false          # written out by hand"),
        "{out}"
    );
    assert_eq!(user(&out), u);
}

#[test]
fn new_tokens_are_appended() {
    let mut u = user(HAND_WRITTEN);
    let mut token = u.tokens[0].clone();
    token.id = crate::model::item_id::ItemId::parse("t3").unwrap();
    u.tokens.push(token);
    u.forward_destination = vec![crate::model::Email::parse("x@y.net").unwrap()];
    let out = update(HAND_WRITTEN, &u).unwrap();
    assert!(
        out.contains("# His phone.\n[[tokens]]\nid = \"t1\""),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("id = \"t3\"\npassword = \"$p1\""),
        "{out}"
    );
    assert_eq!(user(&out), u);
}

#[test]
fn inline_tables_stay_inline() {
    let text = "# The MTA.\nimage = \"mailu-git/bookworm:latest\"\nenv = { TZ = \"UTC\" } # zone\n\n[reload] # cheap\ncommand = [\"postfix\", \"reload\"]\npaths = [\"/etc/postfix/**\"]\n";
    let mut s: Service = toml::from_str(text).unwrap();
    s.env.insert(
        "LANG".into(),
        crate::model::service::EnvValue::Plain("C".into()),
    );
    s.reload
        .as_mut()
        .unwrap()
        .paths
        .push("/etc/postfix/maps/*".into());
    let out = update(text, &s).unwrap();
    assert!(out.starts_with("# The MTA.\n"), "{out}");
    assert!(
        out.contains("env = { TZ = \"UTC\", LANG = \"C\" } # zone"),
        "{out}"
    );
    assert!(out.contains("[reload] # cheap"), "{out}");
    let again: Service = toml::from_str(&out).unwrap();
    assert_eq!(again, s);
}

#[test]
fn fresh_files_are_plain() {
    let u = User {
        password: "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS".into(),
        ..User::default()
    };
    assert_eq!(
        render(&u).unwrap(),
        "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n"
    );
}

#[test]
fn a_file_that_does_not_deserialize_is_still_rewritten() {
    let text = "# keep me\npassword = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nlegacy_key = 1\n";
    let u = user("password = \"$y\"\n");
    let out = update(text, &u).unwrap();
    assert_eq!(out, "# keep me\npassword = \"$y\"\n");
}

#[test]
fn the_header_comment_survives_removing_the_only_key_below_it() {
    // Regression: clearing `smtp` on a relay whose file was `# comment` then `smtp = ...` lost the
    // comment, because no kept key followed it to carry it.
    use crate::model::relay::Relay;
    let text = "# Our backup MX, see ticket 42\nsmtp = \"mx.example.net\"\n";
    let relay = Relay::default();
    let out = update(text, &relay).unwrap();
    assert!(out.contains("# Our backup MX, see ticket 42"), "{out:?}");
    assert!(!out.contains("smtp"), "{out:?}");
    let back: Relay = toml::from_str(&out).unwrap();
    assert_eq!(back, relay);
}
