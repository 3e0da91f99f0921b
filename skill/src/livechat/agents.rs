//! What every adapter reads alike in a live chat's webhooks: an agent's name as the customer sees
//! it, the longest message relayed, and how old a reported moment (a typing indicator's) is.

use std::time::Duration;

/// The longest agent message relayed to Teams (Teams refuses payloads over about 100 KB).
pub const MAX_AGENT_MESSAGE_CHARS: usize = 20_000;

/// The sender shown when the live chat names none.
pub const DEFAULT_AGENT_NAME: &str = "Agent";

/// The longest agent name shown to the customer, in characters.
const MAX_AGENT_NAME_CHARS: usize = 100;

/// An agent's name, trimmed and cut to [`MAX_AGENT_NAME_CHARS`].
pub fn short_name(name: &str) -> String {
    name.trim().chars().take(MAX_AGENT_NAME_CHARS).collect()
}

/// How long ago an RFC 3339 moment was (nothing for one in the future); `None` when it is not
/// RFC 3339.
pub fn age_of(moment: &str) -> Option<Duration> {
    let at = chrono::DateTime::parse_from_rfc3339(moment).ok()?;
    Some(
        (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
            .to_std()
            .unwrap_or_default(),
    )
}
