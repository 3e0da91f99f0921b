//! `spawn_app()` and the fake peers.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use livechat_contract::signature;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use service_support::settings::Environment;
use skill::configuration::{Settings, WindowSettings};
pub use skill::handover::Clock;
use skill::startup::{Application, ApplicationHandle};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const SKILL_APP_ID: &str = "5c1a0000-0000-4000-8000-000000000001";
pub const AGENT_APP_ID: &str = "a9e40000-0000-4000-8000-000000000002";
pub const TENANT_ID: &str = "7e4a0000-0000-4000-8000-000000000003";
pub const KEY_ID: &str = "test-key-1";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// An RSA key pair made once per test binary, and its JWKS.
pub struct TestKeys {
    pub encoding: EncodingKey,
    pub jwks: Value,
}

pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let pem = private.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwks = json!({ "keys": [{
            "kty": "RSA", "use": "sig", "kid": KEY_ID,
            "n": b64(private.n().to_bytes_be()), "e": b64(private.e().to_bytes_be())
        }]});
        TestKeys { encoding, jwks }
    })
}

/// Valid v1 claims of a Copilot Studio call to the skill.
pub fn valid_claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
        "aud": SKILL_APP_ID,
        "appid": AGENT_APP_ID,
        "ver": "1.0",
        "tid": TENANT_ID,
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
    })
}

pub fn sign_token(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &keys().encoding).unwrap()
}

pub fn valid_token() -> String {
    sign_token(&valid_claims(), KEY_ID)
}

/// The token the fake issuer hands out, so tests can see which identity and scope were used.
pub fn issued_token(client_id: &str, scope: &str) -> String {
    format!("fake-token:{client_id}:{scope}")
}

struct TokenEndpoint;

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        if form.get("grant_type").map(String::as_str) != Some("client_credentials")
            || !form.contains_key("client_secret")
        {
            return ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_request"}));
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer",
            "expires_in": 3600,
            "access_token": issued_token(&form["client_id"], &form["scope"]),
        }))
    }
}

/// Opens a new conversation per start, and answers a repeated `idempotencyKey` with the
/// conversation it opened, as the contract says.
#[derive(Default)]
struct StartEndpoint {
    opened: std::sync::Mutex<HashMap<String, String>>,
}

impl Respond for StartEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let fresh = || uuid::Uuid::new_v4().to_string();
        let id = match body["idempotencyKey"].as_str() {
            Some(key) => self
                .opened
                .lock()
                .unwrap()
                .entry(key.to_owned())
                .or_insert_with(fresh)
                .clone(),
            None => fresh(),
        };
        ResponseTemplate::new(200).set_body_json(json!({ "conversationId": id }))
    }
}

/// Takes a customer's file as Contoso Live Chat does, answering the entry it would store.
struct UploadEndpoint;

impl Respond for UploadEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let id = format!("f-{}", uuid::Uuid::new_v4());
        ResponseTemplate::new(200).set_body_json(json!({
            "id": format!("m-{}", query.get("id").cloned().unwrap_or_default()),
            "attachment": {
                "id": id, "name": query.get("name").cloned().unwrap_or_default(),
                "contentType": "application/octet-stream", "size": request.body.len(),
                "sha256": "", "url": format!("/api/chat/files/{id}"),
            }
        }))
    }
}

/// The peers; they outlive an app restart.
pub struct Peers {
    pub issuer: MockServer,
    pub livechat: MockServer,
    pub copilot: MockServer,
    pub teams: MockServer,
    /// Where customers' files are downloaded from (a Teams file's `downloadUrl`, SharePoint).
    pub downloads: MockServer,
}

impl Peers {
    pub async fn start() -> Self {
        // Bare servers, not wiremock's pool: a pooled server goes on to the next test on the same
        // port, where an app of this test that is still retrying would post into it.
        let peers = Self {
            issuer: MockServer::builder().start().await,
            livechat: MockServer::builder().start().await,
            copilot: MockServer::builder().start().await,
            teams: MockServer::builder().start().await,
            downloads: MockServer::builder().start().await,
        };
        peers.mount_defaults().await;
        peers
    }

