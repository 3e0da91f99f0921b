//! The two databases the store runs on, and the few things that really differ between them:
//! how to connect, which schema folder to migrate from, a few statements (claiming queue heads,
//! insertion order, inserting a batch at once), whether `opening` sessions at start-up may belong
//! to another instance, and how long outcomes wait for company. Every other
//! statement is in [`super::sql`], written once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use super::connection::{SqliteConnection, SqlxConnection, WriteConnection};
use super::sql;

/// How long a claimed delivery is reserved for the PostgreSQL instance that claimed it, by default
/// (`delivery.claim_lease_ms`): longer than any one attempt may take (a file's transfer included).
pub const CLAIM_LEASE_MS: i64 = 120_000;

/// Characters left as they are in the path of a `sqlite:` URL; the rest is percent-encoded (the
/// driver decodes it), so a data directory may contain `?`, `#` or spaces.
const SQLITE_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// The SQLite database's file name in the data directory.
pub const SQLITE_FILE: &str = "skill.db";

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// One file, one instance: one connection, WAL, `synchronous = FULL`.
    Sqlite,
    /// Shared by several instances: claims with `FOR UPDATE SKIP LOCKED` and a lease.
    Postgres,
}

/// Where the store's connections go: the writer's own (opened by the writer, on its thread) and a
/// pool of readers.
pub struct Databases {
    pub dialect: Dialect,
    pub writer: WriterTarget,
    pub reader: AnyPool,
}

/// Where the writer connects.
#[derive(Clone)]
pub enum WriterTarget {
    /// The SQLite file, written directly.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (it may carry a password).
    Postgres(String),
}

impl WriterTarget {
    pub async fn connect(&self) -> anyhow::Result<Box<dyn WriteConnection>> {
        Ok(match self {
            WriterTarget::Sqlite(path) => {
                Box::new(SqliteConnection::open(path, SQLITE_WRITER_PRAGMAS)?)
            }
            WriterTarget::Postgres(url) => {
                let connection = AnyConnection::connect(url).await?;
                Box::new(SqlxConnection { connection })
            }
        })
    }
}

/// The PRAGMAs of the writing SQLite connection: WAL, and FULL so that a commit survives power
/// loss; a single writer rules out SQLITE_BUSY on transaction upgrades.
/// The writer does not checkpoint the WAL itself (that would stall the writes behind it): the
/// checkpointer does, beside it.
const SQLITE_WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; \
     PRAGMA journal_size_limit = 67108864;";

/// How often the checkpointer copies the WAL into the database file. Each copy ends with an fsync
/// of the database file, which delays the commits' own fsyncs on the same disk for a few
/// milliseconds: four copies a second put that delay into the p99 of a 1,000 msg/s load; one a
/// second keeps it out.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Between the checkpointer and the writer: the bulk of the WAL has been copied.
///
/// Only a WAL copied whole starts again from its beginning at the next write; under steady writes
/// a copy running beside them never ends whole (commits land while it runs), and the WAL would
/// grow without bound. So the checkpointer copies the bulk beside the writes, then the writer,
/// between two batches, copies the few frames written since (a millisecond or two): whole, since
/// nothing writes meanwhile.
#[derive(Default)]
pub struct Checkpoints {
    bulk_copied: AtomicBool,
}

impl Checkpoints {
    /// Whether the writer should finish a copy now (once per bulk copy).
    pub fn take_bulk_copied(&self) -> bool {
        self.bulk_copied.swap(false, Ordering::AcqRel)
    }
}

/// Copies the WAL into the database file every [`CHECKPOINT_INTERVAL`] on a thread of its own,
/// until `alive` has no other owner (the writer holds it). PASSIVE: it never waits for the writer or the readers; the
/// writer finishes each copy ([`Checkpoints`]).
pub fn start_checkpointer(
    path: PathBuf,
    alive: std::sync::Weak<Checkpoints>,
) -> anyhow::Result<()> {
    let connection = rusqlite::Connection::open(&path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    connection.execute_batch("PRAGMA busy_timeout = 5000;")?;
    std::thread::Builder::new()
        .name("store-checkpointer".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(CHECKPOINT_INTERVAL);
                let Some(checkpoints) = alive.upgrade() else {
                    break;
                };
                match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    Ok(()) => checkpoints.bulk_copied.store(true, Ordering::Release),
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot checkpoint the database's WAL")
                    }
                }
            }
            // A last full copy, so a stopped store leaves a small WAL behind.
            let _ = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })
        .context("cannot start the store checkpointer")?;
    Ok(())
}

