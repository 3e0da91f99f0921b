//! Durable state: conversations, transcripts (agent replies are also the webhook outbox), the
//! agents, and the numbered event log that feeds the agents' live updates.
//!
//! One SQLite file, WAL with `synchronous = FULL`. Every write goes through one writing
//! connection owned by the writer task (`writer.rs`), which commits what arrives together in one
//! transaction; a few read-only connections read beside it ([`Store`], `handle.rs`). Each change
//! and its events are written in the same transaction; after the commit the writer hands the
//! events to memory (`recent.rs`), where every live stream takes them, and wakes the webhook
//! worker ([`Store::outbox_signal`]) when a reply was queued, so no caller has to remember to.
//! Keys the caller sends (a start's `idempotencyKey`, a message's `id`) are unique in the table: a
//! repeat answers the first.
//!
//! The writes are transaction functions by subject: a conversation's transcript and summary
//! (`conversations.rs`), the agents (`agents.rs`), the queue and who has a conversation
//! (`routing.rs`), the webhook outbox (`deliveries.rs`), the event log (`events.rs`), which entry
//! has which file (`attachments.rs`; the bytes are on disk, `crate::files`), and a customer's
//! data exported or erased and long-ended conversations deleted (`privacy.rs`), and private notes
//! and whispers (`notes.rs`), and the wrap-up of an ended conversation (`wrap_up.rs`); every
//! statement is in `sql.rs`, and rows are read in `rows.rs`.
//! Transcript entries and conversations are the contract's types ([`livechat_contract::api`]):
//! the live chat's data model is what its API shows.
//!
//! This file only declares the modules and names what the rest of the live chat uses.

mod agents;
mod attachments;
mod conversations;
mod deliveries;
mod events;
mod handle;
pub mod model;
mod notes;
mod privacy;
mod recent;
mod routing;
mod rows;
mod sql;
mod wrap_up;
mod writer;

pub use handle::Store;
pub use model::{
    AddMessageError, AgentState, ConfiguredAgent, ConversationId, Counted, EndingParty,
    EntryDetail, Event, EventKind, NewConversation, NewFile, NewNote, Note, PendingDelivery,
    Presence, QueuePlace, Recorded, ReplyAuthor, RoutingError, Started, StoredFile, TransferTarget,
    UNNAMED_CUSTOMER,
};
pub use privacy::{CustomerExport, Erased, ExportedConversation};
pub use wrap_up::TIMEOUT_CODE as WRAP_UP_TIMEOUT;
