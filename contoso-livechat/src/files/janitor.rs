//! The retention janitor: every `files.janitor_interval_ms` (an hour) it deletes the conversations
//! that ended more than `privacy.retention_days` ago (transcript, rating, files and all), removes
//! the files of conversations that ended more than `files.retention_days` ago (the transcript keeps
//! their names), then deletes kept bytes no entry refers to any more and half-received uploads an
//! hour old (a crash between keeping a file's bytes and recording them leaves such bytes).

use std::sync::Arc;
use std::time::Duration;

use service_support::clock::Clock;
use tokio_util::sync::CancellationToken;

use super::FileStore;
use crate::store::Store;

/// How old unreferenced bytes must be before they go: an upload records its file well within it.
const GRACE: Duration = Duration::from_secs(3_600);

/// Removes expired files and bytes nothing refers to.
pub struct FilesJanitor {
    pub store: Store,
    pub files: Arc<FileStore>,
    /// Files of conversations ended longer ago than this go; `None` keeps them.
    pub retention: Option<Duration>,
    /// Conversations ended longer ago than this go, whole; `None` keeps them.
    pub conversation_retention: Option<Duration>,
    pub interval: Duration,
    /// The time retention goes by (tests move it).
    pub clock: Clock,
}

impl FilesJanitor {
    /// The moment `retention` ago, as the store's times are written (RFC 3339).
    fn before(&self, retention: Duration) -> anyhow::Result<String> {
        let cutoff = self.clock.now_ms() - i64::try_from(retention.as_millis())?;
        Ok(chrono::DateTime::from_timestamp_millis(cutoff)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.sweep().await {
                tracing::error!(error.cause_chain = ?error, "the files' janitor failed; it tries again later");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One round: retention, then the bytes nothing refers to.
    pub async fn sweep(&self) -> anyhow::Result<()> {
        if let Some(retention) = self.conversation_retention {
            let deleted = self.store.delete_expired(self.before(retention)?).await?;
            if deleted.conversations > 0 {
                tracing::info!(
                    conversations = deleted.conversations,
                    messages = deleted.messages,
                    files = deleted.files,
                    "deleted the conversations that ended before the retention period"
                );
            }
        }
        if let Some(retention) = self.retention {
            let removed = self
                .store
                .remove_expired_files(self.before(retention)?)
                .await?;
            if removed > 0 {
                tracing::info!(
                    files = removed,
                    "removed the files of conversations that ended before the retention period"
                );
            }
        }
        let referenced = self.store.kept_hashes().await?;
        let files = self.files.clone();
        let now = std::time::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(self.clock.now_ms()).unwrap_or(0));
        let deleted =
            tokio::task::spawn_blocking(move || files.collect_garbage(&referenced, GRACE, now))
                .await??;
        if deleted > 0 {
            tracing::info!(files = deleted, "deleted stored bytes no entry refers to");
        }
        Ok(())
    }
}
