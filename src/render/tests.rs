//! The engine on a small test service (the real services' templates are checked by the snapshot and
//! daemon tests): incremental scope, overrides, repository templates, errors, fuel, warnings.

use std::collections::BTreeMap;

use super::*;
use crate::model::{self, RepoPath};
use crate::store::Edit;

const MANIFEST: &str = r#"
[[file]]
template = "domains.j2"
path = "/etc/t/domains"
reads = ["domains"]

[[file]]
template = "settings.j2"
path = "/etc/t/settings"

[[file]]
template = "users.j2"
path = "/etc/t/users/{domain}"
per = "domain"

[[file]]
template = "reply.j2"
path = "/etc/t/reply/{domain}/{localpart}"
per = "user"
skip_empty = true
"#;

fn builtins_with(extra: &[(&str, &str)]) -> &'static Builtins {
    let mut sources: BTreeMap<String, String> = [
        ("smtp/manifest.toml", MANIFEST),
        (
            "smtp/domains.j2",
            "{% for d in domains %}{{ ([d.name] + d.alternatives) | join(' ') }}\n{% endfor %}",
        ),
        ("smtp/settings.j2", "host={{ hostname }}\n"),
        (
            "smtp/users.j2",
            "{% for u in domain.users %}{{ u.email }}:{{ u.password_dovecot or 'legacy' }}\n{% endfor %}\
             {% for a in domain.aliases %}{{ a.email }} {{ a.pattern or '-' }}\n{% endfor %}",
        ),
        (
            "smtp/reply.j2",
            "{% if user.reply_enabled %}{{ user.reply_subject }}\n{% endif %}",
        ),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    sources.retain(|_, v| !v.is_empty());
    Box::leak(Box::new(Builtins::from_sources(sources).unwrap()))
}

fn fixture() -> BTreeMap<RepoPath, Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render/small");
    crate::checkout::read(&dir).unwrap()
}

fn path(p: &str) -> RepoPath {
    RepoPath::parse(p).unwrap()
}

/// Renders `scope` over `files` and applies the edits to them.
fn run(
    b: &'static Builtins,
    files: &mut BTreeMap<RepoPath, Vec<u8>>,
    scope: Scope<'_>,
) -> Result<(usize, Vec<Edit>), Diagnostics> {
    let config = model::load(files).unwrap();
    let plan = plan(b, &config, &*files, scope).unwrap();
    let jobs = plan.jobs();
    let out = plan.render(b)?;
    for e in &out.edits {
        match &e.content {
            Some(c) => files.insert(e.path.clone(), c.clone()),
            None => files.remove(&e.path),
        };
    }
    Ok((jobs, out.edits))
}

use crate::model::Diagnostics;

fn text(files: &BTreeMap<RepoPath, Vec<u8>>, p: &str) -> String {
    String::from_utf8(files[&path(p)].clone()).unwrap()
}

