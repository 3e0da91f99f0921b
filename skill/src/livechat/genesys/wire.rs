//! Genesys Cloud's Open Messaging bodies, as much of them as the skill sends and reads, with the
//! names of Genesys' published models (`OpenInboundNormalizedMessage`, `OpenInboundNormalizedEvent`,
//! `OpenMessageNormalizedMessage`, `OpenNormalizedMessage`, `OpenEventNormalizedMessage`) and of
//! the notification topic `v2.conversations.{id}` (`ConversationEventTopicConversation`).

use serde::{Deserialize, Serialize};

/// The OAuth token endpoint's path on the region's login host.
pub const TOKEN_PATH: &str = "/oauth/token";
/// The notification channels' path on the API host.
pub const CHANNELS_PATH: &str = "/api/v2/notifications/channels";

/// `/api/v2/conversations/messages/{integrationId}/inbound/open/message`.
pub fn inbound_message_path(integration: &str) -> String {
    format!("/api/v2/conversations/messages/{integration}/inbound/open/message")
}

/// `/api/v2/conversations/messages/{integrationId}/inbound/open/event`.
pub fn inbound_event_path(integration: &str) -> String {
    format!("/api/v2/conversations/messages/{integration}/inbound/open/event")
}

/// `/api/v2/conversations/{conversationId}`: a conversation and its participants (`Conversation`,
/// whose participants read as the topic's do).
pub fn conversation_path(conversation: &str) -> String {
    format!("/api/v2/conversations/{conversation}")
}

/// `/api/v2/conversations/messages/{conversationId}/participants/{participantId}`: one
/// participant's state (`MediaParticipantRequest`), how the customer leaves.
pub fn message_participant_path(conversation: &str, participant: &str) -> String {
    format!("/api/v2/conversations/messages/{conversation}/participants/{participant}")
}

/// `MediaParticipantRequest`, as the customer leaves.
#[derive(Debug, Serialize)]
pub struct ParticipantState {
    pub state: &'static str,
}

/// `/api/v2/notifications/channels/{channelId}/subscriptions`.
pub fn subscriptions_path(channel: &str) -> String {
    format!("{CHANNELS_PATH}/{channel}/subscriptions")
}

/// The topic that reports a conversation's participants as they change.
pub fn conversation_topic(conversation: &str) -> String {
    format!("v2.conversations.{conversation}")
}

/// The OAuth token endpoint's answer.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub expires_in: Option<u64>,
}

/// The customer as Genesys knows them: `OpenMessagingFromRecipient`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FromRecipient<'a> {
    pub id: &'a str,
    /// `Opaque`: an id of the skill's own making.
    pub id_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<&'a str>,
}

/// `OpenInboundMessageMessagingChannel`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessageChannel<'a> {
    /// Genesys' key of a message: the same id again is the same message.
    pub message_id: &'a str,
    pub from: FromRecipient<'a>,
    pub time: String,
}

/// `OpenInboundNormalizedMessage`: a customer's message.
#[derive(Debug, Serialize)]
pub struct InboundMessage<'a> {
    pub channel: InboundMessageChannel<'a>,
    pub text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<std::collections::BTreeMap<&'static str, String>>,
}

/// `OpenInboundMessagingChannel`.
#[derive(Debug, Serialize)]
pub struct InboundEventChannel<'a> {
    pub from: FromRecipient<'a>,
    pub time: String,
}

/// `OpenEvent` of type `Typing`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundTyping {
    pub event_type: &'static str,
}

/// `OpenInboundNormalizedEvent`: the customer typing.
#[derive(Debug, Serialize)]
pub struct InboundEvent<'a> {
    pub channel: InboundEventChannel<'a>,
    pub events: Vec<InboundTyping>,
}

/// `OpenMessageNormalizedMessage`, the answer to an inbound message: which conversation took it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundAnswer {
    pub conversation_id: Option<String>,
}

/// `OpenMessagingToRecipient` / `OpenMessagingFromRecipient` as Genesys sends them.
#[derive(Debug, Deserialize, Default)]
pub struct Recipient {
    pub id: Option<String>,
    pub nickname: Option<String>,
    #[serde(rename = "firstName")]
    pub first_name: Option<String>,
}

/// `OpenMessagingChannel` of an outbound body.
#[derive(Debug, Deserialize, Default)]
pub struct OutboundChannel {
    pub to: Option<Recipient>,
    pub from: Option<Recipient>,
    pub time: Option<String>,
}

/// `ConversationContentAttachment`, as far as the skill tells the customer of it.
#[derive(Debug, Deserialize)]
pub struct OutboundAttachment {
    pub filename: Option<String>,
}

/// `OpenMessageContent`.
#[derive(Debug, Deserialize)]
pub struct OutboundContent {
    pub attachment: Option<OutboundAttachment>,
}

/// `OpenMessageEvent`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundEvent {
    pub event_type: Option<String>,
}

/// What Genesys posts to the integration's outbound webhook: `OpenNormalizedMessage` (`Text`,
/// `Receipt`) or `OpenEventNormalizedMessage` (`Event`).
#[derive(Debug, Deserialize)]
pub struct Outbound {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub channel: OutboundChannel,
    pub text: Option<String>,
    #[serde(default)]
    pub content: Vec<OutboundContent>,
    #[serde(default)]
    pub events: Vec<OutboundEvent>,
    pub direction: Option<String>,
}

/// `Channel`: a notification channel to connect to.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub connect_uri: String,
}

/// `ChannelTopic`, as a subscription asks for it.
#[derive(Debug, Serialize)]
pub struct ChannelTopic {
    pub id: String,
}

/// One notification on the channel.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub topic_name: String,
    #[serde(default)]
    pub event_body: serde_json::Value,
}

/// `ConversationEventTopicConversation`, the body of `v2.conversations.{id}`.
#[derive(Debug, Deserialize)]
pub struct ConversationEvent {
    pub id: String,
    #[serde(default)]
    pub participants: Vec<Participant>,
}

/// `ConversationEventTopicParticipant`.
#[derive(Debug, Deserialize)]
pub struct Participant {
    pub id: String,
    pub name: Option<String>,
    pub purpose: Option<String>,
    #[serde(default)]
    pub messages: Vec<MessageMedia>,
}

/// `ConversationEventTopicMessage`: the participant's part in the messaging conversation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageMedia {
    pub state: Option<String>,
    pub disconnect_type: Option<String>,
}