    pub async fn mount_defaults(&self) {
        let issuer_uri = self.issuer.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({ "issuer": issuer_uri, "jwks_uri": format!("{issuer_uri}/keys") }),
            ))
            .mount(&self.issuer)
            .await;
        Mock::given(method("GET"))
            .and(path("/keys"))
            .respond_with(ResponseTemplate::new(200).set_body_json(keys().jwks.clone()))
            .mount(&self.issuer)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/[^/]+/oauth2/v2\.0/token$"))
            .respond_with(TokenEndpoint)
            .mount(&self.issuer)
            .await;
        self.mount_livechat_defaults().await;
        for connector in [&self.copilot, &self.teams] {
            Mock::given(method("POST"))
                .and(path_regex(r"^/v3/conversations/[^/]+/activities(/[^/]+)?$"))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!({ "id": "resource-1" })),
                )
                .mount(connector)
                .await;
        }
    }

    /// `server` answers `route` with `status`, ahead of its defaults: every time, or the first
    /// `times` (an outage, a refusal).
    pub async fn refuse(server: &MockServer, route: &str, status: u16, times: Option<u64>) {
        let mock = Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(status))
            .with_priority(1);
        match times {
            Some(times) => mock.up_to_n_times(times).mount(server).await,
            None => mock.mount(server).await,
        }
    }

    /// The live chat's start answers `conversation_id`, but only after `delay` (ahead of its
    /// defaults, which keep answering the other calls).
    pub async fn slow_livechat_start(&self, conversation_id: &str, delay: Duration) {
        Mock::given(method("POST"))
            .and(path("/api/chat/start"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "conversationId": conversation_id }))
                    .set_delay(delay),
            )
            .with_priority(1)
            .mount(&self.livechat)
            .await;
    }

    /// Teams answers sends to `conversation_id` only after `delay` (ahead of its defaults, which
    /// keep answering the other conversations at once).
    pub async fn slow_teams(&self, conversation_id: &str, delay: Duration) {
        Mock::given(method("POST"))
            .and(path(teams_path(conversation_id)))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "id": "resource-1" }))
                    .set_delay(delay),
            )
            .with_priority(1)
            .mount(&self.teams)
            .await;
    }

    pub async fn mount_livechat_defaults(&self) {
        Mock::given(method("POST"))
            .and(path("/api/chat/start"))
            .respond_with(StartEndpoint::default())
            .mount(&self.livechat)
            .await;
        for route in ["/api/chat/receive", "/api/chat/end", "/api/chat/rate"] {
            Mock::given(method("POST"))
                .and(path(route))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
                .mount(&self.livechat)
                .await;
        }
        Mock::given(method("POST"))
            .and(path("/api/chat/attachments"))
            .respond_with(UploadEndpoint)
            .mount(&self.livechat)
            .await;
    }
}

/// Rate windows as (milliseconds, sends).
pub type Windows = Vec<(u64, u32)>;

