//! Newtype ids, parsed at the edge, so that a live-chat id can never be passed where a Copilot
//! conversation id is meant and an empty id never gets past the request that carried it.

use std::fmt;
use std::sync::Arc;

/// The longest id accepted from a caller. Bot Framework and Teams ids are well under this; the
/// limit keeps a hostile caller from storing megabytes as a key.
pub const MAX_ID_CHARS: usize = 1_024;

/// Why a text is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("the {0} is empty")]
    Empty(&'static str),
    #[error("the {0} is longer than {MAX_ID_CHARS} characters")]
    TooLong(&'static str),
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Takes the text as it is (ids are compared exactly), refusing empty, blank and
            /// oversized ones.
            pub fn parse(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                if text.trim().is_empty() {
                    return Err(IdError::Empty($what));
                }
                if text.chars().count() > MAX_ID_CHARS {
                    return Err(IdError::TooLong($what));
                }
                Ok(Self(text))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The Copilot Studio (Teams) conversation a session serves.
    CopilotConversationId,
    "conversation id"
);
text_id!(
    /// The live-chat system's conversation id.
    LiveChatConversationId,
    "live-chat conversation id"
);
text_id!(
    /// The live chat's stable id of a webhook event, so that a repeat is acted on once.
    LiveChatEventId,
    "live-chat event id"
);
text_id!(
    /// The caller's id of an activity: unique within its conversation, the same when the caller
    /// sends the activity again.
    ActivityId,
    "activity id"
);
text_id!(
    /// A handover session (made by the store).
    SessionId,
    "session id"
);

/// A stored delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub i64);

impl fmt::Display for DeliveryId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

/// Where to write into the user's conversation later, as `protocol/` recorded it when the
/// session began. Opaque everywhere else: the store keeps it, the handover passes it on, and only
/// `protocol/` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationAddress(Arc<str>);

impl ConversationAddress {
    /// Wraps what `protocol/` wrote (or what the store kept of it). Shared, not copied: every
    /// message to the user carries it.
    pub fn from_recorded(text: String) -> Self {
        Self(Arc::from(text))
    }

    pub fn as_recorded(&self) -> &str {
        &self.0
    }

    /// The same text, shared (for keys of caches).
    pub fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_empty_blank_and_oversized_text_and_keep_the_rest_exactly() {
        assert_eq!(
            CopilotConversationId::parse(""),
            Err(IdError::Empty("conversation id"))
        );
        assert_eq!(
            LiveChatConversationId::parse(" \t"),
            Err(IdError::Empty("live-chat conversation id"))
        );
        assert_eq!(
            SessionId::parse("x".repeat(MAX_ID_CHARS + 1)),
            Err(IdError::TooLong("session id"))
        );
        let id = CopilotConversationId::parse(" a:1 ").unwrap();
        assert_eq!(
            id.as_str(),
            " a:1 ",
            "ids are compared exactly, not trimmed"
        );
        assert_eq!(id.to_string(), " a:1 ");
        assert!(LiveChatEventId::parse("x".repeat(MAX_ID_CHARS)).is_ok());
    }
}
