//! The locally built Debian bookworm image (`images/bookworm/build.sh`) as the referee of rendered
//! files: a test lays files out as a container's root, and the daemons' own checks (`postfix check`,
//! `doveconf -n`, `nginx -t`, ...) judge them in a throwaway container with no network. Not a way to
//! run mail stacks: nothing here starts a daemon or keeps a container.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// How to check a postfix configuration. `postfix check` alone exits 1 without a word on a
/// broken main.cf or master.cf (its messages go to the mail log, and there is none in a check
/// container); `postconf` names the file and line on stderr, and warns about unused (misspelt)
/// parameters without failing, so assert on an empty stderr too.
pub const POSTFIX_CHECK: &str = "postconf -n >/dev/null && postconf -M >/dev/null && postfix check";

/// What the first [`ensure`] of this process found.
enum Availability {
    /// The image reference, `mailu-git/bookworm:<key>`.
    Ready(String),
    /// A prerequisite (root, docker, debootstrap) is missing: skip, unless CI requires every test.
    Missing(String),
    /// The build itself failed: every test that needs the image fails with this message.
    Failed(String),
}

static IMAGE: OnceLock<Availability> = OnceLock::new();

/// The build script's exit status for a missing prerequisite (see its header).
const EXIT_MISSING: i32 = 3;

/// The image this test process checks with, built (or found in Docker's cache, which costs one
/// `docker image inspect`) by the first call. `None` means skip the test: the reason is printed.
/// With `MAILU_GIT_REQUIRE_ALL=1` a missing prerequisite panics instead, like `have_tool`.
pub fn ensure() -> Option<&'static str> {
    match IMAGE.get_or_init(build) {
        Availability::Ready(image) => Some(image),
        Availability::Missing(why) => {
            assert!(
                std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
                "the bookworm image is required (MAILU_GIT_REQUIRE_ALL=1) but cannot be built: {why}"
            );
            eprintln!("SKIPPED: the bookworm image cannot be built: {why}");
            None
        }
        Availability::Failed(why) => panic!("{why}"),
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("images/bookworm/build.sh")
}

/// Runs the build script once. Its checks decide what is missing (not root, no docker, no
/// debootstrap when a build is needed), so the test and the script cannot disagree about it.
fn build() -> Availability {
    let script = script();
    eprintln!(
        "image: running {} (about a minute when the image is not cached)",
        script.display()
    );
    let out = match Command::new(&script).output() {
        Ok(out) => out,
        Err(e) => return Availability::Failed(format!("{} cannot run: {e}", script.display())),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(EXIT_MISSING) {
        return Availability::Missing(last_lines(&stderr, 3));
    }
    let image = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !out.status.success() || !image.starts_with("mailu-git/bookworm:") {
        return Availability::Failed(format!(
            "{} failed ({}); the end of its output:\n{}",
            script.display(),
            out.status,
            last_lines(&stderr, 40)
        ));
    }
    // A build prints its phase timings; a cache hit prints one line. Either way, say which image.
    eprintln!("{}", last_lines(&stderr, 4));
    Availability::Ready(image)
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What a check printed and how it ended. `Display` shows all of it, for failure messages.
#[derive(Debug)]
pub struct CheckOutput {
    /// The exit status of the script; -1 if it was killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    script: String,
}

impl CheckOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Panics, showing everything the check printed, unless the script exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "the check should pass but failed:\n{self}");
        self
    }

    /// Panics, showing everything the check printed, unless the script failed and its output
    /// (stdout and stderr) contains `needle`: a failure for the expected reason, not any failure.
    #[track_caller]
    pub fn assert_failure(&self, needle: &str) -> &Self {
        assert!(!self.success(), "the check should fail but passed:\n{self}");
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "the check failed, but its output does not mention {needle:?}:\n{self}"
        );
        self
    }
}

impl fmt::Display for CheckOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- script ---\n{}", self.script.trim_end())?;
        writeln!(f, "--- exit status {} ---", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

/// Runs `script` (with `sh -c`) in a throwaway container of the image, after copying `files` over
/// the container's root: `files` is laid out as that root (`<files>/etc/postfix/main.cf` becomes
/// `/etc/postfix/main.cf`), mounted read-only at `/rendered` and copied with `cp -a`, so owners and
/// modes set in `files` are kept. No network (`--network none`); the container is removed after.
/// Call [`ensure`] first and skip the test when it gives `None`.
pub fn run_check(files: &Path, script: &str) -> CheckOutput {
    let Some(image) = ensure() else {
        panic!("run_check needs the image: call image::ensure() first and skip when it is None")
    };
    let files = files
        .canonicalize()
        .unwrap_or_else(|e| panic!("the files to check, {}: {e}", files.display()));
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--pull", "never"])
        .arg("--volume")
        .arg(format!("{}:/rendered:ro", files.display()))
        .arg(image)
        // The script is an argument, not spliced into the command line: no quoting to get wrong.
        .args([
            "sh",
            "-c",
            r#"cp -a /rendered/. / && exec sh -c "$1""#,
            "run_check",
            script,
        ])
        .output()
        .expect("docker runs");
    // 125 is docker's own failure (bad mount, missing image), never the script's verdict.
    assert!(
        out.status.code() != Some(125),
        "docker could not start the check container: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    CheckOutput {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        script: script.to_owned(),
    }
}
