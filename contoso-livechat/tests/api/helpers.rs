//! `spawn_app()`, the fake webhook, and a signed-in agent client.

use std::collections::HashMap;
use std::sync::Arc;

use contoso_livechat::configuration::Settings;
use contoso_livechat::startup::{Application, ApplicationHandle};
pub use livechat_contract::webhook::WEBHOOK_PATH;
use serde_json::{json, Value};
use service_support::clock::Clock;
use service_support::settings::Environment;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const AGENT_NAME: &str = "Ann";
pub const AGENT_PASSWORD: &str = "ann-password";
pub const API_KEY: &str = "test-api-key";
pub const PREVIOUS_API_KEY: &str = "the-api-key-before-the-rotation";
/// The second agent, with `Options::second_agent`.
pub const SECOND_AGENT: &str = "Ben";
pub const SECOND_PASSWORD: &str = "ben-password";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";
/// The supervisor, with `Options::supervisor`.
pub const SUPERVISOR: &str = "Sue";
pub const SUPERVISOR_PASSWORD: &str = "sue-password";

/// A change a test makes to the settings.
pub type SettingsChange = Arc<dyn Fn(&mut Settings) + Send + Sync>;

#[derive(Clone, Default)]
pub struct Options {
    pub api_key: bool,
    pub webhook_secret: bool,
    pub max_attempts: Option<u32>,
    /// Ben may sign in too.
    pub second_agent: bool,
    /// Sue, a supervisor, may sign in too.
    pub supervisor: bool,
    /// `routing.assignment = "auto"`.
    pub auto_assign: bool,
    /// The clock the queue's updates, presence and typing go by: the system's unless a test
    /// stops it (and moves it).
    pub clock: Option<Clock>,
    /// `files.max_file_bytes` and `files.max_total_bytes`, when not the defaults.
    pub max_file_bytes: Option<u64>,
    pub max_total_bytes: Option<u64>,
    /// `files.clamd`: the malware scan's daemon.
    pub clamd: Option<String>,
    /// With `api_key`: the key before a rotation is accepted too ([`PREVIOUS_API_KEY`]).
    pub previous_api_key: bool,
    /// `application.client_ip_header`: a trusted proxy names the client.
    pub client_ip_header: Option<&'static str>,
    /// Any other settings, changed last.
    pub settings: Option<SettingsChange>,
}

impl Options {
    /// These options with `change` made to the settings last.
    pub fn with_settings(self, change: impl Fn(&mut Settings) + Send + Sync + 'static) -> Self {
        Self {
            settings: Some(Arc::new(change)),
            ..self
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub api: reqwest::Client,
    pub webhook: Arc<MockServer>,
    pub data_dir: Arc<TempDir>,
    pub options: Options,
    handle: ApplicationHandle,
    join: JoinHandle<anyhow::Result<()>>,
}

pub async fn mount_webhook_ok(webhook: &MockServer) {
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "accepted"})))
        .mount(webhook)
        .await;
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let webhook = Arc::new(MockServer::builder().start().await);
    mount_webhook_ok(&webhook).await;
    launch(webhook, Arc::new(tempfile::tempdir().unwrap()), options).await
}

/// An app calling an existing fake webhook (its answers mounted by the test).
pub async fn spawn_app_on(webhook: Arc<MockServer>, options: Options) -> TestApp {
    launch(webhook, Arc::new(tempfile::tempdir().unwrap()), options).await
}

