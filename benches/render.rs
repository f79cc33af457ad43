//! Rendering: a full render of 1,000 domains × 100 users (100,000 users) and of 10 × 100, and one
//! user change rendered and committed through the versioner (the real write path: journal, plan
//! under the writer lock, render, commit with fsync) on 10 and 1,000 domains, against the same
//! commit without rendering in the same run (the ratio is what rendering costs).
//!
//! Run: `cargo bench --bench render` (`--quick`: fewer rounds). Figures go to docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use mailu_git::model::{self, RepoPath};
use mailu_git::render::{self, Scope};
use mailu_git::store::{CommitMeta, Edit, Person, Store};
use mailu_git::versioner::{self, Change, Versioner};

const HASH: &str = "{SHA512-CRYPT}$6$fixedsaltAAAA$QGP1aDdvROIIyWaXROU8R03IpS7GrxrNiviS.k.woTq0ZLI0St8VXVu6yDH7m0Ye8mJ9gb8ySd5xjlgxO74XE0";

fn tree(domains: usize, users: usize) -> BTreeMap<RepoPath, Vec<u8>> {
    let mut files: BTreeMap<RepoPath, Vec<u8>> = mailu_git::repo_template::files()
        .unwrap()
        .into_iter()
        .collect();
    let mut put = |path: String, text: String| {
        files.insert(RepoPath::parse(&path).unwrap(), text.into_bytes());
    };
    for d in 0..domains {
        let domain = format!("d{d}.example");
        put(
            format!("domains/{domain}/domain.toml"),
            format!("alternatives = [\"alt{d}.example\"]\n"),
        );
        for u in 0..users {
            let mut text = format!("password = \"{HASH}\"\ndisplayed_name = \"User {u}\"\n");
            if u % 10 == 1 {
                text.push_str(&format!(
                    "forward_enabled = true\nforward_destination = [\"user0@{domain}\"]\n"
                ));
            }
            put(format!("domains/{domain}/users/user{u}.toml"), text);
        }
        put(
            format!("domains/{domain}/aliases/postmaster.toml"),
            format!("destination = [\"user0@{domain}\"]\n"),
        );
        put(
            format!("domains/{domain}/aliases/sales%.toml"),
            format!("destination = [\"user1@{domain}\"]\nwildcard = true\n"),
        );
    }
    files
}

fn full_render(domains: usize, users: usize) {
    let files = tree(domains, users);
    let config = model::load(&files).unwrap();
    let builtins = render::builtins();
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..3 {
        let started = Instant::now();
        let plan = render::plan(builtins, &config, &files, Scope::Full).unwrap();
        let rendered = plan.render(builtins).unwrap();
        best = best.min(started.elapsed());
        out = Some(rendered);
    }
    let out = out.unwrap();
    let bytes: usize = out
        .edits
        .iter()
        .filter_map(|e| e.content.as_ref())
        .map(Vec::len)
        .sum();
    println!(
        "full render {domains:>5} domains × {users} users: {:>8.1} ms (best of 3), {} files, {:.1} MB",
        best.as_secs_f64() * 1e3,
        out.edits.len(),
        bytes as f64 / 1e6
    );
}

fn stats(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p99 = times[((times.len() as f64 * 0.99) as usize).min(times.len() - 1)];
    (ms(times[times.len() / 2]), ms(p99))
}

/// Median and p99 of one user change committed, with or without rendering.
async fn one_user_changes(
    dir: &Path,
    domains: usize,
    rounds: usize,
    rendering: bool,
) -> (f64, f64) {
    let files = tree(domains, 100);
    let mut all = files.clone();
    let config = model::load(&files).unwrap();
    let stamp = if rendering {
        let out = render::render(&config, &files, Scope::Full).unwrap();
        for e in out.edits {
            all.insert(e.path, e.content.unwrap());
        }
        Some(render::stamp().to_owned())
    } else {
        None
    };
    let repo = dir.join(format!("repo-{domains}-{rendering}"));
    let who = Person {
        name: "bench".into(),
        email: "bench@localhost".into(),
    };
    let store = Store::init(
        &repo,
        &all.into_iter().collect::<Vec<_>>(),
        &CommitMeta {
            renderer: stamp,
            ..CommitMeta::new(who, "bench tree")
        },
    )
    .unwrap();
    let settings = versioner::Settings {
        render: rendering.then(render::builtins),
        ..versioner::Settings::new(Duration::from_secs(3600), Duration::from_secs(3600))
    };
    let v = Versioner::open(
        store,
        &dir.join(format!("journal-{domains}-{rendering}")),
        settings,
    )
    .await
    .unwrap();
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let d = (round * 7919) % domains;
        let path = RepoPath::parse(&format!(
            "domains/d{d}.example/users/user{}.toml",
            round % 100
        ))
        .unwrap();
        let text = format!("password = \"{HASH}\"\ndisplayed_name = \"Round {round}\"\n");
        v.submit(Change {
            author: "bench".into(),
            summary: "one user".into(),
            edits: vec![Edit::write(path, text)],
        })
        .await
        .unwrap();
        let started = Instant::now();
        v.flush().await.unwrap();
        times.push(started.elapsed());
    }
    v.shutdown().await.unwrap();
    stats(&mut times)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 20 } else { 100 };
    println!("built-in templates: {}", render::stamp());
    full_render(10, 100);
    full_render(1000, 100);
    let tmp = tempfile::tempdir().unwrap();
    for domains in [10, 1000] {
        let (plain_med, plain_p99) = one_user_changes(tmp.path(), domains, rounds, false).await;
        let (med, p99) = one_user_changes(tmp.path(), domains, rounds, true).await;
        println!(
            "one user changed, {domains:>4} domains × 100 users: rendered+committed median {med:.2} ms p99 {p99:.2} ms; \
             commit without rendering {plain_med:.2} / {plain_p99:.2} ms (ratio {:.2})",
            med / plain_med
        );
    }
}
