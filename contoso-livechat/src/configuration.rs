//! Typed settings: built-in defaults, then an optional TOML file, then environment variables
//! (`service_support::settings` does the layering, the same way for both services).
//!
//! Nothing needs to be set to run locally: the app binds `127.0.0.1:5000`, calls the skill's webhook
//! on `http://localhost:5001` (with the contract's path), and signs agents in with the default
//! agent it prints at start-up. Every key is documented in
//! `contoso-livechat/configuration/livechat.toml`.
//! Settings keep what they parsed (the address and the URL as such) and build what they describe:
//! the listener, the webhook's client and retry rule, the agents, so `startup.rs` only wires.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use livechat_contract::retry::Backoff;
use livechat_contract::webhook::WEBHOOK_PATH;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_support::settings::{Environment, Layered};
use url::Url;

use crate::files::scan::{Clamd, Scanner};
use crate::files::{FileLimits, FileStore};

/// The file read when `LIVECHAT_CONFIG` is not set, relative to the working directory; optional.
pub const DEFAULT_CONFIG_FILE: &str = "contoso-livechat/configuration/livechat.toml";

/// The most conversations one agent may have at once.
pub const MAX_CAPACITY: u32 = 50;

/// The agent used when none is configured, for local runs only; printed at start-up.
pub const DEFAULT_AGENT_USERNAME: &str = "alex";
pub const DEFAULT_AGENT_PASSWORD: &str = "contoso-demo";
pub const DEFAULT_AGENT_DISPLAY_NAME: &str = "Alex";

/// All settings of the live-chat app.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub application: ApplicationSettings,
    pub api: ApiSettings,
    pub webhook: WebhookSettings,
    /// The queue, presence and assignment.
    pub routing: RoutingSettings,
    /// The agent's typing indicator, relayed to the customer.
    pub typing: TypingSettings,
    /// Agents who may sign in.
    pub agents: Vec<AgentSettings>,
    /// Prepared replies agents insert with `/name` in the reply box.
    pub canned_replies: Vec<CannedReply>,
    /// Files customers and agents send.
    pub files: FilesSettings,
    /// Sensitive data masked before any text is stored or shown: the same `[masking]` rules as the
    /// skill's (`service_support::masking`).
    pub masking: service_support::masking::MaskingSettings,
    /// Business hours (24/7 unless given).
    pub hours: crate::hours::HoursSettings,
    /// How long ended conversations are kept.
    pub privacy: PrivacySettings,
    /// The agent's wrap-up of an ended conversation.
    pub wrap_up: WrapUpSettings,
}

/// A disposition an agent picks when wrapping up.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    /// Stored and exported: letters, digits and `-`.
    pub code: String,
    /// Shown to agents.
    pub label: String,
}

/// Wrap-up: the dispositions, and whether the agent's slot waits for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WrapUpSettings {
    pub dispositions: Vec<Disposition>,
    /// The agent's capacity slot stays taken after an end until the wrap-up is done or
    /// `timeout_secs` passes (then `timeout` is recorded).
    pub required: bool,
    pub timeout_secs: u64,
}

impl Default for WrapUpSettings {
    fn default() -> Self {
        let disposition = |code: &str, label: &str| Disposition {
            code: code.to_owned(),
            label: label.to_owned(),
        };
        Self {
            dispositions: vec![
                disposition("resolved", "Resolved"),
                disposition("follow-up", "Needs a follow-up"),
                disposition("escalated", "Escalated"),
                disposition("spam", "Spam or abuse"),
            ],
            required: false,
            timeout_secs: 120,
        }
    }
}

impl WrapUpSettings {
    /// How long a slot waits for a wrap-up, when one is required.
    pub fn required_within(&self) -> Option<Duration> {
        self.required
            .then(|| Duration::from_secs(self.timeout_secs))
    }

    /// The label of `code`, if it is one of the list (or the time-out's).
    pub fn label_of(&self, code: &str) -> Option<String> {
        if code == crate::store::WRAP_UP_TIMEOUT {
            return Some("No wrap-up in time".into());
        }
        self.dispositions
            .iter()
            .find(|disposition| disposition.code == code)
            .map(|disposition| disposition.label.clone())
    }
}

/// The rules around the data.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// Days an ended conversation (its transcript, notes, rating and files) is kept; 0 keeps them.
    pub retention_days: u32,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

impl PrivacySettings {
    /// How long an ended conversation is kept, if not forever.
    pub fn retention(&self) -> Option<Duration> {
        (self.retention_days > 0)
            .then(|| Duration::from_secs(u64::from(self.retention_days) * 86_400))
    }
}