#[test]
fn a_full_render_makes_every_file_and_a_second_changes_nothing() {
    let b = builtins_with(&[]);
    let mut files = fixture();
    let (jobs, edits) = run(b, &mut files, Scope::Full).unwrap();
    // 2 global + 2 domains + 4 users; only alice has an autoreply.
    assert_eq!(jobs, 8);
    assert_eq!(edits.len(), 5);
    assert_eq!(
        text(&files, "rendered/smtp/etc/t/domains"),
        "example.com example.net\nexample.org\n"
    );
    let users = text(&files, "rendered/smtp/etc/t/users/example.com");
    assert!(
        users.starts_with("alice@example.com:{SHA512-CRYPT}$6$"),
        "{users}"
    );
    // Mailu's alias precedence: exact ones, then wildcards longest pattern first.
    let aliases: Vec<&str> = users.lines().skip(2).collect();
    assert_eq!(
        aliases,
        [
            "postmaster@example.com -",
            "team@example.com -",
            "sales%@example.com ^sales.*@example\\.com$",
            "%@example.com ^.*@example\\.com$",
        ]
    );
    assert!(
        text(&files, "rendered/smtp/etc/t/users/example.org").contains("carol@example.org:legacy")
    );
    assert_eq!(
        text(&files, "rendered/smtp/etc/t/reply/example.com/alice"),
        "Away\n"
    );
    assert!(!files.contains_key(&path("rendered/smtp/etc/t/reply/example.com/bob")));
    let (_, again) = run(b, &mut files, Scope::Full).unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_user_change_renders_only_its_domain_and_itself() {
    let b = builtins_with(&[]);
    let mut files = fixture();
    run(b, &mut files, Scope::Full).unwrap();
    let bob = path("domains/example.com/users/bob.toml");
    let mut t = String::from_utf8(files[&bob].clone()).unwrap();
    t.push_str("reply_enabled = true\nreply_subject = \"Gone\"\n");
    files.insert(bob.clone(), t.into_bytes());
    let (jobs, edits) = run(b, &mut files, Scope::Changed(&[bob])).unwrap();
    // users/example.com and bob's reply; not the global files, not example.org.
    assert_eq!(jobs, 2);
    let paths: Vec<&str> = edits.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["rendered/smtp/etc/t/reply/example.com/bob"]);
    assert_eq!(
        text(&files, "rendered/smtp/etc/t/reply/example.com/bob"),
        "Gone\n"
    );
}

#[test]
fn removing_a_domain_removes_its_files_and_a_domain_change_renders_global_readers() {
    let b = builtins_with(&[]);
    let mut files = fixture();
    run(b, &mut files, Scope::Full).unwrap();
    // Drop example.com's references first: the alias to carol stays valid, team goes.
    let gone: Vec<RepoPath> = files
        .keys()
        .filter(|p| p.as_str().starts_with("domains/example.com/"))
        .cloned()
        .collect();
    for p in &gone {
        files.remove(p);
    }
    let (_, edits) = run(b, &mut files, Scope::Changed(&gone)).unwrap();
    let mut paths: Vec<(&str, bool)> = edits
        .iter()
        .map(|e| (e.path.as_str(), e.content.is_some()))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            ("rendered/smtp/etc/t/domains", true),
            ("rendered/smtp/etc/t/reply/example.com/alice", false),
            ("rendered/smtp/etc/t/users/example.com", false),
        ]
    );
}

#[test]
fn overrides_replace_add_and_give_back_files() {
    let b = builtins_with(&[]);
    let mut files = fixture();
    run(b, &mut files, Scope::Full).unwrap();
    let replace = path("overrides/smtp/etc/t/settings");
    let add = path("overrides/smtp/etc/extra.cf");
    files.insert(replace.clone(), b"mine\n".to_vec());
    files.insert(add.clone(), vec![0xff, 0x00]);
    let changed = [replace.clone(), add.clone()];
    let (jobs, _) = run(b, &mut files, Scope::Changed(&changed)).unwrap();
    assert_eq!(jobs, 0);
    assert_eq!(text(&files, "rendered/smtp/etc/t/settings"), "mine\n");
    assert_eq!(files[&path("rendered/smtp/etc/extra.cf")], vec![0xff, 0x00]);
    // A whole render agrees with the incremental one.
    let (_, again) = run(b, &mut files, Scope::Full).unwrap();
    assert!(again.is_empty(), "{again:?}");
    files.remove(&replace);
    files.remove(&add);
    run(b, &mut files, Scope::Changed(&changed)).unwrap();
    assert_eq!(
        text(&files, "rendered/smtp/etc/t/settings"),
        "host=mail.example.com\n"
    );
    assert!(!files.contains_key(&path("rendered/smtp/etc/extra.cf")));
}

