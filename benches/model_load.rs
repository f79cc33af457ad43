//! Loading and validating a whole configuration: 1,000 domains × 100 users, one domain of 100,000
//! users, and a typical install (5 domains, 200 users). Prints the median of a few runs; the store
//! benchmark measures the same from a real repository (loose and packed).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mailu_git::model::{self, RepoPath};

fn tree(domains: usize, users: usize) -> BTreeMap<RepoPath, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut put = |path: String, text: String| {
        files.insert(
            RepoPath::parse(&path).expect("valid path"),
            text.into_bytes(),
        );
    };
    put("mailu.toml".into(), String::new());
    for d in 0..domains {
        let domain = format!("d{d}.example");
        put(
            format!("domains/{domain}/domain.toml"),
            format!("comment = \"domain {d}\"\nalternatives = [\"alt{d}.example\"]\n"),
        );
        for u in 0..users {
            put(
                format!("domains/{domain}/users/user{u}.toml"),
                format!(
                    "# user {u}\npassword = \"$2y$12$abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrstu\"\n\
                     displayed_name = \"User {u}\"\nquota_bytes = 2000000000\n"
                ),
            );
        }
        put(
            format!("domains/{domain}/aliases/postmaster.toml"),
            format!("destination = [\"user0@{domain}\", \"someone@external.example\"]\n"),
        );
    }
    files
}

fn measure(name: &str, files: &BTreeMap<RepoPath, Vec<u8>>, runs: usize) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let config = model::load(files).expect("the generated tree is valid");
            let took = start.elapsed();
            drop(config);
            took
        })
        .collect();
    times.sort();
    println!(
        "model::load {name}: {} files, median {:?} (min {:?}, max {:?})",
        files.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}

fn main() {
    measure("typical (5 domains x 40 users)", &tree(5, 40), 9);
    measure("1,000 domains x 100 users", &tree(1000, 100), 3);
    measure("1 domain x 100,000 users", &tree(1, 100_000), 3);
}