async fn launch(webhook: Arc<MockServer>, data_dir: Arc<TempDir>, options: Options) -> TestApp {
    test_support::init_test_logs();
    let mut environment: HashMap<String, String> = [
        ("LIVECHAT_BIND", "127.0.0.1:0".to_owned()),
        ("LIVECHAT_DATA_DIR", data_dir.path().display().to_string()),
        (
            "LIVECHAT_WEBHOOK_URL",
            format!("{}{WEBHOOK_PATH}", webhook.uri()),
        ),
        ("LIVECHAT_AGENT_NAME", AGENT_NAME.to_owned()),
        ("LIVECHAT_AGENT_PASSWORD", AGENT_PASSWORD.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if options.api_key {
        environment.insert("LIVECHAT_API_KEY".into(), API_KEY.into());
    }
    if options.webhook_secret {
        environment.insert("WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into());
    }
    if options.previous_api_key {
        environment.insert("LIVECHAT_API_KEY_PREVIOUS".into(), PREVIOUS_API_KEY.into());
    }
    if let Some(header) = options.client_ip_header {
        environment.insert("LIVECHAT_CLIENT_IP_HEADER".into(), header.into());
    }
    let mut settings = Settings::load_from(None, &Environment::from_map(environment)).unwrap();
    settings.application.http_workers = 2;
    settings.application.request_deadline_ms = 1_500;
    settings.webhook.base_backoff_ms = 50;
    settings.webhook.max_backoff_ms = 500;
    settings.webhook.poll_interval_ms = 100;
    if let Some(attempts) = options.max_attempts {
        settings.webhook.max_attempts = attempts;
    }
    if options.second_agent {
        settings
            .agents
            .push(contoso_livechat::configuration::AgentSettings {
                username: SECOND_AGENT.into(),
                display_name: SECOND_AGENT.into(),
                password_hash: contoso_livechat::password::hash_password(SECOND_PASSWORD).unwrap(),
                capacity: None,
                role: contoso_livechat::configuration::AgentRole::Agent,
            });
    }
    if options.supervisor {
        settings
            .agents
            .push(contoso_livechat::configuration::AgentSettings {
                username: SUPERVISOR.into(),
                display_name: SUPERVISOR.into(),
                password_hash: contoso_livechat::password::hash_password(SUPERVISOR_PASSWORD)
                    .unwrap(),
                capacity: None,
                role: contoso_livechat::configuration::AgentRole::Supervisor,
            });
    }
    if options.auto_assign {
        settings.routing.assignment = contoso_livechat::configuration::Assignment::Auto;
    }
    settings.routing.tick_ms = 50;
    settings.files.janitor_interval_ms = 50;
    if let Some(bytes) = options.max_file_bytes {
        settings.files.max_file_bytes = bytes;
    }
    if let Some(bytes) = options.max_total_bytes {
        settings.files.max_total_bytes = bytes;
    }
    settings.files.clamd = options.clamd.clone();
    if let Some(change) = &options.settings {
        change(&mut settings);
    }
    let clock = options.clock.clone().unwrap_or_else(Clock::system);
    let application = Application::build_with_clock(settings, clock)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    let handle = application.handle();
    let join = tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        api: reqwest::Client::new(),
        webhook,
        data_dir,
        options,
        handle,
        join,
    }
}

impl TestApp {
    pub async fn restart(self) -> TestApp {
        let options = self.options.clone();
        self.restart_with(options).await
    }

    /// Stops the app, keeping its data (and its fake webhook).
    pub async fn stop(self) -> (Arc<TempDir>, Arc<MockServer>) {
        self.handle.stop().await;
        self.join.await.unwrap().unwrap();
        (self.data_dir, self.webhook)
    }

    /// Stops the app and starts it again on the same data with other options.
    pub async fn restart_with(self, options: Options) -> TestApp {
        self.handle.stop().await;
        self.join.await.unwrap().unwrap();
        launch(self.webhook.clone(), self.data_dir.clone(), options).await
    }

    fn with_key(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.options.api_key {
            request.bearer_auth(API_KEY)
        } else {
            request
        }
    }

    pub async fn post_api(&self, route: &str, body: &Value) -> reqwest::Response {
        self.with_key(self.api.post(format!("{}{route}", self.address)).json(body))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_api(&self, route: &str) -> reqwest::Response {
        self.with_key(self.api.get(format!("{}{route}", self.address)))
            .send()
            .await
            .unwrap()
    }

    /// Starts a conversation with a handoff context and returns its id.
    pub async fn start_conversation(&self, customer_name: &str) -> String {
        self.start_with(&json!({"customerName": customer_name, "customerId": "aad-1", "channel": "msteams", "tenantId": "tenant-1", "botConversationId": "a:conv-1", "problemDescription": "The printer is on fire"})).await
    }

    /// Starts a conversation with this body and returns its id.
    pub async fn start_with(&self, body: &Value) -> String {
        self.start_answer(body).await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Starts a conversation with this body and returns the whole answer.
    pub async fn start_answer(&self, body: &Value) -> Value {
        let response = self.post_api("/api/chat/start", body).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    }

    /// `GET /api/chat/availability`.
    pub async fn availability(&self) -> Value {
        let response = self.get_api("/api/chat/availability").await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn customer_says(&self, conversation_id: &str, message: &str) -> reqwest::Response {
        self.post_api("/api/chat/receive", &json!({"conversationId": conversation_id, "message": message, "sender": "Megan Bowen"})).await
    }

    pub async fn agent_sends(&self, conversation_id: &str, message: &str) -> Value {
        let response = self
            .post_api(
                "/api/chat/send",
                &json!({"conversationId": conversation_id, "message": message, "sender": "Ann"}),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `POST /api/chat/attachments`: a customer's file, as the skill uploads it.
    pub async fn upload(
        &self,
        conversation_id: &str,
        name: &str,
        id: Option<&str>,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let mut query = vec![
            ("conversationId", conversation_id),
            ("name", name),
            ("sender", "Megan Bowen"),
        ];
        if let Some(id) = id {
            query.push(("id", id));
        }
        self.with_key(
            self.api
                .post(format!("{}/api/chat/attachments", self.address))
                .query(&query)
                .header("Content-Type", "application/octet-stream")
                .body(bytes),
        )
        .send()
        .await
        .unwrap()
    }

    /// `GET /api/chat/conversations`.
    pub async fn conversations(&self) -> Vec<Value> {
        self.get_api("/api/chat/conversations")
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn transcript(&self, conversation_id: &str) -> Vec<Value> {
        self.get_api(&format!(
            "/api/chat/messages?conversationId={conversation_id}"
        ))
        .await
        .json()
        .await
        .unwrap()
    }

    /// A browser-like client, signed in as the test agent.
    /// The sign-in page's CSRF token, for `client`'s session.
    pub async fn sign_in_csrf(&self, client: &reqwest::Client) -> String {
        csrf_in(&test_support::page(client, &format!("{}/signin", self.address)).await)
    }

    /// Submits the sign-in form as the test agent with `password`.
    pub async fn submit_sign_in(
        &self,
        client: &reqwest::Client,
        csrf: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(format!("{}/signin", self.address))
            .form(&[
                ("username", AGENT_NAME),
                ("password", password),
                ("csrf_token", csrf),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn signed_in_agent(&self) -> AgentClient {
        self.signed_in_as(AGENT_NAME, AGENT_PASSWORD).await
    }

    /// A browser-like client, signed in as `username`.
    pub async fn signed_in_as(&self, username: &str, password: &str) -> AgentClient {
        let client = browser(Arc::new(reqwest::cookie::Jar::default()));
        let csrf = test_support::sign_in(&client, &self.address, username, password).await;
        AgentClient {
            client,
            address: self.address.clone(),
            csrf,
        }
    }
}

/// A client that keeps cookies in `jar` and does not follow redirects, as a browser's page sees.
pub fn browser(jar: Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub use test_support::csrf_in;

pub struct AgentClient {
    pub client: reqwest::Client,
    pub address: String,
    pub csrf: String,
}

impl AgentClient {
    pub async fn get(&self, route: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{route}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// Accepts a waiting conversation from the page, as the Accept button does.
    pub async fn accept(&self, conversation_id: &str) {
        let response = self
            .post_form(
                &format!("/agent/conversations/{conversation_id}/accept"),
                &[("csrf_token", self.csrf.as_str())],
            )
            .await;
        assert_eq!(response.status(), 303, "accept");
    }

    /// Posts an action's form (with the CSRF token) to a conversation's `action` route.
    pub async fn act(
        &self,
        conversation_id: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", self.csrf.as_str()));
        self.post_form(
            &format!("/agent/conversations/{conversation_id}/{action}"),
            &fields,
        )
        .await
    }

    /// Sets this agent's capacity from the header; answers the response.
    pub async fn set_capacity(&self, capacity: &str) -> reqwest::Response {
        self.post_form(
            "/agent/capacity",
            &[("capacity", capacity), ("csrf_token", self.csrf.as_str())],
        )
        .await
    }

    /// Sets this agent's presence from the header; answers the response.
    pub async fn set_presence(&self, presence: &str) -> reqwest::Response {
        self.post_form(
            "/agent/presence",
            &[("presence", presence), ("csrf_token", self.csrf.as_str())],
        )
        .await
    }

    /// Posts a reply from the page's form; answers the response.
    pub async fn reply(&self, conversation_id: &str, message: &str) -> reqwest::Response {
        self.post_form(
            &format!("/agent/conversations/{conversation_id}/messages"),
            &[("message", message), ("csrf_token", self.csrf.as_str())],
        )
        .await
    }

    /// Posts a reply with a file from the page's form (`multipart/form-data`, the CSRF token first,
    /// as the page sends it without JavaScript); answers the response.
    pub async fn reply_with_file(
        &self,
        conversation_id: &str,
        message: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let form = test_support::files::reply_form(&self.csrf, message, name, bytes);
        self.client
            .post(format!(
                "{}/agent/conversations/{conversation_id}/messages",
                self.address
            ))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, route: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{route}", self.address))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

pub use test_support::eventually;

/// Every webhook body so far, in the order received.
pub async fn all_webhook_bodies(webhook: &MockServer) -> Vec<Value> {
    webhook
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path() == WEBHOOK_PATH)
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

/// Waits until the webhook received at least `count` outbox events (typing indicators, which
/// go around the outbox, are left out); returns every one so far.
pub async fn webhook_bodies(webhook: &MockServer, count: usize) -> Vec<Value> {
    eventually(&format!("{count} webhook call(s)"), || async {
        let bodies: Vec<Value> = all_webhook_bodies(webhook)
            .await
            .into_iter()
            .filter(|body| body["type"] != "typing")
            .collect();
        (bodies.len() >= count).then_some(bodies)
    })
    .await
}

/// Waits until the webhook received at least `count` typing indicators; returns them.
pub async fn typing_bodies(webhook: &MockServer, count: usize) -> Vec<Value> {
    eventually(&format!("{count} typing indicator(s)"), || async {
        let bodies: Vec<Value> = all_webhook_bodies(webhook)
            .await
            .into_iter()
            .filter(|body| body["type"] == "typing")
            .collect();
        (bodies.len() >= count).then_some(bodies)
    })
    .await
}
