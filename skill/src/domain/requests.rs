//! What callers ask of the handover and what it answers: skill actions from Copilot Studio
//! ([`HandoverRequest`] -> [`HandoverOutcome`]) and events from the live chat ([`LiveChatEvent`]
//! -> [`WebhookOutcome`]).

use super::files::{AgentFile, ContentNote, CustomerFile, Unforwarded};
use super::ids::{
    ActivityId, ConversationAddress, CopilotConversationId, LiveChatConversationId, LiveChatEventId,
};
use super::timers::ChatOutcome;

/// What identifies the session an activity is about, in the order they are tried: the
/// conversation's live session, the live session of the conversation it relates to, the session
/// named by the topic's `LiveChatConversationId` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    pub conversation: CopilotConversationId,
    /// The conversation the caller says the activity relates to, when it differs: SDK hosts give
    /// every skill invocation a new conversation id and name the original one here.
    pub origin: Option<CopilotConversationId>,
    pub livechat_input: Option<LiveChatConversationId>,
}

/// Who the customer is, as far as the caller said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    pub name: Option<String>,
    /// The Entra object id, else the channel's user id.
    pub id: Option<String>,
}

/// `startConversation`: open (or reuse) the conversation's live-chat session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    pub keys: SessionKeys,
    /// Where the agent's replies will go.
    pub address: ConversationAddress,
    pub customer: Customer,
    pub channel: Option<String>,
    pub tenant: Option<String>,
    pub problem_description: Option<String>,
}

/// `sendMessage`, and every later user message routed to the skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    pub keys: SessionKeys,
    /// The activity's id: a message sent again with the same id is stored once.
    pub id: Option<ActivityId>,
    pub sender_name: Option<String>,
    /// The words as the customer wrote them (Teams' HTML flattened by `protocol/`).
    pub text: String,
    /// The topic's `ProblemDescription` input, forwarded once per session.
    pub problem_description: Option<String>,
    /// Files the skill fetches for the agent, in the order they were sent.
    pub files: Vec<CustomerFile>,
    /// What was sent but cannot reach the agent as a file.
    pub unforwarded: Vec<Unforwarded>,
    /// Cards submitted, stickers: told to the agent as notes.
    pub notes: Vec<ContentNote>,
}

/// The ratings a live chat takes, and the longest comment: the live chat's to say (its interface
/// gives them), so the skill refuses what it would refuse before anything is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatingScale {
    pub lowest: u8,
    pub highest: u8,
    /// The longest comment, in characters.
    pub max_comment_chars: usize,
}

/// A customer's rating of a chat: a whole number on the live chat's [`RatingScale`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating(u8);

impl Rating {
    /// The rating `value` stands for, if it is a whole number on `scale` (Copilot Studio sends
    /// numbers as `4`, `4.0` or `"4"`).
    pub fn parse(value: &str, scale: &RatingScale) -> Result<Self, String> {
        let (lowest, highest) = (scale.lowest, scale.highest);
        let number: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("Rating '{value}' is not a number from {lowest} to {highest}"))?;
        if number.fract() != 0.0 || !(f64::from(lowest)..=f64::from(highest)).contains(&number) {
            return Err(format!(
                "Rating {value} is not a whole number from {lowest} to {highest}"
            ));
        }
        Ok(Self(number as u8))
    }

    /// A rating as it was stored, after [`Rating::parse`] took it.
    pub fn recorded(value: u8) -> Self {
        Self(value)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// `rateConversation`: the customer's rating of a live chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateRequest {
    pub keys: SessionKeys,
    /// The activity's id: a rating sent again with the same id is stored once.
    pub id: Option<ActivityId>,
    /// The `Rating` input as sent; the handover checks it against the live chat's scale.
    pub rating: String,
    pub comment: Option<String>,
}

/// `leaveMessage`: while no agent is online, the customer leaves a message for the team: it
/// becomes a live-chat conversation the agents find when they come back, and no session holds the
/// Teams conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMessageRequest {
    /// Who and where, as for a start (the agents follow up from the handoff context).
    pub start: StartRequest,
    /// The activity's id: the same message sent again opens nothing twice.
    pub id: Option<ActivityId>,
    pub message: String,
}

/// A request from Copilot Studio, already authenticated and checked by `protocol/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoverRequest {
    Start(StartRequest),
    Message(UserMessage),
    /// `endConversation`: the customer ends the live chat; the action is answered.
    End(SessionKeys),
    /// `rateConversation`: stored for the live chat; the action is answered.
    Rate(RateRequest),
    /// `leaveMessage`: forwarded to the team as a conversation of its own; answered.
    LeaveMessage(LeaveMessageRequest),
    /// An action whose inputs are unusable: the action ends with an error saying why.
    Invalid {
        action: String,
        reason: String,
    },
    /// The caller's `endOfConversation`: the skill action was cancelled; nothing is answered.
    Cancel(SessionKeys),
    /// An event naming an action the skill does not have.
    UnknownAction(String),
    /// An activity type the skill does not handle.
    Unsupported(String),
    /// The customer is typing: shown to the agent where the live chat can, never stored, never
    /// answered.
    Typing(SessionKeys),
    /// Informational activities (`conversationUpdate`, ...): nothing to do, and nothing to answer
    /// (answering would end the user's live chat).
    Ignore,
}

/// Where a live-chat conversation stands once it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Waiting for an agent: `position` 1 is next.
    Queued {
        position: u32,
        estimated_wait_secs: Option<u64>,
    },
    /// An agent has it (named, when the live chat said who).
    Connected { agent: Option<String> },
    /// The live chat did not say (one without a queue, or a start repeated later).
    Unknown,
}

