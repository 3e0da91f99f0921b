//! Work off the request path.
//!
//! [`DeferredWork`] is what a request starts and leaves running after its answer (opening a
//! session, sending replies): run on the main runtime rather than an HTTP worker's, tracked so that
//! shutdown waits for it, and bounded: a request reserves its [`Slot`] before it changes anything,
//! and when none is left it is answered 503 (a flood cannot pile up tasks without end).
//! [`on_own_thread`] runs long-lived work (the outbox workers) on a thread of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

/// Deferred tasks at once, by default: far above what a contact centre's load keeps busy (each
/// lasts one live-chat or Connector call).
pub const MAX_DEFERRED_TASKS: usize = 4_096;

/// Spawns and tracks work that outlives its request.
#[derive(Clone)]
pub struct DeferredWork {
    runtime: tokio::runtime::Handle,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
}

/// Room for one deferred task, reserved up front.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl DeferredWork {
    /// Deferred work on the current runtime, at most [`MAX_DEFERRED_TASKS`] at once.
    pub fn on_current_runtime() -> Self {
        Self::with_limit(MAX_DEFERRED_TASKS)
    }

    pub fn with_limit(limit: usize) -> Self {
        Self {
            runtime: tokio::runtime::Handle::current(),
            tracker: TaskTracker::new(),
            slots: Arc::new(Semaphore::new(limit)),
        }
    }

    /// A slot, unless every one is taken.
    pub fn reserve(&self) -> Option<Slot> {
        self.slots
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|permit| Slot { _permit: permit })
    }

    /// Runs `task` in its reserved slot; the slot is free again when it ends.
    pub fn spawn<F: Future<Output = ()> + Send + 'static>(&self, slot: Slot, task: F) {
        self.tracker.spawn_on(
            async move {
                let _slot = slot;
                task.await;
            },
            &self.runtime,
        );
    }

    /// Takes no more work and waits up to `limit` for what runs; false if some was abandoned.
    pub async fn finish(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// Runs `work` on a thread of its own with a single-threaded runtime, and says when it is done.
/// What runs there (the outbox workers, their sends and the HTTP connections those open) then
/// hands work to itself without crossing threads, and does not queue behind the HTTP server's
/// work.
pub fn on_own_thread<F>(name: &str, work: F) -> anyhow::Result<tokio::sync::oneshot::Receiver<()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("cannot build the {name} runtime"))?;
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            runtime.block_on(work);
            let _ = done.send(());
        })
        .with_context(|| format!("cannot start the {name} thread"))?;
    Ok(finished)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_run_out_and_come_back() {
        let deferred = DeferredWork::with_limit(1);
        let slot = deferred.reserve().expect("one slot");
        assert!(deferred.reserve().is_none(), "the only slot is reserved");
        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        deferred.spawn(slot, async move {
            let _ = finished.await;
        });
        assert!(deferred.reserve().is_none(), "the task holds it");
        finish.send(()).unwrap();
        wait_for_free_slot(&deferred).await;
    }

    /// Waits (bounded) until a slot is free again.
    async fn wait_for_free_slot(deferred: &DeferredWork) {
        for _ in 0..200 {
            if deferred.reserve().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the slot was not given back");
    }
}
