//! [`ItemId`]: the id of a user's app token or fetched account, unique in the whole repository among
//! items of its kind, so the API can address `/token/<id>` and a fetch's password can live at
//! `secrets/fetch/<id>` without naming its user.
//!
//! Format: 1–32 characters of `a-z` and `0-9`. New ids are 12 random lower-case hex characters
//! (48 bits: no counter to coordinate between the API and a concurrent push); ids imported from
//! Mailu keep their integer as decimal (`"17"`). Token ids and fetch ids are separate namespaces.

use std::fmt;

use rand::Rng;

/// The id of an app token or a fetched account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ItemId(String);

impl ItemId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(ItemId(raw.to_owned()))
        } else {
            Err(format!(
                "`{raw}` is not a valid id (1-32 characters of a-z and 0-9)"
            ))
        }
    }

    /// A fresh random id (12 hex characters).
    pub fn generate() -> Self {
        let bytes: [u8; 6] = rand::rng().random();
        ItemId(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ItemId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ItemId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse() {
        let id = ItemId::generate();
        assert_eq!(id.as_str().len(), 12);
        assert_eq!(ItemId::parse(id.as_str()).unwrap(), id);
        assert!(ItemId::parse("17").is_ok());
        for bad in ["", "A1", "a-b", &"1".repeat(33)] {
            assert!(ItemId::parse(bad).is_err());
        }
    }
}