/// Files customers and agents send: how large, which kinds, how much is kept and for how long,
/// and the optional malware scan.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesSettings {
    /// The largest file, in bytes (413 beyond).
    pub max_file_bytes: u64,
    /// All kept files together at most, in bytes (`LIVECHAT_FILES_MAX_TOTAL_BYTES`); a file beyond
    /// is refused (507) and its sender told.
    pub max_total_bytes: u64,
    /// The kinds taken, as media types, told by the files' first bytes (415 for others).
    pub allowed_types: Vec<String>,
    /// Days the files of an ended conversation are kept; 0 keeps them.
    pub retention_days: u32,
    /// How often the files of long-ended conversations (and bytes nothing refers to) are looked
    /// for, in milliseconds.
    pub janitor_interval_ms: u64,
    /// How long an upload's body may take to arrive, in milliseconds (408 beyond).
    pub upload_deadline_ms: u64,
    /// The ClamAV daemon every file is scanned by before anyone sees it (`LIVECHAT_CLAMD`):
    /// `tcp://host:port` or `unix:/path/to/clamd.ctl`; unset means no scan.
    pub clamd: Option<String>,
    /// How long one scan may take, in milliseconds.
    pub scan_timeout_ms: u64,
}

impl Default for FilesSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: service_support::files::DEFAULT_MAX_FILE_BYTES,
            max_total_bytes: 1024 * 1024 * 1024,
            allowed_types: service_support::files::DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|mime| (*mime).to_owned())
                .collect(),
            retention_days: 30,
            janitor_interval_ms: 3_600_000,
            upload_deadline_ms: 120_000,
            clamd: None,
            scan_timeout_ms: 30_000,
        }
    }
}

impl FilesSettings {
    /// The files folder in `data_dir`, with these limits and scan.
    pub fn file_store(&self, data_dir: &Path) -> anyhow::Result<FileStore> {
        let scanner = match &self.clamd {
            Some(address) => Some(Scanner {
                clamd: Clamd::parse(address)
                    .map_err(|error| anyhow::anyhow!("LIVECHAT_CLAMD / files.clamd: {error}"))?,
                timeout: Duration::from_millis(self.scan_timeout_ms),
            }),
            None => None,
        };
        FileStore::open(
            &data_dir.join("files"),
            FileLimits {
                max_file_bytes: self.max_file_bytes,
                allowed_types: self.allowed_types.iter().cloned().collect(),
                space: self.max_total_bytes,
            },
            scanner,
        )
    }

    pub fn janitor_interval(&self) -> Duration {
        Duration::from_millis(self.janitor_interval_ms)
    }

    pub fn upload_deadline(&self) -> Duration {
        Duration::from_millis(self.upload_deadline_ms)
    }

    /// How long the files of an ended conversation are kept, if not forever.
    pub fn retention(&self) -> Option<Duration> {
        (self.retention_days > 0)
            .then(|| Duration::from_secs(u64::from(self.retention_days) * 86_400))
    }
}

/// Who takes a new conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Assignment {
    /// It waits in the queue until an agent accepts it.
    #[default]
    Manual,
    /// The live chat gives it to the online agent with the most free capacity (it waits in the
    /// queue while nobody has room).
    Auto,
}

/// The queue, presence and assignment.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    pub assignment: Assignment,
    /// Conversations an agent has at once, unless their `[[agents]]` entry says otherwise.
    pub default_capacity: u32,
    /// The least time between two queue updates to one customer, in milliseconds.
    pub queue_update_interval_ms: u64,
    /// How long an agent stays online after their last page closed, in milliseconds.
    pub offline_after_ms: u64,
    /// How often the queue is looked at (updates, automatic assignment, presence), in milliseconds.
    pub tick_ms: u64,
    /// How long a customer's message may wait for an agent's answer, in seconds: the supervisor's
    /// view flags a conversation past it, and the dashboard measures first responses against it.
    pub first_response_target_secs: u64,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            assignment: Assignment::Manual,
            default_capacity: 3,
            queue_update_interval_ms: 30_000,
            offline_after_ms: 60_000,
            tick_ms: 1_000,
            first_response_target_secs: 120,
        }
    }
}

/// The typing indicator.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TypingSettings {
    /// The least time between two typing events of one conversation, in milliseconds.
    pub min_interval_ms: u64,
    /// A typing event not delivered within this many milliseconds is dropped.
    pub max_delay_ms: u64,
}

