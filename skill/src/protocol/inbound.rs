//! From an authenticated, well-formed activity to the handover's [`HandoverRequest`]: which action
//! it is, which session it is about, and the inputs it carries.

use super::activity::{types, Activity};
use super::content::{content_of, ContentRules};
use super::manifest::{actions, fields};
use crate::domain::{
    ActivityId, ConversationAddress, CopilotConversationId, Customer, HandoverRequest, IdError,
    LeaveMessageRequest, LiveChatConversationId, RateRequest, SessionKeys, StartRequest,
    UserMessage,
};

/// Activity types that carry no request for the skill (answering them with an `endOfConversation`
/// would end the user's live chat).
const INFORMATIONAL_TYPES: &[&str] = &[
    "conversationUpdate",
    "trace",
    "messageReaction",
    "installationUpdate",
    "messageUpdate",
    "messageDelete",
];

/// The request an activity makes; fails only on an unusable conversation id (a 400). A message's
/// content is read by `rules` (`content.rs`).
pub fn request_of(activity: &Activity, rules: &ContentRules) -> Result<HandoverRequest, IdError> {
    let is = |name: &str| activity.name().eq_ignore_ascii_case(name);
    Ok(match activity.kind() {
        types::EVENT if is(actions::START_CONVERSATION) => {
            HandoverRequest::Start(start_request(activity)?)
        }
        types::EVENT if is(actions::END_CONVERSATION) => {
            HandoverRequest::End(session_keys(activity)?)
        }
        types::EVENT if is(actions::RATE_CONVERSATION) => rate_request(activity)?,
        types::EVENT if is(actions::LEAVE_MESSAGE) => leave_message_request(activity)?,
        types::EVENT => HandoverRequest::UnknownAction(activity.name().to_owned()),
        types::MESSAGE => {
            let content = content_of(activity, rules);
            HandoverRequest::Message(UserMessage {
                keys: session_keys(activity)?,
                // An unusable id (blank, oversized) only loses the repeat check, not the message.
                id: activity_id(activity),
                sender_name: activity
                    .from
                    .as_ref()
                    .and_then(|from| from.name.clone())
                    .filter(|name| !name.trim().is_empty()),
                text: content.text,
                problem_description: problem_description(activity),
                files: content.files,
                unforwarded: content.unforwarded,
                notes: content.notes,
            })
        }
        types::END_OF_CONVERSATION => HandoverRequest::Cancel(session_keys(activity)?),
        types::TYPING => match session_keys(activity) {
            Ok(keys) => HandoverRequest::Typing(keys),
            // Nothing depends on a typing indicator: an unusable one is dropped, never an error.
            Err(_) => HandoverRequest::Ignore,
        },
        kind if INFORMATIONAL_TYPES
            .iter()
            .any(|informational| informational.eq_ignore_ascii_case(kind)) =>
        {
            HandoverRequest::Ignore
        }
        kind => HandoverRequest::Unsupported(kind.to_owned()),
    })
}

/// True for the requests that call the live chat before they can be answered (opening a session,
/// leaving a message): in normal delivery mode they run after the `202`, and their answer goes to
/// the caller's `serviceUrl` when they are done.
pub fn calls_the_live_chat(request: &HandoverRequest) -> bool {
    matches!(
        request,
        HandoverRequest::Start(_) | HandoverRequest::LeaveMessage(_)
    )
}

fn session_keys(activity: &Activity) -> Result<SessionKeys, IdError> {
    Ok(SessionKeys {
        conversation: CopilotConversationId::parse(activity.conversation_id())?,
        // A malformed optional key is as good as none: the session is then found by the others.
        origin: activity
            .origin_conversation_id()
            .and_then(|origin| CopilotConversationId::parse(origin).ok()),
        livechat_input: activity
            .value_field(fields::LIVE_CHAT_CONVERSATION_ID)
            .and_then(|id| LiveChatConversationId::parse(id.trim()).ok()),
    })
}

/// `leaveMessage`, or why its input cannot be used.
fn leave_message_request(activity: &Activity) -> Result<HandoverRequest, IdError> {
    let Some(message) = text_input(activity, fields::MESSAGE) else {
        return Ok(HandoverRequest::Invalid {
            action: actions::LEAVE_MESSAGE.to_owned(),
            reason: "the Message input is missing or empty".to_owned(),
        });
    };
    Ok(HandoverRequest::LeaveMessage(LeaveMessageRequest {
        start: start_request(activity)?,
        id: activity_id(activity),
        message,
    }))
}

