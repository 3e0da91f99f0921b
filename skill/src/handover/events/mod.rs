//! What each live-chat event does, one a file: an agent's message ([`agent_message`]), an agent
//! joining ([`agent_joined`]), the customer's place in the queue ([`queue_update`]), the agent
//! typing ([`typing`]) and the agent closing the chat ([`conversation_ended`]). Each is a method
//! of [`super::service::Handover`], which dispatches to it.

pub mod agent_joined;
pub mod agent_message;
pub mod conversation_ended;
pub mod queue_update;
pub mod typing;