#[test]
fn a_repository_template_replaces_and_extends_the_builtin() {
    let b = builtins_with(&[("smtp/base.j2", "[{% block body %}base{% endblock %}]\n")]);
    let mut files = fixture();
    files.insert(
        path("templates/smtp/settings.j2"),
        b"{% extends \"builtin:smtp/base.j2\" %}{% block body %}{{ hostname | upper }}{% endblock %}"
            .to_vec(),
    );
    run(b, &mut files, Scope::Full).unwrap();
    assert_eq!(
        text(&files, "rendered/smtp/etc/t/settings"),
        "[MAIL.EXAMPLE.COM]\n"
    );
}

#[test]
fn template_errors_name_the_file_and_line() {
    let b = builtins_with(&[("smtp/settings.j2", "ok\n{{ hostnme }}\n")]);
    let mut files = fixture();
    let err = run(b, &mut files, Scope::Full).unwrap_err();
    let d = &err.0[0];
    assert_eq!(d.file, "builtin:smtp/settings.j2");
    assert_eq!(d.line, Some(2));
    assert!(d.message.contains("undefined"), "{d}");
    assert!(d.message.contains("/etc/t/settings"), "{d}");

    let b = builtins_with(&[]);
    files.insert(path("templates/smtp/users.j2"), b"{% for x in %}".to_vec());
    let err = run(b, &mut files, Scope::Full).unwrap_err();
    // One problem per file rendered from it (each domain), each naming the repository file.
    assert!(
        err.0
            .iter()
            .all(|d| d.file == "templates/smtp/users.j2" && d.line == Some(1)),
        "{err}"
    );
}

#[test]
fn a_global_file_sees_only_what_it_reads() {
    let b = builtins_with(&[("smtp/settings.j2", "{{ domains | length }}\n")]);
    let mut files = fixture();
    let err = run(b, &mut files, Scope::Full).unwrap_err();
    assert!(err.0[0].message.contains("undefined"), "{err}");
}

#[test]
fn a_repository_template_that_loops_forever_runs_out_of_fuel() {
    let b = builtins_with(&[]);
    let mut files = fixture();
    files.insert(
        path("templates/smtp/settings.j2"),
        b"{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
            .to_vec(),
    );
    let err = run(b, &mut files, Scope::Full).unwrap_err();
    assert_eq!(err.0[0].file, "templates/smtp/settings.j2");
    assert!(err.0[0].message.contains("fuel"), "{err}");
}

#[test]
fn secret_takes_an_escape_mode_and_refuses_an_unknown_one() {
    let manifest = "[[file]]\ntemplate = \"s.j2\"\npath = \"/s\"\nreads = [\"secrets\"]\n";
    let with = |body: &'static str| {
        builtins_with(&[
            ("smtp/manifest.toml", manifest),
            ("smtp/domains.j2", ""),
            ("smtp/settings.j2", ""),
            ("smtp/users.j2", ""),
            ("smtp/reply.j2", ""),
            ("smtp/s.j2", body),
        ])
    };
    let files = fixture();
    let config = model::load(&files).unwrap();
    let dkim_id = crate::store::blob_id(&files[&path("secrets/dkim/example.com")]);
    let b = with("{{ secret('dkim', 'example.com', escape='quoted') }}");
    let out = plan(b, &config, &files, Scope::Full)
        .unwrap()
        .render(b)
        .unwrap();
    let s = String::from_utf8(out.edits[0].content.clone().unwrap()).unwrap();
    assert_eq!(
        s,
        format!("@@mailu-secret:dkim/example.com:{dkim_id}:quoted@@")
    );
    let b = with("{{ secret('dkim', 'example.com', escape='sql') }}");
    let err = plan(b, &config, &files, Scope::Full)
        .unwrap()
        .render(b)
        .unwrap_err();
    assert!(
        err.to_string().contains("`sql` is not an escape mode"),
        "{err}"
    );
}

