//! Tests of `load`: one per cross-file rule, each with a bad input whose error names the file, the
//! line and the field; plus the repository template, which must load cleanly.

use std::collections::BTreeMap;

use super::*;

const SETTINGS: (&str, &str) = ("mailu.toml", "format = 1\n");
const DOMAIN: (&str, &str) = ("domains/example.com/domain.toml", "comment = \"main\"\n");
const ALICE: (&str, &str) = (
    "domains/example.com/users/alice.toml",
    "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n",
);

fn tree(files: &[(&str, &str)]) -> BTreeMap<RepoPath, Vec<u8>> {
    files
        .iter()
        .map(|(p, t)| (RepoPath::parse(p).unwrap(), t.as_bytes().to_vec()))
        .collect()
}

fn errors(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    load(&tree(files)).unwrap_err().0
}

/// The one diagnostic of a tree that should have exactly one.
fn only(files: &[(&str, &str)]) -> Diagnostic {
    let all = errors(files);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap()
}

fn at(d: &Diagnostic) -> (&str, Option<u32>, Option<&str>) {
    (d.file.as_str(), d.line, d.field.as_deref())
}

#[test]
fn a_valid_tree_loads() {
    let config = load(&tree(&[
        SETTINGS,
        (
            "domains/example.com/domain.toml",
            "alternatives = [\"example.org\"]\nmanagers = [\"alice@example.com\"]\n",
        ),
        ALICE,
        (
            "domains/example.com/aliases/info.toml",
            "destination = [\"alice@example.org\", \"x@elsewhere.net\"]\n",
        ),
        (
            "domains/example.com/aliases/%.toml",
            "wildcard = true\ndestination = [\"alice@example.com\"]\n",
        ),
        (
            "relays/relayed.net.toml",
            "smtp = \"mx:mail.relayed.net\"\n",
        ),
        (
            "services/smtp.toml",
            "image = \"x\"\nenv = { P = { secret = \"relay/password\" } }\n",
        ),
        ("secrets/relay/password", "age..."),
        ("README.md", "hello"),
    ]))
    .unwrap();
    let alice = Email::parse("alice@example.com").unwrap();
    assert!(config.user(&alice).is_some());
    assert_eq!(
        config.local_domain(&DomainName::parse("example.org").unwrap()),
        Some(&DomainName::parse("example.com").unwrap())
    );
    assert_eq!(config.referrers(&alice).len(), 3);
    assert_eq!(
        config.local_recipient_exists(&Email::parse("anything@example.com").unwrap()),
        Some(true)
    );
}

#[test]
fn settings_file_is_required() {
    let d = only(&[DOMAIN]);
    assert_eq!(at(&d), ("mailu.toml", None, None));
}

#[test]
fn misplaced_and_non_canonical_files_are_reported() {
    let d = only(&[
        SETTINGS,
        DOMAIN,
        (
            "domains/example.com/users/Bob.toml",
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n",
        ),
    ]);
    assert_eq!(d.file, "domains/example.com/users/Bob.toml");
    assert!(d.message.contains("lower-case"), "{}", d.message);
    let d = only(&[SETTINGS, ("domains/example.com/notes.toml", "")]);
    assert_eq!(d.file, "domains/example.com/notes.toml");
}

#[test]
fn a_user_needs_its_domain() {
    let d = only(&[SETTINGS, ALICE]);
    assert_eq!(at(&d), (ALICE.0, None, None));
    assert!(d.message.contains("domains/example.com/domain.toml"));
}

#[test]
fn names_are_unique_across_domains_alternatives_and_relays() {
    let d = only(&[
        SETTINGS,
        ("domains/a.com/domain.toml", ""),
        (
            "domains/b.com/domain.toml",
            "comment = \"b\"\nalternatives = [\"c.com\", \"a.com\"]\n",
        ),
    ]);
    assert_eq!(
        at(&d),
        ("domains/b.com/domain.toml", Some(2), Some("alternatives.1"))
    );
    assert!(d.message.contains("domain `a.com`"), "{}", d.message);

    let d = only(&[
        SETTINGS,
        ("domains/a.com/domain.toml", ""),
        ("relays/a.com.toml", ""),
    ]);
    assert_eq!(at(&d), ("relays/a.com.toml", None, None));

    let d = only(&[
        SETTINGS,
        ("domains/a.com/domain.toml", "alternatives = [\"x.com\"]\n"),
        (
            "domains/b.com/domain.toml",
            "\nalternatives = [\"x.com\"]\n",
        ),
    ]);
    assert_eq!(
        at(&d),
        ("domains/b.com/domain.toml", Some(2), Some("alternatives.0"))
    );

    let d = only(&[
        SETTINGS,
        ("domains/a.com/domain.toml", "alternatives = [\"a.com\"]\n"),
    ]);
    assert_eq!(
        at(&d),
        ("domains/a.com/domain.toml", Some(1), Some("alternatives.0"))
    );
}

