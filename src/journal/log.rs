//! The journal's file format: a sequence of framed records, each `magic | length | crc32 | payload`,
//! the payload being one [`Record`] as JSON.
//!
//! A crash can leave a torn record at the end of the file (a write that reached the disk only in
//! part). Such a tail was never acknowledged (acknowledgement follows the fsync), so [`read`] drops it.
//! A bad record followed by good ones is not a torn tail but damage, and is refused: dropping it would
//! lose an acknowledged write.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::model::RepoPath;

const MAGIC: [u8; 4] = *b"MGJ1";
const HEADER: usize = 12;
/// The largest record accepted: bigger ones are refused when written, and a length field above it
/// means damage when read.
pub const MAX_RECORD: usize = 64 << 20;

/// One acknowledged change: the resulting contents of every file it touches. Applying a record is
/// idempotent: applying it twice gives the same tree as applying it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The change id, unique across the server's life; it ends up in the version's trailers.
    pub id: String,
    /// The access token's name that made the change.
    pub author: String,
    /// When the change was acknowledged, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// One line saying what the change does, for the version message.
    pub summary: String,
    pub edits: Vec<Edit>,
}

/// The edit type is the store's: a record holds exactly what a commit will apply.
pub use crate::store::Edit;

#[derive(Serialize, Deserialize)]
struct RawEdit {
    path: String,
    /// Base64, so that any bytes survive JSON.
    content: Option<String>,
}

impl Serialize for Edit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let engine = base64::engine::general_purpose::STANDARD;
        RawEdit {
            path: self.path.as_str().to_owned(),
            content: self.content.as_ref().map(|c| engine.encode(c)),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Edit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = RawEdit::deserialize(d)?;
        let path = RepoPath::parse(&raw.path).map_err(D::Error::custom)?;
        let engine = base64::engine::general_purpose::STANDARD;
        let content = raw
            .content
            .map(|c| engine.decode(c))
            .transpose()
            .map_err(D::Error::custom)?;
        Ok(Edit { path, content })
    }
}

/// Why the journal file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the journal: {0}")]
    Io(#[from] io::Error),
    #[error(
        "the journal is damaged at byte {offset} ({reason}) and valid records follow; refusing to drop \
         acknowledged writes: move the file aside and restore from backup, or remove it knowingly"
    )]
    Damaged { offset: u64, reason: String },
}

/// What [`read`] found.
#[derive(Debug)]
pub struct Contents {
    pub records: Vec<Record>,
    /// Where the valid records end; a torn tail after this must be cut off before appending.
    pub valid_len: u64,
    /// Bytes of torn tail found after `valid_len`.
    pub torn: u64,
}

/// Frames one record for appending.
pub fn encode(record: &Record, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let payload = serde_json::to_vec(record)?;
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Reads every valid record of the journal at `path` (none if it does not exist).
pub fn read(path: &Path) -> Result<Contents, ReadError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Result<Contents, ReadError> {
    let mut records = Vec::new();
    let mut offset = 0usize;
    while offset < bytes.len() {
        match frame_at(bytes, offset) {
            Ok((record, next)) => {
                records.push(record);
                offset = next;
            }
            Err(reason) => {
                // A torn tail holds no complete frame after the bad one. If one follows, this is damage.
                if (offset + 1..bytes.len())
                    .any(|o| bytes[o..].starts_with(&MAGIC) && frame_at(bytes, o).is_ok())
                {
                    return Err(ReadError::Damaged {
                        offset: offset as u64,
                        reason,
                    });
                }
                return Ok(Contents {
                    records,
                    valid_len: offset as u64,
                    torn: (bytes.len() - offset) as u64,
                });
            }
        }
    }
    Ok(Contents {
        records,
        valid_len: offset as u64,
        torn: 0,
    })
}

fn frame_at(bytes: &[u8], offset: usize) -> Result<(Record, usize), String> {
    let rest = &bytes[offset..];
    if rest.len() < HEADER {
        return Err("truncated header".into());
    }
    if rest[..4] != MAGIC {
        return Err("bad magic".into());
    }
    let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
    let crc = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
    if len > MAX_RECORD {
        return Err(format!("record length {len} is too large"));
    }
    let payload = rest.get(HEADER..HEADER + len).ok_or("truncated record")?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    let record = serde_json::from_slice(payload).map_err(|e| format!("undecodable record: {e}"))?;
    Ok((record, offset + HEADER + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn record(id: &str) -> Record {
        Record {
            id: id.into(),
            author: "admin".into(),
            time_ms: 1,
            summary: format!("change {id}"),
            edits: vec![
                Edit {
                    path: RepoPath::parse("relays/example.com.toml").unwrap(),
                    content: Some(b"smtp = \"x\"\n".to_vec()),
                },
                Edit {
                    path: RepoPath::parse("relays/old.example.toml").unwrap(),
                    content: None,
                },
            ],
        }
    }

    fn encoded(ids: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for id in ids {
            encode(&record(id), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn round_trip() {
        let bytes = encoded(&["a", "b"]);
        let c = parse(&bytes).unwrap();
        assert_eq!(c.records, vec![record("a"), record("b")]);
        assert_eq!(c.valid_len, bytes.len() as u64);
        assert_eq!(c.torn, 0);
    }

    #[test]
    fn every_torn_tail_is_dropped() {
        let good = encoded(&["a"]);
        let full = encoded(&["a", "b"]);
        for cut in good.len() + 1..full.len() {
            let c = parse(&full[..cut]).unwrap();
            assert_eq!(c.records, vec![record("a")], "cut at {cut}");
            assert_eq!(c.valid_len, good.len() as u64);
        }
    }

    #[test]
    fn damage_before_valid_records_is_refused() {
        let mut bytes = encoded(&["a", "b", "c"]);
        let second = encoded(&["a"]).len() + HEADER + 3;
        bytes[second] ^= 0xff;
        assert!(matches!(parse(&bytes), Err(ReadError::Damaged { .. })));
    }

    #[test]
    fn a_corrupt_last_record_counts_as_torn() {
        let mut bytes = encoded(&["a", "b"]);
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        let c = parse(&bytes).unwrap();
        assert_eq!(c.records, vec![record("a")]);
        assert!(c.torn > 0);
    }
}