impl Default for TypingSettings {
    fn default() -> Self {
        Self {
            min_interval_ms: 3_000,
            max_delay_ms: livechat_contract::webhook::TYPING_MAX_DELAY_SECS as u64 * 1_000,
        }
    }
}

/// A prepared reply.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CannedReply {
    /// Typed after `/` to insert it: letters, digits and `-`.
    pub name: String,
    pub text: String,
}

/// The prepared replies when the configuration names none.
pub fn default_canned_replies() -> Vec<CannedReply> {
    [
        (
            "hello",
            "Hello, thanks for waiting. How can I help you today?",
        ),
        ("moment", "Give me a moment while I look into this for you."),
        (
            "anything-else",
            "Is there anything else I can help you with?",
        ),
        ("bye", "Thanks for contacting Contoso. Have a great day!"),
    ]
    .into_iter()
    .map(|(name, text)| CannedReply {
        name: name.to_owned(),
        text: text.to_owned(),
    })
    .collect()
}

/// Where the app listens and keeps its state.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApplicationSettings {
    /// `host:port` (`LIVECHAT_BIND`).
    pub bind: SocketAddr,
    /// Folder of the SQLite database (`LIVECHAT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// Key of the session cookie, at least 64 characters (`LIVECHAT_SESSION_KEY`); unset means a
    /// random key per start, so agents sign in again after a restart.
    pub session_key: Option<SecretString>,
    /// Mark the session cookie `Secure` (served over https); unset means yes beyond loopback or
    /// with an https `public_url`, no on loopback.
    pub secure_cookies: Option<bool>,
    /// How long a request's headers, and then its body, may take to arrive, in milliseconds;
    /// a slower client is answered 408 and cut off.
    pub request_deadline_ms: u64,
    /// The URL agents open (`LIVECHAT_PUBLIC_URL`), behind a proxy or a tunnel; its host is served.
    pub public_url: Option<Url>,
    /// Hosts requests may name besides loopback, `public_url`'s host and the bind address
    /// (`LIVECHAT_ALLOWED_HOSTS`: `host`, `*.suffix`, or `*`); any other `Host` is answered 421.
    pub allowed_hosts: Vec<String>,
    /// The request header a trusted proxy in front puts the client's address in
    /// (`LIVECHAT_CLIENT_IP_HEADER`, e.g. `X-Forwarded-For`: its last entry is taken); unset means
    /// the connection's own address. Sign-in throttling counts clients by it.
    pub client_ip_header: Option<String>,
    /// The folder of the pages' static files (`LIVECHAT_STATIC_DIR`); unset means `static` next
    /// to the binary, else the source tree's (`cargo run`).
    pub static_dir: Option<PathBuf>,
}

impl Default for ApplicationSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("data/livechat"),
            http_workers: 0,
            session_key: None,
            secure_cookies: None,
            request_deadline_ms: 10_000,
            public_url: None,
            allowed_hosts: Vec::new(),
            client_ip_header: None,
            static_dir: None,
        }
    }
}

/// The session API the skill calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Bearer key every `/api/chat/*` call must carry (`LIVECHAT_API_KEY`); unset leaves the API open.
    pub key: Option<SecretString>,
    /// The key before a rotation (`LIVECHAT_API_KEY_PREVIOUS`), accepted as well until removed.
    pub previous_key: Option<SecretString>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest message, in characters.
    pub max_message_chars: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            key: None,
            previous_key: None,
            max_body_bytes: 64 * 1024,
            max_message_chars: livechat_contract::api::MAX_MESSAGE_CHARS,
        }
    }
}

/// Delivery of agent replies to the skill's webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The skill's webhook (`LIVECHAT_WEBHOOK_URL`).
    pub url: Url,
    /// Shared secret of the signature (`WEBHOOK_SECRET`); unset sends unsigned webhooks.
    pub secret: Option<SecretString>,
    /// Attempts before a reply is marked failed (the agent can retry it).
    pub max_attempts: u32,
    /// First retry delay, doubled per attempt with ±20 % jitter, in milliseconds.
    pub base_backoff_ms: u64,
    /// Longest retry delay, in milliseconds.
    pub max_backoff_ms: u64,
    /// Time limit of one webhook call, in milliseconds.
    pub timeout_ms: u64,
    /// How often the worker looks for due replies when nothing wakes it, in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: default_webhook_url(),
            secret: None,
            max_attempts: 12,
            base_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
            timeout_ms: 5_000,
            poll_interval_ms: 1_000,
        }
    }
}

