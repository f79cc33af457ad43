//! Long-polls: answer at once when something differs from what the client has, else wait until it
//! does or the timeout passes. Waking is driven by the versioner's watch (it changes whenever a
//! version is made or refs move), so there is no polling delay and an idle wait costs nothing.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// The longest wait a client may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The wait when a client gives `since` without `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls `check` now and after every change of `versions`, until it returns `Some` (given back) or
/// `timeout` passes (`None`). The watch is marked seen before each check, so a change between the
/// check and the wait is not missed. When `closing` turns true or either sender is gone (the server
/// stops), it stops waiting and answers `None`.
pub async fn until<T, E, F, Fut>(
    mut versions: watch::Receiver<u64>,
    mut closing: watch::Receiver<bool>,
    timeout: Duration,
    mut check: F,
) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let deadline = tokio::time::Instant::now() + timeout.min(MAX_TIMEOUT);
    loop {
        versions.borrow_and_update();
        if let Some(found) = check().await? {
            return Ok(Some(found));
        }
        if *closing.borrow_and_update() {
            return Ok(None);
        }
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, versions.changed()) => match changed {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(None),
            },
            _ = closing.changed() => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wakes_on_a_change_and_times_out_without_one() {
        let (tx, rx) = watch::channel(0u64);
        let (close, closing) = watch::channel(false);
        let value = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        let v = value.clone();
        let waiter = tokio::spawn(until(
            rx.clone(),
            closing.clone(),
            Duration::from_secs(30),
            move || {
                let v = v.clone();
                async move {
                    let n = v.load(std::sync::atomic::Ordering::SeqCst);
                    Ok::<_, ()>((n != 1).then_some(n))
                }
            },
        ));
        tokio::task::yield_now().await;
        value.store(2, std::sync::atomic::Ordering::SeqCst);
        tx.send_modify(|n| *n += 1);
        assert_eq!(waiter.await.unwrap(), Ok(Some(2)));

        let started = tokio::time::Instant::now();
        let none = until(
            rx.clone(),
            closing.clone(),
            Duration::from_secs(1000),
            || async { Ok::<Option<u8>, ()>(None) },
        );
        assert_eq!(none.await, Ok(None));
        assert_eq!(started.elapsed(), MAX_TIMEOUT, "the wait is bounded");

        // Closing ends a wait at once.
        let started = tokio::time::Instant::now();
        let waiting = tokio::spawn(until(rx, closing, Duration::from_secs(100), || async {
            Ok::<Option<u8>, ()>(None)
        }));
        tokio::task::yield_now().await;
        close.send_replace(true);
        assert_eq!(waiting.await.unwrap(), Ok(None));
        assert!(started.elapsed() < Duration::from_secs(100));
    }
}
