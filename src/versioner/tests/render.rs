//! Versions carry rendered files: one render per batch, only what the batch touched, a full render
//! when main was made by another renderer, and writes refused when a repository template fails.

use std::collections::BTreeMap;

use super::*;

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
"#;

pub(super) fn builtins() -> &'static crate::render::Builtins {
    let sources: BTreeMap<String, String> = [
        ("smtp/manifest.toml", MANIFEST),
        (
            "smtp/domains.j2",
            "{% for d in domains %}{{ d.name }}\n{% endfor %}",
        ),
        ("smtp/settings.j2", "host={{ hostname }}\n"),
        (
            "smtp/users.j2",
            "{% for u in domain.users %}{{ u.email }} {{ u.displayed_name }}\n{% endfor %}",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Box::leak(Box::new(
        crate::render::Builtins::from_sources(sources).unwrap(),
    ))
}

async fn open_rendering(
    dir: &Path,
    store: &Store,
    b: &'static crate::render::Builtins,
) -> Versioner {
    let settings = Settings {
        render: Some(b),
        ..Settings::new(Duration::from_secs(3600), Duration::from_secs(3600))
    };
    Versioner::open(store.clone(), &dir.join("journal"), settings)
        .await
        .unwrap()
}

fn user(local: &str, displayed: &str) -> Change {
    Change {
        author: "admin".into(),
        summary: format!("Update {local}"),
        edits: vec![Edit::write(
            p(&format!("domains/example.com/users/{local}.toml")),
            format!("{ALICE}displayed_name = \"{displayed}\"\n"),
        )],
    }
}

fn blob(repo: &Path, path: &str) -> String {
    git(repo, &["rev-parse", &format!("main:{path}")])
        .trim()
        .to_owned()
}

#[tokio::test]
async fn versions_carry_rendered_files_and_untouched_ones_keep_their_ids() {
    let (dir, store) = fixture();
    let b = builtins();
    let v = open_rendering(dir.path(), &store, b).await;
    // Main was made without a renderer: one version renders every file.
    assert_eq!(versions(store.path()), 2);
    let body = git(store.path(), &["log", "-1", "--format=%B", "main"]);
    assert!(
        body.starts_with("Render every file with mailu-git "),
        "{body}"
    );
    assert!(
        body.contains(&format!("Mailu-Renderer: {}\n", b.stamp())),
        "{body}"
    );
    assert_eq!(
        git(
            store.path(),
            &["show", "main:rendered/smtp/etc/t/users/example.com"]
        ),
        "alice@example.com \n"
    );

    // A second domain, then one user change in the first: only its domain's file changes.
    v.submit(Change {
        author: "admin".into(),
        summary: "Create example.org".into(),
        edits: vec![Edit::write(p("domains/example.org/domain.toml"), "")],
    })
    .await
    .unwrap();
    v.flush().await.unwrap();
    let org = blob(store.path(), "rendered/smtp/etc/t/users/example.org");
    let settings = blob(store.path(), "rendered/smtp/etc/t/settings");
    assert_eq!(
        git(store.path(), &["show", "main:rendered/smtp/etc/t/domains"]),
        "example.com\nexample.org\n"
    );
    let domains = blob(store.path(), "rendered/smtp/etc/t/domains");

    v.submit(user("bob", "Bob")).await.unwrap();
    v.submit(user("alice", "Alice")).await.unwrap();
    v.flush().await.unwrap();
    assert_eq!(
        git(
            store.path(),
            &["show", "main:rendered/smtp/etc/t/users/example.com"]
        ),
        "alice@example.com Alice\nbob@example.com Bob\n"
    );
    assert_eq!(
        blob(store.path(), "rendered/smtp/etc/t/users/example.org"),
        org
    );
    assert_eq!(blob(store.path(), "rendered/smtp/etc/t/settings"), settings);
    assert_eq!(blob(store.path(), "rendered/smtp/etc/t/domains"), domains);
    let changed = git(store.path(), &["diff", "--name-only", "main~1", "main"]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        [
            "domains/example.com/users/alice.toml",
            "domains/example.com/users/bob.toml",
            "rendered/smtp/etc/t/users/example.com"
        ]
    );

    // The same renderer again: nothing to render, no version.
    v.shutdown().await.unwrap();
    drop(v);
    let before = versions(store.path());
    let v = open_rendering(dir.path(), &store, b).await;
    assert_eq!(versions(store.path()), before);
    v.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_write_that_breaks_a_repository_template_is_refused() {
    let (dir, store) = fixture();
    let v = open_rendering(dir.path(), &store, builtins()).await;
    let template = |text: &str| Change {
        author: "admin".into(),
        summary: "Replace users.j2".into(),
        edits: vec![Edit::write(p("templates/smtp/users.j2"), text)],
    };
    let Err(Error::Rejected(problems)) = v.submit(template("ok\n{{ nope }}\n")).await else {
        panic!("a broken template was accepted");
    };
    assert_eq!(problems.0[0].file, "templates/smtp/users.j2");
    assert_eq!(problems.0[0].line, Some(2));
    assert!(v.pending().changes.is_empty());

    // A template that fails only for some data: the write that brings that data is refused.
    let picky = "{% for u in domain.users %}{{ u.email }}\
                 {% if u.displayed_name == 'boom' %}{{ nope }}{% endif %}\n{% endfor %}";
    v.submit(template(picky)).await.unwrap();
    v.submit(user("bob", "fine")).await.unwrap();
    let Err(Error::Rejected(problems)) = v.submit(user("bob", "boom")).await else {
        panic!("a change the repository template cannot render was accepted");
    };
    assert_eq!(problems.0[0].file, "templates/smtp/users.j2");
    v.flush().await.unwrap();
    assert_eq!(
        git(
            store.path(),
            &["show", "main:rendered/smtp/etc/t/users/example.com"]
        ),
        // trim_blocks eats the newline after `{% endif %}`.
        "alice@example.combob@example.com"
    );
    v.shutdown().await.unwrap();
}
