//! `[[tokens]]` of a user file: Mailu's app tokens (per-application mail passwords), and [`Cidr`],
//! the networks a token is limited to. The token's secret is stored only as a hash.

use std::fmt;
use std::net::IpAddr;

use super::super::Problem;
use super::super::date::Date;
use super::super::domain::{check_comment, duplicates};
use super::super::item_id::ItemId;
use super::check_hash;

/// One app token of a user.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Unique among the tokens of the whole repository.
    pub id: ItemId,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The networks the token may be used from; empty means anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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

/// A network, `address/prefix`; a bare address means the one host. Host bits may be set, as
/// Python's `ip_network(strict=False)` allows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let fail = || format!("`{raw}` is not an IP network (`192.0.2.0/24`, `2001:db8::/32`)");
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| fail())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(fail)?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Cidr::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;
    use crate::model::user::User;

    #[test]
    fn cidr_parses_and_matches() {
        let c = Cidr::parse("192.0.2.7/24").unwrap();
        assert!(c.contains("192.0.2.200".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert_eq!(Cidr::parse("::1").unwrap().prefix, 128);
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["", "1.2.3.4/33", "x/8", "::/129", "1.2.3.4/"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
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