/// A text input, trimmed; `None` when absent or blank.
fn text_input(activity: &Activity, name: &str) -> Option<String> {
    activity
        .value_field(name)
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// The activity's id, if usable: an unusable one only loses the repeat check.
fn activity_id(activity: &Activity) -> Option<ActivityId> {
    activity
        .id
        .as_deref()
        .and_then(|id| ActivityId::parse(id).ok())
}

/// `rateConversation`, or why its inputs cannot be used.
fn rate_request(activity: &Activity) -> Result<HandoverRequest, IdError> {
    let keys = session_keys(activity)?;
    let invalid = |reason: String| HandoverRequest::Invalid {
        action: actions::RATE_CONVERSATION.to_owned(),
        reason,
    };
    // The value is checked against the live chat's scale by the handover.
    let Some(rating) = activity.value_field(fields::RATING) else {
        return Ok(invalid("the Rating input is missing".to_owned()));
    };
    Ok(HandoverRequest::Rate(RateRequest {
        keys,
        id: activity_id(activity),
        rating,
        comment: text_input(activity, fields::COMMENT),
    }))
}

fn problem_description(activity: &Activity) -> Option<String> {
    activity
        .value_field(fields::PROBLEM_DESCRIPTION)
        .filter(|problem| !problem.trim().is_empty())
}

fn start_request(activity: &Activity) -> Result<StartRequest, IdError> {
    let from = activity.from.clone().unwrap_or_default();
    Ok(StartRequest {
        keys: session_keys(activity)?,
        address: address_of(activity),
        customer: Customer {
            name: from.name.filter(|name| !name.is_empty()),
            id: from
                .aad_object_id
                .filter(|id| !id.is_empty())
                .or(Some(from.id)),
        },
        channel: activity.channel_id.clone(),
        tenant: activity.tenant_id(),
        problem_description: problem_description(activity),
    })
}

/// The conversation reference, recorded as JSON: the only form of it outside this module.
fn address_of(activity: &Activity) -> ConversationAddress {
    let reference = activity.conversation_reference();
    // A struct of strings always serializes; the fallback only satisfies the type.
    ConversationAddress::from_recorded(
        serde_json::to_string(&reference).unwrap_or_else(|_| "{}".to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn activity(value: serde_json::Value) -> Activity {
        serde_json::from_value(value).unwrap()
    }

    fn rules() -> ContentRules {
        ContentRules {
            target: Default::default(),
            max_files: 5,
        }
    }

    #[test]
    fn actions_and_types_become_requests() {
        let base =
            json!({"conversation": {"id": "c"}, "channelId": "msteams", "from": {"id": "u"}});
        let with = |fields: serde_json::Value| {
            let mut value = base.clone();
            for (key, field) in fields.as_object().unwrap() {
                value[key] = field.clone();
            }
            request_of(&activity(value), &rules()).unwrap()
        };
        assert!(matches!(
            with(json!({"type": "event", "name": "StartConversation"})),
            HandoverRequest::Start(_)
        ));
        assert!(matches!(
            with(json!({"type": "event", "name": "endConversation"})),
            HandoverRequest::End(_)
        ));
        assert_eq!(
            with(json!({"type": "event", "name": "dance"})),
            HandoverRequest::UnknownAction("dance".into())
        );
        let HandoverRequest::Rate(rate) = with(
            json!({"type": "event", "name": "rateConversation", "value": {"Rating": 4.0, "Comment": " quick "}}),
        ) else {
            panic!("expected a rating")
        };
        assert_eq!(
            (rate.rating.as_str(), rate.comment.as_deref()),
            ("4.0", Some("quick")),
            "the value as sent: the handover checks it against the live chat's scale"
        );
        assert!(matches!(
            with(json!({"type": "event", "name": "rateConversation", "value": {"Rating": null}})),
            HandoverRequest::Invalid { .. }
        ));
        assert!(matches!(
            with(json!({"type": "endOfConversation"})),
            HandoverRequest::Cancel(_)
        ));
        assert!(matches!(
            with(json!({"type": "typing"})),
            HandoverRequest::Typing(_)
        ));
        assert_eq!(
            with(json!({"type": "conversationUpdate"})),
            HandoverRequest::Ignore
        );
        assert_eq!(
            with(json!({"type": "handoff"})),
            HandoverRequest::Unsupported("handoff".into())
        );
    }

    #[test]
    fn a_message_carries_its_keys_and_inputs() {
        let request = request_of(
            &activity(json!({
                "type": "message",
                "text": "hello",
                "conversation": {"id": "inv-2"},
                "relatesTo": {"conversation": {"id": "conv-1"}},
                "channelId": "msteams",
                "from": {"id": "u", "name": "  "},
                "value": {"liveChatConversationId": " lc-1 ", "ProblemDescription": "printer"}
            })),
            &rules(),
        )
        .unwrap();
        let HandoverRequest::Message(message) = request else {
            panic!("expected a message: {request:?}")
        };
        assert_eq!(message.keys.conversation.as_str(), "inv-2");
        assert_eq!(message.keys.origin.unwrap().as_str(), "conv-1");
        assert_eq!(message.keys.livechat_input.unwrap().as_str(), "lc-1");
        assert_eq!(message.sender_name, None, "a blank name is no name");
        assert_eq!(message.problem_description.as_deref(), Some("printer"));
    }

    #[test]
    fn a_start_records_where_to_write_back() {
        let request = request_of(
            &activity(json!({
                "type": "event", "name": "startConversation", "id": "a1",
                "serviceUrl": "http://127.0.0.1:9/", "channelId": "msteams",
                "from": {"id": "29:u", "name": "Megan", "aadObjectId": "aad"},
                "recipient": {"id": "bot"},
                "conversation": {"id": "c", "tenantId": "t"}
            })),
            &rules(),
        )
        .unwrap();
        let HandoverRequest::Start(start) = request else {
            panic!("expected a start")
        };
        assert_eq!(start.customer.id.as_deref(), Some("aad"));
        assert_eq!(start.tenant.as_deref(), Some("t"));
        let reference: serde_json::Value =
            serde_json::from_str(start.address.as_recorded()).unwrap();
        assert_eq!(reference["serviceUrl"], "http://127.0.0.1:9/");
        assert_eq!(reference["user"]["id"], "29:u");
        assert_eq!(reference["bot"]["id"], "bot");
    }
}
