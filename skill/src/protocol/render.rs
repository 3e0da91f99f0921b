//! From the handover's answers to activities: the `endOfConversation` that ends a skill action
//! ([`replies`]), and the proactive message that carries a [`ToUser`] into Teams ([`proactive`]),
//! its words rendered as Teams shows them ([`teams_text`]: an agent's name in bold before their
//! words, both escaped so that what they typed is shown, not interpreted).

use serde_json::json;

use super::activity::ConversationReference;
use super::activity::{end_codes, types, Activity, ChannelAccount, ConversationAccount};
use super::cards::{self, FileLinks};
use super::manifest::{actions, fields};
use super::teams::{proactive_service_url, TeamsTarget};
use crate::domain::{
    ChatOutcome, Content, HandoverOutcome, MessageToUser, Opened, Placement, Speaker, ToUser,
    UserConversation,
};
use crate::handover::text;

/// The replies that answer `inbound` with `outcome` (none leaves the skill action open).
pub fn replies(inbound: &Activity, outcome: &HandoverOutcome) -> Vec<Activity> {
    let end = |name: Option<&str>, code: &str, text: &str| {
        vec![inbound.end_of_conversation_reply(name, code, text, None)]
    };
    match outcome {
        HandoverOutcome::Started(opened) => vec![inbound.end_of_conversation_reply(
            Some(actions::START_CONVERSATION),
            end_codes::COMPLETED_SUCCESSFULLY,
            "",
            Some(start_outputs(opened)),
        )],
        HandoverOutcome::NoAgentAvailable => vec![
            inbound.message_reply(text::NO_AGENT_AVAILABLE),
            inbound.end_of_conversation_reply(
                Some(actions::START_CONVERSATION),
                end_codes::COMPLETED_SUCCESSFULLY,
                "",
                Some(json!({
                    "liveChatConversationId": "",
                    (fields::STATUS): outputs::NO_AGENT_AVAILABLE,
                    (fields::QUEUE_POSITION): 0,
                    (fields::ESTIMATED_WAIT_MINUTES): 0,
                })),
            ),
        ],
        HandoverOutcome::Closed(closed) => {
            let next_opening = text::next_opening(closed);
            vec![
                inbound.message_reply(&text::closed(&next_opening)),
                inbound.end_of_conversation_reply(
                    Some(actions::START_CONVERSATION),
                    end_codes::COMPLETED_SUCCESSFULLY,
                    "",
                    Some(json!({
                        "liveChatConversationId": "",
                        (fields::STATUS): outputs::CLOSED,
                        (fields::QUEUE_POSITION): 0,
                        (fields::ESTIMATED_WAIT_MINUTES): 0,
                        (fields::NEXT_OPENING): next_opening,
                    })),
                ),
            ]
        }
        // A successful end with its own status, so that the topic branches instead of running
        // the error topic.
        HandoverOutcome::StartFailed => vec![inbound.end_of_conversation_reply(
            Some(actions::START_CONVERSATION),
            end_codes::COMPLETED_SUCCESSFULLY,
            text::LIVECHAT_UNAVAILABLE,
            Some(json!({
                "liveChatConversationId": "",
                (fields::STATUS): outputs::UNAVAILABLE,
                (fields::QUEUE_POSITION): 0,
                (fields::ESTIMATED_WAIT_MINUTES): 0,
            })),
        )],
        HandoverOutcome::Forwarded | HandoverOutcome::Silent => Vec::new(),
        // The end of the `sendMessage` action: how the chat ended, for the topic to branch on.
        HandoverOutcome::ChatOver { outcome, agent } => {
            let (value, words) = match outcome {
                ChatOutcome::AgentEnded => (outputs::AGENT_ENDED, text::AGENT_ENDED),
                ChatOutcome::QueueTimeout => (outputs::QUEUE_TIMEOUT, ""),
                ChatOutcome::Inactive => (outputs::INACTIVE, ""),
                ChatOutcome::Failed => (outputs::FAILED, ""),
            };
            vec![inbound.end_of_conversation_reply(
                None,
                end_codes::COMPLETED_SUCCESSFULLY,
                words,
                Some(json!({
                    (fields::OUTCOME): value,
                    (fields::AGENT_NAME): agent.as_deref().unwrap_or_default(),
                })),
            )]
        }
        HandoverOutcome::NoSession => end(None, end_codes::UNKNOWN, text::NO_SESSION),
        HandoverOutcome::Ended => vec![inbound.end_of_conversation_reply(
            Some(actions::END_CONVERSATION),
            end_codes::COMPLETED_SUCCESSFULLY,
            "",
            Some(json!({ (fields::OUTCOME): outputs::CUSTOMER_ENDED })),
        )],
        HandoverOutcome::Rated => vec![inbound.end_of_conversation_reply(
            Some(actions::RATE_CONVERSATION),
            end_codes::COMPLETED_SUCCESSFULLY,
            "",
            Some(json!({ (fields::OUTCOME): outputs::RATED })),
        )],
        HandoverOutcome::NotRated => vec![inbound.end_of_conversation_reply(
            Some(actions::RATE_CONVERSATION),
            end_codes::COMPLETED_SUCCESSFULLY,
            "",
            Some(json!({ (fields::OUTCOME): outputs::NOT_RATED })),
        )],
        HandoverOutcome::MessageLeft(livechat) => vec![
            inbound.message_reply(text::MESSAGE_LEFT),
            inbound.end_of_conversation_reply(
                Some(actions::LEAVE_MESSAGE),
                end_codes::COMPLETED_SUCCESSFULLY,
                "",
                Some(json!({
                    (fields::LIVE_CHAT_CONVERSATION_ID): livechat.as_str(),
                    (fields::OUTCOME): outputs::MESSAGE_LEFT,
                })),
            ),
        ],
        HandoverOutcome::MessageNotLeft => vec![inbound.end_of_conversation_reply(
            Some(actions::LEAVE_MESSAGE),
            end_codes::COMPLETED_SUCCESSFULLY,
            text::LIVECHAT_UNAVAILABLE,
            Some(json!({
                (fields::LIVE_CHAT_CONVERSATION_ID): "",
                (fields::OUTCOME): outputs::UNAVAILABLE,
            })),
        )],
        HandoverOutcome::NothingToRate => end(
            Some(actions::RATE_CONVERSATION),
            end_codes::BOT_ISSUED_INVALID_MESSAGE,
            &text::invalid_inputs(actions::RATE_CONVERSATION, text::NOTHING_TO_RATE),
        ),
        HandoverOutcome::RatingRefused(reason) => end(
            Some(actions::RATE_CONVERSATION),
            end_codes::BOT_ISSUED_INVALID_MESSAGE,
            &text::invalid_inputs(actions::RATE_CONVERSATION, reason),
        ),
        HandoverOutcome::Invalid { action, reason } => end(
            Some(action),
            end_codes::BOT_ISSUED_INVALID_MESSAGE,
            &text::invalid_inputs(action, reason),
        ),
        HandoverOutcome::UnknownAction(name) => end(
            Some(name),
            end_codes::BOT_ISSUED_INVALID_MESSAGE,
            &text::unknown_action(name),
        ),
        HandoverOutcome::Unsupported(kind) => end(
            None,
            end_codes::BOT_ISSUED_INVALID_MESSAGE,
            &text::unsupported_activity(kind),
        ),
    }
}

