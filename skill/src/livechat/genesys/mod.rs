//! Genesys Cloud through Open Messaging: customers' messages, typing and their end go in as Open
//! Messaging inbound messages and events, agents' messages and typing come back on the
//! integration's signed outbound webhook, and agents taking and leaving a conversation come from
//! the notification channel ([`notifications`]). The customer's goodbye disconnects the customer's
//! participant.
//!
//! A session's live-chat id is the customer's Open Messaging address (`hs-` and a digest of the
//! session), which Genesys names as `channel.to.id` in every outbound message; Genesys' own
//! conversation id, learnt from each inbound answer, is kept in memory for the notifications and
//! the end, and stored with the session (`Opened::hub_conversation`) for a restart's `resume`. Every inbound message carries a `messageId` made of its delivery, so a retry is the
//! same message to Genesys.

pub mod api;
pub mod notifications;
pub mod oauth;
pub mod wire;

pub use api::Api;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use url::Url;

use super::agents::{age_of, short_name, DEFAULT_AGENT_NAME, MAX_AGENT_MESSAGE_CHARS};
use super::webhook::{WebhookError, WebhookReader, WebhookRequest};
use crate::domain::{
    display_name, AgentFile, Availability, CopilotConversationId, DeliveryId,
    LiveChatConversationId, LiveChatEvent, LiveChatEventId, MessageToAgent, NoteRole, Opened,
    Placement, Rating, RatingScale, SessionId, WebhookOutcome,
};
use crate::handover::{
    Capabilities, FileDownload, HandoffContext, LiveChat, LiveChatError, StagedFile,
};

/// The header Genesys signs outbound webhooks in: `sha256=` and the base64 HMAC-SHA256 of the body
/// with the integration's secret.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Open Messaging's limit on an inbound message's text.
pub const MAX_MESSAGE_CHARS: usize = 4_000;

/// Where Genesys is and how the skill and Genesys authenticate each other.
pub struct GenesysConnection {
    /// The region's API host, e.g. `https://api.mypurecloud.com`.
    pub api_base: Url,
    /// The region's login host, e.g. `https://login.mypurecloud.com`.
    pub login_base: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The Open Messaging integration's id.
    pub integration_id: String,
    /// The integration's outbound webhook signature secret.
    pub webhook_secret: Option<SecretString>,
    /// The secret before a rotation, accepted as well until removed.
    pub webhook_previous_secret: Option<SecretString>,
    pub timeout: Duration,
}

/// Genesys Cloud's adapter: the handover's [`LiveChat`] and the outbound webhook's reader.
pub struct GenesysLiveChat {
    api: Arc<Api>,
    webhook_secret: Option<SecretString>,
    webhook_previous_secret: Option<SecretString>,
    /// Genesys' conversation of each customer address seen, for the end and the notifications.
    conversations: Mutex<HashMap<LiveChatConversationId, String>>,
    watcher: notifications::Watcher,
}

