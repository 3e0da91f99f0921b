//! Client-credential tokens the skill presents: one for its own registration (replies to Copilot
//! Studio) and one for the Copilot Studio agent's (proactive messages to Teams).
//!
//! Tokens are cached per (authority, client id, scope) and refreshed five minutes before they expire.
//! Each cache entry has its own async lock, so many callers needing the same expiring token cause one
//! request to the authority, not many (single flight).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Refresh this long before the authority's expiry, as the SDKs do.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// One app registration's client credentials.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Tenant GUID or domain; the authority path segment.
    pub tenant: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct CacheKey {
    client_id: String,
    tenant: String,
    scope: String,
}

#[derive(Clone)]
struct CachedToken {
    token: SecretString,
    refresh_after: Instant,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token request could not be sent: {0}")]
    Transport(String),
    #[error("the authority refused the token request with status {status}: {error}")]
    Refused { status: u16, error: String },
    #[error("the authority's answer could not be read: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenErrorResponse {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Gets and caches client-credential tokens from `{authority}/{tenant}/oauth2/v2.0/token`.
pub struct TokenClient {
    http: reqwest::Client,
    authority_host: Url,
    entries: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<Option<CachedToken>>>>>,
}

impl TokenClient {
    pub fn new(http: reqwest::Client, authority_host: Url) -> Self {
        Self {
            http,
            authority_host,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, key: &CacheKey) -> Arc<tokio::sync::Mutex<Option<CachedToken>>> {
        // The std lock is held only to look up the entry, never across an await.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.entry(key.clone()).or_default().clone()
    }

    fn key(credentials: &ClientCredentials, scope: &str) -> CacheKey {
        CacheKey {
            client_id: credentials.client_id.clone(),
            tenant: credentials.tenant.clone(),
            scope: scope.to_owned(),
        }
    }

    /// A token for `scope`, from the cache while it has more than five minutes left.
    pub async fn token(
        &self,
        credentials: &ClientCredentials,
        scope: &str,
    ) -> Result<SecretString, TokenError> {
        let entry = self.entry(&Self::key(credentials, scope));
        let mut slot = entry.lock().await;
        if let Some(cached) = slot.as_ref() {
            if Instant::now() < cached.refresh_after {
                return Ok(cached.token.clone());
            }
        }
        let fresh = self.request(credentials, scope).await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    /// Forgets a cached token, after a Connector answered 401 to it.
    pub async fn invalidate(&self, credentials: &ClientCredentials, scope: &str) {
        let entry = self.entry(&Self::key(credentials, scope));
        *entry.lock().await = None;
    }

    #[tracing::instrument(name = "token_request", skip_all, fields(client_id = %credentials.client_id, scope = %scope))]
    async fn request(
        &self,
        credentials: &ClientCredentials,
        scope: &str,
    ) -> Result<CachedToken, TokenError> {
        let base = self.authority_host.as_str().trim_end_matches('/');
        let url = format!(
            "{base}/{}/oauth2/v2.0/token",
            super::path::segment(&credentials.tenant)
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose_secret()),
            ("scope", scope),
        ];
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|error| TokenError::Transport(error.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| TokenError::Transport(error.without_url().to_string()))?;
        if !status.is_success() {
            let error = serde_json::from_str::<TokenErrorResponse>(&text)
                .map(|e| {
                    format!("{} {}", e.error, e.error_description)
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            tracing::warn!(status = status.as_u16(), "token request refused");
            return Err(TokenError::Refused {
                status: status.as_u16(),
                error,
            });
        }
        let parsed: TokenResponse = serde_json::from_str(&text)
            .map_err(|error| TokenError::Malformed(error.to_string()))?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let refresh_after = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        tracing::debug!(expires_in = lifetime.as_secs(), "token acquired");
        Ok(CachedToken {
            token: SecretString::from(parsed.access_token),
            refresh_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A secret no error text, URL or header could hold by chance.
    const SECRET: &str = "s3cr3t-7f0c2d9e-no-accident";

    fn credentials() -> ClientCredentials {
        ClientCredentials {
            client_id: "client".into(),
            client_secret: SecretString::from(SECRET),
            tenant: "tenant".into(),
        }
    }

    async fn authority(expires_in: u64) -> MockServer {
        let server = MockServer::builder().start().await;
        Mock::given(method("POST"))
            .and(path("/tenant/oauth2/v2.0/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"access_token": "t", "expires_in": expires_in, "token_type": "Bearer"}))
                    .set_delay(Duration::from_millis(50)),
            )
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_token_request() {
        let server = authority(3600).await;
        let client = TokenClient::new(reqwest::Client::new(), Url::parse(&server.uri()).unwrap());
        let credentials = credentials();
        let calls = (0..10).map(|_| client.token(&credentials, "scope/.default"));
        for token in futures_util::future::join_all(calls).await {
            assert_eq!(token.unwrap().expose_secret(), "t");
        }
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
        client.token(&credentials, "other/.default").await.unwrap();
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            2,
            "cached per scope"
        );
    }

    #[tokio::test]
    async fn tokens_with_less_than_five_minutes_left_are_refreshed() {
        let server = authority(200).await;
        let client = TokenClient::new(reqwest::Client::new(), Url::parse(&server.uri()).unwrap());
        client
            .token(&credentials(), "scope/.default")
            .await
            .unwrap();
        client
            .token(&credentials(), "scope/.default")
            .await
            .unwrap();
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_refusal_names_the_authority_error_but_not_the_secret() {
        let server = MockServer::builder().start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_json(
                serde_json::json!({"error": "invalid_client", "error_description": "bad secret"}),
            ))
            .mount(&server)
            .await;
        let client = TokenClient::new(reqwest::Client::new(), Url::parse(&server.uri()).unwrap());
        let error = client
            .token(&credentials(), "scope/.default")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid_client"), "{error}");
        assert!(!error.contains(SECRET), "{error}");
        let body =
            String::from_utf8(server.received_requests().await.unwrap()[0].body.clone()).unwrap();
        assert!(
            body.contains("grant_type=client_credentials")
                && body.contains("scope=scope%2F.default")
                && body.contains(SECRET),
            "the secret goes to the authority, and only there: {body}"
        );
    }
}
