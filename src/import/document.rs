//! Mailu's `config-export` document as typed data: the sections `domain`, `user`, `alias` and
//! `relay`, with Mailu's key names and its lenient forms (a DKIM key as one string or a list of
//! lines, a destination list as a list or a comma-separated string, ids as numbers). Every field
//! but the primary key is optional: Mailu exports only values that differ from the default, and an
//! absent field means the default. Dump-only keys (`dkim_publickey`, `dns_*`, `owner_email`,
//! `quota_bytes_used`, fetch `last_check`/`error`) are accepted and ignored. Not here: what the
//! values mean for the repository (`convert`), the `--update` notation (`merge`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What stands for a secret that is not shown (Mailu prints it unless `--secrets`).
pub const HIDDEN: &str = "<hidden>";
/// The DKIM key value that asks for a new key.
pub const GENERATE: &str = "-generate-";

/// A whole `config-export` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Document {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domain: Vec<DomainDoc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<UserDoc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alias: Vec<AliasDoc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relay: Vec<RelayDoc>,
}

/// The four sections, in Mailu's order, with the primary key of each.
pub const SECTIONS: [(&str, &str); 4] = [
    ("domain", "name"),
    ("user", "email"),
    ("alias", "email"),
    ("relay", "name"),
];

/// Dump-only values Mailu may write; read and dropped.
type Ignored = Option<serde_json::Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainDoc {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_users: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_aliases: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_quota_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signup_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonmail_enabled: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "list_or_commas"
    )]
    pub alternatives: Option<Vec<String>>,
    /// A PEM private key, `<hidden>` (keep), `-generate-` (a new key) or empty (no key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim_key: Option<Lines>,
    #[serde(skip_serializing)]
    pub dkim_publickey: Ignored,
    #[serde(skip_serializing)]
    pub dns_mx: Ignored,
    #[serde(skip_serializing)]
    pub dns_spf: Ignored,
    #[serde(skip_serializing)]
    pub dns_dkim: Ignored,
    #[serde(skip_serializing)]
    pub dns_dmarc: Ignored,
    #[serde(skip_serializing)]
    pub dns_dmarc_report: Ignored,
    #[serde(skip_serializing)]
    pub dns_tlsa: Ignored,
    #[serde(skip_serializing)]
    pub dns_autoconfig: Ignored,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserDoc {
    pub email: String,
    /// A hash (Mailu's passlib format or a `{SCHEME}` one), or plaintext with `hash_password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_password: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub displayed_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_admin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_pw_next_login: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_imap: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_pop: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_spoofing: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_enabled: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "list_or_commas"
    )]
    pub forward_destination: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_keep: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_startdate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_enddate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam_mark_as_read: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam_threshold: Option<u8>,
    /// The domains this user manages (Mailu keeps managers on the user).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "list_or_commas"
    )]
    pub manager_of: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<TokenDoc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetches: Option<Vec<FetchDoc>>,
    #[serde(skip_serializing)]
    pub quota_bytes_used: Ignored,
    #[serde(skip_serializing)]
    pub created_at: Ignored,
    #[serde(skip_serializing)]
    pub updated_at: Ignored,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "list_or_commas"
    )]
    pub ip: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_password: Option<bool>,
    #[serde(skip_serializing)]
    pub created_at: Ignored,
    #[serde(skip_serializing)]
    pub updated_at: Ignored,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The remote password in plaintext, or `<hidden>` (keep the stored one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invisible: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "list_or_commas"
    )]
    pub folders: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing)]
    pub last_check: Ignored,
    #[serde(skip_serializing)]
    pub error: Ignored,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AliasDoc {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "list_or_commas"
    )]
    pub destination: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wildcard: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing)]
    pub owner_email: Ignored,
    #[serde(skip_serializing)]
    pub note: Ignored,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayDoc {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<String>,
}

/// Text given as one string or as a list of lines (Mailu accepts both for a DKIM key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines(pub String);

impl Serialize for Lines {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Lines {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a string or a list of lines"))?
        {
            Raw::One(s) => Ok(Lines(s)),
            Raw::Many(lines) => Ok(Lines(lines.join("\n"))),
        }
    }
}

/// A Mailu row id: a number there, a string of `a-z0-9` here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(pub String);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<u64>() {
            Ok(n) if !self.0.starts_with('0') || self.0 == "0" => s.serialize_u64(n),
            _ => s.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a number or a string"))?
        {
            Raw::Number(n) => Ok(Id(n.to_string())),
            Raw::Text(s) => Ok(Id(s)),
        }
    }
}

/// A list given as a list or as one comma-separated string (`null` is no list).
fn list_or_commas<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    match Option::<Raw>::deserialize(d)
        .map_err(|_| serde::de::Error::custom("expected a list of strings or one string"))?
    {
        None => Ok(None),
        Some(Raw::Many(items)) => Ok(Some(items)),
        Some(Raw::One(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
    }
}
