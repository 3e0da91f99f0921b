//! `skill erase-user ID`: erases one Teams user's sessions and deliveries (found by the customer id
//! their sessions were opened with: the Entra object id, else the channel's user id), and
//! `skill export-user ID` prints them as JSON first, for the user's request for their data. On SQLite
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

/// The store, for a command: on SQLite only while the skill is stopped.
async fn command_store(
    settings: &Settings,
    customer: &str,
    command: &str,
) -> anyhow::Result<(
    crate::store::Store,
    Option<service_support::lock::DataDirLock>,
)> {
    if customer.trim().is_empty() {
        bail!("give the Teams user's id: skill {command} USER_ID (the Entra object id)");
    }
    let lock = match settings.application.database_url {
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
    Ok((store, lock))
}

/// Everything the skill holds of a Teams user, as JSON; `None` when it holds nothing.
pub async fn export_user(settings: &Settings, customer: &str) -> anyhow::Result<Option<String>> {
    let (store, _lock) = command_store(settings, customer, "export-user").await?;
    Ok(store
        .export_customer(customer.trim())
        .await?
        .map(|export| export.to_string()))
}

pub async fn erase_user(settings: &Settings, customer: &str) -> anyhow::Result<Erasure> {
    let customer = customer.trim();
    let (store, _lock) = command_store(settings, customer, "erase-user").await?;
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
