//! Inbound authentication: who is calling `/api/messages`.
//!
//! Copilot Studio calls a skill with an Entra ID token whose audience is the skill's app id and whose
//! `appid` (v1) or `azp` (v2) is the agent's app id; Azure Bot Service channels use Bot Framework
//! tokens. Both are RS256 JWTs signed by a key published behind an OpenID metadata document.
//! The checks are the union of what Microsoft's SDKs do: signature by the `kid` key, `exp`/`nbf`
//! with five minutes of skew, issuer, audience, `tid` bound to the issuer's tenant, the caller
//! allow-list, and for channel tokens the `serviceurl` claim and key endorsements.
//!
//! Signing keys are cached per metadata URL for a day; an unknown `kid` refreshes them, at most
//! once every five minutes, so forged tokens with random `kid`s cannot make the skill hammer the
//! metadata endpoint. Refreshes are serialised (single flight). When the endpoint fails, the last
//! good keys keep serving for `auth.signing_keys_grace_hours` (24) past their day, and failed
//! fetches are retried with backoff (5 s, doubling, at most every five minutes), never on every
//! request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Bot Framework channel-token issuer, always accepted alongside the tenant's Entra issuers.
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";

const BOT_FRAMEWORK_METADATA: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
const ENTRA_METADATA: &str =
    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration";
const KEY_SET_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
const UNKNOWN_KID_REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The first pause after a failed refresh, doubled per failure up to the interval above.
const FIRST_RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
const CLOCK_SKEW_SECONDS: u64 = 5 * 60;

/// Who called, once the token was checked (kept with a request answered before it is handled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerIdentity {
    /// No token was checked: anonymous local mode.
    pub anonymous: bool,
    /// The calling app (Copilot Studio agent), from `appid`/`azp`.
    pub app_id: Option<String>,
}

impl CallerIdentity {
    pub fn anonymous() -> Self {
        Self {
            anonymous: true,
            app_id: None,
        }
    }

    /// The scope of the token that answers this caller: its own app id for an agent (skill) call,
    /// Bot Framework for a channel.
    pub fn reply_scope(&self) -> String {
        match &self.app_id {
            Some(app_id) => format!("{app_id}/.default"),
            None => "https://api.botframework.com/.default".to_owned(),
        }
    }
}

/// How inbound requests are authenticated.
pub enum InboundAuth {
    /// No app id configured: every request is accepted, as the SDKs do in local mode.
    Anonymous,
    /// Every request must carry a valid bearer token.
    Validated(Box<TokenValidator>),
}

/// What a token must be to be accepted.
#[derive(Debug, Clone)]
pub struct TokenRules {
    /// The skill's app id: the tokens' audience.
    pub app_id: String,
    pub allowed_issuers: Vec<String>,
    /// App ids that may call; `*` for any.
    pub allowed_callers: Vec<String>,
    /// Where the signing keys' OpenID metadata comes from, instead of Microsoft's.
    pub metadata_override: Option<String>,
    /// How long the last good signing keys keep serving past their day while the metadata
    /// endpoint fails.
    pub signing_keys_grace: Duration,
}

impl InboundAuth {
    /// Every request must carry a token `rules` accept; the signing keys are fetched with `http`.
    pub fn validated(rules: TokenRules, http: reqwest::Client) -> Self {
        InboundAuth::Validated(Box::new(TokenValidator {
            app_id: rules.app_id,
            allowed_issuers: rules.allowed_issuers,
            allowed_callers: rules.allowed_callers,
            metadata_override: rules.metadata_override,
            keys: OpenIdKeys::new(http, KEY_SET_LIFETIME, rules.signing_keys_grace),
        }))
    }

    /// Checks the `Authorization` header of an activity; the error is a reason fit for a 401 body.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        channel_id: &str,
        service_url: &str,
    ) -> Result<CallerIdentity, String> {
        match self {
            InboundAuth::Anonymous => Ok(CallerIdentity::anonymous()),
            InboundAuth::Validated(validator) => {
                validator
                    .validate(authorization, channel_id, service_url)
                    .await
            }
        }
    }
}

/// The claims the checks read.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    ver: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    serviceurl: Option<String>,
}