/// The values `startConversation` ends with, named as the manifest declares them, except
/// `liveChatConversationId`: the casing Microsoft's SDK writes, which Copilot Studio accepts (it
/// matches output names without regard to case).
fn start_outputs(opened: &Opened) -> serde_json::Value {
    let (status, position, wait_secs) = match &opened.placement {
        Placement::Queued {
            position,
            estimated_wait_secs,
        } => (
            outputs::QUEUED,
            *position,
            estimated_wait_secs.unwrap_or_default(),
        ),
        Placement::Connected { .. } | Placement::Unknown => (outputs::CONNECTED, 0, 0),
    };
    json!({
        "liveChatConversationId": opened.livechat.as_str(),
        (fields::STATUS): status,
        (fields::QUEUE_POSITION): position,
        (fields::ESTIMATED_WAIT_MINUTES): wait_secs.div_ceil(60),
    })
}

/// The values of the `Status` output of `startConversation` and the `Outcome` of the actions that
/// end a chat.
pub mod outputs {
    pub const CONNECTED: &str = "connected";
    pub const QUEUED: &str = "queued";
    pub const NO_AGENT_AVAILABLE: &str = "noAgentAvailable";
    /// Outside the centre's business hours.
    pub const CLOSED: &str = "closed";
    /// The live chat could not be reached (or did not answer in time).
    pub const UNAVAILABLE: &str = "unavailable";
    pub const CUSTOMER_ENDED: &str = "customerEnded";
    pub const AGENT_ENDED: &str = "agentEnded";
    /// Nobody took the chat within the queue timeout.
    pub const QUEUE_TIMEOUT: &str = "queueTimeout";
    /// The customer wrote nothing within the inactivity timeout.
    pub const INACTIVE: &str = "inactive";
    /// The session failed (it could not be opened, or was interrupted).
    pub const FAILED: &str = "failed";
    /// `rateConversation` stored the rating.
    pub const RATED: &str = "rated";
    /// `rateConversation` for a live chat that takes no ratings: nothing was kept.
    pub const NOT_RATED: &str = "notRated";
    /// `leaveMessage` forwarded the message to the team.
    pub const MESSAGE_LEFT: &str = "messageLeft";
}