#[test]
fn secrets_are_placeholders_and_warnings_are_collected() {
    let manifest =
        "[[file]]\ntemplate = \"s.j2\"\npath = \"/s\"\nreads = [\"secrets\", \"fetches\"]\n";
    let b = builtins_with(&[
        ("smtp/manifest.toml", manifest),
        ("smtp/domains.j2", ""),
        ("smtp/settings.j2", ""),
        ("smtp/users.j2", ""),
        ("smtp/reply.j2", ""),
        (
            "smtp/s.j2",
            "{{ secret('dkim', 'example.com') }}\n{{ has_secret('dkim', 'example.org') }}\n\
             {% for f in fetches %}{{ f.user }} {{ f.password }}\n{% endfor %}{{ warn('careful') }}",
        ),
    ]);
    let files = fixture();
    let config = model::load(&files).unwrap();
    let out = plan(b, &config, &files, Scope::Full)
        .unwrap()
        .render(b)
        .unwrap();
    let s = String::from_utf8(out.edits[0].content.clone().unwrap()).unwrap();
    let dkim_id = crate::store::blob_id(&files[&path("secrets/dkim/example.com")]);
    assert!(
        s.starts_with(&format!(
            "@@mailu-secret:dkim/example.com:{dkim_id}@@\nFalse\n"
        )),
        "{s}"
    );
    assert!(
        s.contains("carol@example.org @@mailu-secret:fetch/f0e1d2c3b4a5:"),
        "{s}"
    );
    assert_eq!(out.warnings.len(), 1);
    assert_eq!(out.warnings[0].file, "builtin:smtp/s.j2");
    assert_eq!(out.warnings[0].message, "careful");
}

#[test]
fn a_syntax_error_is_found_without_rendering_and_undefined_names_are_left_to_the_render() {
    let err = check_syntax("smtp/macros.j2", "ok\n{% if x %}\nno end\n").unwrap_err();
    assert_eq!(err.file, "templates/smtp/macros.j2");
    assert!(err.line.is_some(), "{err}");
    assert!(err.message.contains("syntax error"), "{err}");
    let err = check_syntax("smtp/x.j2", "a\n{{ 1 + }}\n").unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    // Names are only known when a context exists: a parse cannot tell a typo.
    check_syntax("smtp/x.j2", "{{ no_such_name }}\n").unwrap();
    check_syntax(
        "smtp/main.cf.j2",
        "{% extends \"builtin:smtp/main.cf.j2\" %}{% block x %}y{% endblock %}",
    )
    .unwrap();
}

#[test]
fn a_removed_override_gives_back_a_file_that_reads_mailu_overrides() {
    let manifest = "[[file]]\ntemplate = \"m.j2\"\npath = \"/m\"\nreads = [\"mailu-overrides\"]\n";
    let b = builtins_with(&[
        ("smtp/manifest.toml", manifest),
        ("smtp/domains.j2", ""),
        ("smtp/settings.j2", ""),
        ("smtp/users.j2", ""),
        ("smtp/reply.j2", ""),
        (
            "smtp/m.j2",
            "{{ mailu_overrides['postfix/postfix.cf'] | default('none') }}\n",
        ),
    ]);
    let mut files = fixture();
    files.insert(
        path("mailu-overrides/postfix/postfix.cf"),
        b"a = b".to_vec(),
    );
    run(b, &mut files, Scope::Full).unwrap();
    assert_eq!(text(&files, "rendered/smtp/m"), "a = b\n");
    let replace = path("overrides/smtp/m");
    files.insert(replace.clone(), b"mine\n".to_vec());
    run(
        b,
        &mut files,
        Scope::Changed(std::slice::from_ref(&replace)),
    )
    .unwrap();
    files.remove(&replace);
    run(
        b,
        &mut files,
        Scope::Changed(std::slice::from_ref(&replace)),
    )
    .unwrap();
    assert_eq!(text(&files, "rendered/smtp/m"), "a = b\n");
}
