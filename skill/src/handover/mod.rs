//! The handover itself: what each skill action and each live-chat event does to the sessions and
//! the outboxes ([`Handover`], dispatching to `actions/` and `events/`, one a file), what it needs
//! from outside ([`ports`]), the workers that deliver from the outboxes ([`OutboxWorker`]) and act
//! on due timers ([`TimerWorker`]), and the words the skill says ([`text`]).
//!
//! Nothing here knows Bot Framework or live-chat JSON: requests, outcomes, events and messages are
//! the domain's types, and the adapters implement [`ports`].
//! This file only declares the modules and names what the rest of the skill uses.

pub mod actions;
pub mod delivery_reports;
pub mod events;
pub mod livechat_courier;
pub mod masking;
pub mod notices;
pub mod outbox;
pub mod pacing;
pub mod ports;
pub mod pushed_events;
pub mod queues;
pub mod service;
pub mod sessions;
pub mod shared_files;
pub mod text;
pub mod timer_due;
pub mod timers;

pub use livechat_courier::LiveChatCourier;
pub use outbox::{Attempt, Backoff, Courier, OutboxWorker, RetryPolicy, WorkerLimits};
pub use ports::{
    ByteStream, Capabilities, FileDownload, FileFetcher, HandoffContext, LiveChat, LiveChatError,
    StagedFile, TypingIndicator, TypingNotShown,
};
pub use pushed_events::PushedEvents;
pub use service::{Handover, HandoverError, HandoverParts};
pub use shared_files::SharedFileLink;
pub use timers::{Clock, TimerWorker};
