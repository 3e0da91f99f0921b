//! The two Bot Connector REST calls the skill makes: ReplyToActivity (answers to Copilot Studio
//! within a skill turn) and SendToConversation (proactive messages into Teams).
//!
//! Before any request the destination is checked: with a token, only [`TrustedHosts`]; without one
//! (anonymous local mode), only loopback. A 401 drops the cached token and retries once with a fresh
//! one; every other failure is returned with what the caller needs to decide on a retry.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use url::Url;

use super::activity::{Activity, ResourceResponse};
use super::credentials::{ClientCredentials, TokenClient, TokenError};
use super::path::segment;
use super::trusted_hosts::TrustedHosts;
use crate::http::is_loopback_url;
use crate::http::{uri_of, HttpClient};
use hyper::Uri;

/// How a request to a Connector is authenticated.
#[derive(Debug, Clone)]
pub enum OutboundCredential {
    /// No token: anonymous local mode, loopback destinations only.
    Anonymous,
    /// A client-credential token of `credentials` for `scope`.
    App {
        credentials: ClientCredentials,
        scope: String,
    },
}

/// Why a Connector call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("refused to send to {0}: not a trusted host for this credential")]
    Untrusted(String),
    #[error("the service URL '{0}' is not a valid http(s) URL")]
    InvalidUrl(String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the request could not be sent: {0}")]
    Transport(String),
    #[error("the connector answered {status}: {detail}")]
    Status {
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
    },
}

impl ConnectorError {
    /// Worth another attempt: what Teams documents as transient (412, 429, 502, 503, 504),
    /// connection failures, and the token authority's 5xx and 429; every other answer is final.
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectorError::Transport(_) => true,
            ConnectorError::Token(TokenError::Transport(_)) => true,
            ConnectorError::Token(TokenError::Refused { status, .. }) => {
                *status >= 500 || *status == 429
            }
            // Exactly what Teams documents as worth retrying; every other answer is final.
            ConnectorError::Status { status, .. } => matches!(status, 412 | 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// The server's `Retry-After`, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A conversation's SendToConversation URL, checked against the credential it is for.
#[derive(Debug, Clone)]
pub struct Destination {
    uri: Uri,
}

/// Sends activities to a Bot Connector endpoint (Teams, Copilot Studio, or a test double).
pub struct ConnectorClient {
    http: HttpClient,
    tokens: Arc<TokenClient>,
    trusted: TrustedHosts,
}

impl ConnectorClient {
    pub fn new(http: HttpClient, tokens: Arc<TokenClient>, trusted: TrustedHosts) -> Self {
        Self {
            http,
            tokens,
            trusted,
        }
    }

    /// `POST {serviceUrl}/v3/conversations/{conversationId}/activities/{activityId}`.
    pub async fn reply_to_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Activity,
        credential: &OutboundCredential,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = conversation_url(service_url, conversation_id, Some(activity_id))?;
        self.post(url, activity, credential).await
    }

    /// `POST {serviceUrl}/v3/conversations/{conversationId}/activities`.
    pub async fn send_to_conversation(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Activity,
        credential: &OutboundCredential,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = conversation_url(service_url, conversation_id, None)?;
        self.post(url, activity, credential).await
    }

    /// Where SendToConversation goes for one conversation, built and checked once (a sender of
    /// many messages keeps it).
    pub fn destination(
        &self,
        service_url: &str,
        conversation_id: &str,
        credential: &OutboundCredential,
    ) -> Result<Destination, ConnectorError> {
        let url = conversation_url(service_url, conversation_id, None)?;
        if !self.destination_allowed(&url, credential) {
            return Err(ConnectorError::Untrusted(
                url.host_str().unwrap_or("?").to_owned(),
            ));
        }
        let uri = uri_of(&url).map_err(|_| ConnectorError::InvalidUrl(url.to_string()))?;
        Ok(Destination { uri })
    }

    /// SendToConversation to a [`Destination`], of an activity already serialised.
    pub async fn send_to(
        &self,
        destination: &Destination,
        body: Vec<u8>,
        credential: &OutboundCredential,
    ) -> Result<ResourceResponse, ConnectorError> {
        self.post_checked(&destination.uri, body, credential).await
    }

    /// True when `credential` may be used towards `service_url` at all.
    pub fn may_send(&self, service_url: &Url, credential: &OutboundCredential) -> bool {
        self.destination_allowed(service_url, credential)
    }

    fn destination_allowed(&self, url: &Url, credential: &OutboundCredential) -> bool {
        match credential {
            OutboundCredential::Anonymous => {
                matches!(url.scheme(), "http" | "https") && is_loopback_url(url)
            }
            OutboundCredential::App { .. } => self.trusted.may_receive_token(url),
        }
    }

    async fn post(
        &self,
        url: Url,
        activity: &Activity,
        credential: &OutboundCredential,
    ) -> Result<ResourceResponse, ConnectorError> {
        if !self.destination_allowed(&url, credential) {
            return Err(ConnectorError::Untrusted(
                url.host_str().unwrap_or("?").to_owned(),
            ));
        }
        let uri = uri_of(&url).map_err(|_| ConnectorError::InvalidUrl(url.to_string()))?;
        let body = serde_json::to_vec(activity)
            .map_err(|error| ConnectorError::Transport(error.to_string()))?;
        self.post_checked(&uri, body, credential).await
    }

    /// Posts to a destination already checked; a 401 is retried once with a fresh token.
    async fn post_checked(
        &self,
        uri: &Uri,
        body: Vec<u8>,
        credential: &OutboundCredential,
    ) -> Result<ResourceResponse, ConnectorError> {
        // Shared, not copied, with the one retry a 401 gets.
        let body = hyper::body::Bytes::from(body);
        let first = self.post_once(uri, body.clone(), credential).await;
        match (&first, credential) {
            (
                Err(ConnectorError::Status { status: 401, .. }),
                OutboundCredential::App { credentials, scope },
            ) => {
                tracing::info!("connector answered 401; retrying once with a fresh token");
                self.tokens.invalidate(credentials, scope).await;
                self.post_once(uri, body, credential).await
            }
            _ => first,
        }
    }

    async fn post_once(
        &self,
        uri: &Uri,
        body: hyper::body::Bytes,
        credential: &OutboundCredential,
    ) -> Result<ResourceResponse, ConnectorError> {
        let token = match credential {
            OutboundCredential::App { credentials, scope } => {
                Some(self.tokens.token(credentials, scope).await?)
            }
            OutboundCredential::Anonymous => None,
        };
        let answer = self
            .http
            .post_json(
                uri.clone(),
                token.as_ref().map(|t| t.expose_secret()),
                body,
                None,
            )
            .await
            .map_err(|error| ConnectorError::Transport(error.to_string()))?;
        let status = answer.status;
        let retry_after = answer
            .headers
            .get(hyper::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let body = String::from_utf8_lossy(&answer.body);
        if status.is_success() {
            // Teams often answers with an empty body; that is a success with no id.
            return Ok(serde_json::from_str(&body).unwrap_or_default());
        }
        let detail: String = body.chars().take(300).collect();
        Err(ConnectorError::Status {
            status: status.as_u16(),
            detail,
            retry_after,
        })
    }
}

/// A `serviceUrl` the skill will call: an absolute http(s) URL with a host, and no user info,
/// query or fragment (each would change where the Connector path ends up, or what it carries).
pub fn service_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim())
        .map_err(|error| format!("the serviceUrl is not an absolute URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("the serviceUrl must be an http or https URL with a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the serviceUrl must not carry user info".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the serviceUrl must not have a query or a fragment".to_owned());
    }
    Ok(url)
}

