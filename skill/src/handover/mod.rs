//! The handover itself: what each skill action and each live-chat event does to the sessions and
//! the outboxes ([`Handover`]), the workers that deliver from the outboxes ([`OutboxWorker`]), and
//! the words the skill says ([`text`]).
//!
//! Invariant: every message that crosses a boundary is stored before it is acknowledged, and
//! delivered from the store by an [`OutboxWorker`]; nothing is sent straight from a request. The
//! one call made while a request waits is opening a live-chat session (bounded by a timeout).
//! Nothing here knows Bot Framework or live-chat JSON: requests, outcomes and events are the
//! domain's types.

pub mod livechat_courier;
pub mod outbox;
pub mod queues;
pub mod service;
pub mod text;
pub mod timers;

pub use livechat_courier::LiveChatCourier;
pub use outbox::{Attempt, Courier, OutboxWorker, RetryPolicy, WorkerLimits};
pub use service::{Handover, HandoverError, HandoverParts, TypingIndicator};
pub use timers::{Clock, TimerWorker};
