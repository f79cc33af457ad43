//! `mailu-git certificate show|set`: the TLS certificate (`/api/v1/certificate`). `set` uploads a
//! chain and its key from files; the server checks them and keeps the key encrypted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Value, json};

use super::Session;

#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// Show the certificate in use: names, issuer, validity, source and the last renewal attempt.
    Show,
    /// Install a certificate: the server refuses a key that does not match, a chain that is
    /// expired or not yet valid, and names that do not cover `mail.hostnames`.
    Set {
        /// The PEM chain: the certificate first, then its intermediates.
        #[arg(long)]
        cert: PathBuf,
        /// Its private key in PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`).
        #[arg(long)]
        key: PathBuf,
    },
}

pub fn certificate(session: &Session, command: CertificateCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertificateCommand::Show => session.show("certificate", human),
        CertificateCommand::Set { cert, key } => {
            let read = |path: &PathBuf| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))
            };
            let body = json!({"cert": read(&cert)?, "key": read(&key)?});
            session.put_bytes("certificate", serde_json::to_vec(&body)?)
        }
    }
}

fn human(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_owned();
    let names: Vec<&str> = v["hostnames"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let r = &v["renewal"];
    let mut out = format!(
        "source      {}\nhostnames   {}\nissuer      {}\nnot before  {}\nnot after   {}\ncovers      {}\n",
        s("source"),
        names.join(", "),
        s("issuer"),
        s("not_before"),
        s("not_after"),
        if v["covers_hostnames"] == true {
            "every name of mail.hostnames"
        } else {
            "NOT every name of mail.hostnames"
        },
    );
    if let Some(at) = r["at"].as_str() {
        out.push_str(&format!(
            "renewal     last attempt {at}: {}\n",
            r["error"].as_str().unwrap_or("ok")
        ));
    }
    if let Some(next) = r["next"].as_str() {
        out.push_str(&format!("            next attempt {next}\n"));
    }
    out
}
