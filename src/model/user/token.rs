//! `[[tokens]]` of a user file: Mailu's app tokens (per-application mail passwords), limited to
//! networks ([`Cidr`], read leniently as Mailu does). The token's secret is stored only as a hash.

use super::super::Problem;
use super::super::date::Date;
use super::super::domain::{check_comment, duplicates};
use super::super::item_id::ItemId;
use super::check_hash;
use crate::model::settings::Cidr;

/// One app token of a user.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Unique among the tokens of the whole repository.
    pub id: ItemId,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The networks the token may be used from; empty means anywhere.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_networks"
    )]
    pub ip: Vec<Cidr>,
    /// The token as a hash, never plaintext.
    pub password: String,
    /// The day the token was made, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Date>,
}

impl Token {
    /// In-file checks; `at` is the token's dotted path (`tokens.0`).
    pub fn validate(&self, at: &str, problems: &mut Vec<Problem>) {
        check_comment(&self.comment, &format!("{at}.comment"), problems);
        check_hash(&self.password, &format!("{at}.password"), problems);
        duplicates(&self.ip, &format!("{at}.ip"), problems);
    }
}

/// Reads `ip = [...]` leniently, as Mailu does for tokens (see [`Cidr::parse_lenient`]).
fn lenient_networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    let raw = <Vec<String> as serde::Deserialize>::deserialize(d)?;
    raw.iter()
        .map(|r| Cidr::parse_lenient(r).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;
    use crate::model::user::User;

    #[test]
    fn cidr_parses_and_matches() {
        let c = Cidr::parse_lenient("192.0.2.7/24").unwrap();
        assert!(c.contains("192.0.2.200".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert_eq!(Cidr::parse_lenient("::1").unwrap().prefix, 128);
        assert!(
            Cidr::parse_lenient("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["", "1.2.3.4/33", "x/8", "::/129", "1.2.3.4/"] {
            assert!(Cidr::parse_lenient(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_problems_name_their_field() {
        let text = "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n\n[[tokens]]\nid = \"a1\"\npassword = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n\n[[tokens]]\nid = \"a2\"\nip = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\npassword = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n";
        let err = parse::<User>("u.toml", text).unwrap_err();
        assert_eq!(err[0].line, Some(9));
        assert!(err[0].field.as_deref().unwrap().starts_with("tokens.1.ip"));
        let text = "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n[[tokens]]\nid = \"a1\"\npassword = \"plain\"\n";
        let err = parse::<User>("u.toml", text).unwrap_err();
        assert_eq!(err[0].line, Some(4));
        assert_eq!(err[0].field.as_deref(), Some("tokens.0.password"));
    }
}
