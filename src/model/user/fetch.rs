//! `[[fetches]]` of a user file: remote POP3/IMAP mailboxes fetchmail pulls into the user's mailbox.
//! The remote password is a secret at `secrets/fetch/<id>`; runtime state (last check, last error)
//! never enters the repository.

use super::super::Problem;
use super::super::domain::{check_comment, duplicates, is_false};
use super::super::item_id::ItemId;

/// The protocol of a fetched account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Imap,
    Pop3,
}

/// One fetched account of a user.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// Unique among the fetches of the whole repository; names the password secret.
    pub id: ItemId,
    pub protocol: Protocol,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls: bool,
    pub username: String,
    /// Keep the messages on the remote server.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep: bool,
    /// Pass fetched messages through the antispam.
    #[serde(default, skip_serializing_if = "is_false")]
    pub scan: bool,
    /// Keep the original headers (no `Received:` added by fetchmail).
    #[serde(default, skip_serializing_if = "is_false")]
    pub invisible: bool,
    /// Remote folders to fetch (IMAP); empty means the inbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

fn default_port() -> u16 {
    993
}

impl Fetch {
    /// In-file checks; `at` is the fetch's dotted path (`fetches.0`).
    pub fn validate(&self, at: &str, problems: &mut Vec<Problem>) {
        check_comment(&self.comment, &format!("{at}.comment"), problems);
        let host_ok = !self.host.is_empty()
            && self.host.len() <= 255
            && !self
                .host
                .contains(|c: char| c.is_whitespace() || c.is_control() || c == '/');
        if !host_ok {
            problems.push(Problem::new(
                format!("{at}.host"),
                "must be a host name or an IP address",
            ));
        }
        if self.port == 0 {
            problems.push(Problem::new(format!("{at}.port"), "must be 1 to 65535"));
        }
        if self.username.is_empty() || self.username.len() > 255 {
            problems.push(Problem::new(
                format!("{at}.username"),
                "must be 1 to 255 characters",
            ));
        }
        for (i, folder) in self.folders.iter().enumerate() {
            if folder.is_empty() || folder.contains(',') || folder.chars().any(char::is_control) {
                problems.push(Problem::new(
                    format!("{at}.folders.{i}"),
                    "a folder name must be non-empty, without commas or control characters",
                ));
            }
        }
        duplicates(&self.folders, &format!("{at}.folders"), problems);
    }
}

#[cfg(test)]
mod tests {
    use crate::model::toml_file::parse;
    use crate::model::user::User;

    #[test]
    fn fetch_problems_name_their_field() {
        let text = "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n[[fetches]]\nid = \"f1\"\nprotocol = \"imap\"\nhost = \"mail.example.com\"\nport = 0\nusername = \"bob\"\n";
        let err = parse::<User>("u.toml", text).unwrap_err();
        assert_eq!(err[0].line, Some(6));
        assert_eq!(err[0].field.as_deref(), Some("fetches.0.port"));
        let text = "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n[[fetches]]\nid = \"f1\"\nprotocol = \"smtp\"\nhost = \"h\"\nusername = \"bob\"\n";
        let err = parse::<User>("u.toml", text).unwrap_err();
        assert_eq!(err[0].line, Some(4));
        assert_eq!(err[0].field.as_deref(), Some("fetches.0.protocol"));
    }
}
