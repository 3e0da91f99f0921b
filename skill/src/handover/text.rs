//! The words the skill says, in one place. (How Teams shows them, an agent's name in bold before
//! their words, is `protocol/`'s.)

use crate::domain::files::display_name;
use crate::domain::{Closed, ContentNote, NotForwarded, Unforwarded};

/// Shown to the user (through Copilot Studio) when the live chat cannot be reached.
pub const LIVECHAT_UNAVAILABLE: &str =
    "Sorry, I couldn't reach a live agent right now. Please try again in a few minutes.";
/// Shown when a message arrives for a conversation with no live-chat session.
pub const NO_SESSION: &str =
    "There is no live chat session for this conversation any more. Say \"talk to a person\" to start a new one.";
/// Shown when a message arrives after the agent closed the chat.
pub const AGENT_ENDED: &str =
    "The agent has closed the live chat. You're back with the Contoso agent.";
/// Proactive notice to the Teams user when the agent closes the chat.
pub const AGENT_ENDED_NOTICE: &str =
    "The agent has closed the live chat. You're back with the Contoso agent, how else can I help?";
/// System message to the agent when the customer ends the chat.
pub const CUSTOMER_LEFT: &str =
    "The customer has ended the chat and returned to the Contoso agent.";
/// System message to the agent in a conversation whose opening was interrupted (the skill
/// stopped, or the live chat did not answer in time) before the customer was connected.
pub const OPENING_INTERRUPTED: &str =
    "This chat was being connected when the connection was interrupted; the customer was not connected and was told to try again. The chat is closed.";
/// To the customer in Teams when the live chat has been failing for a while: said once.
pub const LIVECHAT_DELAYED: &str =
    "The live chat can't be reached right now. Your messages are kept and the agent will see them as soon as it is back.";
/// To the agent in the live chat when Teams has been refusing their messages for a while: said
/// once per outage (the first message that waits says it).
pub const TEAMS_DELAYED: &str =
    "Teams isn't taking messages for this customer right now. Yours are kept and will reach them, in order, as soon as it does.";
/// The sender name of the skill's own messages in the live chat.
pub const SYSTEM_SENDER: &str = "System";
/// The sender name used when the user's name is unknown.
pub const DEFAULT_CUSTOMER_NAME: &str = "Customer";

/// To the customer when their message was left for the team.
pub const MESSAGE_LEFT: &str =
    "Thanks, I've passed your message to the team. An agent will follow up when they're back.";
/// To the agent in the transcript of a message left while nobody was online.
pub const LEFT_MESSAGE_NOTE: &str =
    "The customer left this message while no agent was online; they are not waiting in this chat. Follow up with them using the details above.";

/// Why a rating names no chat: the conversation never had a live chat.
pub const NOTHING_TO_RATE: &str =
    "there is no live chat to rate: give the LiveChatConversationId of the chat, or rate it in the conversation that had it";

/// To the user when they ask for a person and no agent is online: no live chat is opened.
pub const NO_AGENT_AVAILABLE: &str =
    "No agent is available right now, so I couldn't connect you. Please try again later; I can keep helping you here in the meantime.";

/// When a closed centre opens next, in plain words at its own time ("Monday 14 December at
/// 09:00 (Europe/London time)"); empty when it did not say.
pub fn next_opening(closed: &Closed) -> String {
    let Some(at) = closed.next_opening else {
        return String::new();
    };
    let when = at.format("%A %-d %B at %H:%M").to_string();
    match &closed.time_zone {
        Some(zone) => format!("{when} ({zone} time)"),
        None => format!("{when} (UTC{})", at.format("%:z")),
    }
}

/// To the user when they ask for a person outside business hours: no live chat is opened.
pub fn closed(next_opening: &str) -> String {
    if next_opening.is_empty() {
        "Our live agents are closed right now, so I couldn't connect you.".to_owned()
    } else {
        format!("Our live agents are closed right now, so I couldn't connect you. They're back {next_opening}.")
    }
}