/// A live-chat conversation just opened (or found open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub livechat: LiveChatConversationId,
    pub placement: Placement,
    /// The hub's own id of the conversation, where its webhooks name it by `livechat` (Genesys:
    /// its conversation id); kept with the session so a restart follows the conversation again.
    pub hub_conversation: Option<String>,
}

/// Whether anyone would answer a start now, as the live chat says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub agents_online: u32,
    pub queue_length: u32,
    pub estimated_wait_secs: u64,
    /// Outside business hours: when the centre opens next, if it said.
    pub closed: Option<Closed>,
}

/// The contact centre is closed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Closed {
    /// When it opens next, at the centre's own offset from UTC; `None` if it did not say.
    pub next_opening: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// The centre's time zone's name (`Europe/London`), to say the time in.
    pub time_zone: Option<String>,
}

/// The handover's answer to a [`HandoverRequest`], rendered by `protocol/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoverOutcome {
    /// The session is open in the live chat.
    Started(Opened),
    /// No agent is online: no session was opened, and the user is told so. A successful end of
    /// the action, so that the topic goes on.
    NoAgentAvailable,
    /// Outside the centre's business hours: no session was opened; the user is told when it
    /// opens, and the topic may offer to leave a message. A successful end of the action.
    Closed(Closed),
    /// The live chat could not open a session (down, slow or answering nonsense).
    StartFailed,
    /// Stored for the agent (or nothing to forward): no answer, so the action stays open.
    Forwarded,
    /// A message after the chat ended (the agent closed it, a timer, a failure): the action ends
    /// with how, and the bot takes over.
    ChatOver {
        outcome: ChatOutcome,
        /// The last agent who had the chat, if any.
        agent: Option<String>,
    },
    /// A message with no session behind it: the action ends with an error.
    NoSession,
    /// `endConversation` done.
    Ended,
    /// `rateConversation` stored.
    Rated,
    /// `rateConversation` for a live chat that takes no ratings: a successful end saying so.
    NotRated,
    /// `leaveMessage` forwarded, as this live-chat conversation.
    MessageLeft(LiveChatConversationId),
    /// `leaveMessage` could not reach the live chat: a successful end saying so.
    MessageNotLeft,
    /// `rateConversation` for a conversation that never had a live chat: it fails.
    NothingToRate,
    /// `rateConversation` with a rating or comment the live chat would refuse: it fails, saying why.
    RatingRefused(String),
    /// An action's inputs are unusable (or name no chat): it fails, saying why.
    Invalid {
        action: String,
        reason: String,
    },
    /// Nothing to answer.
    Silent,
    UnknownAction(String),
    Unsupported(String),
}

/// What the live chat reports through the webhook, already authenticated and parsed by
/// `livechat/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveChatEvent {
    /// A human agent wrote to the customer: words (maybe empty), and files to be shown after
    /// them.
    AgentMessage {
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        sender: String,
        text: String,
        files: Vec<AgentFile>,
    },
    /// The agent closed the conversation (`agent`: who, when the live chat says).
    ConversationEnded {
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        agent: Option<String>,
    },
    /// An agent took the conversation; on a transfer, from `transferred_by`.
    AgentJoined {
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        agent: String,
        transferred_by: Option<String>,
    },
    /// The customer's place in the queue changed.
    QueueUpdate {
        conversation: LiveChatConversationId,
        id: LiveChatEventId,
        position: u32,
        estimated_wait_secs: Option<u64>,
    },
    /// The agent is typing (best effort); `age` is how long ago, by the live chat's timestamp.
    Typing {
        conversation: LiveChatConversationId,
        age: std::time::Duration,
    },
}

impl LiveChatEvent {
    pub fn conversation(&self) -> &LiveChatConversationId {
        match self {
            LiveChatEvent::AgentMessage { conversation, .. }
            | LiveChatEvent::ConversationEnded { conversation, .. }
            | LiveChatEvent::AgentJoined { conversation, .. }
            | LiveChatEvent::QueueUpdate { conversation, .. }
            | LiveChatEvent::Typing { conversation, .. } => conversation,
        }
    }
}

/// What became of a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Stored; it will be delivered.
    Accepted,
    /// The same id was accepted before; nothing more happens.
    Duplicate,
    /// The session was already closed; nothing more happens.
    AlreadyEnded,
    /// A best-effort event (typing) too late, or for no open session: nothing happens.
    Dropped,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_TO_FIVE: RatingScale = RatingScale {
        lowest: 1,
        highest: 5,
        max_comment_chars: 1_000,
    };

    #[test]
    fn a_rating_is_a_whole_number_on_the_live_chats_scale() {
        for (sent, rating) in [("4", 4), ("4.0", 4), (" 1 ", 1), ("5", 5)] {
            assert_eq!(
                Rating::parse(sent, &ONE_TO_FIVE).map(Rating::get),
                Ok(rating),
                "{sent}"
            );
        }
        for bad in ["0", "6", "4.5", "great", "", "-1", "NaN", "inf"] {
            let refused = Rating::parse(bad, &ONE_TO_FIVE).unwrap_err();
            assert!(refused.contains("from 1 to 5"), "{bad}: {refused}");
        }
        let zero_to_ten = RatingScale {
            lowest: 0,
            highest: 10,
            ..ONE_TO_FIVE
        };
        assert_eq!(Rating::parse("9", &zero_to_ten).map(Rating::get), Ok(9));
    }
}
