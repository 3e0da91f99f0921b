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
