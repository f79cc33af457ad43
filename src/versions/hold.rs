//! Suspend and resume deployment: `refs/mailu/hold` created at the deployed version, or deleted.
//! Writes and pushes keep landing on main meanwhile; what is deployed stays put until resume (or a
//! revert with `deploy`). Both run inside [`Versioner::exclusive`] (pending writes committed first,
//! so a suspend pins the configuration every acknowledged write is in) and tell the deploy
//! long-polls that refs moved.

use serde::{Deserialize, Serialize};

use super::{Error, VersionRef, person};
use crate::store::{self, HOLD, RefMove, Store};
use crate::versioner::Versioner;

/// The answer to suspend and resume.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    /// Whether deployment is suspended now.
    pub suspended: bool,
    /// The deployed version now: the held one after suspend, main's head after resume.
    pub deployed: VersionRef,
    pub message: String,
}

/// Creates the hold at the deployed version (main's head, pending writes included); refused when
/// already suspended.
pub async fn suspend(versioner: &Versioner, caller: &str) -> Result<Hold, Error> {
    let by = person(versioner, caller);
    versioner
        .exclusive(|ex| async move {
            let store = ex.store().clone();
            let hold = tokio::task::spawn_blocking(move || -> Result<Hold, Error> {
                if let Some(held) = store.hold()? {
                    return Err(Error::AlreadySuspended {
                        version: number(&store, held)?,
                    });
                }
                let head = store.head()?;
                store.move_refs(
                    &[RefMove {
                        name: HOLD.into(),
                        expected: None,
                        new: Some(head),
                    }],
                    "suspend: deployment held",
                    &by,
                )?;
                let version = VersionRef {
                    number: number(&store, head)?,
                    commit: head.to_string(),
                };
                Ok(Hold {
                    suspended: true,
                    message: format!(
                        "deployment suspended at version {}: new versions land on main and are not deployed until resume",
                        version.number
                    ),
                    deployed: version,
                })
            })
            .await??;
            ex.refs_moved();
            Ok(hold)
        })
        .await?
}

/// Deletes the hold; refused when not suspended.
pub async fn resume(versioner: &Versioner, caller: &str) -> Result<Hold, Error> {
    let by = person(versioner, caller);
    versioner
        .exclusive(|ex| async move {
            let store = ex.store().clone();
            let hold = tokio::task::spawn_blocking(move || -> Result<Hold, Error> {
                let Some(held) = store.hold()? else {
                    return Err(Error::NotSuspended);
                };
                store.move_refs(
                    &[RefMove {
                        name: HOLD.into(),
                        expected: Some(held),
                        new: None,
                    }],
                    "resume: deployment follows main",
                    &by,
                )?;
                let head = store.head()?;
                let (was, now) = (number(&store, held)?, number(&store, head)?);
                Ok(Hold {
                    suspended: false,
                    message: format!(
                        "deployment resumed: version {now} is deployed (it was held at version {was})"
                    ),
                    deployed: VersionRef {
                        number: now,
                        commit: head.to_string(),
                    },
                })
            })
            .await??;
            ex.refs_moved();
            Ok(hold)
        })
        .await?
}

/// The version number of a commit (0 for a commit that is no version, which only a hand-made ref
/// can point at).
fn number(store: &Store, commit: gix::ObjectId) -> Result<u64, store::Error> {
    Ok(store.version_info(commit)?.map_or(0, |v| v.number))
}