/// The skill's webhook on its default local port, at the contract's path.
#[allow(clippy::expect_used)] // A constant URL; a typo fails every test.
fn default_webhook_url() -> Url {
    Url::parse(&format!("http://localhost:5001{WEBHOOK_PATH}"))
        .expect("the default webhook URL parses")
}

impl WebhookSettings {
    /// The backoff between attempts: the live-chat link's, the contract's.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.base_backoff_ms),
            max: Duration::from_millis(self.max_backoff_ms),
        }
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The client of the webhook calls: redirects are never followed.
    pub fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("contoso-livechat/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the webhook's HTTP client")
    }
}

impl ApplicationSettings {
    /// The listener on `bind`.
    pub fn listener(&self) -> anyhow::Result<TcpListener> {
        service_support::settings::listen(self.bind, "LIVECHAT_BIND")
    }

    /// HTTP worker threads: as set, or one per core.
    pub fn http_workers(&self) -> usize {
        service_support::settings::http_workers(self.http_workers)
    }

    /// How long a request's headers, and then its body, may take to arrive.
    pub fn request_deadline(&self) -> Duration {
        Duration::from_millis(self.request_deadline_ms)
    }

    /// Whether the sign-in cookie is `Secure`: as set, else beyond loopback or behind https.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies.unwrap_or_else(|| {
            !self.bind.ip().is_loopback()
                || self
                    .public_url
                    .as_ref()
                    .is_some_and(|url| url.scheme() == "https")
        })
    }

    /// The `Host` values answered: loopback, the public URL's host, the bind address, the list.
    pub fn allowed_hosts(&self) -> service_support::hosts::AllowedHosts {
        service_support::hosts::AllowedHosts::new(
            self.bind,
            self.public_url.as_ref(),
            &self.allowed_hosts,
        )
    }

    /// The folder of the static files: as set, else `static` next to the binary, else the
    /// source tree's.
    pub fn static_dir(&self) -> PathBuf {
        if let Some(folder) = &self.static_dir {
            return folder.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|folder| folder.join("static")))
            .filter(|folder| folder.join("app.css").is_file())
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")))
    }

    /// The key of the sign-in cookie: the configured one, or a random one per start.
    pub fn session_key(&self) -> actix_web::cookie::Key {
        match &self.session_key {
            Some(key) => actix_web::cookie::Key::derive_from(key.expose_secret().as_bytes()),
            None => actix_web::cookie::Key::generate(),
        }
    }
}

/// An agent who may sign in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    pub username: String,
    /// Shown to customers as the sender of the agent's replies.
    pub display_name: String,
    /// An argon2 PHC string, from `cargo run -p contoso-livechat -- hash-password`.
    pub password_hash: String,
    /// Conversations at once; unset takes `routing.default_capacity`. The agent can change it in
    /// the page header.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// `agent` (the default) or `supervisor`, who is an agent too and may also whisper, take
    /// over, reassign and force-close any conversation.
    #[serde(default)]
    pub role: AgentRole,
}

/// What an agent may do beyond answering customers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    #[default]
    Agent,
    Supervisor,
}

/// Who may sign in.
#[derive(Debug, Clone)]
pub enum AgentRoster {
    /// The agents of the settings.
    Configured(Vec<AgentSettings>),
    /// None are configured: the built-in local agent ([`DEFAULT_AGENT_USERNAME`]).
    DefaultLocal(AgentSettings),
}

impl AgentRoster {
    pub fn agents(&self) -> Vec<AgentSettings> {
        match self {
            AgentRoster::Configured(agents) => agents.clone(),
            AgentRoster::DefaultLocal(agent) => vec![agent.clone()],
        }
    }
}

impl Settings {
    /// Loads the file named by `LIVECHAT_CONFIG` (else [`DEFAULT_CONFIG_FILE`] if it exists), then
    /// the process environment.
    pub fn load() -> anyhow::Result<Settings> {
        service_support::settings::load()
    }

    /// Loads settings from an optional file and an explicit environment (tests pass their own).
    pub fn load_from(file: Option<&Path>, environment: &Environment) -> anyhow::Result<Settings> {
        service_support::settings::load_from(file, environment)
    }

    /// The masking rules, compiled; a rule that cannot be used is named.
    pub fn masker(&self) -> anyhow::Result<service_support::masking::Masker> {
        service_support::masking::Masker::new(&self.masking)
            .map_err(|error| anyhow::anyhow!("masking.rules: {error}"))
    }

    /// The business hours, checked; a bad one is named.
    pub fn business_hours(&self) -> anyhow::Result<crate::hours::BusinessHours> {
        crate::hours::BusinessHours::new(&self.hours).map_err(anyhow::Error::msg)
    }

