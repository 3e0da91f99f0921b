//! The webhooks a live-chat system calls the skill back on, as the skill reads them: each adapter
//! authenticates and parses its own system's ([`WebhookReader`]) into the handover's
//! [`LiveChatEvent`], and answers in that system's shapes.

use crate::domain::{LiveChatEvent, WebhookOutcome};

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WebhookError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    /// Signed with a good secret, perhaps, but at a time outside the replay window: a clock is
    /// wrong, which a retry later may outlive.
    #[error("{reason}")]
    StaleTimestamp {
        reason: String,
        /// The header the refusal carries, so the live chat tells it apart.
        marker: (&'static str, &'static str),
    },
}

/// A webhook request as received, before the live-chat system's own checks.
pub struct WebhookRequest<'a> {
    pub headers: &'a actix_web::http::header::HeaderMap,
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Reads a live-chat system's webhooks: authenticates and parses them, and writes its answers.
pub trait WebhookReader: Send + Sync {
    /// Authenticates and parses a webhook request; `None` for one the handover has nothing to do
    /// with (a receipt, a kind the system added later), answered as dropped.
    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Option<LiveChatEvent>, WebhookError>;
    /// The body that answers a webhook request with `outcome`.
    fn webhook_answer(&self, outcome: WebhookOutcome) -> serde_json::Value;
    /// The body that refuses a webhook request, saying why.
    fn webhook_refusal(&self, reason: &str) -> serde_json::Value;
    /// True when webhooks are authenticated (for the start-up warning).
    fn webhooks_are_signed(&self) -> bool;
}
