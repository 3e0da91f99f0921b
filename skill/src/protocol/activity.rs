//! Activity JSON as it travels between Copilot Studio, Teams and the skill.
//!
//! Names are camelCase on the wire; unknown fields are ignored and never refused, because Copilot
//! Studio adds fields of its own (`cci_*`, entities). Null fields are left out when writing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Activity types the skill reads or writes.
pub mod types {
    pub const MESSAGE: &str = "message";
    pub const EVENT: &str = "event";
    pub const END_OF_CONVERSATION: &str = "endOfConversation";
    pub const INVOKE: &str = "invoke";
    pub const TYPING: &str = "typing";
}

/// `endOfConversation` codes. Only `completedSuccessfully` is common to every SDK; for failures the
/// Bot Connector schema's names are used, which Copilot Studio treats as a failed action.
pub mod end_codes {
    pub const COMPLETED_SUCCESSFULLY: &str = "completedSuccessfully";
    pub const UNKNOWN: &str = "unknown";
    pub const CHANNEL_FAILED: &str = "channelFailed";
    pub const BOT_ISSUED_INVALID_MESSAGE: &str = "botIssuedInvalidMessage";
}

/// A Bot Framework activity: the fields this skill uses (the others are ignored when reading).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    /// `_channelId` is what `@microsoft/agents-hosting`'s agent client puts on the wire (its
    /// receivers normalise it); accepted here for the same reason.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "_channelId")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<ConversationReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_mode: Option<String>,
    /// Pictures, files and cards (and, from Teams, the message as HTML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// Mentions and other metadata, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Value>>,
}

/// An attachment of an activity: a file by its URL, or content (a card, HTML) inline.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(default)]
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// A user or bot account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The conversation an activity belongs to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// Enough of a conversation to write into it later: kept per handover session.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ChannelAccount>,
    /// The wire name of the agent's account is `bot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