/// The customer's Open Messaging address for a session: the same on every attempt and after a
/// restart, whatever the session id's length.
fn address_of(session: &SessionId) -> String {
    let digest = hex::encode(Sha256::digest(session.as_str().as_bytes()));
    format!("hs-{}", &digest[..32])
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn malformed(what: &str) -> LiveChatError {
    LiveChatError::Malformed(format!("Genesys' answer to {what} could not be read"))
}

impl GenesysLiveChat {
    /// The adapter, and the events its notification channel reports (agents joining and leaving),
    /// which the caller hands to the handover.
    pub fn new(
        client: reqwest::Client,
        connection: GenesysConnection,
    ) -> anyhow::Result<(Self, mpsc::Receiver<LiveChatEvent>)> {
        let tokens = oauth::Tokens::new(
            client.clone(),
            &connection.login_base,
            connection.client_id,
            connection.client_secret,
            connection.timeout,
        )?;
        let api = Arc::new(Api {
            base: connection
                .api_base
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            tokens,
            client,
            timeout: connection.timeout,
            integration: connection.integration_id,
        });
        let (events, received) = mpsc::channel(1_024);
        let watcher = notifications::spawn(api.clone(), events);
        Ok((
            Self {
                api,
                webhook_secret: connection.webhook_secret,
                webhook_previous_secret: connection.webhook_previous_secret,
                conversations: Mutex::new(HashMap::new()),
                watcher,
            },
            received,
        ))
    }

    /// Posts an inbound message from `address` and remembers the conversation that took it.
    async fn inbound(
        &self,
        address: &LiveChatConversationId,
        message_id: &str,
        nickname: Option<&str>,
        text: &str,
        metadata: Option<BTreeMap<&'static str, String>>,
    ) -> Result<Option<String>, LiveChatError> {
        let body = wire::InboundMessage {
            channel: wire::InboundMessageChannel {
                message_id,
                from: wire::FromRecipient {
                    id: address.as_str(),
                    id_type: "Opaque",
                    nickname,
                },
                time: now(),
            },
            text,
            metadata,
        };
        let path = wire::inbound_message_path(&self.api.integration);
        let answer = self.api.post(&path, &body).await?;
        let answer: wire::InboundAnswer =
            serde_json::from_str(&answer).map_err(|_| malformed("an inbound message"))?;
        if let Some(conversation) = &answer.conversation_id {
            self.remember(address, conversation);
        }
        Ok(answer.conversation_id)
    }

    fn remember(&self, address: &LiveChatConversationId, conversation: &str) {
        let mut known = self
            .conversations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.get(address).map(String::as_str) != Some(conversation) {
            known.insert(address.clone(), conversation.to_owned());
            self.watcher.watch(conversation.to_owned(), address.clone());
        }
    }

    fn conversation_of(&self, address: &LiveChatConversationId) -> Option<String> {
        self.conversations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(address)
            .cloned()
    }

    /// The customer leaves the Genesys conversation `genesys` as a participant, as a customer's own
    /// client would; the agent wraps up as usual. Done when the customer is gone already.
    async fn leave(&self, genesys: &str) -> Result<(), LiveChatError> {
        let current: wire::ConversationEvent =
            match self.api.get(&wire::conversation_path(genesys)).await {
                Ok(current) => current,
                Err(LiveChatError::Rejected { status: 404, .. }) => return Ok(()),
                Err(error) => return Err(error),
            };
        let customer = current.participants.iter().find(|participant| {
            participant.purpose.as_deref() == Some("customer")
                && participant
                    .messages
                    .last()
                    .and_then(|media| media.state.as_deref())
                    != Some("disconnected")
        });
        let Some(customer) = customer else {
            // Gone already (an earlier attempt of this, or Genesys ended it).
            return Ok(());
        };
        let path = wire::message_participant_path(genesys, &customer.id);
        match self
            .api
            .patch(
                &path,
                &wire::ParticipantState {
                    state: "disconnected",
                },
            )
            .await
        {
            Ok(_)
            | Err(LiveChatError::Rejected {
                status: 404 | 409, ..
            }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Checks `X-Hub-Signature-256` against the integration's secret (and the previous one).
    fn verify_signature(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let Some(secret) = &self.webhook_secret else {
            return Ok(());
        };
        let unauthorized = |why: &str| WebhookError::Unauthorized(why.to_owned());
        let header = request
            .header(SIGNATURE_HEADER)
            .ok_or_else(|| unauthorized("the X-Hub-Signature-256 header is missing"))?;
        let encoded = header.trim().strip_prefix("sha256=").ok_or_else(|| {
            unauthorized("the X-Hub-Signature-256 header does not start with sha256=")
        })?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| unauthorized("the X-Hub-Signature-256 signature is not base64"))?;
        let secrets = std::iter::once(secret).chain(self.webhook_previous_secret.as_ref());
        for secret in secrets {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
                .map_err(|_| unauthorized("the webhook secret cannot key an HMAC"))?;
            mac.update(request.body);
            if mac.verify_slice(&signature).is_ok() {
                return Ok(());
            }
        }
        Err(unauthorized(
            "the X-Hub-Signature-256 signature does not match the integration's secret",
        ))
    }
}

/// The handoff context as the agent reads it in the conversation's first message.
fn context_text(context: &HandoffContext) -> String {
    let mut lines = vec!["A customer was handed over by the Copilot Studio agent.".to_owned()];
    if let Some(name) = &context.customer_name {
        lines.push(format!("Customer: {name}"));
    }
    // The problem follows as the customer's first message, as with every hub.
    lines.join("\n")
}

/// An agent's text, with a line for each file the customer's channel cannot show.
fn agent_text(text: String, files: &[wire::OutboundContent]) -> String {
    let mut lines = vec![text];
    for content in files {
        if let Some(attachment) = &content.attachment {
            let name = display_name(attachment.filename.as_deref().unwrap_or_default());
            lines.push(format!(
                "(The agent sent {name}, which can't be shown here.)"
            ));
        }
    }
    lines.retain(|line| !line.trim().is_empty());
    lines.join("\n")
}

#[async_trait]
impl LiveChat for GenesysLiveChat {
    async fn availability(&self) -> Result<Option<Availability>, LiveChatError> {
        Ok(None)
    }

    async fn start(
        &self,
        session: &SessionId,
        context: &HandoffContext,
    ) -> Result<Opened, LiveChatError> {
        let address = LiveChatConversationId::parse(address_of(session))
            .map_err(|error| LiveChatError::Malformed(error.to_string()))?;
        let mut metadata = BTreeMap::new();
        metadata.insert("botConversationId", context.bot_conversation_id.clone());
        for (name, value) in [
            ("customerId", &context.customer_id),
            ("tenantId", &context.tenant_id),
            ("channel", &context.channel),
        ] {
            if let Some(value) = value {
                metadata.insert(name, value.clone());
            }
        }
        let genesys = self
            .inbound(
                &address,
                &format!("{address}-start"),
                context.customer_name.as_deref(),
                &context_text(context),
                Some(metadata),
            )
            .await?;
        Ok(Opened {
            livechat: address,
            placement: Placement::Unknown,
            hub_conversation: genesys,
        })
    }

    async fn send(
        &self,
        delivery: DeliveryId,
        conversation: &LiveChatConversationId,
        message: &MessageToAgent,
    ) -> Result<(), LiveChatError> {
        let text = match message.role {
            NoteRole::Customer => message.text.clone(),
            // Genesys shows every inbound message as the customer's: the skill's own say so.
            NoteRole::System => format!("[Handover] {}", message.text),
        };
        self.inbound(
            conversation,
            &format!("skill-delivery-{delivery}"),
            Some(&message.sender),
            &text,
            None,
        )
        .await
        .map(drop)
    }

    async fn abandon(
        &self,
        session: &SessionId,
        conversation: &CopilotConversationId,
        note: &MessageToAgent,
    ) -> Result<(), LiveChatError> {
        let context = HandoffContext::bare(conversation);
        let address = self.start(session, &context).await?.livechat;
        self.inbound(
            &address,
            &format!("{address}-abandoned"),
            None,
            &format!("[Handover] {}", note.text),
            None,
        )
        .await?;
        self.end(&address).await
    }

    async fn end(&self, conversation: &LiveChatConversationId) -> Result<(), LiveChatError> {
        // After a restart the skill does not know Genesys' id: a note's answer names it.
        let known = match self.conversation_of(conversation) {
            Some(known) => Some(known),
            None => {
                self.inbound(
                    conversation,
                    &format!("{conversation}-ended"),
                    None,
                    "[Handover] The customer has left the chat.",
                    None,
                )
                .await?
            }
        };
        let Some(genesys) = known else {
            return Ok(());
        };
        let left = self.leave(&genesys).await;
        if left.is_ok() {
            self.watcher.forget(genesys);
            self.conversations
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .remove(conversation);
        }
        left
    }

    async fn rate(
        &self,
        _conversation: &LiveChatConversationId,
        _rating: Rating,
        _comment: Option<&str>,
    ) -> Result<(), LiveChatError> {
        Err(LiveChatError::Rejected {
            status: 501,
            detail: "Open Messaging takes no ratings".into(),
        })
    }

    async fn send_file(
        &self,
        _delivery: DeliveryId,
        _conversation: &LiveChatConversationId,
        _sender: &str,
        _file: &StagedFile,
    ) -> Result<(), LiveChatError> {
        Err(LiveChatError::Rejected {
            status: 501,
            detail: "the Genesys adapter takes no customers' files".into(),
        })
    }

    async fn open_file(&self, _file: &AgentFile) -> Result<FileDownload, LiveChatError> {
        Err(LiveChatError::Rejected {
            status: 404,
            detail: "the Genesys adapter keeps no agents' files".into(),
        })
    }

    async fn customer_typing(
        &self,
        conversation: &LiveChatConversationId,
    ) -> Result<(), LiveChatError> {
        let body = wire::InboundEvent {
            channel: wire::InboundEventChannel {
                from: wire::FromRecipient {
                    id: conversation.as_str(),
                    id_type: "Opaque",
                    nickname: None,
                },
                time: now(),
            },
            events: vec![wire::InboundTyping {
                event_type: "Typing",
            }],
        };
        let path = wire::inbound_event_path(&self.api.integration);
        self.api.post(&path, &body).await.map(drop)
    }

    fn resume(&self, open: Vec<(LiveChatConversationId, String)>) {
        for (address, genesys) in open {
            self.remember(&address, &genesys);
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            availability: false,
            typing_to_agent: true,
            typing_from_agent: true,
            ratings: false,
            leave_message: false,
            reports_end: true,
            files_to_agent: false,
            files_from_agent: false,
        }
    }

    fn kind(&self) -> &'static str {
        "genesys"
    }

    fn max_message_chars(&self) -> usize {
        MAX_MESSAGE_CHARS
    }

    fn rating_scale(&self) -> RatingScale {
        RatingScale {
            lowest: 1,
            highest: 5,
            max_comment_chars: 0,
        }
    }
}

fn id_of<T>(
    parse: fn(String) -> Result<T, crate::domain::IdError>,
    text: Option<String>,
    what: &str,
) -> Result<T, WebhookError> {
    parse(text.unwrap_or_default())
        .map_err(|_| WebhookError::BadRequest(format!("the outbound message has no {what}")))
}

impl WebhookReader for GenesysLiveChat {
    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Option<LiveChatEvent>, WebhookError> {
        self.verify_signature(request)?;
        let outbound: wire::Outbound = serde_json::from_slice(request.body).map_err(|error| {
            WebhookError::BadRequest(format!("not an Open Messaging outbound body: {error}"))
        })?;
        if outbound
            .direction
            .as_deref()
            .is_some_and(|direction| direction != "Outbound")
        {
            return Ok(None);
        }
        let to = outbound.channel.to.as_ref().and_then(|to| to.id.clone());
        match outbound.kind.as_deref() {
            Some("Text") => {
                let text = agent_text(outbound.text.unwrap_or_default(), &outbound.content);
                if text.is_empty() {
                    return Ok(None);
                }
                if text.chars().count() > MAX_AGENT_MESSAGE_CHARS {
                    return Err(WebhookError::BadRequest(format!(
                        "the message is longer than {MAX_AGENT_MESSAGE_CHARS} characters"
                    )));
                }
                let from = outbound.channel.from.unwrap_or_default();
                let sender = from
                    .nickname
                    .or(from.first_name)
                    .map(|name| short_name(&name))
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| DEFAULT_AGENT_NAME.to_owned());
                Ok(Some(LiveChatEvent::AgentMessage {
                    conversation: id_of(LiveChatConversationId::parse, to, "channel.to.id")?,
                    id: id_of(LiveChatEventId::parse, outbound.id, "id")?,
                    sender,
                    text,
                    files: Vec::new(),
                }))
            }
            Some("Event")
                if outbound
                    .events
                    .iter()
                    .any(|event| event.event_type.as_deref() == Some("Typing")) =>
            {
                // Without a time it is taken as new; the handover drops one too old.
                let age = outbound.channel.time.as_deref().and_then(age_of);
                Ok(Some(LiveChatEvent::Typing {
                    conversation: id_of(LiveChatConversationId::parse, to, "channel.to.id")?,
                    age: age.unwrap_or_default(),
                }))
            }
            // Receipts of what the customer sent, and whatever Genesys adds later: nothing to do.
            _ => Ok(None),
        }
    }

    fn webhook_answer(&self, outcome: WebhookOutcome) -> serde_json::Value {
        let status = match outcome {
            WebhookOutcome::Accepted => "accepted",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::AlreadyEnded => "alreadyEnded",
            WebhookOutcome::Dropped => "dropped",
        };
        serde_json::json!({ "status": status })
    }

    fn webhook_refusal(&self, reason: &str) -> serde_json::Value {
        serde_json::json!({ "error": reason })
    }

    fn webhooks_are_signed(&self) -> bool {
        self.webhook_secret.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const INTEGRATION: &str = "int-1";

    async fn adapter(genesys: &MockServer) -> GenesysLiveChat {
        let base = Url::parse(&genesys.uri()).unwrap();
        GenesysLiveChat::new(
            reqwest::Client::new(),
            GenesysConnection {
                api_base: base.clone(),
                login_base: base,
                client_id: "client".into(),
                client_secret: SecretString::from("secret"),
                integration_id: INTEGRATION.into(),
                webhook_secret: Some(SecretString::from("hook-secret")),
                webhook_previous_secret: None,
                timeout: Duration::from_secs(5),
            },
        )
        .unwrap()
        .0
    }

    fn note() -> MessageToAgent {
        MessageToAgent {
            text: "hello".into(),
            sender: "Megan".into(),
            role: NoteRole::Customer,
        }
    }

    async fn token(genesys: &MockServer) {
        Mock::given(method("POST"))
            .and(path(wire::TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"access_token": "t", "token_type": "bearer", "expires_in": 86400}),
            ))
            .mount(genesys)
            .await;
    }

    #[tokio::test]
    async fn refusals_name_the_setting_to_fix() {
        let genesys = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(wire::TOKEN_PATH))
            .respond_with(ResponseTemplate::new(401))
            .mount(&genesys)
            .await;
        let address = LiveChatConversationId::parse("hs-1").unwrap();
        let refused = adapter(&genesys)
            .await
            .send(DeliveryId(1), &address, &note())
            .await
            .unwrap_err();
        assert!(!refused.is_transient());
        assert!(
            refused
                .to_string()
                .contains("GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET"),
            "{refused}"
        );

        let genesys = MockServer::start().await;
        token(&genesys).await;
        Mock::given(method("POST"))
            .and(path(wire::inbound_message_path(INTEGRATION)))
            .respond_with(ResponseTemplate::new(404))
            .mount(&genesys)
            .await;
        let refused = adapter(&genesys)
            .await
            .send(DeliveryId(1), &address, &note())
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("integration 'int-1' (GENESYS_INTEGRATION_ID)"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn a_webhook_is_read_only_with_the_integrations_signature() {
        let genesys = MockServer::start().await;
        let adapter = adapter(&genesys).await;
        let body = br#"{"id":"m-1","type":"Text","text":"Hi","direction":"Outbound","channel":{"to":{"id":"hs-1"},"from":{"nickname":"Ann"}}}"#;
        let signed = |secret: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(body);
            format!(
                "sha256={}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            )
        };
        let read = |signature: Option<String>| {
            let mut headers = actix_web::http::header::HeaderMap::new();
            if let Some(signature) = signature {
                headers.insert(
                    actix_web::http::header::HeaderName::from_static(SIGNATURE_HEADER),
                    signature.parse().unwrap(),
                );
            }
            adapter.parse_webhook(&WebhookRequest {
                headers: &headers,
                body,
            })
        };
        assert!(matches!(read(None), Err(WebhookError::Unauthorized(_))));
        assert!(matches!(
            read(Some(signed("another"))),
            Err(WebhookError::Unauthorized(_))
        ));
        match read(Some(signed("hook-secret"))) {
            Ok(Some(LiveChatEvent::AgentMessage {
                conversation,
                sender,
                text,
                ..
            })) => {
                assert_eq!(
                    (conversation.as_str(), sender.as_str(), text.as_str()),
                    ("hs-1", "Ann", "Hi")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_session_has_one_address_of_fixed_length_whatever_its_id() {
        let short = SessionId::parse("s-1").unwrap();
        let long = SessionId::parse(format!("left-message:{}", "x".repeat(900))).unwrap();
        assert_eq!(address_of(&short), address_of(&short));
        assert_ne!(address_of(&short), address_of(&long));
        assert_eq!(address_of(&long).len(), 35);
    }

    #[test]
    fn an_agents_file_is_named_to_the_customer_not_dropped_silently() {
        let text = agent_text(
            "Here you are".into(),
            &[wire::OutboundContent {
                attachment: Some(wire::OutboundAttachment {
                    filename: Some("invoice.pdf".into()),
                }),
            }],
        );
        assert!(
            text.starts_with("Here you are\n(The agent sent invoice"),
            "{text}"
        );
    }
}
