//! The client of the calls the skill makes for every message (into Teams, into the live chat):
//! hyper's pooled client over rustls, with a time limit per call, no redirects ever followed, and
//! nothing else in the way. (`reqwest` serves the rare calls: tokens and signing keys.)
//!
//! Measured in `docs/performance.md`: a delivery is two HTTP exchanges' worth of work, and the
//! layers a general-purpose client adds on each were a visible share of it.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("no answer in time")]
    Timeout,
    #[error("the request could not be sent: {0}")]
    Transport(String),
    #[error("the request could not be made: {0}")]
    Request(String),
}

/// An answer: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A pooled HTTP/1.1 and HTTP/2 client (https, and http for loopback peers).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    user_agent: HeaderValue,
}

impl HttpClient {
    /// A client whose calls give up after `timeout` (connecting after `connect_timeout`).
    pub fn new(
        timeout: Duration,
        connect_timeout: Duration,
        user_agent: &'static str,
    ) -> anyhow::Result<HttpClient> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            user_agent: HeaderValue::from_static(user_agent),
        })
    }

    /// `POST uri` with a JSON body (and a bearer token), answered within the client's time limit
    /// or `timeout`.
    pub async fn post_json(
        &self,
        uri: Uri,
        bearer: Option<&str>,
        body: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<HttpAnswer, HttpError> {
        let request = Request::post(uri).header(CONTENT_TYPE, "application/json");
        self.exchange(request, bearer, body.into(), timeout).await
    }

    /// `GET uri` for JSON (with a bearer token), answered within the client's time limit or
    /// `timeout`.
    pub async fn get_json(
        &self,
        uri: Uri,
        bearer: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<HttpAnswer, HttpError> {
        self.exchange(Request::get(uri), bearer, Bytes::new(), timeout)
            .await
    }

    async fn exchange(
        &self,
        request: hyper::http::request::Builder,
        bearer: Option<&str>,
        body: Bytes,
        timeout: Option<Duration>,
    ) -> Result<HttpAnswer, HttpError> {
        let mut request = request
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.user_agent.clone());
        if let Some(token) = bearer {
            let value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| HttpError::Request("the token is not a header value".into()))?;
            request = request.header(AUTHORIZATION, value);
        }
        // The live chat (and anyone else called) continues this trace, when traces are exported.
        if let Some((name, value)) = service_support::trace_context::header() {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| HttpError::Request(error.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| HttpError::Transport(describe(&error)))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|error| HttpError::Transport(error.to_string()))?
                .to_bytes();
            Ok(HttpAnswer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout.unwrap_or(self.timeout), exchange)
            .await
            .map_err(|_| HttpError::Timeout)?
    }
}

/// The cause of a client error, which says more than its own message ("client error").
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A URL as hyper takes it.
pub fn uri_of(url: &url::Url) -> Result<Uri, HttpError> {
    url.as_str()
        .parse()
        .map_err(|_| HttpError::Request(format!("'{url}' is not a URI")))
}

/// True for `localhost`, `127.0.0.0/8` and `::1`.
pub fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}
