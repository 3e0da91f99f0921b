//! The calls to Genesys Cloud's API with the OAuth client's token, shared by the adapter and the
//! notification channel, and their refusals in plain words.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;

use super::oauth;
use crate::handover::LiveChatError;

/// The calls to Genesys' API, shared with the notification channel.
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub tokens: oauth::Tokens,
    pub timeout: Duration,
    pub integration: String,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts `body` to `path`; the answer's text.
    pub async fn post<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<String, LiveChatError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Patches `path` with `body`.
    pub async fn patch<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<String, LiveChatError> {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// Reads `path` as JSON.
    pub async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, LiveChatError> {
        let text = self.call::<()>(reqwest::Method::GET, path, None).await?;
        serde_json::from_str(&text).map_err(|_| {
            LiveChatError::Malformed(format!("Genesys' answer to GET {path} could not be read"))
        })
    }

    /// One call with a token; a token Genesys refuses is replaced once.
    async fn call<T: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&T>,
    ) -> Result<String, LiveChatError> {
        for attempt in 0..2 {
            let token = self.tokens.token().await?;
            let mut request = self
                .client
                .request(method.clone(), self.url(path))
                .bearer_auth(token.expose_secret())
                .timeout(self.timeout);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some((name, value)) = service_support::trace_context::header() {
                request = request.header(name, value);
            }
            let answer = request.send().await.map_err(|error| {
                if error.is_timeout() {
                    LiveChatError::Timeout
                } else {
                    LiveChatError::Unreachable(format!(
                        "Genesys could not be reached: {}",
                        error.without_url()
                    ))
                }
            })?;
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap_or_default();
            if status == 401 && attempt == 0 {
                self.tokens.forget().await;
                continue;
            }
            if (200..300).contains(&status) {
                return Ok(text);
            }
            return Err(self.refusal(status, path));
        }
        Err(self.refusal(401, path))
    }

    /// A refusal in plain words: which setting or permission it points at.
    fn refusal(&self, status: u16, path: &str) -> LiveChatError {
        let detail = match status {
            401 => "Genesys refused the skill's token: check the OAuth client (GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET) and its region (GENESYS_API_URL)".to_owned(),
            403 => "Genesys refused the call: the OAuth client's role lacks the permission for it (see the README's Genesys setup)".to_owned(),
            404 if path.contains("/inbound/") => format!(
                "Genesys knows no Open Messaging integration '{}' (GENESYS_INTEGRATION_ID) in this region",
                self.integration
            ),
            404 => "Genesys knows no such conversation".to_owned(),
            429 => "Genesys is limiting the skill's calls (429)".to_owned(),
            other => format!("Genesys answered {other}"),
        };
        if livechat_contract::retry::is_transient_status(status) {
            LiveChatError::Unavailable { status, detail }
        } else {
            LiveChatError::Rejected { status, detail }
        }
    }
}
