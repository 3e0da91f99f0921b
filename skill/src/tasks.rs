//! Work that outlives the request that started it (opening a session, sending replies): run on
//! the main runtime rather than an HTTP worker's, tracked so that shutdown waits for it.

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

/// Spawns and tracks background work.
#[derive(Clone)]
pub struct Background {
    runtime: tokio::runtime::Handle,
    tracker: TaskTracker,
}

impl Background {
    /// Background work on the current runtime.
    pub fn on_current_runtime() -> Self {
        Self {
            runtime: tokio::runtime::Handle::current(),
            tracker: TaskTracker::new(),
        }
    }

    pub fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        self.tracker.spawn_on(task, &self.runtime);
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