    /// The canned replies: the configured ones, or a few general ones.
    pub fn canned_replies(&self) -> Vec<CannedReply> {
        if self.canned_replies.is_empty() {
            default_canned_replies()
        } else {
            self.canned_replies.clone()
        }
    }

    /// The configured agents, or the default local agent when there are none.
    pub fn effective_agents(&self) -> anyhow::Result<AgentRoster> {
        if !self.agents.is_empty() {
            return Ok(AgentRoster::Configured(self.agents.clone()));
        }
        let password_hash = crate::password::hash_password(DEFAULT_AGENT_PASSWORD)?;
        Ok(AgentRoster::DefaultLocal(AgentSettings {
            username: DEFAULT_AGENT_USERNAME.into(),
            display_name: DEFAULT_AGENT_DISPLAY_NAME.into(),
            password_hash,
            capacity: None,
            // The only local agent may do everything, to try the supervisor's view too.
            role: AgentRole::Supervisor,
        }))
    }
}

impl Layered for Settings {
    const FILE_VARIABLE: &'static str = "LIVECHAT_CONFIG";
    const DEFAULT_FILE: &'static str = DEFAULT_CONFIG_FILE;

    fn apply_environment(&mut self, environment: &Environment) -> anyhow::Result<()> {
        if let Some(bind) = environment.parsed("LIVECHAT_BIND", "host:port, e.g. 127.0.0.1:5000")? {
            self.application.bind = bind;
        }
        if let Some(value) = environment.get("LIVECHAT_DATA_DIR") {
            self.application.data_dir = PathBuf::from(value);
        }
        if let Some(value) = environment.secret("LIVECHAT_SESSION_KEY") {
            self.application.session_key = Some(value);
        }
        if let Some(url) = environment.parsed("LIVECHAT_WEBHOOK_URL", "a URL")? {
            self.webhook.url = url;
        }
        if let Some(value) = environment.secret("WEBHOOK_SECRET") {
            self.webhook.secret = Some(value);
        }
        if let Some(value) = environment.secret("LIVECHAT_API_KEY") {
            self.api.key = Some(value);
        }
        if let Some(value) = environment.secret("LIVECHAT_API_KEY_PREVIOUS") {
            self.api.previous_key = Some(value);
        }
        if let Some(url) = environment.parsed("LIVECHAT_PUBLIC_URL", "a URL")? {
            self.application.public_url = Some(url);
        }
        if let Some(value) = environment.list("LIVECHAT_ALLOWED_HOSTS") {
            self.application.allowed_hosts = value;
        }
        if let Some(value) = environment.get("LIVECHAT_CLIENT_IP_HEADER") {
            self.application.client_ip_header = Some(value);
        }
        if let Some(value) = environment.get("LIVECHAT_STATIC_DIR") {
            self.application.static_dir = Some(PathBuf::from(value));
        }
        if let Some(value) = environment.get("LIVECHAT_CLAMD") {
            self.files.clamd = Some(value);
        }
        if let Some(bytes) =
            environment.parsed("LIVECHAT_FILES_MAX_TOTAL_BYTES", "a number of bytes")?
        {
            self.files.max_total_bytes = bytes;
        }
        match (
            environment.get("LIVECHAT_AGENT_NAME"),
            environment.get("LIVECHAT_AGENT_PASSWORD"),
        ) {
            (Some(name), Some(password)) => {
                let password_hash = crate::password::hash_password(&password)
                    .context("LIVECHAT_AGENT_PASSWORD: cannot hash the password")?;
                self.agents
                    .retain(|agent| !agent.username.eq_ignore_ascii_case(&name));
                self.agents.push(AgentSettings {
                    username: name.clone(),
                    display_name: name,
                    password_hash,
                    capacity: None,
                    role: AgentRole::Agent,
                });
            }
            (Some(_), None) => {
                bail!("LIVECHAT_AGENT_PASSWORD is required with LIVECHAT_AGENT_NAME")
            }
            (None, Some(_)) => {
                bail!("LIVECHAT_AGENT_NAME is required with LIVECHAT_AGENT_PASSWORD")
            }
            (None, None) => {}
        }
        Ok(())
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        self.masker()?;
        self.business_hours()?;
        let bind = self.application.bind;
        // Beyond loopback the demo agent and an open session API would let anyone in.
        if !bind.ip().is_loopback() {
            if self.agents.is_empty() {
                bail!("LIVECHAT_BIND / application.bind is {bind}, beyond loopback: configure at least one agent (LIVECHAT_AGENT_NAME and LIVECHAT_AGENT_PASSWORD, or [[agents]]); the built-in default agent is for loopback only");
            }
            if self.api.key.is_none() {
                bail!("LIVECHAT_BIND / application.bind is {bind}, beyond loopback: set LIVECHAT_API_KEY, so that only the skill can use /api/chat/*");
            }
        }
        for pattern in &self.application.allowed_hosts {
            service_support::hosts::check_pattern(
                "LIVECHAT_ALLOWED_HOSTS / application.allowed_hosts",
                pattern,
            )?;
        }
        if let Some(url) = &self.application.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                bail!("LIVECHAT_PUBLIC_URL / application.public_url: '{url}' must be an http or https URL");
            }
        }
        if let Some(header) = &self.application.client_ip_header {
            if actix_web::http::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                bail!("LIVECHAT_CLIENT_IP_HEADER / application.client_ip_header: '{header}' is not a header name");
            }
        }
        if let Some(folder) = &self.application.static_dir {
            if !folder.join("app.css").is_file() {
                bail!("LIVECHAT_STATIC_DIR / application.static_dir: {} does not hold the pages' static files (app.css)", folder.display());
            }
        }
        if self.api.previous_key.is_some() && self.api.key.is_none() {
            bail!("LIVECHAT_API_KEY_PREVIOUS / api.previous_key is set without LIVECHAT_API_KEY: set the new key as LIVECHAT_API_KEY and keep the old one as LIVECHAT_API_KEY_PREVIOUS until the skill sends the new one");
        }
        let url = &self.webhook.url;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            bail!(
                "LIVECHAT_WEBHOOK_URL / webhook.url: '{}' must be an http or https URL",
                self.webhook.url
            );
        }
        if self.application.request_deadline_ms == 0 {
            bail!("application.request_deadline_ms must be greater than zero");
        }
        if let Some(key) = &self.application.session_key {
            if key.expose_secret().len() < 64 {
                bail!(
                    "LIVECHAT_SESSION_KEY / application.session_key must be at least 64 characters"
                );
            }
        }
        if self.webhook.max_attempts == 0
            || self.webhook.base_backoff_ms == 0
            || self.webhook.max_backoff_ms < self.webhook.base_backoff_ms
        {
            bail!("webhook.max_attempts and webhook.base_backoff_ms must be positive, and webhook.max_backoff_ms at least webhook.base_backoff_ms");
        }
        if self.webhook.timeout_ms == 0 || self.webhook.poll_interval_ms == 0 {
            bail!("webhook.timeout_ms and webhook.poll_interval_ms must be positive");
        }
        if self.api.max_body_bytes < 1024 || self.api.max_message_chars == 0 {
            bail!("api.max_body_bytes must be at least 1024 and api.max_message_chars positive");
        }
        let routing = &self.routing;
        if routing.queue_update_interval_ms == 0
            || routing.offline_after_ms == 0
            || routing.tick_ms == 0
        {
            bail!("routing.queue_update_interval_ms, routing.offline_after_ms and routing.tick_ms must be positive");
        }
        if routing.default_capacity > MAX_CAPACITY
            || self
                .agents
                .iter()
                .any(|agent| agent.capacity.is_some_and(|c| c > MAX_CAPACITY))
        {
            bail!("routing.default_capacity and agents.capacity must be at most {MAX_CAPACITY}");
        }
        if self.typing.min_interval_ms == 0 || self.typing.max_delay_ms == 0 {
            bail!("typing.min_interval_ms and typing.max_delay_ms must be positive");
        }
        let mut codes = std::collections::HashSet::new();
        for disposition in &self.wrap_up.dispositions {
            let code = &disposition.code;
            let valid = !code.is_empty()
                && code.len() <= 40
                && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid || code == crate::store::WRAP_UP_TIMEOUT {
                bail!("wrap_up.dispositions: the code '{code}' must be 1 to 40 letters, digits or '-', and not 'timeout' (recorded when a required wrap-up is not done in time)");
            }
            if disposition.label.trim().is_empty() {
                bail!("wrap_up.dispositions: the code '{code}' needs a label");
            }
            if !codes.insert(code.to_lowercase()) {
                bail!("wrap_up.dispositions: the code '{code}' is used twice");
            }
        }
        if self.wrap_up.dispositions.is_empty() {
            bail!("wrap_up.dispositions: give at least one disposition");
        }
        if self.wrap_up.required && self.wrap_up.timeout_secs == 0 {
            bail!("wrap_up.timeout_secs must be positive when wrap_up.required is true");
        }
        let mut names = std::collections::HashSet::new();
        for reply in &self.canned_replies {
            let valid = !reply.name.is_empty()
                && reply.name.len() <= 40
                && reply
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                bail!(
                    "canned_replies: the name '{}' must be 1 to 40 letters, digits or '-'",
                    reply.name
                );
            }
            if reply.text.trim().is_empty()
                || reply.text.chars().count() > self.api.max_message_chars
            {
                bail!("canned_replies: the text of '{}' must not be empty nor longer than api.max_message_chars", reply.name);
            }
            if !names.insert(reply.name.to_lowercase()) {
                bail!("canned_replies: the name '{}' is used twice", reply.name);
            }
        }
        let files = &self.files;
        if files.max_file_bytes == 0 || files.max_total_bytes < files.max_file_bytes {
            bail!("files.max_file_bytes must be positive and LIVECHAT_FILES_MAX_TOTAL_BYTES / files.max_total_bytes at least as large");
        }
        if files.upload_deadline_ms == 0
            || files.scan_timeout_ms == 0
            || files.janitor_interval_ms == 0
        {
            bail!("files.upload_deadline_ms, files.scan_timeout_ms and files.janitor_interval_ms must be positive");
        }
        for mime in &files.allowed_types {
            let valid = mime.split_once('/').is_some_and(|(kind, subtype)| {
                !kind.is_empty() && !subtype.is_empty() && !mime.contains(char::is_whitespace)
            });
            if !valid {
                bail!("files.allowed_types: '{mime}' is not a media type such as image/png");
            }
        }
        if let Some(address) = &files.clamd {
            Clamd::parse(address)
                .map_err(|error| anyhow::anyhow!("LIVECHAT_CLAMD / files.clamd: {error}"))?;
        }
        let mut usernames = std::collections::HashSet::new();
        for agent in &self.agents {
            if !usernames.insert(agent.username.trim().to_lowercase()) {
                bail!("agents: the username '{}' is used twice", agent.username);
            }
            if agent.username.trim().is_empty() || agent.display_name.trim().is_empty() {
                bail!("agents: every agent needs a username and a display_name");
            }
            argon2::PasswordHash::new(&agent.password_hash)
                .map_err(|_| anyhow::anyhow!("agents: the password_hash of '{}' is not an argon2 PHC string (make one with `cargo run -p contoso-livechat -- hash-password`)", agent.username))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::of(pairs)
    }

    #[test]
    fn beyond_loopback_needs_agents_and_an_api_key() {
        let error = Settings::load_from(None, &env(&[("LIVECHAT_BIND", "0.0.0.0:5000")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("LIVECHAT_AGENT_NAME"), "{error}");
        let agent = [
            ("LIVECHAT_BIND", "0.0.0.0:5000"),
            ("LIVECHAT_AGENT_NAME", "ann"),
            ("LIVECHAT_AGENT_PASSWORD", "a long password"),
        ];
        let error = Settings::load_from(None, &env(&agent))
            .unwrap_err()
            .to_string();
        assert!(error.contains("LIVECHAT_API_KEY"), "{error}");
        let mut complete = agent.to_vec();
        complete.push(("LIVECHAT_API_KEY", "key"));
        assert!(Settings::load_from(None, &env(&complete)).is_ok());
        for loopback in ["127.0.0.1:5000", "127.0.1.1:5000", "[::1]:5000"] {
            assert!(
                Settings::load_from(None, &env(&[("LIVECHAT_BIND", loopback)])).is_ok(),
                "{loopback}"
            );
        }
    }

    #[test]
    fn cookies_are_secure_beyond_loopback_and_behind_https_unless_told_otherwise() {
        let local = Settings::load_from(None, &env(&[])).unwrap();
        assert!(!local.application.secure_cookies());
        let tunnel = Settings::load_from(
            None,
            &env(&[("LIVECHAT_PUBLIC_URL", "https://livechat.contoso.com")]),
        )
        .unwrap();
        assert!(tunnel.application.secure_cookies());
        assert!(tunnel
            .application
            .allowed_hosts()
            .allows("livechat.contoso.com"));
        let exposed = Settings::load_from(
            None,
            &env(&[
                ("LIVECHAT_BIND", "0.0.0.0:5000"),
                ("LIVECHAT_AGENT_NAME", "ann"),
                ("LIVECHAT_AGENT_PASSWORD", "a long password"),
                ("LIVECHAT_API_KEY", "key"),
            ]),
        )
        .unwrap();
        assert!(exposed.application.secure_cookies());
    }

    #[test]
    fn the_static_files_are_found_by_the_setting_or_next_to_the_binary() {
        let error = Settings::load_from(None, &env(&[("LIVECHAT_STATIC_DIR", "/nonexistent")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("LIVECHAT_STATIC_DIR"), "{error}");
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/static");
        let set = Settings::load_from(None, &env(&[("LIVECHAT_STATIC_DIR", shipped)])).unwrap();
        assert_eq!(set.application.static_dir(), Path::new(shipped));
        // Unset, a test binary has no `static` beside it: the source tree's is used.
        let unset = Settings::load_from(None, &env(&[])).unwrap();
        assert!(unset.application.static_dir().join("app.css").is_file());
    }

    #[test]
    fn nothing_set_runs_locally_with_the_default_agent() {
        let settings = Settings::load_from(None, &Environment::default()).unwrap();
        assert_eq!(settings.application.bind.to_string(), "127.0.0.1:5000");
        assert_eq!(
            settings.webhook.url.as_str(),
            format!("http://localhost:5001{WEBHOOK_PATH}")
        );
        let AgentRoster::DefaultLocal(agent) = settings.effective_agents().unwrap() else {
            panic!("expected the default agent")
        };
        assert_eq!(agent.username, DEFAULT_AGENT_USERNAME);
    }

    #[test]
    fn an_agent_can_be_defined_in_the_environment() {
        let settings = Settings::load_from(
            None,
            &env(&[
                ("LIVECHAT_AGENT_NAME", "Ann"),
                ("LIVECHAT_AGENT_PASSWORD", "pw"),
            ]),
        )
        .unwrap();
        let AgentRoster::Configured(agents) = settings.effective_agents().unwrap() else {
            panic!("expected the configured agent")
        };
        assert_eq!(agents[0].display_name, "Ann");
        assert!(crate::password::verify_password(
            "pw",
            &agents[0].password_hash
        ));
    }

    #[test]
    fn bad_settings_fail_naming_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("LIVECHAT_BIND", "nope")], "LIVECHAT_BIND"),
            (
                &[("LIVECHAT_WEBHOOK_URL", "ftp://x/")],
                "LIVECHAT_WEBHOOK_URL",
            ),
            (&[("LIVECHAT_SESSION_KEY", "short")], "LIVECHAT_SESSION_KEY"),
            (&[("LIVECHAT_AGENT_NAME", "Ann")], "LIVECHAT_AGENT_PASSWORD"),
        ];
        for (pairs, expected) in cases {
            let error = Settings::load_from(None, &env(pairs))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn contact_centre_settings_are_checked() {
        let load = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("livechat.toml");
            std::fs::write(&path, text).unwrap();
            Settings::load_from(Some(&path), &Environment::default())
        };
        let settings = load("[routing]\nassignment = \"auto\"\n").unwrap();
        assert_eq!(settings.routing.assignment, Assignment::Auto);
        assert_eq!(settings.routing.default_capacity, 3);
        for (text, named) in [
            ("[routing]\nassignment = \"random\"\n", "assignment"),
            ("[routing]\ndefault_capacity = 51\n", "default_capacity"),
            ("[routing]\nqueue_update_interval_ms = 0\n", "queue_update_interval_ms"),
            ("[[canned_replies]]\nname = \"a b\"\ntext = \"x\"\n", "a b"),
            ("[[canned_replies]]\nname = \"a\"\ntext = \"x\"\n[[canned_replies]]\nname = \"A\"\ntext = \"y\"\n", "twice"),
            ("[typing]\nmax_delay_ms = 0\n", "typing"),
            ("[files]\nclamd = \"localhost:3310\"\n", "files.clamd"),
            ("[files]\nallowed_types = [\"png\"]\n", "allowed_types"),
            ("[files]\nmax_total_bytes = 5\n", "max_total_bytes"),
        ] {
            let error = format!("{:#}", load(text).unwrap_err());
            assert!(error.contains(named), "{text}: {error}");
        }
    }

    #[test]
    fn the_shipped_configuration_file_holds_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configuration/livechat.toml");
        let shipped = Settings::load_from(Some(&path), &Environment::default()).unwrap();
        let built_in = Settings::load_from(None, &Environment::default()).unwrap();
        assert_eq!(
            format!("{shipped:#?}"),
            format!("{built_in:#?}"),
            "contoso-livechat/configuration/livechat.toml says what the defaults are: change both together"
        );
    }
}