/// Validates bearer tokens against configured issuers, audience and callers.
pub struct TokenValidator {
    app_id: String,
    allowed_issuers: Vec<String>,
    allowed_callers: Vec<String>,
    metadata_override: Option<String>,
    keys: OpenIdKeys,
}

impl TokenValidator {
    async fn validate(
        &self,
        authorization: Option<&str>,
        channel_id: &str,
        service_url: &str,
    ) -> Result<CallerIdentity, String> {
        let header = authorization.ok_or("the request has no Authorization header")?;
        let token =
            bearer_token(header).ok_or("the Authorization header is not 'Bearer <token>'")?;
        let jwt_header = jsonwebtoken::decode_header(token)
            .map_err(|_| "the bearer token is not a JWT".to_owned())?;
        if jwt_header.alg != Algorithm::RS256 {
            return Err(format!(
                "the token is signed with {:?}; only RS256 is accepted",
                jwt_header.alg
            ));
        }
        let kid = jwt_header.kid.ok_or("the token header has no kid")?;
        // The issuer only chooses where the keys come from; it is verified with the signature below.
        let unverified_issuer =
            unverified_issuer(token).ok_or("the token has no readable issuer")?;
        let is_channel_token = unverified_issuer.eq_ignore_ascii_case(BOT_FRAMEWORK_ISSUER);
        let metadata_url = match &self.metadata_override {
            Some(url) => url.clone(),
            None if is_channel_token => BOT_FRAMEWORK_METADATA.to_owned(),
            None => ENTRA_METADATA.to_owned(),
        };
        let key = self.keys.key(&metadata_url, &kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.app_id]);
        validation.set_issuer(&self.allowed_issuers);
        validation.leeway = CLOCK_SKEW_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding_key, &validation)
            .map_err(|error| describe_jwt_error(&error))?
            .claims;

        if is_channel_token {
            if !key.endorsements.is_empty()
                && !channel_id.is_empty()
                && !key.endorsements.iter().any(|e| e == channel_id)
            {
                return Err(format!(
                    "the signing key is not endorsed for channel '{channel_id}'"
                ));
            }
            if let Some(claimed) = &claims.serviceurl {
                if !claimed
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(service_url.trim_end_matches('/'))
                {
                    return Err(
                        "the token's serviceurl claim does not match the activity's serviceUrl"
                            .into(),
                    );
                }
            }
            return Ok(CallerIdentity {
                anonymous: false,
                app_id: None,
            });
        }

        if let Some(tenant_in_issuer) = issuer_tenant(&claims.iss) {
            match &claims.tid {
                Some(tid) if tid.eq_ignore_ascii_case(tenant_in_issuer) => {}
                _ => return Err("the token's tid does not match its issuer's tenant".into()),
            }
        }
        let caller = if claims.ver.as_deref() == Some("2.0") {
            claims.azp
        } else {
            claims.appid
        };
        let caller = caller
            .filter(|c| !c.is_empty())
            .ok_or("the token names no calling app (appid/azp)")?;
        let allowed = self
            .allowed_callers
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(&caller));
        if !allowed {
            return Err(format!(
                "the calling app {caller} is not in SKILL_ALLOWED_CALLERS"
            ));
        }
        Ok(CallerIdentity {
            anonymous: false,
            app_id: Some(caller),
        })
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_owned)
}

/// The tenant GUID inside an Entra issuer (`https://sts.windows.net/{t}/`, `https://login.microsoftonline.{com,us}/{t}/v2.0`).
fn issuer_tenant(issuer: &str) -> Option<&str> {
    let rest = issuer.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    let tenant = path.split('/').next()?;
    let entra_host = host.eq_ignore_ascii_case("sts.windows.net")
        || host
            .to_ascii_lowercase()
            .starts_with("login.microsoftonline.");
    (entra_host && !tenant.is_empty()).then_some(tenant)
}

fn describe_jwt_error(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the token's audience is not this skill's app id".into(),
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted".into(),
        ErrorKind::InvalidSignature => "the token's signature is invalid".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        other => format!("the token is invalid ({other:?})"),
    }
}

/// One signing key, with the channels it is endorsed for (Bot Framework keys only).
struct SigningKey {
    decoding_key: DecodingKey,
    endorsements: Vec<String>,
}

struct KeySet {
    keys: HashMap<String, Arc<SigningKey>>,
    fetched_at: Instant,
}

