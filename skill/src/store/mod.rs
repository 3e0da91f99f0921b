//! Durable state: handover sessions and the two outboxes, in SQLite (one instance) or PostgreSQL
//! (several instances sharing the state).
//!
//! One body for both databases: the statements are in [`sql`] (the few that differ in
//! [`dialect`]), the rows and payload records in [`records`], and [`Store`] (`handle.rs`) runs the
//! reads through sqlx's `Any` driver. The SQL enforces the invariants itself (one live session per
//! conversation, one delivery per sender id), so they hold across instances too.
//!
//! Writes go through one [`writer`] task that commits what arrives together in one transaction
//! (group commit) before it answers; each kind of write is a file of [`jobs`], run on the
//! transaction's shared [`batch`]. Reads that run on every message are answered from the [`index`]
//! of live sessions, which the writer keeps exact, when this process is the only writer (SQLite);
//! with a shared database from the [`cache`] of open sessions read, which every instance's
//! changes empty, and from the database when it does not hold them.
//!
//! The store feeds its own workers: with SQLite the writer hands each lane's worker the deliveries
//! it has just committed ([`Store::intake`]); with PostgreSQL it wakes the worker, which claims due
//! deliveries from the shared table. No caller has to remember to.
//!
//! This file only declares the modules and names what the rest of the skill uses.

pub mod batch;
pub mod cache;
pub mod connection;
pub mod dialect;
pub mod handle;
pub mod index;
pub mod jobs;
pub mod model;
pub mod records;
pub mod sql;
pub mod writer;

pub use dialect::SQLITE_FILE;
pub use dialect::{Dialect, CLAIM_LEASE_MS};
pub use handle::Store;
pub use model::{
    Arrival, BeginSession, Claims, Delivery, DeliveryCounts, DeliveryOutcome, Enqueued,
    ErasedSessions, Heartbeat, Intake, LaneSignal, NewDelivery, NewFileLink, PendingTurn, Purged,
    SessionUpdate, TimerThen, UserMessages, Wanted, ABANDONED_OPENING_SECS,
};
