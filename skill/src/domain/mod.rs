//! The handover in its own words: the ids it works with, what a caller asks of it
//! ([`HandoverRequest`]), what it answers ([`HandoverOutcome`]), what the live chat reports
//! ([`LiveChatEvent`]), the messages it sends each way ([`Outbound`]), and the files in them
//! ([`files`]).
//!
//! Invariant: nothing here knows Bot Framework JSON, the live chat's JSON, SQL or HTTP; `protocol/`,
//! `livechat/` and `store/` translate at their edges, and this module derives no serde traits.

pub mod files;
pub mod ids;
pub mod keys;
pub mod messages;
pub mod requests;
pub mod session;
pub mod timers;

pub use files::{
    display_name, AgentFile, ContentNote, CustomerFile, FetchError, FetchRefusal, FileLink,
    FileLinkToken, FileSource, NotForwarded, PictureSize, SharedFile, Unforwarded,
};
pub use ids::{
    ActivityId, ConversationAddress, CopilotConversationId, DeliveryId, IdError,
    LiveChatConversationId, LiveChatEventId, SessionId,
};
pub use keys::{left_message_start, ActivityPart, DedupeKey, LeftMessagePart};
pub use messages::{
    Content, Lane, MessageToAgent, MessageToUser, NoteRole, Outbound, Speaker, ToAgent, ToUser,
    UserConversation,
};
pub use requests::{
    Availability, Closed, Customer, HandoverOutcome, HandoverRequest, LeaveMessageRequest,
    LiveChatEvent, Opened, Placement, RateRequest, Rating, RatingScale, SessionKeys, StartRequest,
    UserMessage, WebhookOutcome,
};
pub use session::{ClosedBy, Session, SessionState};
pub use timers::{ChatOutcome, Timeouts, Timer, TimerKind};
