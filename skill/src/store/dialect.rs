//! The two databases the store runs on, and the few things that really differ between them:
//! how to connect, which schema folder to migrate from, and four statements (claiming queue heads,
//! locking a session row, insertion order, and whether `opening` sessions at start-up may belong to
//! another instance). Every other statement is in [`super::sql`], written once.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::Executor;

use super::sql;

/// How long a claimed delivery is reserved for the PostgreSQL instance that claimed it.
pub const CLAIM_LEASE_MS: i64 = 60_000;

/// Characters left as they are in the path of a `sqlite:` URL; the rest is percent-encoded (the
/// driver decodes it), so a data directory may contain `?`, `#` or spaces.
const SQLITE_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// One file, one instance: one connection, WAL, `synchronous = FULL`.
    Sqlite,
    /// Shared by several instances: claims with `FOR UPDATE SKIP LOCKED` and a lease.
    Postgres,
}

impl Dialect {
    /// Opens (creating if needed) `skill.db` in `data_dir`, migrated.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<AnyPool> {
        sqlx::any::install_default_drivers();
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} (SKILL_DATA_DIR)",
                data_dir.display()
            )
        })?;
        let path = data_dir.join("skill.db");
        let url = format!(
            "sqlite:{}?mode=rwc",
            utf8_percent_encode(&path.to_string_lossy(), SQLITE_PATH)
        );
        // One connection: SQLite serialises writers anyway, and one connection rules out
        // SQLITE_BUSY on transaction upgrades. FULL makes a commit survive power loss.
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection
                        .execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                        )
                        .await
                        .map(drop)
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .context("cannot migrate the database schema")?;
        Ok(pool)
    }

    /// Connects to `postgres://user:password@host/database`, migrated.
    pub async fn connect_postgres(url: &str) -> anyhow::Result<AnyPool> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("cannot connect to the PostgreSQL database (SKILL_DATABASE_URL)")?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .context("cannot migrate the database schema")?;
        Ok(pool)
    }

    /// Sessions left `opening` by a process that stopped mid-start are closed at start-up: with one
    /// instance all of them; with a shared database only those older than the abandon time, since
    /// another instance may be opening one right now.
    pub fn shares_the_database(self) -> bool {
        self == Dialect::Postgres
    }

    /// Checks that a session is open, holding its row against a concurrent close until commit.
    pub fn session_is_open(self) -> &'static str {
        match self {
            Dialect::Sqlite => sql::SESSION_IS_OPEN,
            Dialect::Postgres => concat!(sql::session_is_open!(), " FOR SHARE"),
        }
    }

    /// The conversation's most recent session; ties on `created_at` go to the later insert.
    pub fn latest_session(self) -> &'static str {
        match self {
            Dialect::Sqlite => concat!(sql::latest_session!(), " rowid DESC LIMIT 1"),
            Dialect::Postgres => concat!(sql::latest_session!(), " seq DESC LIMIT 1"),
        }
    }

    /// The heads of the due queues: read (SQLite: this process is the only sender) or claimed with
    /// a lease (PostgreSQL: other instances skip the locked rows now and see them as not due until
    /// the lease passes). Binds: lane, now, busy queues (a JSON array), limit; PostgreSQL also the
    /// lease.
    pub fn due_deliveries(self) -> &'static str {
        match self {
            Dialect::Sqlite => concat!(
                "SELECT d.id, d.lane, d.queue_key, d.payload, d.attempts ",
                sql::due_heads!(),
                " AND d.queue_key NOT IN (SELECT value FROM json_each($3)) ORDER BY d.id LIMIT $4"
            ),
            Dialect::Postgres => concat!(
                "UPDATE deliveries SET next_attempt_at = $2 + $5 WHERE id IN (SELECT d.id ",
                sql::due_heads!(),
                " AND d.queue_key NOT IN (SELECT jsonb_array_elements_text($3::jsonb))",
                " ORDER BY d.id LIMIT $4 FOR UPDATE SKIP LOCKED)",
                " RETURNING id, lane, queue_key, payload, attempts"
            ),
        }
    }
}
