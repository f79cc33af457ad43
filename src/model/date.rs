//! [`Date`]: a calendar day (`YYYY-MM-DD`), as Mailu's autoreply start and end dates and app-token
//! creation days. Written as a string so the same value serializes alike to TOML and JSON; read from a
//! string or from a TOML local date (`reply_enddate = 2025-01-31`), which an operator may prefer.

use std::fmt;

use chrono::NaiveDate;

/// A calendar day with no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Date {
    /// `YYYY-MM-DD`, the only form accepted.
    pub fn parse(raw: &str) -> Result<Self, String> {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|_| raw.len() == 10)
            .map(Date)
            .ok_or_else(|| format!("`{raw}` is not a date of the form YYYY-MM-DD"))
    }

    /// A date known to be valid, for defaults.
    pub fn ymd(year: i32, month: u32, day: u32) -> Self {
        Date(NaiveDate::from_ymd_opt(year, month, day).expect("defaults are valid dates"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Date;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Date, E> {
                Date::parse(v).map_err(E::custom)
            }
            // A TOML date arrives as toml's private one-key map; let toml's own type read it.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Date, A::Error> {
                use serde::de::{Deserialize, Error};
                let dt = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                match (dt.date, dt.time, dt.offset) {
                    (Some(date), None, None) => {
                        Date::parse(&date.to_string()).map_err(A::Error::custom)
                    }
                    _ => Err(A::Error::custom(format!(
                        "`{dt}` is not a plain date (YYYY-MM-DD, no time)"
                    ))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize)]
    struct T {
        d: Date,
    }

    #[test]
    fn reads_strings_and_toml_dates_writes_strings() {
        let a: T = toml::from_str("d = \"2024-02-29\"").unwrap();
        let b: T = toml::from_str("d = 2024-02-29").unwrap();
        assert_eq!(a.d, b.d);
        assert_eq!(toml::to_string(&a).unwrap().trim(), "d = \"2024-02-29\"");
        assert!(toml::from_str::<T>("d = \"2023-02-29\"").is_err());
        assert!(toml::from_str::<T>("d = 2023-02-28T10:00:00").is_err());
        assert!(toml::from_str::<T>("d = \"2023-2-8\"").is_err());
    }
}