/// How to configure the app under test.
#[derive(Clone)]
pub struct Options {
    pub authenticated: bool,
    pub webhook_secret: bool,
    pub livechat_timeout_ms: u64,
    pub teams_max_attempts: u32,
    pub livechat_retry_for_secs: u64,
    pub livechat_api_key: Option<&'static str>,
    /// A PostgreSQL URL shared by several apps (the SQLite file in a temporary folder otherwise).
    pub database_url: Option<String>,
    /// The clock the timers go by (the system's when unset); instances and restarts of one test
    /// share it.
    pub clock: Option<Clock>,
    /// `files.max_file_bytes`, `files.transfer_timeout_secs` and `files.max_concurrent_transfers`
    /// when not the defaults.
    pub max_file_bytes: Option<u64>,
    pub transfer_timeout_secs: Option<u64>,
    pub max_transfers: Option<usize>,
    /// More hosts files are fetched from (`SKILL_FILE_HOSTS`), besides loopback's 127.0.0.1.
    pub file_hosts: Option<&'static str>,
    /// The webhook secret before a rotation (`WEBHOOK_SECRET_PREVIOUS`).
    pub previous_webhook_secret: Option<&'static str>,
    /// Teams' windows as (milliseconds, sends) per conversation and per tenant, when not Teams'.
    pub teams_windows: Option<(Windows, Windows)>,
    /// A claim's lease on PostgreSQL (`delivery.claim_lease_ms`), with attempts of at most 1 s
    /// (calls and transfers), when not the defaults.
    pub claim_lease_ms: Option<u64>,
    /// `delivery.poll_interval_ms` (100 ms unless set) and `delivery.max_in_flight`, when not the
    /// defaults.
    pub poll_interval_ms: Option<u64>,
    pub max_in_flight: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            authenticated: true,
            webhook_secret: true,
            livechat_timeout_ms: 2_000,
            teams_max_attempts: 8,
            livechat_retry_for_secs: 3_600,
            livechat_api_key: None,
            database_url: None,
            clock: None,
            max_file_bytes: None,
            transfer_timeout_secs: None,
            max_transfers: None,
            file_hosts: None,
            previous_webhook_secret: None,
            teams_windows: None,
            claim_lease_ms: None,
            poll_interval_ms: None,
            max_in_flight: None,
        }
    }
}

/// A running skill and its peers.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub peers: Arc<Peers>,
    pub data_dir: Arc<TempDir>,
    pub options: Options,
    handle: ApplicationHandle,
    join: JoinHandle<anyhow::Result<()>>,
}

/// The public URL of an authenticated test skill, and of an anonymous one.
pub const PUBLIC_URL: &str = "https://skill.example.com/";
pub const LOCAL_PUBLIC_URL: &str = "http://localhost/";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let peers = Arc::new(Peers::start().await);
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    launch(peers, data_dir, options).await
}

/// An app on existing peers and data (a database prepared by the test).
pub async fn spawn_app_on(peers: Arc<Peers>, data_dir: Arc<TempDir>, options: Options) -> TestApp {
    launch(peers, data_dir, options).await
}

/// A second app on the same peers and database: another instance behind the same load balancer.
pub async fn spawn_another_instance(app: &TestApp) -> TestApp {
    launch(
        app.peers.clone(),
        Arc::new(tempfile::tempdir().unwrap()),
        app.options.clone(),
    )
    .await
}

