//! The handover itself: what each skill action and each webhook event does to the sessions and the
//! outboxes, and the workers that deliver from the outboxes.
//!
//! Invariant: every message that crosses a boundary is stored before it is acknowledged, and
//! delivered from the store by an [`outbox::OutboxWorker`]; nothing is sent straight from a request.
//! The only calls made while a request waits are opening a live-chat session (bounded by a timeout)
//! and, for `expectReplies`, nothing at all beyond the store.

pub mod couriers;
pub mod outbox;
pub mod payloads;
pub mod replies;
pub mod service;
pub mod text;

pub use outbox::{OutboxWorker, RetryPolicy};
pub use replies::ReplySender;
pub use service::{Handover, HandoverError, WebhookOutcome};