#[derive(Deserialize)]
struct OpenIdMetadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    kty: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

/// The last refresh of one metadata URL's keys: when, and how many failed in a row since the last
/// success (they back off: a failing endpoint is not asked again on every request).
#[derive(Debug, Clone, Copy)]
struct Refresh {
    at: Instant,
    failures: u32,
    /// A fetch is under way.
    in_flight: bool,
}

impl Refresh {
    /// How long after this refresh the next may be tried.
    fn pause(&self) -> Duration {
        if self.failures == 0 {
            return UNKNOWN_KID_REFRESH_INTERVAL;
        }
        let doublings = (self.failures - 1).min(10);
        FIRST_RETRY_AFTER_FAILURE
            .saturating_mul(1 << doublings)
            .min(UNKNOWN_KID_REFRESH_INTERVAL)
    }
}

/// The signing keys behind OpenID metadata documents, cached per metadata URL. When the endpoint
/// fails, the last good keys keep serving for `grace` past their lifetime.
///
/// One fetch per URL at a time (single flight), and no lock is held across it: while one request
/// fetches, the others use the keys they have (fresh or stale), or, with none, wait for that
/// fetch to finish (bounded) instead of starting their own.
struct OpenIdKeys {
    http: reqwest::Client,
    sets: Mutex<HashMap<String, Arc<KeySet>>>,
    /// Each URL's last refresh, and whether one is under way.
    refreshes: Mutex<HashMap<String, Refresh>>,
    /// Told whenever a fetch ends.
    fetched: tokio::sync::Notify,
    lifetime: Duration,
    grace: Duration,
}

/// How long a request with no keys at all waits for another's fetch.
const FETCH_WAIT: Duration = Duration::from_secs(15);
const UNKNOWN_KEY: &str = "the token is signed by an unknown key";
const KEYS_UNAVAILABLE: &str = "the token signing keys could not be fetched";

/// Marks a URL's fetch under way; clears the mark however the fetch ends (even when the request
/// that started it is dropped), and wakes those waiting.
struct InFlight<'a> {
    keys: &'a OpenIdKeys,
    url: &'a str,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(refresh) = self.keys.refreshes().get_mut(self.url) {
            refresh.in_flight = false;
        }
        self.keys.fetched.notify_waiters();
    }
}

/// What a request does about a missing or stale key.
enum Next {
    Answer(Result<Arc<SigningKey>, String>),
    Wait,
    Fetch(Option<Refresh>),
}

impl OpenIdKeys {
    fn new(http: reqwest::Client, lifetime: Duration, grace: Duration) -> Self {
        Self {
            http,
            sets: Mutex::new(HashMap::new()),
            refreshes: Mutex::new(HashMap::new()),
            fetched: tokio::sync::Notify::new(),
            lifetime,
            grace,
        }
    }

