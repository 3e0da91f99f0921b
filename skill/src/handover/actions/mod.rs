//! What each skill action does, one a file: `startConversation` ([`start`]), a user's message
//! ([`message`]), `endConversation` and a cancelled action ([`end`]), `rateConversation`
//! ([`rate`]), `leaveMessage` ([`leave_message`]) and the customer typing ([`typing`]). Each is a method of
//! [`super::service::Handover`], which dispatches to it.

pub mod end;
pub mod leave_message;
pub mod message;
pub mod rate;
pub mod start;
pub mod typing;
