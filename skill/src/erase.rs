//! `skill erase-user ID`: erases one Teams user's sessions and deliveries (found by the customer id
//! their sessions were opened with: the Entra object id, else the channel's user id). On SQLite
//! the skill must be stopped (it holds the data directory); on PostgreSQL it runs beside the
//! instances. A user with a live chat open is refused: end it first (erasing the customer in the
//! live chat ends it, and the skill closes the session when it hears so).

use anyhow::bail;

use crate::configuration::Settings;
use crate::store::ErasedSessions;

/// What the command found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erasure {
    Erased(ErasedSessions),
    /// No session was opened for this user (or retention removed them).
    Unknown,
    /// A session is still opening or open; nothing was erased.
    Live,
}

pub async fn erase_user(settings: &Settings, customer: &str) -> anyhow::Result<Erasure> {
    let customer = customer.trim();
    if customer.is_empty() {
        bail!("give the Teams user's id: skill erase-user USER_ID (the Entra object id)");
    }
    let _lock = match settings.application.database_url {
        None => Some(
            service_support::lock::DataDirLock::acquire(
                &settings.application.data_dir,
                "the skill",
                "SKILL_DATA_DIR",
            )
            .map_err(|error| {
                anyhow::anyhow!(
                    "{error:#}; stop the skill first (on SQLite one process holds the data)"
                )
            })?,
        ),
        Some(_) => None,
    };
    let store = settings
        .application
        .open_store(settings.delivery.claim_lease_ms)
        .await?;
    let erased = store.erase_customer(customer).await?;
    drop(store);
    if settings.application.database_url.is_none() && erased.sessions > 0 {
        // Deleted rows linger in free pages and the write-ahead log: rewrite the file without them.
        let path = settings
            .application
            .data_dir
            .join(crate::store::SQLITE_FILE);
        tokio::task::spawn_blocking(move || {
            let connection = rusqlite::Connection::open(&path)?;
            connection.busy_timeout(std::time::Duration::from_secs(10))?;
            connection.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
            anyhow::Ok(())
        })
        .await??;
    }
    Ok(if erased.live {
        Erasure::Live
    } else if erased.sessions == 0 {
        Erasure::Unknown
    } else {
        Erasure::Erased(erased)
    })
}