impl Activity {
    /// The activity type, or "" when absent.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("")
    }

    /// The type as a metric label: one of the Bot Framework's activity types, else `other`, so a
    /// caller cannot add label values without bound.
    pub fn kind_label(&self) -> &'static str {
        const KNOWN: &[&str] = &[
            types::MESSAGE,
            types::EVENT,
            types::END_OF_CONVERSATION,
            types::INVOKE,
            "typing",
            "conversationUpdate",
            "contactRelationUpdate",
            "installationUpdate",
            "messageReaction",
            "messageUpdate",
            "messageDelete",
            "trace",
            "handoff",
            "command",
            "commandResult",
        ];
        KNOWN
            .iter()
            .find(|known| **known == self.kind())
            .copied()
            .unwrap_or("other")
    }

    /// The conversation id, or "" when absent.
    pub fn conversation_id(&self) -> &str {
        self.conversation
            .as_ref()
            .map(|c| c.id.as_str())
            .unwrap_or("")
    }

    /// True when the caller wants the replies in the HTTP response instead of callbacks.
    pub fn expects_replies(&self) -> bool {
        self.delivery_mode
            .as_deref()
            .is_some_and(|mode| mode.eq_ignore_ascii_case("expectReplies"))
    }

    /// The event or invoke name, compared case-insensitively by the callers.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// Reads an action input from `value`, matching the key case-insensitively (Copilot Studio's
    /// casing of input names is not specified). Non-string JSON is turned into its text.
    pub fn value_field(&self, key: &str) -> Option<String> {
        let object = self.value.as_ref()?.as_object()?;
        let found = object
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value)?;
        match found {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }

    /// The Teams tenant, from `conversation.tenantId` or `channelData.tenant.id`.
    pub fn tenant_id(&self) -> Option<String> {
        self.conversation
            .as_ref()
            .and_then(|c| c.tenant_id.clone())
            .or_else(|| {
                self.channel_data
                    .as_ref()
                    .and_then(|data| data.pointer("/tenant/id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .filter(|tenant| !tenant.is_empty())
    }

    /// The conversation this activity relates to (`relatesTo.conversation.id`), when the caller
    /// names one that differs from the activity's own: Bot Framework SDK hosts give each skill
    /// invocation a new conversation id and keep the original conversation there.
    pub fn origin_conversation_id(&self) -> Option<String> {
        let origin = self
            .relates_to
            .as_ref()?
            .conversation
            .as_ref()?
            .id
            .trim()
            .to_owned();
        (!origin.is_empty() && origin != self.conversation_id()).then_some(origin)
    }

    /// Checks the fields every handler relies on, answering what is missing.
    pub fn check_shape(&self) -> Result<(), String> {
        if self.kind().is_empty() {
            return Err("the activity has no type".into());
        }
        if self.conversation_id().is_empty() {
            return Err("the activity has no conversation.id".into());
        }
        if self.channel_id.as_deref().unwrap_or("").is_empty() {
            return Err("the activity has no channelId".into());
        }
        if self
            .from
            .as_ref()
            .map(|from| from.id.as_str())
            .unwrap_or("")
            .is_empty()
        {
            return Err("the activity has no from.id".into());
        }
        if matches!(self.kind(), types::EVENT | types::INVOKE) && self.name().is_empty() {
            return Err(format!("an {} activity needs a name", self.kind()));
        }
        Ok(())
    }

    /// The reference kept to write into this conversation later (inbound `recipient` is the bot).
    pub fn conversation_reference(&self) -> ConversationReference {
        let mut conversation = self.conversation.clone().unwrap_or_default();
        conversation.tenant_id = self.tenant_id();
        ConversationReference {
            activity_id: self.id.clone(),
            user: self.from.clone(),
            bot: self.recipient.clone(),
            conversation: Some(conversation),
            channel_id: self.channel_id.clone(),
            service_url: self.service_url.clone(),
            locale: self.locale.clone(),
        }
    }

    /// A reply to this activity, addressed the way the SDKs address one: same conversation and
    /// channel, `from` and `recipient` swapped, `replyToId` set, locale carried over.
    pub fn create_reply(&self, kind: &str) -> Activity {
        Activity {
            kind: Some(kind.to_owned()),
            channel_id: self.channel_id.clone(),
            service_url: self.service_url.clone(),
            conversation: self.conversation.clone(),
            from: self.recipient.clone(),
            recipient: self.from.clone(),
            reply_to_id: self.id.clone(),
            locale: self.locale.clone(),
            ..Activity::default()
        }
    }

    /// The `endOfConversation` that finishes a skill action.
    /// A message to the user in answer to this activity.
    pub fn message_reply(&self, text: &str) -> Activity {
        Activity {
            text: Some(text.to_owned()),
            ..self.create_reply(types::MESSAGE)
        }
    }

    pub fn end_of_conversation_reply(
        &self,
        name: Option<&str>,
        code: &str,
        text: &str,
        value: Option<Value>,
    ) -> Activity {
        Activity {
            name: name.map(str::to_owned),
            code: Some(code.to_owned()),
            text: Some(text.to_owned()),
            value,
            ..self.create_reply(types::END_OF_CONVERSATION)
        }
    }
}

/// The body of an `expectReplies` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpectedReplies {
    pub activities: Vec<Activity>,
}

/// What the Connector answers to a sent activity; Teams often leaves the body empty.
#[derive(Debug, Default, Deserialize)]
pub struct ResourceResponse {
    #[serde(default)]
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn copilot_event() -> Activity {
        serde_json::from_value(json!({
            "type": "event",
            "name": "startConversation",
            "id": "act-1",
            "serviceUrl": "https://pvaruntime.us-il102.gateway.prod.island.powerapps.com/api/runtime/bots/x/skillsV2/",
            "channelId": "msteams",
            "from": {"id": "29:user", "name": "Megan", "aadObjectId": "aad-1"},
            "recipient": {"id": "skill-id", "role": "skill"},
            "conversation": {"id": "a:conv", "tenantId": "tenant-1"},
            "locale": "en-US",
            "value": {"problemdescription": "printer on fire", "count": 3},
            "cci_bot_id": "ignored",
            "entities": [{"type": "ClientCapabilities"}]
        }))
        .unwrap()
    }

    #[test]
    fn unknown_fields_are_tolerated_and_inputs_read_case_insensitively() {
        // Copilot Studio's own fields (cci_bot_id, entities) are read past, not refused.
        let activity = copilot_event();
        assert_eq!(
            activity.value_field("ProblemDescription").as_deref(),
            Some("printer on fire")
        );
        assert_eq!(activity.value_field("Count").as_deref(), Some("3"));
        assert_eq!(activity.value_field("Missing"), None);
        assert_eq!(activity.tenant_id().as_deref(), Some("tenant-1"));
    }

    #[test]
    fn replies_swap_accounts_and_point_at_the_inbound_activity() {
        let activity = copilot_event();
        let reply = activity.end_of_conversation_reply(
            Some("startConversation"),
            end_codes::COMPLETED_SUCCESSFULLY,
            "",
            Some(json!({"liveChatConversationId": "lc"})),
        );
        let wire = serde_json::to_value(&reply).unwrap();
        assert_eq!(wire["type"], "endOfConversation");
        assert_eq!(wire["replyToId"], "act-1");
        assert_eq!(wire["from"]["id"], "skill-id");
        assert_eq!(wire["recipient"]["id"], "29:user");
        assert_eq!(wire["conversation"]["id"], "a:conv");
        assert_eq!(wire["code"], "completedSuccessfully");
        assert_eq!(wire["value"]["liveChatConversationId"], "lc");
        assert!(wire.get("deliveryMode").is_none());
        assert!(
            wire.get("cci_bot_id").is_none(),
            "extension fields are not echoed"
        );
    }

    #[test]
    fn the_shape_check_names_what_is_missing() {
        let cases = [
            (json!({}), "type"),
            (json!({"type": "message"}), "conversation.id"),
            (
                json!({"type": "message", "conversation": {"id": "c"}}),
                "channelId",
            ),
            (
                json!({"type": "message", "conversation": {"id": "c"}, "channelId": "x"}),
                "from.id",
            ),
            (
                json!({"type": "event", "conversation": {"id": "c"}, "channelId": "x", "from": {"id": "u"}}),
                "name",
            ),
        ];
        for (body, missing) in cases {
            let activity: Activity = serde_json::from_value(body.clone()).unwrap();
            let error = activity.check_shape().unwrap_err();
            assert!(error.contains(missing), "{body}: {error}");
        }
        assert!(copilot_event().check_shape().is_ok());
    }

    #[test]
    fn the_agents_sdk_private_channel_id_field_is_read() {
        let activity: Activity =
            serde_json::from_value(json!({"type": "message", "_channelId": "msteams"})).unwrap();
        assert_eq!(activity.channel_id.as_deref(), Some("msteams"));
    }

    #[test]
    fn tenant_falls_back_to_channel_data() {
        let activity: Activity = serde_json::from_value(
            json!({"type": "message", "channelData": {"tenant": {"id": "t-2"}}}),
        )
        .unwrap();
        assert_eq!(activity.tenant_id().as_deref(), Some("t-2"));
    }
}
