//! What bundles remember between requests: per (deployed commit, service) the `ETag` (or that the
//! service is unknown or disabled there), per commit its version number, per (rendered tree, service
//! file) the secrets the files reference, and the built archives by `ETag` within a byte budget.
//!
//! Keys are ids of immutable objects, so nothing here is ever stale; entries only fall out to bound
//! memory. The small maps are cleared whole when they pass their bound (a new deployed commit fills
//! them again with one read per service); archives are evicted oldest first.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use gix::ObjectId;

use super::{Current, Error, Etag};
use crate::model::{SecretRef, ServiceName};

/// Entries of the small maps before they are cleared: enough for many commits of every service.
const MAX_ENTRIES: usize = 4096;

type Found = Result<Arc<Current>, Arc<Error>>;

/// The cache of [`super::Bundles`].
#[derive(Debug)]
pub struct Cache {
    budget: usize,
    numbers: HashMap<ObjectId, u64>,
    current: HashMap<(ObjectId, ServiceName), Found>,
    references: HashMap<(Option<ObjectId>, ObjectId), Arc<Vec<SecretRef>>>,
    archives: HashMap<Etag, Arc<[u8]>>,
    /// Archive tags, oldest first, and the bytes they hold.
    order: VecDeque<Etag>,
    bytes: usize,
}

impl Cache {
    /// A cache keeping archives of up to `budget` bytes in all.
    pub fn new(budget: usize) -> Cache {
        Cache {
            budget,
            numbers: HashMap::new(),
            current: HashMap::new(),
            references: HashMap::new(),
            archives: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }

    pub fn number(&self, commit: &ObjectId) -> Option<u64> {
        self.numbers.get(commit).copied()
    }

    pub fn set_number(&mut self, commit: ObjectId, number: u64) {
        if self.numbers.len() >= MAX_ENTRIES {
            self.numbers.clear();
        }
        self.numbers.insert(commit, number);
    }

    /// What `name` was at `commit`, if known. Errors come back as fresh values of the same kind.
    pub fn current(
        &self,
        commit: &ObjectId,
        name: &ServiceName,
    ) -> Option<Result<Arc<Current>, Error>> {
        self.current
            .get(&(*commit, name.clone()))
            .map(|found| match found {
                Ok(c) => Ok(c.clone()),
                Err(e) => Err(match &**e {
                    Error::Disabled(n) => Error::Disabled(n.clone()),
                    _ => Error::UnknownService(name.to_string()),
                }),
            })
    }

    pub fn set_current(&mut self, commit: ObjectId, name: &ServiceName, found: Found) {
        if self.current.len() >= MAX_ENTRIES {
            self.current.clear();
        }
        self.current.insert((commit, name.clone()), found);
    }

    pub fn references(
        &self,
        rendered: Option<ObjectId>,
        service_blob: ObjectId,
    ) -> Option<Arc<Vec<SecretRef>>> {
        self.references.get(&(rendered, service_blob)).cloned()
    }

    pub fn set_references(
        &mut self,
        rendered: Option<ObjectId>,
        service_blob: ObjectId,
        refs: Vec<SecretRef>,
    ) {
        if self.references.len() >= MAX_ENTRIES {
            self.references.clear();
        }
        self.references
            .insert((rendered, service_blob), Arc::new(refs));
    }

    pub fn archive(&self, etag: &Etag) -> Option<Arc<[u8]>> {
        self.archives.get(etag).cloned()
    }

    /// Keeps an archive, evicting the oldest until the budget holds. One larger than the whole
    /// budget is not kept (it is served, and built again next time).
    pub fn set_archive(&mut self, etag: Etag, bytes: Arc<[u8]>) {
        if bytes.len() > self.budget || self.archives.contains_key(&etag) {
            return;
        }
        while self.bytes + bytes.len() > self.budget {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.archives.remove(&old) {
                self.bytes -= b.len();
            }
        }
        self.bytes += bytes.len();
        self.order.push_back(etag.clone());
        self.archives.insert(etag, bytes);
    }

    /// Bytes of archives held.
    pub fn archive_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_stay_within_the_budget_oldest_out_first() {
        let mut cache = Cache::new(10);
        let tag = |n: u8| Etag(format!("b1-{n}"));
        cache.set_archive(tag(1), vec![0u8; 4].into());
        cache.set_archive(tag(2), vec![0u8; 4].into());
        cache.set_archive(tag(3), vec![0u8; 4].into());
        assert!(cache.archive(&tag(1)).is_none());
        assert!(cache.archive(&tag(3)).is_some());
        assert_eq!(cache.archive_bytes(), 8);
        cache.set_archive(tag(4), vec![0u8; 11].into());
        assert!(cache.archive(&tag(4)).is_none(), "larger than the budget");
        assert_eq!(cache.archive_bytes(), 8);
    }
}