/// To the user in Teams: where they are in the queue, and the usual wait when known.
pub fn queue_position(position: u32, estimated_wait_secs: Option<u64>) -> String {
    let place = if position <= 1 {
        "You're next in the queue".to_owned()
    } else {
        format!("You're number {position} in the queue")
    };
    match estimated_wait_secs {
        Some(0) | None => format!("{place}; an agent will be with you soon."),
        Some(seconds) if seconds < 60 => format!("{place}; the usual wait is less than a minute."),
        Some(seconds) => {
            let minutes = seconds.div_ceil(60);
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            format!("{place}; the usual wait is about {minutes} {unit}.")
        }
    }
}

/// "10 minutes", "1 minute", "30 seconds": a duration as the texts say it.
pub fn duration(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    let (count, unit) = if seconds < 60 {
        (seconds, "second")
    } else {
        (seconds.div_ceil(60), "minute")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

/// To the user in Teams when nobody took the chat in time: it is closed.
pub fn queue_timed_out(waited: std::time::Duration) -> String {
    format!(
        "Sorry, no agent could take your chat within {}, so I've closed the request. You're back with the Contoso agent; you can ask for a person again at any time.",
        duration(waited)
    )
}

/// To the agent in the transcript when the chat is closed because nobody took it in time.
pub fn queue_timeout_note(waited: std::time::Duration) -> String {
    format!(
        "The chat was closed: nobody accepted it within {}. The customer was told and is back with the Contoso agent.",
        duration(waited)
    )
}

/// To the user in Teams when they have written nothing for a while.
pub fn inactivity_warning(closes_in: std::time::Duration) -> String {
    format!(
        "Are you still there? This chat will close in {} if there's no reply.",
        duration(closes_in)
    )
}

/// To the user in Teams when the chat is closed because they wrote nothing.
pub fn inactivity_ended(silent_for: std::time::Duration) -> String {
    format!(
        "This live chat was closed because there was no reply for {}. You're back with the Contoso agent.",
        duration(silent_for)
    )
}

/// To the agent in the transcript when the chat is closed because the customer wrote nothing.
pub fn inactivity_note(silent_for: std::time::Duration) -> String {
    format!(
        "The chat was closed: the customer wrote nothing for {}.",
        duration(silent_for)
    )
}

/// To the user in Teams when an agent accepts the chat.
pub fn agent_joined(agent: &str) -> String {
    format!("{agent} joined the chat.")
}

/// To the user in Teams when the chat moves to another agent.
pub fn agent_transferred(from: &str, to: &str) -> String {
    format!("{from} transferred you to {to}.")
}

/// The answer to an event naming no action of the skill's.
pub fn unknown_action(name: &str) -> String {
    format!("The handover skill has no action named '{name}'.")
}

/// The answer to an action whose inputs cannot be used.
pub fn invalid_inputs(action: &str, reason: &str) -> String {
    format!("The {action} action could not be done: {reason}.")
}

/// The answer to an activity type the skill does not handle.
pub fn unsupported_activity(kind: &str) -> String {
    format!("The handover skill does not handle '{kind}' activities.")
}

/// To the customer in Teams when their message could not be delivered to the agent.
pub fn undelivered_to_agent(reason: &str) -> String {
    format!("Your message could not be delivered to the agent: {reason}.")
}

/// Why a message is refused before it is sent: longer than the live chat takes.
pub fn too_long_for_the_agent(limit: usize) -> String {
    format!("it is longer than {limit} characters; please send it in shorter parts")
}

/// System message to the agent when a reply could not be delivered to the customer.
pub fn undelivered_to_customer(reason: &str) -> String {
    format!("Your message could not be delivered to the customer: {reason}.")
}

/// Why something a customer sent is not passed on as a file, in words for either side.
pub fn not_forwarded_reason(why: &NotForwarded) -> String {
    match why {
        NotForwarded::CopilotReference => {
            "files sent to the assistant stay with it and can't be passed on to the agent"
                .to_owned()
        }
        NotForwarded::OverTheLimit { limit } => {
            format!("only {limit} files can be passed on from one message")
        }
        NotForwarded::NotAFile { kind } => format!("a {kind} can't be passed on"),
        NotForwarded::HubTakesNoFiles => {
            "the agent's system doesn't take files; please describe it in words".to_owned()
        }
    }
}

/// What did not go, each with why: "a.png (it is too large); a card (…)".
fn listed(items: &[Unforwarded]) -> String {
    items
        .iter()
        .map(|item| {
            format!(
                "{} ({})",
                item.shown_name(),
                not_forwarded_reason(&item.why)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// To the customer in Teams, once for a message, when some of what they sent did not go.
pub fn not_forwarded_to_customer(items: &[Unforwarded]) -> String {
    format!(
        "I couldn't pass on {} to the agent. You can describe it in words, or ask the agent for another way to send it.",
        listed(items)
    )
}

/// To the agent in the transcript: what the customer sent that is not there, and why.
pub fn not_forwarded_to_agent(customer: &str, items: &[Unforwarded]) -> String {
    format!(
        "{customer} sent {}, which could not be passed on. They were told.",
        listed(items)
    )
}

/// To the customer in Teams when a file they sent could not be fetched or was refused.
pub fn file_not_passed_on(name: &str, reason: &str) -> String {
    format!("I couldn't pass {name} on to the agent: {reason}. You can describe it in words, or send it again.")
}

/// To the agent in the transcript when a customer's file could not be fetched or was refused.
pub fn file_missing_for_agent(customer: &str, name: &str, reason: &str) -> String {
    format!("{customer} sent {name}, but it could not be passed on: {reason}. They were told.")
}

/// To the agent in the transcript: something the customer did besides writing.
pub fn content_note(customer: &str, note: &ContentNote) -> String {
    match note {
        ContentNote::CardSubmit(fields) => {
            let values: Vec<String> = fields
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect();
            format!("{customer} submitted a card: {}.", values.join("; "))
        }
        ContentNote::Sticker(Some(description)) => {
            format!("{customer} sent a sticker ({}).", display_name(description))
        }
        ContentNote::Sticker(None) => format!("{customer} sent a sticker."),
        ContentNote::Other {
            kind,
            name: Some(name),
        } => format!(
            "{customer} sent a {kind} ({}), which can't be shown here.",
            display_name(name)
        ),
        ContentNote::Other { kind, name: None } => {
            format!("{customer} sent a {kind}, which can't be shown here.")
        }
        ContentNote::More(count) => {
            format!("{customer} sent {count} more things that can't be shown here.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_did_not_go_is_told_in_plain_words() {
        let items = [
            Unforwarded {
                name: Some("photo.png".into()),
                why: NotForwarded::CopilotReference,
            },
            Unforwarded {
                name: None,
                why: NotForwarded::OverTheLimit { limit: 5 },
            },
        ];
        assert_eq!(
            not_forwarded_to_customer(&items),
            "I couldn't pass on photo.png (files sent to the assistant stay with it and can't be passed on to the agent); a file (only 5 files can be passed on from one message) to the agent. You can describe it in words, or ask the agent for another way to send it."
        );
        assert!(not_forwarded_to_agent("Megan", &items).starts_with("Megan sent photo.png ("));
        assert_eq!(
            content_note(
                "Megan",
                &ContentNote::CardSubmit(vec![("rating".into(), "4".into())])
            ),
            "Megan submitted a card: rating: 4."
        );
    }

    #[test]
    fn the_queue_position_says_the_place_and_the_usual_wait() {
        assert_eq!(
            queue_position(3, Some(110)),
            "You're number 3 in the queue; the usual wait is about 2 minutes."
        );
        assert_eq!(
            queue_position(1, Some(30)),
            "You're next in the queue; the usual wait is less than a minute."
        );
        assert_eq!(
            queue_position(2, Some(60)),
            "You're number 2 in the queue; the usual wait is about 1 minute."
        );
        assert_eq!(
            queue_position(4, None),
            "You're number 4 in the queue; an agent will be with you soon."
        );
        assert_eq!(
            agent_transferred("Ann", "Ben"),
            "Ann transferred you to Ben."
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(duration(Duration::from_secs(60)), "1 minute");
        assert_eq!(duration(Duration::from_secs(90)), "2 minutes");
        assert_eq!(duration(Duration::from_secs(1)), "1 second");
        assert_eq!(
            inactivity_warning(Duration::from_secs(300)),
            "Are you still there? This chat will close in 5 minutes if there's no reply."
        );
    }
}