fn settings_for(peers: &Peers, data_dir: &TempDir, options: &Options) -> Settings {
    let mut environment: HashMap<String, String> = [
        ("SKILL_BIND", "127.0.0.1:0".to_owned()),
        // Anonymous mode is refused a public URL beyond loopback.
        (
            "SKILL_PUBLIC_URL",
            if options.authenticated {
                PUBLIC_URL
            } else {
                LOCAL_PUBLIC_URL
            }
            .to_owned(),
        ),
        ("SKILL_DATA_DIR", data_dir.path().display().to_string()),
        ("LIVECHAT_BASE_URL", peers.livechat.uri()),
        ("SKILL_TRUSTED_HOSTS", "127.0.0.1".to_owned()),
        // The peers' files are on loopback; Microsoft's hosts are allowed anyway.
        ("SKILL_FILE_HOSTS", "127.0.0.1".to_owned()),
        ("AZURE_AUTHORITY_HOST", peers.issuer.uri()),
        (
            "SKILL_OPENID_METADATA_URL",
            format!("{}/.well-known/openid-configuration", peers.issuer.uri()),
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    if options.authenticated {
        for (key, value) in [
            ("SKILL_APP_ID", SKILL_APP_ID),
            ("SKILL_APP_SECRET", "skill-secret"),
            ("SKILL_TENANT_ID", TENANT_ID),
            ("BOT_APP_ID", AGENT_APP_ID),
            ("BOT_APP_SECRET", "bot-secret"),
        ] {
            environment.insert(key.to_owned(), value.to_owned());
        }
        environment.insert(
            "TEAMS_SERVICE_URL".to_owned(),
            format!("{}/", peers.teams.uri()),
        );
        if !options.webhook_secret {
            environment.insert(
                "SKILL_ALLOW_UNSIGNED_WEBHOOKS".to_owned(),
                "true".to_owned(),
            );
        }
    }
    if let Some(url) = &options.database_url {
        environment.insert("SKILL_DATABASE_URL".to_owned(), url.clone());
    }
    if let Some(hosts) = options.file_hosts {
        environment.insert("SKILL_FILE_HOSTS".to_owned(), format!("127.0.0.1, {hosts}"));
    }
    if let Some(key) = options.livechat_api_key {
        environment.insert("LIVECHAT_API_KEY".to_owned(), key.to_owned());
    }
    if options.webhook_secret {
        environment.insert("WEBHOOK_SECRET".to_owned(), WEBHOOK_SECRET.to_owned());
    }
    if let Some(previous) = options.previous_webhook_secret {
        environment.insert("WEBHOOK_SECRET_PREVIOUS".to_owned(), previous.to_owned());
    }
    let mut settings = Settings::load_from(None, &Environment::from_map(environment)).unwrap();
    settings.application.http_workers = 2;
    settings.application.request_deadline_ms = 2_000;
    settings.livechat.timeout_ms = options.livechat_timeout_ms;
    settings.delivery.base_backoff_ms = 50;
    settings.delivery.max_backoff_ms = 2_000;
    settings.delivery.poll_interval_ms = options.poll_interval_ms.unwrap_or(100);
    if let Some(in_flight) = options.max_in_flight {
        settings.delivery.max_in_flight = in_flight;
    }
    settings.delivery.teams_max_attempts = options.teams_max_attempts;
    settings.delivery.livechat_retry_for_secs = options.livechat_retry_for_secs;
    settings.timeouts.tick_ms = 50;
    if let Some(bytes) = options.max_file_bytes {
        settings.files.max_file_bytes = bytes;
    }
    if let Some(seconds) = options.transfer_timeout_secs {
        settings.files.transfer_timeout_secs = seconds;
    }
    if let Some((conversation, tenant)) = &options.teams_windows {
        let windows = |pairs: &[(u64, u32)]| {
            pairs
                .iter()
                .map(|&(window_ms, sends)| WindowSettings { window_ms, sends })
                .collect()
        };
        settings.delivery.teams_conversation_windows = windows(conversation);
        settings.delivery.teams_tenant_windows = windows(tenant);
    }
    if let Some(transfers) = options.max_transfers {
        settings.files.max_concurrent_transfers = transfers;
    }
    if let Some(lease) = options.claim_lease_ms {
        settings.delivery.claim_lease_ms = lease;
        settings.delivery.http_timeout_ms = 1_000;
        settings.files.transfer_timeout_secs = 1;
    }
    settings
}

async fn launch(peers: Arc<Peers>, data_dir: Arc<TempDir>, options: Options) -> TestApp {
    test_support::init_test_logs();
    let settings = settings_for(&peers, &data_dir, &options);
    let clock = options.clock.clone().unwrap_or_default();
    let application = Application::build_with_clock(settings, clock)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    let handle = application.handle();
    let join = tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        peers,
        data_dir,
        options,
        handle,
        join,
    }
}

impl TestApp {
    /// Stops the app (as a deployment would) and starts a new one on the same data and peers.
    pub async fn restart(self) -> TestApp {
        // The old one lets go of the data directory only once it has stopped.
        self.handle.stop().await;
        let _ = self.join.await;
        launch(
            self.peers.clone(),
            self.data_dir.clone(),
            self.options.clone(),
        )
        .await
    }

    pub async fn stop(&self) {
        self.handle.stop().await;
    }

    pub async fn wait_stopped(self) -> Arc<Peers> {
        self.handle.stop().await;
        self.join.await.unwrap().unwrap();
        self.peers
    }

    pub fn service_url(&self) -> String {
        self.peers.copilot.uri()
    }

    /// A Copilot Studio activity for `conversation_id`, as it arrives from Teams.
    pub fn activity(&self, conversation_id: &str, fields: Value) -> Value {
        let mut activity = json!({
            "id": format!("act-{}", uuid::Uuid::new_v4()),
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "serviceUrl": self.service_url(),
            "channelId": "msteams",
            "from": { "id": "29:user-1", "name": "Megan Bowen", "aadObjectId": "aad-user-1" },
            "recipient": { "id": SKILL_APP_ID, "role": "skill" },
            "conversation": { "id": conversation_id, "tenantId": TENANT_ID },
            "locale": "en-US",
            "cci_bot_id": "an-extension-field",
        });
        for (key, value) in fields.as_object().unwrap() {
            activity[key] = value.clone();
        }
        activity
    }

    pub fn start_activity(&self, conversation_id: &str) -> Value {
        self.activity(
            conversation_id,
            json!({ "type": "event", "name": "startConversation" }),
        )
    }

    pub fn message_activity(&self, conversation_id: &str, text: &str) -> Value {
        self.activity(conversation_id, json!({ "type": "message", "text": text }))
    }

    pub fn end_activity(&self, conversation_id: &str) -> Value {
        self.activity(
            conversation_id,
            json!({ "type": "event", "name": "endConversation" }),
        )
    }

    pub async fn post_activity(&self, activity: &Value) -> reqwest::Response {
        self.post_activity_with(activity, Some(format!("Bearer {}", valid_token())))
            .await
    }

    pub async fn post_activity_with(
        &self,
        activity: &Value,
        authorization: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/messages", self.address))
            .json(activity);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        request.send().await.unwrap()
    }

    /// Posts a webhook body, signed when the app has a secret.
    pub async fn post_webhook(&self, body: &Value) -> reqwest::Response {
        self.post_webhook_text(body.to_string()).await
    }

    /// Posts any text as a webhook body, signed when the app has a secret.
    pub async fn post_webhook_text(&self, text: String) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/livechat/messages", self.address))
            .header("Content-Type", "application/json");
        if self.options.webhook_secret {
            let now = chrono::Utc::now().timestamp();
            for (name, value) in
                signature::signature_headers(WEBHOOK_SECRET.as_bytes(), now, text.as_bytes())
                    .unwrap()
            {
                request = request.header(name, value);
            }
        }
        request.body(text).send().await.unwrap()
    }

    pub fn agent_message(livechat_id: &str, id: &str, message: &str) -> Value {
        json!({ "conversationId": livechat_id, "message": message, "sender": "Ann Agent", "timestamp": chrono::Utc::now().to_rfc3339(), "id": id })
    }

    /// Starts a session for `conversation_id` and returns its live-chat id, read from the reply.
    pub async fn start_session(&self, conversation_id: &str) -> String {
        let activity = self.start_activity(conversation_id);
        assert_eq!(self.post_activity(&activity).await.status(), 202);
        let reply = self.reply_to(&activity).await;
        assert_eq!(reply["code"], "completedSuccessfully", "{reply}");
        reply["value"]["liveChatConversationId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits for the skill's reply to `activity` at the Copilot Studio stand-in.
    pub async fn reply_to(&self, activity: &Value) -> Value {
        let path = format!(
            "/v3/conversations/{}/activities/{}",
            activity["conversation"]["id"].as_str().unwrap(),
            activity["id"].as_str().unwrap()
        );
        let request = eventually(&format!("a reply at {path}"), || async {
            requests_to(&self.peers.copilot, &path)
                .await
                .into_iter()
                .next()
        })
        .await;
        serde_json::from_slice(&request.body).unwrap()
    }

    pub async fn get(&self, route: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{route}", self.address))
            .send()
            .await
            .unwrap()
    }
}

/// An agent's texts Teams got in `conversation`, in arrival order, each once: a send Teams refused
/// (429, 503) is followed by its retry, so only a text repeated back to back is left out.
pub async fn agent_texts_in_teams(app: &TestApp, conversation: &str) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for body in bodies_at(&app.peers.teams, &teams_path(conversation)).await {
        if let Some(text) = body["text"]
            .as_str()
            .filter(|text| text.starts_with("**Ann Agent**"))
        {
            if texts.last().map(String::as_str) != Some(text) {
                texts.push(text.to_owned());
            }
        }
    }
    texts
}

/// Requests a peer received at exactly `path` (percent-encoded as sent).
pub async fn requests_to(server: &MockServer, path: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|request| request.url.path() == path)
        .collect()
}

