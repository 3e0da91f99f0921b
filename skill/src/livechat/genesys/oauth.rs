//! OAuth client credentials against the region's login host: one token, kept until shortly before
//! it expires, fetched by one caller while the others wait for it. Never logged.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use url::Url;

use super::wire::{TokenAnswer, TOKEN_PATH};
use crate::handover::LiveChatError;

/// How long before its expiry a token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A token with the moment it is to be replaced.
struct Held {
    token: SecretString,
    replace_at: Instant,
}

/// The adapter's OAuth client.
pub struct Tokens {
    client: reqwest::Client,
    url: Url,
    client_id: String,
    client_secret: SecretString,
    timeout: Duration,
    held: Mutex<Option<Held>>,
}

impl Tokens {
    pub fn new(
        client: reqwest::Client,
        login_base: &Url,
        client_id: String,
        client_secret: SecretString,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client,
            url: login_base.join(TOKEN_PATH)?,
            client_id,
            client_secret,
            timeout,
            held: Mutex::new(None),
        })
    }

    /// A valid token: the one held, or a new one.
    pub async fn token(&self) -> Result<SecretString, LiveChatError> {
        let mut held = self.held.lock().await;
        if let Some(current) = held
            .as_ref()
            .filter(|held| Instant::now() < held.replace_at)
        {
            return Ok(current.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *held = Some(fresh);
        Ok(token)
    }

    /// Forgets the token Genesys just refused (revoked, or the client's roles changed).
    pub async fn forget(&self) {
        *self.held.lock().await = None;
    }

    async fn fetch(&self) -> Result<Held, LiveChatError> {
        let sent = self
            .client
            .post(self.url.clone())
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[("grant_type", "client_credentials")])
            .timeout(self.timeout)
            .send()
            .await;
        let answer = sent.map_err(|error| {
            if error.is_timeout() {
                LiveChatError::Timeout
            } else {
                LiveChatError::Unreachable(format!(
                    "Genesys' login host {} could not be reached: {}",
                    self.url.host_str().unwrap_or_default(),
                    error.without_url()
                ))
            }
        })?;
        let status = answer.status().as_u16();
        if matches!(status, 400 | 401 | 403) {
            tracing::error!(status, "Genesys refused the OAuth client: check GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET, and that the client's grant is Client Credentials");
            return Err(LiveChatError::Rejected {
                status,
                detail: "Genesys refused the OAuth client credentials (GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET)".into(),
            });
        }
        if !answer.status().is_success() {
            let detail = format!("Genesys' login host answered {status}");
            return Err(if livechat_contract::retry::is_transient_status(status) {
                LiveChatError::Unavailable { status, detail }
            } else {
                LiveChatError::Rejected { status, detail }
            });
        }
        let token: TokenAnswer = answer.json().await.map_err(|_| {
            LiveChatError::Malformed("Genesys' token answer could not be read".into())
        })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3_600));
        // A short-lived token is replaced at half its life rather than never held.
        let keep = lifetime.checked_sub(REFRESH_MARGIN).unwrap_or(lifetime / 2);
        tracing::debug!(lifetime_secs = lifetime.as_secs(), "Genesys token fetched");
        Ok(Held {
            token: SecretString::from(token.access_token),
            replace_at: Instant::now() + keep,
        })
    }
}
