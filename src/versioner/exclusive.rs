//! Running something that moves main outside the journal (a push) with every writer held off.
//!
//! [`Versioner::exclusive`] commits what is pending, then holds the batch lock and the writer lock
//! with an empty queue, so the state is exactly main's head and nothing else can commit; the caller
//! may move main (through `store`, compare-and-swap). Afterwards the state is loaded again on the
//! new head before any writer sees it. Why the batch lock too: a batch between its commit and its
//! rebase has already emptied the queue, and its state would be put on an old head.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLockReadGuard};

use super::{ChangeId, Error, State, Versioner};
use crate::store::{Rev, Store};

/// How often pending changes are committed before giving up on holding the writers off: API
/// writes that keep arriving between the flush and the lock.
const FLUSH_TRIES: u32 = 8;

/// What a closure run by [`Versioner::exclusive`] may use.
#[derive(Clone)]
pub struct Exclusive {
    versioner: Versioner,
}

impl std::fmt::Debug for Exclusive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exclusive").finish_non_exhaustive()
    }
}

impl Exclusive {
    /// The state: main's head, with nothing pending.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.versioner.state()
    }

    pub fn store(&self) -> &Store {
        &self.versioner.inner.store
    }

    /// Loads the state on main's head if main moved (a push committed), so readers see the new
    /// version at once; [`Versioner::exclusive`] does it anyway before it releases the locks.
    pub async fn reload(&self) {
        let inner = &self.versioner.inner;
        let before = inner.read_state().base().commit();
        let store = inner.store.clone();
        let reloaded = tokio::task::spawn_blocking(move || -> Result<Option<State>, Error> {
            let head = store.head()?;
            if head == before {
                return Ok(None);
            }
            Ok(Some(State::load(
                store.snapshot(&Rev::Commit(head))?,
                BTreeMap::new(),
            )?))
        })
        .await;
        match reloaded {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(state))) => {
                *inner.state.write().unwrap_or_else(PoisonError::into_inner) = state;
                inner
                    .metrics
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .versions += 1;
                inner.versions.send_modify(|n| *n += 1);
            }
            failed => {
                // The state would lie about main: stop acknowledging writes until a restart.
                tracing::error!(?failed, "cannot load the state after main moved");
                inner.lock_health().journal =
                    Some("the state could not be loaded after a push".into());
            }
        }
    }

    /// Tells those watching [`Versioner::versions`] that refs moved without a new version (the
    /// hold of suspend and resume, a cleanup's rewrite), so what is deployed is read again.
    pub fn refs_moved(&self) {
        self.versioner.inner.versions.send_modify(|n| *n += 1);
    }

    /// A new change id, for the `Mailu-Change` trailer of a version made outside the journal.
    pub fn change_id(&self) -> ChangeId {
        self.versioner.inner.ids.next()
    }
}

impl Versioner {
    /// Changes whenever a version is made (by a batch or a push) or refs move
    /// ([`Exclusive::refs_moved`]): watchers read main, the hold and the deployed version again.
    pub fn versions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.versions.subscribe()
    }

    /// Commits every pending change, then runs `f` with the writers held off and nothing pending;
    /// if main moved meanwhile, loads the state on the new head before releasing the locks.
    pub async fn exclusive<F, Fut, T>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(Exclusive) -> Fut,
        Fut: Future<Output = T>,
    {
        let inner = &self.inner;
        let mut tries = 0;
        let (committing, writer) = loop {
            inner.available()?;
            self.flush().await?;
            let committing = inner.committing.lock().await;
            let writer = inner.writer.lock().await;
            if inner.queue().entries.is_empty() {
                break (committing, writer);
            }
            drop(writer);
            drop(committing);
            tries += 1;
            if tries >= FLUSH_TRIES {
                return Err(Error::Unavailable {
                    reason: "API writes keep arriving; try again".into(),
                });
            }
        };
        let ex = Exclusive {
            versioner: self.clone(),
        };
        let out = f(ex.clone()).await;
        ex.reload().await;
        drop(writer);
        drop(committing);
        Ok(out)
    }
}

impl Versioner {
    /// Runs `f` with writers and commits held off, WITHOUT committing what is pending first: main,
    /// the hold and the journal stay exactly as they are, a state a restart recovers (the journal's
    /// records are replayed on main). For copying the data directory (a backup), which must not
    /// wait for a quiet moment: [`Versioner::exclusive`] gives up while writes keep arriving.
    pub async fn frozen<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let inner = &self.inner;
        // The same order as `exclusive`: the batch lock, then the writer lock.
        let committing = inner.committing.lock().await;
        let writer = inner.writer.lock().await;
        let out = f().await;
        drop(writer);
        drop(committing);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alias, fixture, open, p};
    use crate::store::{CommitMeta, Edit, Person};

    #[tokio::test]
    async fn exclusive_commits_what_is_pending_and_sees_main_moved_under_it() {
        let (dir, store) = fixture();
        let versioner = open(dir.path(), &store, 3600, 3600).await;
        versioner.submit(alias("sales", "api")).await.unwrap();
        let moved = versioner
            .exclusive(|ex| async move {
                // Nothing pending: the acknowledged change is in a version already.
                let base = {
                    let state = ex.state();
                    assert_eq!(state.overlaid(), 0);
                    assert!(
                        state
                            .read(&p("domains/example.com/aliases/sales.toml"))
                            .unwrap()
                            .is_some()
                    );
                    state.base().commit()
                };
                assert_eq!(ex.store().head().unwrap(), base);
                let meta = CommitMeta::new(
                    Person {
                        name: "pusher".into(),
                        email: "p@localhost".into(),
                    },
                    "a push",
                );
                let edit = Edit::write(
                    p("domains/example.com/aliases/team.toml"),
                    "destination = [\"alice@example.com\"]\n",
                );
                ex.store().commit(base, &[edit], &meta).unwrap().commit
            })
            .await
            .unwrap();
        // The state lies on the commit made inside, before any writer sees it.
        let state = versioner.state();
        assert_eq!(state.base().commit(), moved);
        assert!(
            state
                .read(&p("domains/example.com/aliases/team.toml"))
                .unwrap()
                .is_some()
        );
        let config = state.config().unwrap();
        assert!(
            config.summary().to_string().contains("2 aliases"),
            "{}",
            config.summary()
        );
    }
}
