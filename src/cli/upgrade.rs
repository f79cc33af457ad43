//! `mailu-git upgrade --server-image IMAGE`: tells the worker to run the server from another
//! image. The server's image is the `image` of `services/admin.toml`, a versioned setting like
//! any other: this command PATCHes it through the REST API (`/api/v1/service/admin`, as
//! `mailu-git service set admin image IMAGE` or a push would), waits for the version and says
//! what the worker does next (`docs/deploy.md`, "Upgrading"). The upgrade itself is the worker's
//! (`worker::upgrade`): this command never talks to Docker.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::admin::{Connection, Session};

/// `mailu-git upgrade`'s own options.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The server image to run, `name:tag` or `name@digest` (built by images/server/build.sh, or
    /// from a registry).
    #[arg(long)]
    server_image: String,
    /// Also set when the worker pulls it: `always`, `missing` or `never` (the service file's
    /// `pull`; unchanged when not given).
    #[arg(long, value_parser = ["always", "missing", "never"])]
    pull: Option<String>,
}

/// `mailu-git upgrade --server-image IMAGE [--pull POLICY]`.
pub fn run(connection: Connection, args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(connection.waiting())?;
    let current = session.get("service/admin")?;
    let old = current["image"].as_str().unwrap_or("").to_owned();
    let old_pull = current["pull"].as_str().unwrap_or("missing").to_owned();
    let pull = args.pull.clone().unwrap_or(old_pull.clone());
    if old == args.server_image && pull == old_pull {
        let text = format!(
            "services/admin.toml already names {old} (pull = {pull}): nothing to change.\n\
             The worker upgrades a running server of another image; `mailu-git status` shows \
             its last report.\n"
        );
        return session.print(&json!({"changed": false, "image": old}), |_| text);
    }
    let mut patch = json!({"image": args.server_image});
    if let Some(p) = &args.pull {
        patch["pull"] = Value::from(p.clone());
    }
    let receipt = session.patch_value("service/admin", &patch)?;
    let enabled = current["enabled"].as_bool() != Some(false);
    session.print(&receipt, |r| {
        explain(r, &old, &args.server_image, &pull, enabled)
    })
}

/// What the receipt means, for people.
fn explain(receipt: &Value, old: &str, new: &str, pull: &str, enabled: bool) -> String {
    let version = receipt["version"]
        .as_u64()
        .map_or_else(|| "a pending change".to_owned(), |n| format!("version {n}"));
    let mut out = format!(
        "{version}: services/admin.toml's image is now {new} (was {old}; pull = {pull}).\n"
    );
    if !enabled {
        out.push_str(
            "The admin service is disabled: the worker leaves the server alone until it is \
             enabled.\n",
        );
        return out;
    }
    out.push_str(&format!(
        "Once this version is deployed, the worker (mailu-git worker) pulls {new} as pull says, \
         stops the running server (it commits what is pending), starts {new} in its place with \
         the same data volume, networks, ports and environment, and keeps it once it serves \
         (within 120 s). If it does not, the worker removes it, starts {old} again and reports the \
         failure (`mailu-git status`: deploy_failed on admin); it tries {new} again only for a \
         newer version.\n\
         A newer server may move the repository's format forward: going back to {old} after it \
         started may then need the backup. Take one first: `mailu-git backup`.\n\
         Back: `mailu-git upgrade --server-image {old}`.\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explanation_names_the_version_both_images_and_the_backup() {
        let text = explain(&json!({"version": 7}), "s:1", "s:2", "never", true);
        assert!(text.starts_with("version 7: "), "{text}");
        assert!(text.contains("now s:2 (was s:1; pull = never)"), "{text}");
        assert!(text.contains("mailu-git backup"), "{text}");
        assert!(text.contains("--server-image s:1"), "{text}");
        let off = explain(&json!({}), "s:1", "s:2", "missing", false);
        assert!(off.contains("disabled"), "{off}");
    }
}
