//! Contoso Live Chat: the live-chat API the skill calls, and the webhook it calls back.
//!
//! Calls (JSON, camelCase; `Authorization: Bearer {LIVECHAT_API_KEY}` when a key is configured):
//! `POST /api/chat/start` with the handoff context, answered `{"conversationId": "..."}`;
//! `POST /api/chat/receive` `{"conversationId","message","sender"}`; `POST /api/chat/end`
//! `{"conversationId"}`. Every call has the configured time limit.
//!
//! Webhook body: `{"type","conversationId","message","sender","timestamp","id"}` where `type` is
//! `"message"` (the default when absent) or `"conversationEnded"` (the agent closed the chat).

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    signature, HandoffContext, LiveChat, LiveChatError, WebhookError, WebhookEvent, WebhookRequest,
};

/// The longest agent message relayed to Teams (Teams refuses payloads over about 100 KB).
pub const MAX_AGENT_MESSAGE_CHARS: usize = 20_000;

/// Contoso Live Chat's REST client and webhook reader.
pub struct ContosoLiveChat {
    http: reqwest::Client,
    base_url: Url,
    api_key: Option<SecretString>,
    timeout: Duration,
    webhook_secret: Option<SecretString>,
    replay_window_secs: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    bot_conversation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem_description: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartResponse {
    #[serde(default)]
    conversation_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiveRequest<'a> {
    conversation_id: &'a str,
    message: &'a str,
    sender: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EndRequest<'a> {
    conversation_id: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

impl ContosoLiveChat {
    pub fn new(
        http: reqwest::Client,
        base_url: Url,
        api_key: Option<SecretString>,
        timeout: Duration,
        webhook_secret: Option<SecretString>,
        replay_window_secs: u64,
    ) -> Self {
        Self {
            http,
            base_url,
            api_key,
            timeout,
            webhook_secret,
            replay_window_secs,
        }
    }

    async fn post<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<String, LiveChatError> {
        let url = format!("{}/{path}", self.base_url.as_str().trim_end_matches('/'));
        let mut request = self.http.post(url).timeout(self.timeout).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|error| {
            if error.is_timeout() {
                LiveChatError::Timeout
            } else {
                LiveChatError::Unreachable(error.without_url().to_string())
            }
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|error| {
            if error.is_timeout() {
                LiveChatError::Timeout
            } else {
                LiveChatError::Unreachable(error.without_url().to_string())
            }
        })?;
        if !status.is_success() {
            return Err(LiveChatError::Rejected {
                status: status.as_u16(),
                detail: text.chars().take(300).collect(),
            });
        }
        Ok(text)
    }
}

#[async_trait]
impl LiveChat for ContosoLiveChat {
    async fn start(&self, context: &HandoffContext) -> Result<String, LiveChatError> {
        let body = StartRequest {
            customer_name: context.customer_name.as_deref(),
            customer_id: context.customer_id.as_deref(),
            channel: context.channel.as_deref(),
            tenant_id: context.tenant_id.as_deref(),
            bot_conversation_id: &context.bot_conversation_id,
            problem_description: context.problem_description.as_deref(),
        };
        let text = self.post("api/chat/start", &body).await?;
        let response: StartResponse = serde_json::from_str(&text)
            .map_err(|error| LiveChatError::Malformed(error.to_string()))?;
        if response.conversation_id.trim().is_empty() {
            return Err(LiveChatError::Malformed(
                "the start answer has no conversationId".into(),
            ));
        }
        Ok(response.conversation_id)
    }

    async fn send(
        &self,
        livechat_conversation_id: &str,
        message: &str,
        sender: &str,
    ) -> Result<(), LiveChatError> {
        let body = ReceiveRequest {
            conversation_id: livechat_conversation_id,
            message,
            sender,
        };
        self.post("api/chat/receive", &body).await.map(|_| ())
    }

    async fn end(&self, livechat_conversation_id: &str) -> Result<(), LiveChatError> {
        self.post(
            "api/chat/end",
            &EndRequest {
                conversation_id: livechat_conversation_id,
            },
        )
        .await
        .map(|_| ())
    }

    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent, WebhookError> {
        if let Some(secret) = &self.webhook_secret {
            signature::verify(
                secret,
                request.header(signature::TIMESTAMP_HEADER),
                request.header(signature::SIGNATURE_HEADER),
                request.body,
                chrono::Utc::now().timestamp(),
                self.replay_window_secs,
            )
            .map_err(WebhookError::Unauthorized)?;
        }
        let body: WebhookBody = serde_json::from_slice(request.body).map_err(|error| {
            WebhookError::BadRequest(format!("the webhook body is not valid JSON: {error}"))
        })?;
        let required = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| WebhookError::BadRequest(format!("the webhook body has no {name}")))
        };
        let livechat_conversation_id = required(body.conversation_id, "conversationId")?;
        match body.kind.as_deref().unwrap_or("message") {
            "message" => {
                let id = required(body.id, "id")?;
                let message = required(body.message, "message")?;
                if message.chars().count() > MAX_AGENT_MESSAGE_CHARS {
                    return Err(WebhookError::BadRequest(format!(
                        "the message is longer than {MAX_AGENT_MESSAGE_CHARS} characters"
                    )));
                }
                let sender = body
                    .sender
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(|| "Agent".to_owned());
                Ok(WebhookEvent::AgentMessage {
                    livechat_conversation_id,
                    id,
                    sender,
                    message,
                })
            }
            "conversationEnded" => {
                let id = body
                    .id
                    .filter(|id| !id.trim().is_empty())
                    .unwrap_or_else(|| format!("ended:{livechat_conversation_id}"));
                Ok(WebhookEvent::ConversationEnded {
                    livechat_conversation_id,
                    id,
                })
            }
            other => Err(WebhookError::BadRequest(format!(
                "unknown webhook type '{other}'; expected message or conversationEnded"
            ))),
        }
    }

    fn webhooks_are_signed(&self) -> bool {
        self.webhook_secret.is_some()
    }
}