#[test]
fn max_users_and_max_aliases_hold() {
    let d = only(&[
        SETTINGS,
        (
            "domains/example.com/domain.toml",
            "comment = \"x\"\nmax_users = 1\n",
        ),
        ALICE,
        (
            "domains/example.com/users/bob.toml",
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n",
        ),
    ]);
    assert_eq!(at(&d), (DOMAIN.0, Some(2), Some("max_users")));
    let d = only(&[
        SETTINGS,
        ("domains/example.com/domain.toml", "max_aliases = 0\n"),
        ALICE,
        (
            "domains/example.com/aliases/a.toml",
            "destination = [\"alice@example.com\"]\n",
        ),
    ]);
    assert_eq!(at(&d), (DOMAIN.0, Some(1), Some("max_aliases")));
}

#[test]
fn quota_is_capped_by_the_domain() {
    let d = only(&[
        SETTINGS,
        (
            "domains/example.com/domain.toml",
            "max_quota_bytes = 1000\n",
        ),
        (
            "domains/example.com/users/alice.toml",
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nquota_bytes = 1001\n",
        ),
    ]);
    assert_eq!(at(&d), (ALICE.0, Some(2), Some("quota_bytes")));
    // The default quota (10^9) is above a small cap too.
    let d = only(&[
        SETTINGS,
        (
            "domains/example.com/domain.toml",
            "max_quota_bytes = 1000\n",
        ),
        ALICE,
    ]);
    assert_eq!(at(&d), (ALICE.0, None, Some("quota_bytes")));
}

#[test]
fn forwarding_rule_reports_the_user_file() {
    let d = only(&[
        SETTINGS,
        DOMAIN,
        (
            "domains/example.com/users/alice.toml",
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nforward_enabled = true\nforward_destination = []\n",
        ),
    ]);
    assert_eq!(at(&d), (ALICE.0, Some(3), Some("forward_destination")));
}

#[test]
fn user_and_alias_cannot_share_an_address() {
    let all = errors(&[
        SETTINGS,
        DOMAIN,
        ALICE,
        (
            "domains/example.com/aliases/alice.toml",
            "destination = [\"x@elsewhere.net\"]\n",
        ),
    ]);
    assert!(
        all.iter()
            .any(|d| d.file == "domains/example.com/aliases/alice.toml"),
        "{all:#?}"
    );
    assert!(all.iter().any(|d| d.file == ALICE.0), "{all:#?}");
}

#[test]
fn percent_needs_wildcard() {
    let d = only(&[
        SETTINGS,
        DOMAIN,
        (
            "domains/example.com/aliases/sales-%.toml",
            "destination = [\"x@elsewhere.net\"]\nwildcard = false\n",
        ),
    ]);
    assert_eq!(
        at(&d),
        (
            "domains/example.com/aliases/sales-%.toml",
            Some(2),
            Some("wildcard")
        )
    );
    // `_` alone is a literal character in a plain alias, as real addresses hold it.
    load(&tree(&[
        SETTINGS,
        DOMAIN,
        (
            "domains/example.com/aliases/first_last.toml",
            "destination = [\"x@elsewhere.net\"]\n",
        ),
    ]))
    .unwrap();
}

#[test]
fn local_alias_destinations_must_exist_external_ones_may_not() {
    let d = only(&[
        SETTINGS,
        (
            "domains/example.com/domain.toml",
            "alternatives = [\"example.org\"]\n",
        ),
        ALICE,
        (
            "domains/example.com/aliases/team.toml",
            "destination = [\n  \"alice@example.org\",\n  \"alice+tag@example.com\",\n  \"bob@example.org\",\n  \"bob@external.net\",\n]\n",
        ),
    ]);
    assert_eq!(
        at(&d),
        (
            "domains/example.com/aliases/team.toml",
            Some(4),
            Some("destination.2")
        )
    );
    assert!(d.message.contains("bob@example.org"));
}

#[test]
fn managers_must_be_users() {
    let d = only(&[
        SETTINGS,
        (
            "domains/example.com/domain.toml",
            "managers = [\n  \"alice@example.com\",\n  \"carol@example.com\",\n]\n",
        ),
        ALICE,
    ]);
    assert_eq!(at(&d), (DOMAIN.0, Some(3), Some("managers.1")));
}