    fn refreshes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Refresh>> {
        self.refreshes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached set, and whether it is within its lifetime; a set past lifetime and grace is
    /// not returned.
    fn cached(&self, metadata_url: &str) -> Option<(Arc<KeySet>, bool)> {
        let sets = self
            .sets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let set = sets.get(metadata_url)?;
        let age = set.fetched_at.elapsed();
        if age < self.lifetime {
            Some((set.clone(), true))
        } else if age < self.lifetime.saturating_add(self.grace) {
            Some((set.clone(), false))
        } else {
            None
        }
    }

    /// Decides, under the short lock, whether to answer, wait for a fetch under way, or fetch.
    fn next_step(&self, metadata_url: &str, kid: &str, waited: bool) -> Next {
        let cached = self.cached(metadata_url);
        let known = cached
            .as_ref()
            .and_then(|(set, _)| set.keys.get(kid).cloned());
        if let (Some((_, true)), Some(key)) = (&cached, &known) {
            return Next::Answer(Ok(key.clone()));
        }
        let mut refreshes = self.refreshes();
        let previous = refreshes.get(metadata_url).copied();
        if previous.is_some_and(|refresh| refresh.in_flight) {
            return match known {
                // Stale but good: serve it while the fetch runs.
                Some(key) => Next::Answer(Ok(key)),
                None if waited => Next::Answer(Err(UNKNOWN_KEY.to_owned())),
                None => Next::Wait,
            };
        }
        let fresh = matches!(cached, Some((_, true)));
        let failing = previous.is_some_and(|refresh| refresh.failures > 0);
        let too_soon = previous.is_some_and(|refresh| refresh.at.elapsed() < refresh.pause());
        // A fresh set is refreshed for an unknown kid at most every few minutes; a failing
        // endpoint is retried with backoff; meanwhile the last good keys serve. A request that
        // waited for a fetch does not start another.
        if (too_soon && (fresh || failing)) || waited {
            let error = if failing && cached.is_none() {
                KEYS_UNAVAILABLE
            } else {
                UNKNOWN_KEY
            };
            return Next::Answer(known.ok_or_else(|| error.to_owned()));
        }
        let refresh = refreshes.entry(metadata_url.to_owned()).or_insert(Refresh {
            at: Instant::now(),
            failures: 0,
            in_flight: false,
        });
        refresh.in_flight = true;
        Next::Fetch(previous)
    }

    async fn key(&self, metadata_url: &str, kid: &str) -> Result<Arc<SigningKey>, String> {
        let mut waited = false;
        let previous = loop {
            // Registered before the look, so that a fetch ending in between is not missed.
            let fetched = self.fetched.notified();
            tokio::pin!(fetched);
            fetched.as_mut().enable();
            match self.next_step(metadata_url, kid, waited) {
                Next::Answer(answer) => return answer,
                Next::Fetch(previous) => break previous,
                Next::Wait => {
                    let _ = tokio::time::timeout(FETCH_WAIT, fetched).await;
                    waited = true;
                }
            }
        };
        let in_flight = InFlight {
            keys: self,
            url: metadata_url,
        };
        let result = self.fetch(metadata_url).await;
        let cached = self.cached(metadata_url);
        let failures = match &result {
            Ok(_) => 0,
            Err(_) => previous.map_or(0, |refresh| refresh.failures) + 1,
        };
        // Still in flight until `in_flight` is dropped below.
        self.refreshes().insert(
            metadata_url.to_owned(),
            Refresh {
                at: Instant::now(),
                failures,
                in_flight: true,
            },
        );
        let answer = match result {
            Ok(set) => {
                let key = set.keys.get(kid).cloned();
                self.sets
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(metadata_url.to_owned(), Arc::new(set));
                key.ok_or_else(|| UNKNOWN_KEY.to_owned())
            }
            Err(error) => {
                tracing::error!(metadata_url, error = %error, failures, serving_last_good_keys = cached.is_some(), "cannot fetch the token signing keys");
                cached
                    .as_ref()
                    .and_then(|(set, _)| set.keys.get(kid).cloned())
                    .ok_or_else(|| KEYS_UNAVAILABLE.to_owned())
            }
        };
        drop(in_flight);
        answer
    }

    async fn fetch(&self, metadata_url: &str) -> anyhow::Result<KeySet> {
        let metadata: OpenIdMetadata = self
            .http
            .get(metadata_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let jwks: Jwks = self
            .http
            .get(&metadata.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys {
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if jwk.kty.as_deref().is_some_and(|kty| kty != "RSA") {
                continue;
            }
            match DecodingKey::from_rsa_components(&n, &e) {
                Ok(decoding_key) => {
                    keys.insert(
                        kid,
                        Arc::new(SigningKey {
                            decoding_key,
                            endorsements: jwk.endorsements,
                        }),
                    );
                }
                Err(error) => {
                    tracing::warn!(kid, error = %error, "skipping an unreadable signing key")
                }
            }
        }
        tracing::info!(
            metadata_url,
            keys = keys.len(),
            "token signing keys refreshed"
        );
        Ok(KeySet {
            keys,
            fetched_at: Instant::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_jwks() -> serde_json::Value {
        serde_json::json!({
            "keys": [{ "kid": "k1", "kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB" }]
        })
    }

    async fn mount_keys(server: &wiremock::MockServer) {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, ResponseTemplate};
        Mock::given(method("GET"))
            .and(path("/keys"))
            .respond_with(ResponseTemplate::new(200).set_body_json(test_jwks()))
            .mount(server)
            .await;
    }

    async fn metadata_server(good_answers: u64) -> wiremock::MockServer {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, ResponseTemplate};
        let server = wiremock::MockServer::builder().start().await;
        Mock::given(method("GET"))
            .and(path("/metadata"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(
                    serde_json::json!({ "jwks_uri": format!("{}/keys", server.uri()) }),
                ),
            )
            .up_to_n_times(good_answers)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/metadata"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        mount_keys(&server).await;
        server
    }

    async fn metadata_requests(server: &wiremock::MockServer) -> usize {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|request| request.url.path() == "/metadata")
            .count()
    }

    #[tokio::test]
    async fn the_last_good_keys_serve_while_the_endpoint_fails_and_failures_back_off() {
        let server = metadata_server(1).await;
        let url = format!("{}/metadata", server.uri());
        // Lifetime zero: every use after the first fetch wants a refresh.
        let keys = OpenIdKeys::new(
            reqwest::Client::new(),
            Duration::ZERO,
            Duration::from_secs(3600),
        );
        assert!(keys.key(&url, "k1").await.is_ok(), "fetched");
        assert!(
            keys.key(&url, "k1").await.is_ok(),
            "refresh failed; the last good key serves"
        );
        assert_eq!(metadata_requests(&server).await, 2);
        for _ in 0..20 {
            assert!(keys.key(&url, "k1").await.is_ok());
        }
        assert_eq!(
            metadata_requests(&server).await,
            2,
            "a failing endpoint is not asked again on every request"
        );
        assert!(
            keys.key(&url, "other").await.is_err(),
            "an unknown kid is still refused"
        );
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch_and_stale_keys_serve_during_it() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, ResponseTemplate};
        // A slow metadata endpoint (ahead of the server's quick answers): every request below
        // arrives while a fetch is under way.
        let server = wiremock::MockServer::builder().start().await;
        Mock::given(method("GET"))
            .and(path("/metadata"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(
                        serde_json::json!({ "jwks_uri": format!("{}/keys", server.uri()) }),
                    )
                    .set_delay(Duration::from_millis(300)),
            )
            .mount(&server)
            .await;
        mount_keys(&server).await;
        let url = format!("{}/metadata", server.uri());
        let keys = Arc::new(OpenIdKeys::new(
            reqwest::Client::new(),
            Duration::ZERO,
            Duration::from_secs(3600),
        ));
        let many = |keys: Arc<OpenIdKeys>| {
            let url = url.clone();
            futures_util::future::join_all((0..20).map(move |_| {
                let (keys, url) = (keys.clone(), url.clone());
                async move { keys.key(&url, "k1").await.is_ok() }
            }))
        };
        assert!(many(keys.clone()).await.into_iter().all(|ok| ok));
        assert_eq!(
            metadata_requests(&server).await,
            1,
            "one fetch for 20 misses"
        );
        // Now stale (lifetime zero): one refresh, the others served the last good keys.
        assert!(many(keys.clone()).await.into_iter().all(|ok| ok));
        assert_eq!(
            metadata_requests(&server).await,
            2,
            "one refresh for 20 stale uses"
        );
    }

    #[tokio::test]
    async fn without_grace_expired_keys_are_not_served() {
        let server = metadata_server(1).await;
        let url = format!("{}/metadata", server.uri());
        let keys = OpenIdKeys::new(reqwest::Client::new(), Duration::ZERO, Duration::ZERO);
        assert!(keys.key(&url, "k1").await.is_ok());
        assert_eq!(
            keys.key(&url, "k1").await.err().as_deref(),
            Some("the token signing keys could not be fetched")
        );
    }

    #[test]
    fn bearer_headers_are_parsed_strictly() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
    }

    #[test]
    fn issuer_tenants_are_read_from_entra_issuers_only() {
        assert_eq!(issuer_tenant("https://sts.windows.net/t1/"), Some("t1"));
        assert_eq!(
            issuer_tenant("https://login.microsoftonline.com/t2/v2.0"),
            Some("t2")
        );
        assert_eq!(issuer_tenant("https://api.botframework.com"), None);
        assert_eq!(issuer_tenant("https://evil.example/t3/"), None);
    }

    #[test]
    fn reply_scope_targets_the_calling_agent() {
        let caller = CallerIdentity {
            anonymous: false,
            app_id: Some("agent".into()),
        };
        assert_eq!(caller.reply_scope(), "agent/.default");
        assert_eq!(
            CallerIdentity::anonymous().reply_scope(),
            "https://api.botframework.com/.default"
        );
    }
}
