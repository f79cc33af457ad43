//! Change ids: `<ms>-<seq>-<random>` in lower-case hex, e.g. `0190a1b2c3d4-000001-5e7a9c01`.
//!
//! The first part is the acknowledgement time in milliseconds (so ids sort by time across restarts),
//! the second a counter that keeps ids of one process strictly increasing within a millisecond (and
//! across a clock step backwards), the third 32 random bits so two processes, or a restart within the
//! same millisecond, never collide. One word, as a `Mailu-Change` trailer needs.

use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The id of one acknowledged change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ChangeId(String);

/// Why a string is not a change id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a change id (expected <12 hex>-<6 hex>-<8 hex>)")]
pub struct ParseError(pub String);

impl ChangeId {
    /// Parses an id as it appears in a URL or a trailer.
    pub fn parse(raw: &str) -> Result<ChangeId, ParseError> {
        let parts: Vec<&str> = raw.split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        match parts.as_slice() {
            [ms, seq, rnd] if hex(ms, 12) && hex(seq, 6) && hex(rnd, 8) => {
                Ok(ChangeId(raw.to_owned()))
            }
            _ => Err(ParseError(raw.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The acknowledgement time in milliseconds since the Unix epoch, as written in the id.
    pub fn time_ms(&self) -> i64 {
        i64::from_str_radix(&self.0[..12], 16).unwrap_or(0)
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes ids that only grow within one process.
#[derive(Debug, Default)]
pub(super) struct Generator {
    /// The last `(ms, seq)` handed out.
    last: Mutex<(i64, u32)>,
}

impl Generator {
    pub(super) fn next(&self) -> ChangeId {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A clock that steps back keeps the last millisecond and counts on, so ids stay ordered.
        let (ms, seq) = if now > last.0 {
            (now, 0)
        } else if last.1 < 0xff_ffff {
            (last.0, last.1 + 1)
        } else {
            (last.0 + 1, 0)
        };
        *last = (ms, seq);
        let random: u32 = rand::random();
        ChangeId(format!("{ms:012x}-{seq:06x}-{random:08x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_back_and_only_grow() {
        let g = Generator::default();
        let ids: Vec<ChangeId> = (0..1000).map(|_| g.next()).collect();
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
        }
        for id in &ids {
            assert_eq!(ChangeId::parse(id.as_str()).unwrap(), *id);
            assert!(id.time_ms() > 1_600_000_000_000);
        }
    }

    #[test]
    fn foreign_strings_are_not_ids() {
        for bad in [
            "",
            "abc",
            "0190a1b2c3d4-000001",
            "0190A1B2C3D4-000001-5e7a9c01",
            "x y",
        ] {
            assert!(ChangeId::parse(bad).is_err(), "{bad}");
        }
    }
}