#[test]
fn token_and_fetch_ids_are_unique_in_the_repository() {
    let token = "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n\n[[tokens]]\nid = \"t1\"\npassword = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n";
    let d = only(&[
        SETTINGS,
        DOMAIN,
        ("domains/example.com/users/alice.toml", token),
        ("domains/example.com/users/bob.toml", token),
    ]);
    assert_eq!(
        at(&d),
        (
            "domains/example.com/users/bob.toml",
            Some(4),
            Some("tokens.0.id")
        )
    );
    assert!(d.message.contains("alice@example.com"));
    let fetch = "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n[[fetches]]\nid = \"f1\"\nprotocol = \"pop3\"\nhost = \"h\"\nusername = \"u\"\n";
    let d = only(&[
        SETTINGS,
        DOMAIN,
        ("domains/example.com/users/alice.toml", fetch),
        ("domains/example.com/users/bob.toml", fetch),
    ]);
    assert_eq!(
        at(&d),
        (
            "domains/example.com/users/bob.toml",
            Some(3),
            Some("fetches.0.id")
        )
    );
}

#[test]
fn service_secrets_must_exist() {
    let d = only(&[
        SETTINGS,
        (
            "services/smtp.toml",
            "image = \"x\"\n\n[env]\nRELAY = { secret = \"relay/password\" }\n",
        ),
    ]);
    assert_eq!(
        at(&d),
        ("services/smtp.toml", Some(4), Some("env.RELAY.secret"))
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let all = errors(&[
        ("domains/example.com/domain.toml", "max_user = 3\n"),
        (
            "domains/example.com/users/alice.toml",
            "password = \"plain\"\nspam_threshold = 200\n",
        ),
        (
            "domains/example.com/users/bob.toml",
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nenabled = \"yes\"\nquota = 1\n",
        ),
        ("relays/r.net.toml", "smtp = \"lmtp:nohost\"\n"),
        (
            "domains/example.com/aliases/a.toml",
            "destination = [\"ghost@example.com\"]\n",
        ),
    ]);
    let summary: Vec<(&str, Option<u32>, Option<&str>)> = all.iter().map(at).collect();
    for expected in [
        ("mailu.toml", None, None),
        ("domains/example.com/domain.toml", Some(1), Some("max_user")),
        (
            "domains/example.com/users/alice.toml",
            Some(1),
            Some("password"),
        ),
        (
            "domains/example.com/users/alice.toml",
            Some(2),
            Some("spam_threshold"),
        ),
        (
            "domains/example.com/users/bob.toml",
            Some(2),
            Some("enabled"),
        ),
        ("domains/example.com/users/bob.toml", Some(3), Some("quota")),
        ("relays/r.net.toml", Some(1), Some("smtp")),
        (
            "domains/example.com/aliases/a.toml",
            Some(1),
            Some("destination.0"),
        ),
    ] {
        assert!(
            summary.contains(&expected),
            "{expected:?} missing from {summary:#?}"
        );
    }
    assert_eq!(all.len(), 8, "{all:#?}");
}

#[test]
fn a_broken_user_does_not_break_aliases_pointing_at_it() {
    let d = only(&[
        SETTINGS,
        DOMAIN,
        ("domains/example.com/users/alice.toml", "password = [\n"),
        (
            "domains/example.com/aliases/a.toml",
            "destination = [\"alice@example.com\"]\n",
        ),
    ]);
    assert_eq!(d.file, ALICE.0);
    assert!(d.message.contains("syntax"), "{}", d.message);
}

#[test]
fn non_utf8_file_is_reported() {
    let mut files = tree(&[SETTINGS, DOMAIN]);
    files.insert(
        RepoPath::parse(ALICE.0).unwrap(),
        b"password = \"\xff\"\n".to_vec(),
    );
    let all = load(&files).unwrap_err().0;
    assert_eq!(all.len(), 1);
    assert_eq!(at(&all[0]), (ALICE.0, Some(1), None));
}

/// The repository template a new installation starts from must load cleanly.
#[test]
fn the_repository_template_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template");
    let mut files = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                files.insert(
                    RepoPath::parse(&rel).unwrap(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    // mailu.toml belongs to the settings work; a minimal one stands in when it is absent.
    files
        .entry(RepoPath::settings())
        .or_insert_with(|| b"# minimal settings\n".to_vec());
    let config = load(&files).unwrap_or_else(|e| panic!("{e}"));
    for name in [
        "front",
        "smtp",
        "imap",
        "antispam",
        "antivirus",
        "webmail",
        "webdav",
        "fetchmail",
        "resolver",
        "redis",
        "admin",
    ] {
        let service = &config.services[&ServiceName::parse(name).unwrap()];
        let optional = ["antivirus", "webmail", "webdav", "fetchmail"].contains(&name);
        assert_eq!(service.enabled, !optional, "{name}");
    }
}