/// JSON bodies a peer received at `path`, in arrival order.
pub async fn bodies_at(server: &MockServer, path: &str) -> Vec<Value> {
    requests_to(server, path)
        .await
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

pub use test_support::eventually;

/// Waits until `server` has received at least `count` requests at `path`, and returns their bodies.
pub async fn wait_for_bodies(server: &MockServer, path: &str, count: usize) -> Vec<Value> {
    eventually(&format!("{count} request(s) at {path}"), || async {
        let bodies = bodies_at(server, path).await;
        (bodies.len() >= count).then_some(bodies)
    })
    .await
}

/// The Teams path a conversation's proactive messages go to.
pub fn teams_path(conversation_id: &str) -> String {
    format!("/v3/conversations/{conversation_id}/activities")
}

pub fn authorization_of(request: &Request) -> String {
    request
        .headers
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The conversation [`assert_silent`] sends its markers through.
pub const MARKER_CONVERSATION: &str = "conv-silence-marker";

/// Asserts that none of `servers` received anything but the markers: a start (through the live
/// chat and back to Copilot Studio) and an agent reply (through Teams) sent after what the test
/// did, and waited for. Whatever the skill would have sent for the earlier requests was stored
/// (or refused) before they were answered, so it would have gone out ahead of the markers.
pub async fn assert_silent(app: &TestApp, servers: &[&MockServer], what: &str) {
    let livechat_id = app.start_session(MARKER_CONVERSATION).await;
    let reply = TestApp::agent_message(&livechat_id, "silence-marker", "marker");
    assert_eq!(app.post_webhook(&reply).await.status(), 200);
    wait_for_bodies(&app.peers.teams, &teams_path(MARKER_CONVERSATION), 1).await;
    for server in servers {
        let received = server.received_requests().await.unwrap_or_default();
        let others: Vec<String> = received
            .iter()
            .filter(|request| {
                // The marker's start asks whether an agent is online first; that names nobody.
                let availability = request.url.path() == "/api/chat/availability";
                !availability
                    && !request.url.path().contains(MARKER_CONVERSATION)
                    && !String::from_utf8_lossy(&request.body).contains(MARKER_CONVERSATION)
            })
            .map(|request| request.url.path().to_owned())
            .collect();
        assert!(
            others.is_empty(),
            "{what}: expected nothing but the markers, got {others:?}"
        );
    }
}

/// The texts Teams received in `conversation`, in order, once at least `count` requests arrived.
pub async fn teams_texts(app: &TestApp, conversation: &str, count: usize) -> Vec<String> {
    wait_for_bodies(&app.peers.teams, &teams_path(conversation), count)
        .await
        .iter()
        .filter(|body| body["type"] == "message")
        .map(|body| body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}