/// A proactive message, ready for SendToConversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProactiveMessage {
    pub service_url: String,
    pub conversation_id: String,
    pub activity: Activity,
}

/// How Teams shows words from `from`: the text and whether it is Teams Markdown.
pub fn teams_text(from: &Speaker, text: &str) -> (String, bool) {
    match from {
        Speaker::Agent(name) => (
            format!("**{}**: {}", escape_markdown(name), escape_markdown(text)),
            true,
        ),
        Speaker::Skill => (text.to_owned(), false),
    }
}

/// Escapes text for Teams' Markdown, so that an agent's `*`, `_` or `<b>` is shown, not interpreted.
pub fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        match character {
            '\\' | '*' | '_' | '`' | '~' | '[' | ']' | '#' | '|' => {
                escaped.push('\\');
                escaped.push(character);
            }
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The activity that writes `message` into the user's conversation from the agent's bot account,
/// and where to send it.
pub fn proactive(
    message: &ToUser,
    target: &TeamsTarget,
    links: &FileLinks,
) -> Result<ProactiveMessage, String> {
    let skeleton = proactive_skeleton(&message.to, target)?;
    Ok(ProactiveMessage {
        activity: with_content(&skeleton.activity, &message.message, links),
        ..skeleton
    })
}

/// [`proactive`] without the text: the same for every message of a conversation (and its typing
/// indicator), so a sender of many can make it once.
pub fn proactive_skeleton(
    to: &UserConversation,
    target: &TeamsTarget,
) -> Result<ProactiveMessage, String> {
    let reference: ConversationReference = serde_json::from_str(to.address.as_recorded())
        .map_err(|error| format!("unreadable conversation address: {error}"))?;
    let tenant_id = reference
        .conversation
        .as_ref()
        .and_then(|conversation| conversation.tenant_id.clone());
    let service_url = proactive_service_url(
        reference.service_url.as_deref().unwrap_or_default(),
        reference.channel_id.as_deref().unwrap_or_default(),
        tenant_id.as_deref(),
        target.service_url_override.as_deref(),
    );
    let from = match &target.bot_app_id {
        // The Teams account of an Azure Bot registration.
        Some(app_id) => Some(ChannelAccount {
            id: format!("28:{app_id}"),
            ..ChannelAccount::default()
        }),
        None => reference.bot.clone(),
    };
    let activity = Activity {
        kind: Some(types::MESSAGE.to_owned()),
        channel_id: reference.channel_id.clone(),
        conversation: Some(ConversationAccount {
            id: to.conversation.to_string(),
            tenant_id,
            ..ConversationAccount::default()
        }),
        from,
        recipient: reference.user.clone(),
        locale: reference.locale.clone(),
        ..Activity::default()
    };
    Ok(ProactiveMessage {
        service_url,
        conversation_id: to.conversation.to_string(),
        activity,
    })
}

/// A proactive activity without its text, as JSON to which [`json_with_text`] adds the text: a
/// conversation's kept skeleton costs its bytes, not a tree of strings.
#[derive(Debug, Clone)]
pub struct SkeletonJson(Box<[u8]>);

impl SkeletonJson {
    pub fn of(skeleton: &Activity) -> Result<Self, String> {
        let mut json = serde_json::to_vec(skeleton).map_err(|error| error.to_string())?;
        // `{...}` without its closing brace; the skeleton always has a type, so it has members.
        if json.pop() != Some(b'}') || json.len() < 2 {
            return Err("the activity skeleton is not a JSON object with members".into());
        }
        Ok(Self(json.into_boxed_slice()))
    }
}

/// The wire body of the skeleton's activity with `message` rendered in it (the same JSON
/// [`with_content`] would give, members in another order).
pub fn json_with_content(
    skeleton: &SkeletonJson,
    message: &MessageToUser,
    links: &FileLinks,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(skeleton.0.len() + 160);
    body.extend_from_slice(&skeleton.0);
    match &message.content {
        Content::Text(text) => {
            let (text, markdown) = teams_text(&message.from, text);
            body.extend_from_slice(b",\"text\":");
            // A string always serialises.
            let _ = serde_json::to_writer(&mut body, &text);
            if markdown {
                body.extend_from_slice(b",\"textFormat\":\"markdown\"");
            }
        }
        Content::File(shared) => {
            body.extend_from_slice(b",\"attachments\":");
            let attachments = [cards::attachment(&message.from, shared, links)];
            // Strings and JSON values always serialise.
            let _ = serde_json::to_writer(&mut body, &attachments);
        }
    }
    body.push(b'}');
    body
}

/// A skeleton with `message` rendered in it.
pub fn with_content(skeleton: &Activity, message: &MessageToUser, links: &FileLinks) -> Activity {
    match &message.content {
        Content::Text(text) => {
            let (text, markdown) = teams_text(&message.from, text);
            Activity {
                text: Some(text),
                text_format: markdown.then(|| "markdown".to_owned()),
                ..skeleton.clone()
            }
        }
        Content::File(shared) => Activity {
            attachments: Some(vec![cards::attachment(&message.from, shared, links)]),
            ..skeleton.clone()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationAddress, CopilotConversationId, LiveChatConversationId};

    fn inbound() -> Activity {
        serde_json::from_value(json!({
            "type": "event", "name": "startConversation", "id": "act-1",
            "channelId": "msteams", "conversation": {"id": "c"},
            "from": {"id": "29:u"}, "recipient": {"id": "skill"}
        }))
        .unwrap()
    }

    #[test]
    fn outcomes_end_the_action_with_the_documented_codes() {
        let livechat = LiveChatConversationId::parse("lc").unwrap();
        let cases = [
            (
                HandoverOutcome::Started(Opened {
                    livechat,
                    placement: Placement::Unknown,
                    hub_conversation: None,
                }),
                Some("completedSuccessfully"),
            ),
            (
                HandoverOutcome::NoAgentAvailable,
                Some("completedSuccessfully"),
            ),
            (HandoverOutcome::StartFailed, Some("completedSuccessfully")),
            (HandoverOutcome::Forwarded, None),
            (
                HandoverOutcome::ChatOver {
                    outcome: crate::domain::ChatOutcome::Inactive,
                    agent: None,
                },
                Some("completedSuccessfully"),
            ),
            (HandoverOutcome::NoSession, Some("unknown")),
            (HandoverOutcome::Ended, Some("completedSuccessfully")),
            (HandoverOutcome::Silent, None),
            (
                HandoverOutcome::UnknownAction("x".into()),
                Some("botIssuedInvalidMessage"),
            ),
            (
                HandoverOutcome::Unsupported("x".into()),
                Some("botIssuedInvalidMessage"),
            ),
        ];
        for (outcome, code) in cases {
            let answers = replies(&inbound(), &outcome);
            assert_eq!(
                answers.last().and_then(|a| a.code.as_deref()),
                code,
                "{outcome:?}"
            );
            assert!(answers
                .last()
                .is_none_or(|a| a.kind() == "endOfConversation"));
        }
        let nobody = replies(&inbound(), &HandoverOutcome::NoAgentAvailable);
        assert_eq!(nobody[0].kind(), "message", "the user is told first");
        assert_eq!(
            nobody[1].value.as_ref().unwrap()["Status"],
            "noAgentAvailable"
        );
        let down = replies(&inbound(), &HandoverOutcome::StartFailed);
        assert_eq!(down[0].value.as_ref().unwrap()["Status"], "unavailable");
        let ended = replies(&inbound(), &HandoverOutcome::Ended);
        assert_eq!(ended[0].value, Some(json!({"Outcome": "customerEnded"})));
        let started = replies(
            &inbound(),
            &HandoverOutcome::Started(Opened {
                livechat: LiveChatConversationId::parse("lc").unwrap(),
                placement: Placement::Queued {
                    position: 3,
                    estimated_wait_secs: Some(100),
                },
                hub_conversation: None,
            }),
        );
        assert_eq!(
            started[0].value,
            Some(
                json!({"liveChatConversationId": "lc", "Status": "queued", "QueuePosition": 3, "EstimatedWaitMinutes": 2})
            )
        );
        assert_eq!(started[0].reply_to_id.as_deref(), Some("act-1"));
    }

    #[test]
    fn a_proactive_message_comes_from_the_bot_account_to_the_user() {
        let reference = inbound().conversation_reference();
        let message = ToUser {
            to: UserConversation {
                address: ConversationAddress::from_recorded(
                    serde_json::to_string(&reference).unwrap(),
                ),
                conversation: CopilotConversationId::parse("c").unwrap(),
                livechat: LiveChatConversationId::parse("lc").unwrap(),
            },
            message: MessageToUser::from_agent("Ann", "hi"),
        };
        let target = TeamsTarget {
            service_url_override: Some("http://127.0.0.1:9/".into()),
            bot_app_id: Some("b0b".into()),
        };
        let links = FileLinks::new(&url::Url::parse("https://skill.example.com/").unwrap());
        let sent = proactive(&message, &target, &links).unwrap();
        assert_eq!(sent.service_url, "http://127.0.0.1:9/");
        let wire = serde_json::to_value(&sent.activity).unwrap();
        assert_eq!(wire["from"]["id"], "28:b0b");
        assert_eq!(wire["recipient"]["id"], "29:u");
        assert_eq!(wire["textFormat"], "markdown");
        assert_eq!(wire["text"], "**Ann**: hi");
        assert_eq!(wire["conversation"]["id"], "c");
        let unreadable = ToUser {
            to: UserConversation {
                address: ConversationAddress::from_recorded("not json".into()),
                ..message.to.clone()
            },
            ..message
        };
        assert!(proactive(&unreadable, &target, &links).is_err());
    }

    #[test]
    fn an_agents_words_are_shown_with_their_name_and_never_interpreted() {
        let (text, markdown) = teams_text(
            &Speaker::Agent("Ann *A*".into()),
            "use `rm -rf` <script>x</script> & _go_",
        );
        assert!(markdown);
        assert_eq!(
            text,
            "**Ann \\*A\\***: use \\`rm -rf\\` &lt;script&gt;x&lt;/script&gt; &amp; \\_go\\_"
        );
        assert_eq!(
            teams_text(&Speaker::Skill, "plain text, 100% fine."),
            ("plain text, 100% fine.".to_owned(), false)
        );
    }

    #[test]
    fn the_kept_json_skeleton_gives_the_same_activity_as_the_typed_one() {
        let skeleton = Activity {
            kind: Some(types::MESSAGE.to_owned()),
            ..inbound()
        };
        let json = SkeletonJson::of(&skeleton).unwrap();
        let links = FileLinks::new(&url::Url::parse("https://skill.example.com/").unwrap());
        let file = crate::domain::SharedFile {
            token: crate::domain::FileLinkToken::generate(),
            expires_at_ms: 1_796_000_000_000,
            file: crate::domain::AgentFile {
                reference: "ref-1".into(),
                name: "label \"1\".pdf".into(),
                content_type: "application/pdf".into(),
                size: 98_000,
                picture: None,
            },
        };
        for message in [
            MessageToUser::from_agent("Ann", "\"quoted\" \\ and \u{1F600}\n"),
            MessageToUser::notice("plain"),
            MessageToUser {
                from: Speaker::Agent("Ann".into()),
                content: Content::File(file),
            },
        ] {
            let from_json: serde_json::Value =
                serde_json::from_slice(&json_with_content(&json, &message, &links)).unwrap();
            let typed = serde_json::to_value(with_content(&skeleton, &message, &links)).unwrap();
            assert_eq!(from_json, typed);
        }
    }
}