/// `{serviceUrl}/v3/conversations/{id}/activities[/{activityId}]`: the service URL's own path,
/// then the Connector's segments, each encoded; never text appended to the whole URL.
pub fn conversation_url(
    service_url_text: &str,
    conversation_id: &str,
    activity_id: Option<&str>,
) -> Result<Url, ConnectorError> {
    let mut url = service_url(service_url_text)
        .map_err(|_| ConnectorError::InvalidUrl(service_url_text.to_owned()))?;
    let mut segments: Vec<String> = url
        .path_segments()
        .map(|existing| {
            existing
                .filter(|segment| !segment.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    segments.extend([
        "v3".to_owned(),
        "conversations".to_owned(),
        segment(conversation_id),
        "activities".to_owned(),
    ]);
    if let Some(activity_id) = activity_id {
        segments.push(segment(activity_id));
    }
    // The segments are encoded already (the service URL's as parsed, ours by `segment`).
    url.set_path(&format!("/{}", segments.join("/")));
    Ok(url)
}

/// `Retry-After` is either delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_one_slash_and_encode_ids() {
        let url = conversation_url(
            "https://smba.trafficmanager.net/teams/",
            "a:1/2 x",
            Some("act|1"),
        )
        .unwrap();
        assert_eq!(url.as_str(), "https://smba.trafficmanager.net/teams/v3/conversations/a%3A1%2F2%20x/activities/act%7C1");
        let url = conversation_url("https://host/api/skillsV2", "c", None).unwrap();
        assert_eq!(
            url.as_str(),
            "https://host/api/skillsV2/v3/conversations/c/activities"
        );
        assert!(conversation_url("ftp://host/", "c", None).is_err());
    }

    #[test]
    fn service_urls_that_would_move_the_path_are_refused() {
        for bad in [
            "https://host/api?x=",
            "https://host/api#frag",
            "https://user:pass@host/api",
            "https://user@host/api",
            "ftp://host/",
            "/relative/path",
            "mailto:someone@example.com",
            "",
        ] {
            assert!(service_url(bad).is_err(), "{bad}");
            assert!(conversation_url(bad, "c", None).is_err(), "{bad}");
        }
        assert!(service_url("http://127.0.0.1:5002/connector/").is_ok());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn transient_answers_are_recognised() {
        let status = |status| ConnectorError::Status {
            status,
            detail: String::new(),
            retry_after: None,
        };
        for code in [412, 429, 502, 503, 504] {
            assert!(status(code).is_transient(), "{code}");
        }
        for code in [400, 401, 403, 404, 408, 413, 500] {
            assert!(!status(code).is_transient(), "{code}");
        }
        let blocked = ConnectorError::Status {
            status: 403,
            detail: r#"{"error":{"code":"MessageWritesBlocked"}}"#.into(),
            retry_after: None,
        };
        // Final: told to the agent in plain words by the courier, never retried.
        assert!(!blocked.is_transient());
    }
}