/// `url` with `sslmode=disable` added when its host is this machine's loopback interface
/// (`localhost`, `127.0.0.0/8`, `::1`) and it sets no `sslmode` (nor a `host` of its own): left to
/// the driver, the mode is `prefer`, which encrypts without checking the server's certificate, so
/// it guards only against someone reading the traffic, which on loopback takes this machine's
/// root, who can read the processes too. The encryption cost about a tenth of the throughput of
/// two instances and the database on one machine (`docs/performance.md`). Any other URL is left as
/// it is.
pub fn without_tls_on_loopback(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // The driver says what is wrong with it.
        return url.to_owned();
    };
    let chosen = parsed
        .query_pairs()
        .any(|(key, _)| matches!(key.as_ref(), "sslmode" | "ssl-mode" | "host"));
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|address| address.is_loopback())
        }
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    if chosen || !loopback {
        return url.to_owned();
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    parsed.into()
}

impl Dialect {
    /// Opens (creating if needed) `skill.db` in `data_dir`, migrated.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Databases> {
        sqlx::any::install_default_drivers();
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} (SKILL_DATA_DIR)",
                data_dir.display()
            )
        })?;
        let path = data_dir.join(SQLITE_FILE);
        let url = format!(
            "sqlite:{}?mode=rwc",
            utf8_percent_encode(&path.to_string_lossy(), SQLITE_PATH)
        );
        let mut migrating = AnyConnection::connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        migrating.execute(SQLITE_WRITER_PRAGMAS).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut migrating)
            .await
            .context("cannot migrate the database schema")?;
        drop(migrating);
        // Readers see what is committed (WAL lets them run beside the writer) and never write.
        let reader = AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection
                        .execute("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")
                        .await
                        .map(drop)
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        Ok(Databases {
            dialect: Dialect::Sqlite,
            writer: WriterTarget::Sqlite(path),
            reader,
        })
    }

    /// Connects to `postgres://user:password@host/database`, migrated; a database on this host
    /// without TLS unless the URL asks ([`without_tls_on_loopback`]).
    pub async fn connect_postgres(url: &str) -> anyhow::Result<Databases> {
        sqlx::any::install_default_drivers();
        let url = &without_tls_on_loopback(url);
        let failed = "cannot connect to the PostgreSQL database (SKILL_DATABASE_URL)";
        let mut migrating = AnyConnection::connect(url).await.context(failed)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&mut migrating)
            .await
            .context("cannot migrate the database schema")?;
        drop(migrating);
        let reader = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context(failed)?;
        Ok(Databases {
            dialect: Dialect::Postgres,
            writer: WriterTarget::Postgres(url.to_owned()),
            reader,
        })
    }

    /// The statement that inserts many deliveries at once, given as one JSON array of rows (binds:
    /// the rows, each with `lane`, `queue_key`, `dedupe_key`, `payload`, `trace_parent` and
    /// `claimable`; due at; created at; the claim's lease end; the claiming instance or NULL; how
    /// many instances are live and this one's place among them), in
    /// the array's order. PostgreSQL only: it is a round trip away, and one statement of one shape
    /// serves any batch (stays prepared, one trip); SQLite is written in-process, where a statement
    /// costs little and a multi-row one needs a statement journal (copies of every page it
    /// touches), so it inserts row by row ([`sql::INSERT_DELIVERY`]).
    ///
    /// A claimable row (its lane's worker has room, and it is the first of its queue in the
    /// batch) that starts its queue (nothing of the queue pending in the table) is claimed by the
    /// insert for the instance, as a claim statement would, a Teams one only when its
    /// conversation falls to the instance ([`Self::due_deliveries`]). Two instances inserting into
    /// one empty live-chat queue at the same moment may both claim theirs: two messages accepted
    /// at once, by two instances, have no order between them.
    ///
    /// Whether a queue has something pending is one probe a row (`sql::queue_head!`); `OFFSET 0`
    /// keeps the row's `head` computed once (pulled up into the insert, its two uses were two
    /// probes).
    pub fn insert_deliveries_at_once(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(sql::insert_deliveries!(
                ", claimed_by",
                concat!(
                    "SELECT r.lane, r.queue_key, r.dedupe_key, r.payload, CASE WHEN r.head THEN $4 ELSE $2 END, $3, r.trace_parent, CASE WHEN r.head THEN $5 END
                 FROM (SELECT r.*, r.claimable AND $5 IS NOT NULL
                              AND (r.lane <> 'teams' OR ",
                sql::teams_conversation_is_ours!("r.queue_key", "$6", "$7"),
                ")
                              AND ",
                sql::queue_head!("r.lane", "r.queue_key"),
                " IS NULL AS head
                       FROM ROWS FROM (json_to_recordset($1::json) AS (lane TEXT, queue_key TEXT, dedupe_key TEXT, payload TEXT, trace_parent TEXT, claimable BOOLEAN))
                            WITH ORDINALITY AS r (lane, queue_key, dedupe_key, payload, trace_parent, claimable, n)
                       OFFSET 0) r
                 ORDER BY r.n"
                )
            )),
        }
    }

    /// Whether deliveries are marked delivered many to a statement (a padded `IN` list): on
    /// PostgreSQL, a round trip away; SQLite marks them one by one, in-process.
    pub fn marks_at_once(self) -> bool {
        self == Dialect::Postgres
    }

    /// How long outcomes nobody waits for (a delivery's result) may wait for company before they
    /// are committed alone: alone each would cost a commit when the skill is quiet. An outcome not
    /// yet committed when the process dies is sent again by whoever takes the delivery next, so on
    /// a shared database, where another instance takes over within seconds, the wait is short; with
    /// SQLite the same process sends again after its restart.
    pub fn lazy_wait(self) -> Duration {
        match self {
            Dialect::Sqlite => Duration::from_millis(20),
            Dialect::Postgres => Duration::from_millis(2),
        }
    }

    /// Sessions left `opening` by a process that stopped mid-start are closed at start-up: with one
    /// instance all of them; with a shared database only those older than the abandon time, since
    /// another instance may be opening one right now.
    pub fn shares_the_database(self) -> bool {
        self == Dialect::Postgres
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
    /// lease, the instance, how many instances are live and this one's place among them.
    ///
    /// With several instances, each claims only the heads of the Teams conversations that fall to
    /// it: a conversation's messages go one at a time anyway, so its windows are best spent by one
    /// instance that counts all its sends (split, each would have half of every window, and a
    /// conversation whose next message fell to the one with its half spent would wait though the
    /// other's half had room). A tenant's conversations spread over the instances, which split its
    /// window.
    pub fn due_deliveries(self) -> &'static str {
        match self {
            Dialect::Sqlite => concat!(
                "SELECT d.id, d.lane, d.queue_key, d.payload, d.attempts, d.next_attempt_at, d.created_at, d.trace_parent ",
                sql::due_heads!(),
                " AND d.queue_key NOT IN (SELECT value FROM json_each($3)) ORDER BY d.id LIMIT $4"
            ),
            Dialect::Postgres => concat!(
                "WITH RECURSIVE heads (queue_key, id, due_at) AS (",
                sql::queue_heads_of_lane!(),
                ") ",
                sql::lease_rows_among!(concat!(
                    "SELECT h.id FROM heads h WHERE h.due_at <= $2 AND ",
                    sql::claimable_here!("h.queue_key")
                ))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_tls_on_loopback;

    #[test]
    fn a_database_on_loopback_is_reached_without_tls_unless_the_url_says_otherwise() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/bench",
                "postgres://postgres@127.0.0.1:5432/bench?sslmode=disable",
            ),
            (
                "postgres://u:p%40ss@localhost/db?application_name=skill",
                "postgres://u:p%40ss@localhost/db?application_name=skill&sslmode=disable",
            ),
            (
                "postgresql://u@[::1]:5433/db",
                "postgresql://u@[::1]:5433/db?sslmode=disable",
            ),
            (
                "postgres://u@127.0.0.2/db",
                "postgres://u@127.0.0.2/db?sslmode=disable",
            ),
            // Asked for, or not loopback, or elsewhere: as given.
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                "postgres://u@127.0.0.1/db?sslmode=require",
            ),
            (
                "postgres://u@localhost/db?ssl-mode=verify-full",
                "postgres://u@localhost/db?ssl-mode=verify-full",
            ),
            (
                "postgres://u@db.example.com/db",
                "postgres://u@db.example.com/db",
            ),
            ("postgres://u@10.0.0.5/db", "postgres://u@10.0.0.5/db"),
            (
                "postgres://u@localhost/db?host=/var/run/postgresql",
                "postgres://u@localhost/db?host=/var/run/postgresql",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(without_tls_on_loopback(url), expected, "{url}");
        }
    }
}
