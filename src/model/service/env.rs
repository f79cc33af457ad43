//! [`EnvValue`]: the value of a service's environment variable, either a plain string or a reference
//! to an encrypted secret (`{ secret = "kind/name" }`) that only the service's bundle fills in.

use std::fmt;

use crate::model::SecretRef;

/// One environment variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    Secret(SecretRef),
}

/// An environment variable name: letters, digits and `_`, not starting with a digit.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl serde::Serialize for EnvValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            EnvValue::Plain(v) => s.serialize_str(v),
            EnvValue::Secret(r) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("secret", r)?;
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for EnvValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number, a boolean or `{ secret = \"kind/name\" }`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v.to_owned()))
            }
            // Numbers and booleans are what an operator naturally writes for `PORT = 25`.
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<EnvValue, A::Error> {
                use serde::de::Error;
                let mut secret = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "secret" || secret.is_some() {
                        return Err(A::Error::custom(format!(
                            "unknown key `{key}` in an env value; only `secret = \"kind/name\"` is allowed"
                        )));
                    }
                    secret = Some(map.next_value::<SecretRef>()?);
                }
                secret
                    .map(EnvValue::Secret)
                    .ok_or_else(|| A::Error::custom("an env table needs `secret = \"kind/name\"`"))
            }
        }
        d.deserialize_any(Visitor)
    }
}
