//! Typed settings: built-in defaults, then an optional TOML file, then environment variables
//! (`service_support::settings` does the layering, the same way for both services).
//!
//! Nothing needs to be set to run locally: the skill binds `127.0.0.1:5001`, talks to the live chat on
//! `http://localhost:5000` and runs in anonymous local mode.
//! Every key is documented in `skill/configuration/skill.toml` and in the README.
//! A bad value fails [`Settings::load`] with a message naming the setting, never a request later.
//! Settings keep what they parsed (addresses and URLs as such) and build what they describe: the
//! listener, the HTTP clients, the credentials, the live-chat client and the retry policies, so that
//! `startup.rs` only wires them together.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_support::settings::{Environment, Layered};
use url::Url;

use crate::domain::Timeouts;
use crate::handover::pacing::{RateLimits, Window};
use crate::handover::RetryPolicy;
use crate::http::{is_loopback_url, HttpClient};
use crate::livechat::contoso::ContosoConnection;
use crate::livechat::genesys::GenesysConnection;
use crate::livechat::{ContosoLiveChat, GenesysLiveChat, Hub, LinkBackoff};
use crate::protocol::content::ContentRules;
use crate::protocol::fetch::{FetchRules, FILE_HOSTS};
use crate::protocol::manifest::{skill_manifest, SkillDescription};
use crate::protocol::{
    ClientCredentials, InboundAuth, OutboundCredential, TeamsTarget, TokenRules, TrustedHosts,
    BOT_FRAMEWORK_ISSUER,
};
use crate::store::Store;

/// The file read when `SKILL_CONFIG` is not set, relative to the working directory (the repository
/// root when started with `cargo run -p skill`); it is optional.
pub const DEFAULT_CONFIG_FILE: &str = "skill/configuration/skill.toml";

/// The scope of the tokens that carry proactive messages to Teams.
const BOT_FRAMEWORK_SCOPE: &str = "https://api.botframework.com/.default";

/// What the skill's outbound calls say they are.
pub const USER_AGENT: &str = concat!("handover-skill/", env!("CARGO_PKG_VERSION"));

/// Attempts at a reply to Copilot Studio: the replies belong to the turn it is waiting on, so a few
/// quick ones, then the failure is logged.
const REPLY_ATTEMPTS: u32 = 3;

/// All of the skill's settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub application: ApplicationSettings,
    pub auth: AuthSettings,
    pub bot: BotSettings,
    pub teams: TeamsSettings,
    pub livechat: LiveChatSettings,
    pub delivery: DeliverySettings,
    pub manifest: ManifestSettings,
    pub timeouts: TimeoutSettings,
    pub files: FileSettings,
    /// Sensitive data masked in the customer's words before they are stored for the live chat:
    /// the same `[masking]` rules as Contoso Live Chat's (`service_support::masking`).
    pub masking: service_support::masking::MaskingSettings,
}

/// Pictures and files, both ways: what a customer may send the agent and where from, how many at
/// once, and how long the links to agents' files work.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileSettings {
    /// The largest file passed on to the agent, in bytes (`SKILL_MAX_FILE_BYTES`).
    pub max_file_bytes: u64,
    /// Files one message may carry; the customer is told of the rest.
    pub max_files_per_message: usize,
    /// The kinds passed on, as media types, told by each file's first bytes.
    pub allowed_types: Vec<String>,
    /// Hosts files are fetched from besides Microsoft's Bot Framework, Teams and SharePoint hosts
    /// (`SKILL_FILE_HOSTS`): exact hosts or `*.suffix`; a listed loopback host may be plain http.
    pub allowed_hosts: Vec<String>,
    /// How long one file's transfer (fetched, or posted to the live chat) may take, in seconds.
    pub transfer_timeout_secs: u64,
    /// Files transferred at once; the others wait their turn, never holding up messages in words.
    pub max_concurrent_transfers: usize,
    /// Days the link to an agent's file works (`SKILL_FILE_LINK_DAYS`).
    pub link_expiry_days: u32,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: service_support::files::DEFAULT_MAX_FILE_BYTES,
            max_files_per_message: 5,
            allowed_types: service_support::files::DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|mime| (*mime).to_owned())
                .collect(),
            allowed_hosts: Vec::new(),
            transfer_timeout_secs: 60,
            max_concurrent_transfers: 8,
            link_expiry_days: 7,
        }
    }
}

impl FileSettings {
    /// How customers' files are fetched, into `{data_dir}/files/staging`; in anonymous local mode
    /// (`local`) from loopback hosts too.
    pub fn fetch_rules(&self, data_dir: &Path, local: bool) -> FetchRules {
        FetchRules {
            hosts: TrustedHosts::of(FILE_HOSTS, &self.allowed_hosts),
            local,
            max_file_bytes: self.max_file_bytes,
            allowed_types: self.allowed_types.iter().cloned().collect(),
            timeout: self.transfer_timeout(),
            connect_timeout: Duration::from_secs(10),
            staging: data_dir.join("files").join("staging"),
        }
    }

    /// How a message's pictures, files and HTML are read.
    pub fn content_rules(&self, target: TeamsTarget) -> ContentRules {
        ContentRules {
            target,
            max_files: self.max_files_per_message,
        }
    }

    pub fn transfer_timeout(&self) -> Duration {
        Duration::from_secs(self.transfer_timeout_secs)
    }

    /// How long the link to an agent's file works.
    pub fn links_last(&self) -> Duration {
        Duration::from_secs(u64::from(self.link_expiry_days) * 86_400)
    }

    /// The client of files both ways with the live chat (streamed; redirects never followed).
    pub fn transfer_client(&self) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .no_proxy()
            .build()
            .context("cannot build the HTTP client of files")
    }
}

/// How long a chat may wait for an agent, or stay silent, before it is closed; 0 switches a timer
/// off. The deadlines are stored with the sessions, so they hold across restarts and instances.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Seconds a chat waits in the queue before it is closed (`queueTimeout`).
    pub queue_timeout_secs: u64,
    /// Seconds without a customer message before the customer is warned.
    pub inactivity_warning_secs: u64,
    /// Seconds without a customer message before the chat is closed (`inactive`).
    pub inactivity_timeout_secs: u64,
    /// How often each instance looks for due timers, in milliseconds.
    pub tick_ms: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            queue_timeout_secs: 600,
            inactivity_warning_secs: 300,
            inactivity_timeout_secs: 600,
            tick_ms: 1_000,
        }
    }
}

/// Where the skill listens and keeps its state.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApplicationSettings {
    /// `host:port` to listen on; loopback unless told otherwise (`SKILL_BIND`).
    pub bind: SocketAddr,
    /// The public base URL Copilot Studio reaches the skill at, used in the manifest (`SKILL_PUBLIC_URL`).
    pub public_url: Url,
    /// Folder of the SQLite database (`SKILL_DATA_DIR`).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`SKILL_DATABASE_URL`) to share state between several instances; unset
    /// means the SQLite file in `data_dir` (one instance).
    pub database_url: Option<SecretString>,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// Days closed sessions and finished deliveries are kept; 0 keeps them forever.
    pub retention_days: u32,
    /// Largest accepted `/api/messages` body, in bytes.
    pub max_activity_bytes: usize,
    /// Largest accepted webhook body, in bytes.
    pub max_webhook_bytes: usize,
    /// Time a client has to send a request's headers, and again its body, in milliseconds; a
    /// slower client is cut off (408).
    pub request_deadline_ms: u64,
    /// Hosts requests may name besides loopback, the public URL's host and the bind address
    /// (`SKILL_ALLOWED_HOSTS`: `host`, `*.suffix`, or `*` when a proxy in front checks them);
    /// any other `Host` is answered 421.
    pub allowed_hosts: Vec<String>,
}

impl Default for ApplicationSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 5001)),
            public_url: default_url("http://localhost:5001"),
            data_dir: PathBuf::from("data/skill"),
            database_url: None,
            http_workers: 0,
            retention_days: 30,
            max_activity_bytes: 256 * 1024,
            max_webhook_bytes: 64 * 1024,
            request_deadline_ms: 10_000,
            allowed_hosts: Vec::new(),
        }
    }
}

/// The skill's own app registration: who may call it, and how it answers Copilot Studio.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The skill's app id (`SKILL_APP_ID`); unset means anonymous local mode.
    pub app_id: Option<String>,
    /// The skill's client secret (`SKILL_APP_SECRET`).
    pub app_secret: Option<SecretString>,
    /// The tenant of the skill's registration (`SKILL_TENANT_ID`).
    pub tenant_id: Option<String>,
    /// App ids allowed to call the skill, `*` for any (`SKILL_ALLOWED_CALLERS`); defaults to `BOT_APP_ID`.
    pub allowed_callers: Vec<String>,
    /// Accepted token issuers (`SKILL_ALLOWED_ISSUERS`); defaults to the Bot Framework issuer and the
    /// v1/v2 Entra issuers of the skill's tenant.
    pub allowed_issuers: Vec<String>,
    /// Where the signing keys' OpenID metadata comes from (`SKILL_OPENID_METADATA_URL`); unset means
    /// Microsoft's (Bot Framework for its issuer, Entra's `common` v2 otherwise).
    pub openid_metadata_url: Option<Url>,
    /// The Entra authority host for client-credential tokens (`AZURE_AUTHORITY_HOST`).
    pub authority_host: Url,
    /// Extra hosts that may receive tokens (`SKILL_TRUSTED_HOSTS`): exact hosts or `*.suffix`.
    pub trusted_hosts: Vec<String>,
    /// How long the last good token signing keys keep serving past their day's lifetime while
    /// the metadata endpoint fails, in hours.
    pub signing_keys_grace_hours: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            app_id: None,
            app_secret: None,
            tenant_id: None,
            allowed_callers: Vec::new(),
            allowed_issuers: Vec::new(),
            openid_metadata_url: None,
            authority_host: default_url("https://login.microsoftonline.com"),
            signing_keys_grace_hours: 24,
            trusted_hosts: Vec::new(),
        }
    }
}

/// The Copilot Studio agent's registration, used to post the agents' replies into Teams.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct BotSettings {
    /// `BOT_APP_ID`.
    pub app_id: Option<String>,
    /// `BOT_APP_SECRET`.
    pub app_secret: Option<SecretString>,
    /// `BOT_TENANT_ID`; defaults to the skill's tenant.
    pub tenant_id: Option<String>,
}

/// Where proactive messages to Teams go.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TeamsSettings {
    /// Overrides the Teams service URL derived from the conversation (`TEAMS_SERVICE_URL`).
    pub service_url: Option<Url>,
}

/// Which engagement hub the skill hands customers to (`LIVECHAT_KIND`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HubKind {
    /// A live chat that speaks this project's contract (Contoso Live Chat, or a middleware).
    #[default]
    Contoso,
    /// Genesys Cloud, through an Open Messaging integration.
    Genesys,
}

impl HubKind {
    pub fn name(self) -> &'static str {
        match self {
            HubKind::Contoso => "contoso",
            HubKind::Genesys => "genesys",
        }
    }
}

/// Genesys Cloud's Open Messaging integration (`[livechat.genesys]`, `GENESYS_*`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenesysSettings {
    /// The org's region domain (`GENESYS_REGION`), e.g. `mypurecloud.com` or `mypurecloud.ie`:
    /// the API is `https://api.{region}`, the login host `https://login.{region}`.
    pub region: Option<String>,
    /// The API's base instead of the region's (`GENESYS_API_URL`).
    pub api_url: Option<Url>,
    /// The login host instead of the region's (`GENESYS_LOGIN_URL`).
    pub login_url: Option<Url>,
    /// The OAuth client (Client Credentials grant) (`GENESYS_CLIENT_ID`).
    pub client_id: Option<String>,
    /// Its secret (`GENESYS_CLIENT_SECRET`).
    pub client_secret: Option<SecretString>,
    /// The Open Messaging integration's id (`GENESYS_INTEGRATION_ID`).
    pub integration_id: Option<String>,
}

impl GenesysSettings {
    /// The API's base and the login host.
    fn hosts(&self) -> anyhow::Result<(Url, Url)> {
        let from_region = |prefix: &str| -> anyhow::Result<Option<Url>> {
            self.region
                .as_deref()
                .map(|region| {
                    let region = region.trim().trim_start_matches("https://").trim_matches('/');
                    Url::parse(&format!("https://{prefix}.{region}")).with_context(|| {
                        format!("GENESYS_REGION / livechat.genesys.region '{region}' is not a domain like mypurecloud.com")
                    })
                })
                .transpose()
        };
        let api = match &self.api_url {
            Some(url) => url.clone(),
            None => from_region("api")?.ok_or_else(|| {
                anyhow::anyhow!("GENESYS_REGION (e.g. mypurecloud.com) or GENESYS_API_URL is required with LIVECHAT_KIND=genesys")
            })?,
        };
        let login = match (&self.login_url, from_region("login")?) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url,
            (None, None) => bail!("GENESYS_LOGIN_URL is required with GENESYS_API_URL (the region's login host, e.g. https://login.mypurecloud.com)"),
        };
        Ok((api, login))
    }
}

/// The live-chat system the skill opens sessions in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveChatSettings {
    /// Which hub (`LIVECHAT_KIND`: `contoso`, the default, or `genesys`).
    pub kind: HubKind,
    /// Genesys Cloud's settings, with `kind = "genesys"`.
    pub genesys: GenesysSettings,
    /// Base URL of the live-chat API (`LIVECHAT_BASE_URL`).
    pub base_url: Url,
    /// Bearer key the live-chat API requires, if any (`LIVECHAT_API_KEY`).
    pub api_key: Option<SecretString>,
    /// Time limit of one live-chat API call, in milliseconds.
    pub timeout_ms: u64,
    /// Shared secret of the webhook signature (`WEBHOOK_SECRET`); unset accepts unsigned webhooks.
    pub webhook_secret: Option<SecretString>,
    /// The secret before a rotation (`WEBHOOK_SECRET_PREVIOUS`): accepted as well, so the live
    /// chat can change to the new one at its own moment.
    pub webhook_previous_secret: Option<SecretString>,
    /// How old (or how far in the future) a signed webhook's timestamp may be, in seconds.
    pub webhook_replay_window_secs: u64,
    /// The longest customer message the live chat takes, in characters; a longer one is refused
    /// up front and the customer told.
    pub max_message_chars: usize,
    /// Accept unsigned webhooks although `SKILL_APP_ID` is set (`SKILL_ALLOW_UNSIGNED_WEBHOOKS`);
    /// only on purpose, e.g. behind a gateway that checks the caller itself.
    pub allow_unsigned_webhooks: bool,
    /// Send the API key over plain http to a live chat beyond loopback (`LIVECHAT_PLAIN_HTTP`):
    /// only on a private network the two share, such as a compose network.
    pub plain_http: bool,
}

impl Default for LiveChatSettings {
    fn default() -> Self {
        Self {
            kind: HubKind::default(),
            genesys: GenesysSettings::default(),
            base_url: default_url("http://localhost:5000"),
            api_key: None,
            timeout_ms: 5_000,
            webhook_secret: None,
            webhook_previous_secret: None,
            webhook_replay_window_secs: livechat_contract::signature::DEFAULT_REPLAY_WINDOW_SECS,
            allow_unsigned_webhooks: false,
            plain_http: false,
            max_message_chars: livechat_contract::api::MAX_MESSAGE_CHARS,
        }
    }
}

/// How the outboxes retry and pace deliveries.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// Attempts before a message to Teams is given up and reported to the agent.
    pub teams_max_attempts: u32,
    /// How long a message to Teams is retried while Teams refuses it (down, throttling), in
    /// seconds from when it was stored; then it is given up and reported to the agent.
    pub teams_retry_for_secs: u64,
    /// How long a message to the live chat is retried while the live chat is down, in seconds,
    /// from when it was stored (backoff capped at `max_backoff_ms`).
    pub livechat_retry_for_secs: u64,
    /// First retry delay, in milliseconds; doubled per attempt, with ±20 % jitter.
    pub base_backoff_ms: u64,
    /// Longest retry delay, and the cap on a `Retry-After`, in milliseconds.
    pub max_backoff_ms: u64,
    /// Least time between two sends into one Teams conversation, beyond what Teams' windows
    /// (below) impose; 0 by default.
    pub conversation_interval_ms: u64,
    /// Teams' windows for one bot in one conversation: at most `sends` in any `window_ms`
    /// (default 7 per 1 s, 8 per 2 s, 60 per 30 s, 1,800 per hour). Messages, cards and typing
    /// all count; a message waits for room, a typing indicator without room is dropped.
    pub teams_conversation_windows: Vec<WindowSettings>,
    /// Teams' windows for one app in one tenant (default 50 per 1 s).
    pub teams_tenant_windows: Vec<WindowSettings>,
    /// How long a 429 that came all the same halves the windows it came from, in seconds.
    pub teams_shrink_after_429_secs: u64,
    /// How often the workers look for due deliveries when nothing wakes them, in milliseconds.
    pub poll_interval_ms: u64,
    /// Time limit of one outbound HTTP call to Teams or Copilot Studio, in milliseconds.
    pub http_timeout_ms: u64,
    /// With PostgreSQL, how long a claimed delivery is reserved for the instance that claimed it,
    /// in milliseconds: longer than the longest attempt (`http_timeout_ms`, and a file's transfer,
    /// `files.transfer_timeout_secs`) plus 10 s, or the skill refuses to start.
    pub claim_lease_ms: u64,
    /// With PostgreSQL, how often each instance says it is alive, in milliseconds.
    pub heartbeat_ms: u64,
    /// With PostgreSQL, after how long without a heartbeat an instance's claims are released to
    /// the others, in milliseconds (at least three heartbeats).
    pub instance_silent_after_ms: u64,
    /// Deliveries one lane sends at once (each to a different conversation).
    pub max_in_flight: usize,
    /// Deliveries one lane holds in memory; more wait in the database and are read back in order.
    pub max_in_memory: usize,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            teams_max_attempts: 100,
            teams_retry_for_secs: 3_600,
            livechat_retry_for_secs: 3_600,
            base_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
            conversation_interval_ms: 0,
            teams_conversation_windows: WindowSettings::of(&RateLimits::teams().conversation),
            teams_tenant_windows: WindowSettings::of(&RateLimits::teams().tenant),
            teams_shrink_after_429_secs: RateLimits::teams().shrink_for.as_secs(),
            poll_interval_ms: 1_000,
            http_timeout_ms: 10_000,
            claim_lease_ms: crate::store::CLAIM_LEASE_MS as u64,
            heartbeat_ms: 1_000,
            instance_silent_after_ms: 5_000,
            max_in_flight: 256,
            max_in_memory: 20_000,
        }
    }
}

impl TimeoutSettings {
    /// The timeouts as the handover uses them.
    pub fn timeouts(&self) -> Timeouts {
        let on = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        Timeouts {
            queue: on(self.queue_timeout_secs),
            inactivity_warning: on(self.inactivity_warning_secs),
            inactivity: on(self.inactivity_timeout_secs),
        }
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }
}

impl ApplicationSettings {
    /// The listener on `bind`.
    pub fn listener(&self) -> anyhow::Result<TcpListener> {
        service_support::settings::listen(self.bind, "SKILL_BIND")
    }

    /// The `Host` values answered: loopback, the public URL's host, the bind address, the list.
    pub fn allowed_hosts(&self) -> service_support::hosts::AllowedHosts {
        service_support::hosts::AllowedHosts::new(
            self.bind,
            Some(&self.public_url),
            &self.allowed_hosts,
        )
    }

    /// HTTP worker threads: as set, or one per core.
    pub fn http_workers(&self) -> usize {
        service_support::settings::http_workers(self.http_workers)
    }

    /// Time a client has to send a request's headers, and again its body.
    pub fn request_deadline(&self) -> Duration {
        Duration::from_millis(self.request_deadline_ms)
    }

    /// Opens the configured store: PostgreSQL with `database_url`, else SQLite in `data_dir`.
    pub async fn open_store(&self, claim_lease_ms: u64) -> anyhow::Result<Store> {
        let database_url = self
            .database_url
            .as_ref()
            .map(|url| url.expose_secret().to_owned());
        let store = Store::open(database_url.as_deref(), &self.data_dir)
            .await?
            .with_claim_lease(i64::try_from(claim_lease_ms).unwrap_or(i64::MAX));
        // Claims and leases go by the database's clock, measured now and then every minute.
        store.sync_clock().await?;
        Ok(store)
    }
}

impl AuthSettings {
    /// How `/api/messages` authenticates its callers: a token these settings accept, or nothing in
    /// anonymous local mode. The signing keys are fetched with `http`.
    pub fn inbound_auth(&self, http: reqwest::Client) -> InboundAuth {
        match &self.app_id {
            None => InboundAuth::Anonymous,
            Some(app_id) => InboundAuth::validated(
                TokenRules {
                    app_id: app_id.clone(),
                    allowed_issuers: self.allowed_issuers.clone(),
                    allowed_callers: self.allowed_callers.clone(),
                    metadata_override: self.openid_metadata_url.as_ref().map(Url::to_string),
                    signing_keys_grace: Duration::from_secs(
                        self.signing_keys_grace_hours.saturating_mul(3600),
                    ),
                },
                http,
            ),
        }
    }

    /// The skill's own credentials (its replies to Copilot Studio), when registered.
    pub fn skill_credentials(&self) -> Option<ClientCredentials> {
        match (&self.app_id, &self.app_secret, &self.tenant_id) {
            (Some(client_id), Some(client_secret), Some(tenant)) => Some(ClientCredentials {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                tenant: tenant.clone(),
            }),
            _ => None,
        }
    }
}

impl BotSettings {
    /// The credential of the proactive messages to Teams: the agent's registration, or none
    /// (loopback only) in anonymous local mode.
    pub fn credential(&self) -> OutboundCredential {
        match (&self.app_id, &self.app_secret, &self.tenant_id) {
            (Some(client_id), Some(client_secret), Some(tenant)) => OutboundCredential::App {
                credentials: ClientCredentials {
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    tenant: tenant.clone(),
                },
                scope: BOT_FRAMEWORK_SCOPE.to_owned(),
            },
            _ => OutboundCredential::Anonymous,
        }
    }
}

impl LiveChatSettings {
    /// The time limit of one live-chat call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The live chat's client and webhook reader, sending with `http` (files as `files` say).
    pub fn hub(&self, http: HttpClient, files: &FileSettings) -> anyhow::Result<Hub> {
        if self.kind == HubKind::Genesys {
            return self.genesys_hub(files);
        }
        ContosoLiveChat::new(
            http,
            ContosoConnection {
                base_url: self.base_url.clone(),
                api_key: self.api_key.clone(),
                timeout: self.timeout(),
                webhook_secret: self.webhook_secret.clone(),
                webhook_previous_secret: self.webhook_previous_secret.clone(),
                replay_window_secs: self.webhook_replay_window_secs,
                max_message_chars: self.max_message_chars,
                transfers: files.transfer_client()?,
                transfer_timeout: files.transfer_timeout(),
            },
        )
        .map(|adapter| Hub::of(adapter, None))
    }

    fn genesys_hub(&self, files: &FileSettings) -> anyhow::Result<Hub> {
        let genesys = &self.genesys;
        let (api_base, login_base) = genesys.hosts()?;
        let missing = |name: &str| anyhow::anyhow!("{name} is required with LIVECHAT_KIND=genesys");
        let (adapter, events) = GenesysLiveChat::new(
            files.transfer_client()?,
            GenesysConnection {
                api_base,
                login_base,
                client_id: genesys
                    .client_id
                    .clone()
                    .ok_or_else(|| missing("GENESYS_CLIENT_ID / livechat.genesys.client_id"))?,
                client_secret: genesys.client_secret.clone().ok_or_else(|| {
                    missing("GENESYS_CLIENT_SECRET / livechat.genesys.client_secret")
                })?,
                integration_id: genesys.integration_id.clone().ok_or_else(|| {
                    missing("GENESYS_INTEGRATION_ID / livechat.genesys.integration_id")
                })?,
                webhook_secret: self.webhook_secret.clone(),
                webhook_previous_secret: self.webhook_previous_secret.clone(),
                timeout: self.timeout(),
            },
        )?;
        Ok(Hub::of(adapter, Some(events)))
    }

    /// How late an agent's typing may still be shown: the contract's limit.
    pub fn typing_max_age(&self) -> Duration {
        Duration::from_secs(
            u64::try_from(livechat_contract::webhook::TYPING_MAX_DELAY_SECS).unwrap_or(5),
        )
    }
}

/// One rate window: at most `sends` in any `window_ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSettings {
    pub window_ms: u64,
    pub sends: u32,
}

impl WindowSettings {
    fn of(windows: &[Window]) -> Vec<WindowSettings> {
        windows
            .iter()
            .map(|window| WindowSettings {
                window_ms: u64::try_from(window.length.as_millis()).unwrap_or(u64::MAX),
                sends: window.sends,
            })
            .collect()
    }

    fn window(&self) -> Window {
        Window {
            length: Duration::from_millis(self.window_ms),
            sends: self.sends,
        }
    }
}

impl DeliverySettings {
    /// Teams' windows as the Teams lane applies them.
    pub fn teams_limits(&self) -> RateLimits {
        RateLimits {
            conversation: self
                .teams_conversation_windows
                .iter()
                .map(WindowSettings::window)
                .collect(),
            tenant: self
                .teams_tenant_windows
                .iter()
                .map(WindowSettings::window)
                .collect(),
            shrink_for: Duration::from_secs(self.teams_shrink_after_429_secs),
        }
    }

    pub fn conversation_interval(&self) -> Duration {
        Duration::from_millis(self.conversation_interval_ms)
    }
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }
    pub fn instance_silent_after(&self) -> Duration {
        Duration::from_millis(self.instance_silent_after_ms)
    }
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
    pub fn http_timeout(&self) -> Duration {
        Duration::from_millis(self.http_timeout_ms)
    }

    fn backoff(&self) -> Arc<LinkBackoff> {
        Arc::new(LinkBackoff::new(
            Duration::from_millis(self.base_backoff_ms),
            Duration::from_millis(self.max_backoff_ms),
        ))
    }

    /// Messages to Teams: a number of attempts, then the agent is told.
    pub fn teams_retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.teams_max_attempts,
            retry_for: Some(Duration::from_secs(self.teams_retry_for_secs)),
            backoff: self.backoff(),
        }
    }

    /// Calls to the live chat: outages are waited out for a time, not a count of attempts.
    pub fn livechat_retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: u32::MAX,
            retry_for: Some(Duration::from_secs(self.livechat_retry_for_secs)),
            backoff: self.backoff(),
        }
    }

    /// Replies to Copilot Studio: a few quick attempts within the turn.
    pub fn reply_retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: REPLY_ATTEMPTS,
            retry_for: None,
            backoff: Arc::new(LinkBackoff::new(
                Duration::from_millis(250),
                Duration::from_secs(2),
            )),
        }
    }

    /// The client of the rare calls (tokens, signing keys). Redirects are never followed: a token
    /// must not travel to a host nobody vetted.
    pub fn token_client(&self) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(self.http_timeout())
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .no_proxy()
            .retry(reqwest::retry::never())
            .tcp_nodelay(true)
            .build()
            .context("cannot build the HTTP client")
    }

    /// The lean client of the calls made for every message (into Teams, into the live chat).
    pub fn delivery_client(&self) -> anyhow::Result<HttpClient> {
        HttpClient::new(self.http_timeout(), Duration::from_secs(5), USER_AGENT)
    }
}

impl TeamsSettings {
    /// Where proactive messages go, from whose account.
    pub fn target(&self, bot: &BotSettings) -> TeamsTarget {
        TeamsTarget {
            service_url_override: self.service_url.as_ref().map(Url::to_string),
            bot_app_id: bot.app_id.clone(),
        }
    }
}

/// What the skill manifest says about the skill.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManifestSettings {
    pub id: String,
    pub name: String,
    pub description: String,
    pub publisher_name: String,
    pub version: String,
}

impl Default for ManifestSettings {
    fn default() -> Self {
        Self {
            id: "handoff-skill".into(),
            name: "HandoffSkill".into(),
            description:
                "Hands the conversation over to a live agent in Contoso Live Chat and relays \
                          the agent's replies back to Teams."
                    .into(),
            publisher_name: "Contoso".into(),
            version: "1.0.0".into(),
        }
    }
}

impl Settings {
    /// Loads the settings the way the service does: the file named by `SKILL_CONFIG` (else
    /// [`DEFAULT_CONFIG_FILE`] if it exists), then the process environment.
    pub fn load() -> anyhow::Result<Settings> {
        service_support::settings::load()
    }

    /// Loads settings from an optional file and an explicit environment (tests pass their own).
    pub fn load_from(file: Option<&Path>, environment: &Environment) -> anyhow::Result<Settings> {
        service_support::settings::load_from(file, environment)
    }

    /// True when no app id is configured: no inbound token is required and nothing is sent beyond loopback.
    pub fn is_anonymous(&self) -> bool {
        self.auth.app_id.is_none()
    }

    /// The manifest Copilot Studio reads, for these settings.
    pub fn skill_manifest(&self) -> serde_json::Value {
        let manifest = &self.manifest;
        skill_manifest(
            &SkillDescription {
                id: &manifest.id,
                name: &manifest.name,
                description: &manifest.description,
                publisher_name: &manifest.publisher_name,
                version: &manifest.version,
            },
            &self.application.public_url,
            self.auth.app_id.as_deref(),
        )
    }
}

impl Settings {
    /// The longest one outbound attempt may take: a call (`delivery.http_timeout_ms`) or a file's
    /// transfer (`files.transfer_timeout_secs`).
    pub fn longest_attempt(&self) -> Duration {
        Duration::from_millis(self.delivery.http_timeout_ms)
            .max(Duration::from_secs(self.files.transfer_timeout_secs))
    }

    /// The masking rules, compiled; a rule that cannot be used is named.
    pub fn masker(&self) -> anyhow::Result<service_support::masking::Masker> {
        service_support::masking::Masker::new(&self.masking)
            .map_err(|error| anyhow::anyhow!("masking.rules: {error}"))
    }
}

impl Layered for Settings {
    const FILE_VARIABLE: &'static str = "SKILL_CONFIG";
    const DEFAULT_FILE: &'static str = DEFAULT_CONFIG_FILE;

    fn apply_environment(&mut self, environment: &Environment) -> anyhow::Result<()> {
        if let Some(bind) = environment.parsed("SKILL_BIND", "host:port, e.g. 127.0.0.1:5001")? {
            self.application.bind = bind;
        }
        if let Some(url) = environment.parsed("SKILL_PUBLIC_URL", "a URL")? {
            self.application.public_url = url;
        }
        if let Some(value) = environment.list("SKILL_ALLOWED_HOSTS") {
            self.application.allowed_hosts = value;
        }
        if let Some(value) = environment.get("SKILL_DATA_DIR") {
            self.application.data_dir = PathBuf::from(value);
        }
        if let Some(value) = environment.secret("SKILL_DATABASE_URL") {
            self.application.database_url = Some(value);
        }
        if let Some(value) = environment.get("SKILL_APP_ID") {
            self.auth.app_id = Some(value);
        }
        if let Some(value) = environment.secret("SKILL_APP_SECRET") {
            self.auth.app_secret = Some(value);
        }
        if let Some(value) = environment.get("SKILL_TENANT_ID") {
            self.auth.tenant_id = Some(value);
        }
        if let Some(value) = environment.list("SKILL_ALLOWED_CALLERS") {
            self.auth.allowed_callers = value;
        }
        if let Some(value) = environment.list("SKILL_ALLOWED_ISSUERS") {
            self.auth.allowed_issuers = value;
        }
        if let Some(url) = environment.parsed("SKILL_OPENID_METADATA_URL", "a URL")? {
            self.auth.openid_metadata_url = Some(url);
        }
        if let Some(value) = environment.list("SKILL_TRUSTED_HOSTS") {
            self.auth.trusted_hosts.extend(value);
        }
        if let Some(url) = environment.parsed("AZURE_AUTHORITY_HOST", "a URL")? {
            self.auth.authority_host = url;
        }
        if let Some(value) = environment.get("BOT_APP_ID") {
            self.bot.app_id = Some(value);
        }
        if let Some(value) = environment.secret("BOT_APP_SECRET") {
            self.bot.app_secret = Some(value);
        }
        if let Some(value) = environment.get("BOT_TENANT_ID") {
            self.bot.tenant_id = Some(value);
        }
        if let Some(url) = environment.parsed("TEAMS_SERVICE_URL", "a URL")? {
            self.teams.service_url = Some(url);
        }
        if let Some(kind) = environment.get("LIVECHAT_KIND") {
            self.livechat.kind = match kind.trim().to_ascii_lowercase().as_str() {
                "contoso" => HubKind::Contoso,
                "genesys" => HubKind::Genesys,
                other => bail!("LIVECHAT_KIND must be contoso or genesys, not '{other}'"),
            };
        }
        let genesys = &mut self.livechat.genesys;
        if let Some(value) = environment.get("GENESYS_REGION") {
            genesys.region = Some(value);
        }
        if let Some(url) = environment.parsed("GENESYS_API_URL", "a URL")? {
            genesys.api_url = Some(url);
        }
        if let Some(url) = environment.parsed("GENESYS_LOGIN_URL", "a URL")? {
            genesys.login_url = Some(url);
        }
        if let Some(value) = environment.get("GENESYS_CLIENT_ID") {
            genesys.client_id = Some(value);
        }
        if let Some(value) = environment.secret("GENESYS_CLIENT_SECRET") {
            genesys.client_secret = Some(value);
        }
        if let Some(value) = environment.get("GENESYS_INTEGRATION_ID") {
            genesys.integration_id = Some(value);
        }
        if let Some(url) = environment.parsed("LIVECHAT_BASE_URL", "a URL")? {
            self.livechat.base_url = url;
        }
        if let Some(value) = environment.secret("LIVECHAT_API_KEY") {
            self.livechat.api_key = Some(value);
        }
        if let Some(value) = environment.secret("WEBHOOK_SECRET") {
            self.livechat.webhook_secret = Some(value);
        }
        if let Some(value) = environment.secret("WEBHOOK_SECRET_PREVIOUS") {
            self.livechat.webhook_previous_secret = Some(value);
        }
        if let Some(allow) = environment.flag("SKILL_ALLOW_UNSIGNED_WEBHOOKS")? {
            self.livechat.allow_unsigned_webhooks = allow;
        }
        if let Some(plain) = environment.flag("LIVECHAT_PLAIN_HTTP")? {
            self.livechat.plain_http = plain;
        }
        let seconds = "a whole number of seconds";
        if let Some(value) = environment.parsed("SKILL_MAX_FILE_BYTES", "a number of bytes")? {
            self.files.max_file_bytes = value;
        }
        if let Some(value) = environment.list("SKILL_FILE_HOSTS") {
            self.files.allowed_hosts.extend(value);
        }
        if let Some(value) = environment.parsed("SKILL_FILE_LINK_DAYS", "a number of days")? {
            self.files.link_expiry_days = value;
        }
        if let Some(value) = environment.parsed("SKILL_QUEUE_TIMEOUT_SECS", seconds)? {
            self.timeouts.queue_timeout_secs = value;
        }
        if let Some(value) = environment.parsed("SKILL_INACTIVITY_WARNING_SECS", seconds)? {
            self.timeouts.inactivity_warning_secs = value;
        }
        if let Some(value) = environment.parsed("SKILL_INACTIVITY_TIMEOUT_SECS", seconds)? {
            self.timeouts.inactivity_timeout_secs = value;
        }
        Ok(())
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        self.masker()?;
        http_url(
            "SKILL_PUBLIC_URL / application.public_url",
            &self.application.public_url,
        )?;
        http_url(
            "LIVECHAT_BASE_URL / livechat.base_url",
            &self.livechat.base_url,
        )?;
        if let Some(url) = &self.teams.service_url {
            http_url("TEAMS_SERVICE_URL / teams.service_url", url)?;
        }
        if let Some(url) = &self.auth.openid_metadata_url {
            // The signing keys decide whose tokens are believed: never over plain http beyond
            // loopback, where anyone on the path could swap them.
            https_beyond_loopback("SKILL_OPENID_METADATA_URL / auth.openid_metadata_url", url)?;
        }
        if self.livechat.api_key.is_some() && !self.livechat.plain_http {
            https_beyond_loopback(
                "LIVECHAT_BASE_URL / livechat.base_url (it receives LIVECHAT_API_KEY; LIVECHAT_PLAIN_HTTP=true on a private network)",
                &self.livechat.base_url,
            )?;
        }
        if let Some(url) = &self.teams.service_url {
            https_beyond_loopback(
                "TEAMS_SERVICE_URL / teams.service_url (it receives the bot's tokens)",
                url,
            )?;
        }
        for pattern in &self.application.allowed_hosts {
            service_support::hosts::check_pattern(
                "SKILL_ALLOWED_HOSTS / application.allowed_hosts",
                pattern,
            )?;
        }
        if self.livechat.webhook_previous_secret.is_some() && self.livechat.webhook_secret.is_none()
        {
            bail!("WEBHOOK_SECRET_PREVIOUS / livechat.webhook_previous_secret is set without WEBHOOK_SECRET: set the new secret as WEBHOOK_SECRET and keep the old one as WEBHOOK_SECRET_PREVIOUS until the live chat uses the new one");
        }
        https_beyond_loopback(
            "AZURE_AUTHORITY_HOST / auth.authority_host (it receives the client secrets)",
            &self.auth.authority_host,
        )?;
        for pattern in &self.auth.trusted_hosts {
            host_pattern("SKILL_TRUSTED_HOSTS / auth.trusted_hosts", pattern)?;
        }
        if self.livechat.timeout_ms == 0 {
            bail!("livechat.timeout_ms must be greater than zero");
        }
        if self.livechat.kind == HubKind::Genesys {
            self.validate_genesys()?;
        }
        let timeouts = &self.timeouts;
        if timeouts.tick_ms == 0 {
            bail!("timeouts.tick_ms must be greater than zero");
        }
        if timeouts.inactivity_warning_secs > 0
            && timeouts.inactivity_timeout_secs > 0
            && timeouts.inactivity_warning_secs >= timeouts.inactivity_timeout_secs
        {
            bail!("SKILL_INACTIVITY_WARNING_SECS / timeouts.inactivity_warning_secs ({}) must be shorter than timeouts.inactivity_timeout_secs ({}), or 0 for no warning", timeouts.inactivity_warning_secs, timeouts.inactivity_timeout_secs);
        }
        if self.livechat.max_message_chars == 0 {
            bail!("livechat.max_message_chars must be greater than zero");
        }
        if self.application.max_activity_bytes < 1024 || self.application.max_webhook_bytes < 1024 {
            bail!("application.max_activity_bytes and application.max_webhook_bytes must be at least 1024");
        }
        if self.application.request_deadline_ms == 0 {
            bail!("application.request_deadline_ms must be greater than zero");
        }
        let files = &self.files;
        if files.max_file_bytes == 0 || files.max_files_per_message == 0 {
            bail!("SKILL_MAX_FILE_BYTES / files.max_file_bytes and files.max_files_per_message must be greater than zero");
        }
        if files.transfer_timeout_secs == 0 || files.max_concurrent_transfers == 0 {
            bail!("files.transfer_timeout_secs and files.max_concurrent_transfers must be greater than zero");
        }
        if files.link_expiry_days == 0 || files.link_expiry_days > 365 {
            bail!("SKILL_FILE_LINK_DAYS / files.link_expiry_days must be from 1 to 365");
        }
        for host in &files.allowed_hosts {
            host_pattern("SKILL_FILE_HOSTS / files.allowed_hosts", host)?;
        }
        for mime in &files.allowed_types {
            let valid = mime
                .split_once('/')
                .is_some_and(|(kind, subtype)| !kind.is_empty() && !subtype.is_empty());
            if !valid || mime.contains(char::is_whitespace) {
                bail!("files.allowed_types: '{mime}' is not a media type such as image/png");
            }
        }
        let delivery = &self.delivery;
        if delivery.teams_max_attempts == 0 {
            bail!("delivery.teams_max_attempts must be at least 1");
        }
        for (name, seconds) in [
            (
                "delivery.livechat_retry_for_secs",
                delivery.livechat_retry_for_secs,
            ),
            (
                "delivery.teams_retry_for_secs",
                delivery.teams_retry_for_secs,
            ),
        ] {
            if seconds == 0 || seconds > 7 * 86_400 {
                bail!("{name} must be between 1 and 604800 (a week)");
            }
        }
        if delivery.base_backoff_ms == 0 || delivery.max_backoff_ms < delivery.base_backoff_ms {
            bail!("delivery.base_backoff_ms must be positive and no larger than delivery.max_backoff_ms");
        }
        if delivery.poll_interval_ms == 0 || delivery.http_timeout_ms == 0 {
            bail!("delivery.poll_interval_ms and delivery.http_timeout_ms must be positive");
        }
        let longest_attempt_ms = self.longest_attempt().as_millis() as u64;
        if self.application.database_url.is_some()
            && delivery.claim_lease_ms < longest_attempt_ms.saturating_add(10_000)
        {
            bail!("delivery.claim_lease_ms ({}) must be at least 10 s longer than the longest attempt ({longest_attempt_ms} ms: delivery.http_timeout_ms or files.transfer_timeout_secs): an attempt that outlasts its claim could be made by a second instance too", delivery.claim_lease_ms);
        }
        for (name, windows) in [
            (
                "delivery.teams_conversation_windows",
                &delivery.teams_conversation_windows,
            ),
            (
                "delivery.teams_tenant_windows",
                &delivery.teams_tenant_windows,
            ),
        ] {
            if let Some(bad) = windows
                .iter()
                .find(|window| window.window_ms == 0 || window.sends == 0)
            {
                bail!(
                    "{name}: a window of {} ms for {} sends; both must be positive",
                    bad.window_ms,
                    bad.sends
                );
            }
        }
        if delivery.heartbeat_ms == 0
            || delivery.instance_silent_after_ms < delivery.heartbeat_ms.saturating_mul(3)
        {
            bail!("delivery.heartbeat_ms must be positive and delivery.instance_silent_after_ms at least three heartbeats ({} ms): one late heartbeat must not hand a live instance's claims to another", delivery.heartbeat_ms.saturating_mul(3));
        }
        if delivery.max_in_flight == 0 || delivery.max_in_memory < 100 {
            bail!(
                "delivery.max_in_flight must be positive and delivery.max_in_memory at least 100"
            );
        }

        if let Some(bot_app_id) = &self.bot.app_id {
            guid("BOT_APP_ID / bot.app_id", bot_app_id)?;
            if self.bot.app_secret.is_none() {
                bail!("BOT_APP_SECRET / bot.app_secret is required when BOT_APP_ID is set (it signs the proactive messages to Teams)");
            }
            if self.bot.tenant_id.is_none() {
                self.bot.tenant_id = self.auth.tenant_id.clone();
            }
            match &self.bot.tenant_id {
                Some(tenant) => tenant_name("BOT_TENANT_ID / bot.tenant_id", tenant)?,
                None => bail!("BOT_TENANT_ID / bot.tenant_id is required when BOT_APP_ID is set (or set SKILL_TENANT_ID)"),
            }
        }

        let Some(app_id) = self.auth.app_id.clone() else {
            // Anonymous mode checks no token, so nothing it does may carry the agent's identity or
            // reach beyond loopback.
            if self.bot.app_id.is_some() {
                bail!("BOT_APP_ID / bot.app_id is set but SKILL_APP_ID is not: in anonymous local mode anyone could have agent replies sent with the bot's token. Set SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID, or unset BOT_APP_ID");
            }
            if self.teams.service_url.is_some() {
                bail!("TEAMS_SERVICE_URL / teams.service_url is set but SKILL_APP_ID is not: anonymous local mode sends only to the loopback serviceUrl of each activity. Set SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID, or unset TEAMS_SERVICE_URL");
            }
            // Anonymous mode checks no token: reachable beyond this machine, anyone could open
            // live chats and write to agents.
            let bind = self.application.bind;
            if !bind.ip().is_loopback() {
                bail!("SKILL_BIND / application.bind is {bind}, beyond loopback, but SKILL_APP_ID is not set: anonymous local mode accepts requests without a token, so it only listens on loopback. Bind to 127.0.0.1, or set SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID");
            }
            let public = &self.application.public_url;
            if !is_loopback_url(public) {
                bail!("SKILL_PUBLIC_URL / application.public_url is {public}, beyond loopback, but SKILL_APP_ID is not set: anonymous local mode accepts requests without a token, so it must not be published (a dev tunnel included). Set SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID first");
            }
            return Ok(());
        };
        guid("SKILL_APP_ID / auth.app_id", &app_id)?;
        if self.auth.app_secret.is_none() {
            bail!("SKILL_APP_SECRET / auth.app_secret is required when SKILL_APP_ID is set (the skill signs its replies to Copilot Studio)");
        }
        let Some(tenant) = self.auth.tenant_id.clone() else {
            bail!("SKILL_TENANT_ID / auth.tenant_id is required when SKILL_APP_ID is set (the tenant of the skill's app registration)");
        };
        guid("SKILL_TENANT_ID / auth.tenant_id", &tenant)?;
        if self.auth.allowed_callers.is_empty() {
            match &self.bot.app_id {
                Some(bot_app_id) => self.auth.allowed_callers = vec![bot_app_id.clone()],
                None => bail!("SKILL_ALLOWED_CALLERS / auth.allowed_callers is required when SKILL_APP_ID is set: the Copilot Studio agent's app id, or * for any caller"),
            }
        }
        for caller in &self.auth.allowed_callers {
            if caller != "*" {
                guid("SKILL_ALLOWED_CALLERS / auth.allowed_callers", caller)?;
            }
        }
        if self.auth.allowed_issuers.is_empty() {
            self.auth.allowed_issuers = vec![
                BOT_FRAMEWORK_ISSUER.to_owned(),
                format!("https://sts.windows.net/{tenant}/"),
                format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            ];
        }
        if self.livechat.webhook_secret.is_none() && !self.livechat.allow_unsigned_webhooks {
            bail!("WEBHOOK_SECRET / livechat.webhook_secret is required when SKILL_APP_ID is set (the live chat signs its webhooks with it); set SKILL_ALLOW_UNSIGNED_WEBHOOKS=true only if something else authenticates the live chat");
        }
        Ok(())
    }
}

impl Settings {
    /// Genesys' settings: all there, its hosts https beyond loopback (they receive the client
    /// secret and the tokens), and its webhooks signed.
    fn validate_genesys(&self) -> anyhow::Result<()> {
        let genesys = &self.livechat.genesys;
        let (api, login) = genesys.hosts()?;
        http_url("GENESYS_API_URL / livechat.genesys.api_url", &api)?;
        http_url("GENESYS_LOGIN_URL / livechat.genesys.login_url", &login)?;
        https_beyond_loopback(
            "GENESYS_API_URL / livechat.genesys.api_url (it receives the OAuth tokens)",
            &api,
        )?;
        https_beyond_loopback(
            "GENESYS_LOGIN_URL / livechat.genesys.login_url (it receives GENESYS_CLIENT_SECRET)",
            &login,
        )?;
        for (name, value) in [
            (
                "GENESYS_CLIENT_ID / livechat.genesys.client_id",
                &genesys.client_id,
            ),
            (
                "GENESYS_INTEGRATION_ID / livechat.genesys.integration_id",
                &genesys.integration_id,
            ),
        ] {
            if value.as_deref().is_none_or(|value| value.trim().is_empty()) {
                bail!("{name} is required with LIVECHAT_KIND=genesys");
            }
        }
        if genesys.client_secret.is_none() {
            bail!("GENESYS_CLIENT_SECRET / livechat.genesys.client_secret is required with LIVECHAT_KIND=genesys");
        }
        if self.livechat.webhook_secret.is_none() && !self.livechat.allow_unsigned_webhooks {
            bail!("WEBHOOK_SECRET / livechat.webhook_secret is required with LIVECHAT_KIND=genesys: the Open Messaging integration's outbound webhook signature secret, which Genesys signs X-Hub-Signature-256 with");
        }
        Ok(())
    }
}

/// A URL of the built-in defaults.
#[allow(clippy::expect_used)] // The defaults are written above and parse; a typo fails every test.
fn default_url(text: &str) -> Url {
    Url::parse(text).expect("a built-in default URL parses")
}

/// Checks that `url` is http(s) with a host; the error names the setting.
fn http_url(name: &str, url: &Url) -> anyhow::Result<()> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("{name}: '{url}' must be an http or https URL");
    }
    Ok(())
}

/// Checks that `url` is https, or plain http to loopback only: it receives a key, a token, or
/// what decides which tokens are believed.
fn https_beyond_loopback(name: &str, url: &Url) -> anyhow::Result<()> {
    http_url(name, url)?;
    if url.scheme() != "https" && !is_loopback_url(url) {
        bail!("{name}: '{url}' must be https (plain http only to loopback)");
    }
    Ok(())
}

/// Checks a host pattern (`host` or `*.suffix`); the error names the setting.
fn host_pattern(name: &str, pattern: &str) -> anyhow::Result<()> {
    if pattern.contains("://") || pattern.contains('/') || pattern.trim().is_empty() {
        bail!("{name}: '{pattern}' must be a host name or *.suffix, without scheme or path");
    }
    Ok(())
}

/// True for the 8-4-4-4-12 hexadecimal form of a GUID.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups.iter().zip(lengths).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

fn guid(name: &str, value: &str) -> anyhow::Result<()> {
    if !is_guid(value) {
        bail!("{name}: '{value}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    }
    Ok(())
}

fn tenant_name(name: &str, value: &str) -> anyhow::Result<()> {
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        bail!("{name}: '{value}' is not a tenant id or domain");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKILL: &str = "11111111-1111-1111-1111-111111111111";
    const BOT: &str = "22222222-2222-2222-2222-222222222222";
    const TENANT: &str = "33333333-3333-3333-3333-333333333333";

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::of(pairs)
    }

    #[test]
    fn nothing_set_runs_locally_in_anonymous_mode() {
        let settings = Settings::load_from(None, &Environment::default()).unwrap();
        assert_eq!(settings.application.bind.to_string(), "127.0.0.1:5001");
        assert_eq!(
            settings.livechat.base_url.as_str(),
            "http://localhost:5000/"
        );
        assert!(settings.is_anonymous());
    }

    #[test]
    fn environment_overrides_and_callers_default_to_the_bot() {
        let settings = Settings::load_from(
            None,
            &env(&[
                ("SKILL_BIND", "0.0.0.0:6001"),
                ("SKILL_APP_ID", SKILL),
                ("SKILL_APP_SECRET", "s3cret"),
                ("SKILL_TENANT_ID", TENANT),
                ("BOT_APP_ID", BOT),
                ("BOT_APP_SECRET", "other"),
                ("WEBHOOK_SECRET", "shared"),
                ("SKILL_TRUSTED_HOSTS", "127.0.0.1, *.example.com"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.application.bind.to_string(), "0.0.0.0:6001");
        assert_eq!(settings.auth.allowed_callers, vec![BOT.to_string()]);
        assert_eq!(settings.bot.tenant_id.as_deref(), Some(TENANT));
        assert_eq!(
            settings.auth.trusted_hosts,
            vec!["127.0.0.1", "*.example.com"]
        );
        assert!(settings
            .auth
            .allowed_issuers
            .contains(&format!("https://sts.windows.net/{TENANT}/")));
        assert!(settings
            .auth
            .allowed_issuers
            .contains(&format!("https://login.microsoftonline.com/{TENANT}/v2.0")));
    }

    #[test]
    fn timeouts_default_to_ten_minutes_and_zero_switches_them_off() {
        let settings = Settings::load_from(None, &Environment::default()).unwrap();
        let timeouts = settings.timeouts.timeouts();
        assert_eq!(timeouts.queue, Some(Duration::from_secs(600)));
        assert_eq!(timeouts.inactivity_warning, Some(Duration::from_secs(300)));
        assert_eq!(timeouts.inactivity, Some(Duration::from_secs(600)));
        let off = Settings::load_from(
            None,
            &env(&[
                ("SKILL_QUEUE_TIMEOUT_SECS", "0"),
                ("SKILL_INACTIVITY_WARNING_SECS", "0"),
                ("SKILL_INACTIVITY_TIMEOUT_SECS", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(off.timeouts.timeouts(), crate::domain::Timeouts::default());
        let error = Settings::load_from(
            None,
            &env(&[
                ("SKILL_INACTIVITY_WARNING_SECS", "600"),
                ("SKILL_INACTIVITY_TIMEOUT_SECS", "300"),
            ]),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("inactivity_warning_secs"),
            "{error}"
        );
        let error =
            Settings::load_from(None, &env(&[("SKILL_QUEUE_TIMEOUT_SECS", "ten")])).unwrap_err();
        assert!(
            error.to_string().contains("SKILL_QUEUE_TIMEOUT_SECS"),
            "{error}"
        );
    }

    #[test]
    fn unsigned_webhooks_with_an_app_id_only_on_purpose() {
        let base = [
            ("SKILL_APP_ID", SKILL),
            ("SKILL_APP_SECRET", "x"),
            ("SKILL_TENANT_ID", TENANT),
            ("SKILL_ALLOWED_CALLERS", BOT),
        ];
        let mut pairs = base.to_vec();
        pairs.push(("SKILL_ALLOW_UNSIGNED_WEBHOOKS", "true"));
        let settings = Settings::load_from(None, &env(&pairs)).unwrap();
        assert!(settings.livechat.allow_unsigned_webhooks);
        let mut pairs = base.to_vec();
        pairs.push(("WEBHOOK_SECRET", "shared"));
        let settings = Settings::load_from(None, &env(&pairs)).unwrap();
        assert!(!settings.livechat.allow_unsigned_webhooks);
    }

    #[test]
    fn bad_settings_fail_naming_the_setting() {
        let genesys = [
            ("LIVECHAT_KIND", "genesys"),
            ("GENESYS_REGION", "mypurecloud.ie"),
            ("GENESYS_CLIENT_ID", "client"),
            ("GENESYS_CLIENT_SECRET", "secret"),
            ("GENESYS_INTEGRATION_ID", "integration"),
            ("WEBHOOK_SECRET", "webhook"),
        ];
        let without = |name: &str| -> Vec<(&str, &str)> {
            genesys
                .iter()
                .copied()
                .filter(|(key, _)| *key != name)
                .collect()
        };
        let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
            genesys
                .iter()
                .copied()
                .chain(extra.iter().copied())
                .collect()
        };
        let genesys_cases = [
            (without("GENESYS_CLIENT_SECRET"), "GENESYS_CLIENT_SECRET"),
            (without("GENESYS_CLIENT_ID"), "GENESYS_CLIENT_ID"),
            (without("GENESYS_INTEGRATION_ID"), "GENESYS_INTEGRATION_ID"),
            (
                without("WEBHOOK_SECRET"),
                "outbound webhook signature secret",
            ),
            (
                without("GENESYS_REGION"),
                "GENESYS_REGION (e.g. mypurecloud.com) or GENESYS_API_URL",
            ),
            (
                with(&[("GENESYS_API_URL", "http://api.genesys.example.com")]),
                "GENESYS_API_URL / livechat.genesys.api_url (it receives the OAuth tokens)",
            ),
            (
                with(&[("LIVECHAT_KIND", "zendesk")]),
                "LIVECHAT_KIND must be contoso or genesys",
            ),
        ];
        for (environment, expected) in &genesys_cases {
            let error = format!(
                "{:#}",
                Settings::load_from(None, &Environment::of(environment)).unwrap_err()
            );
            assert!(error.contains(expected), "{environment:?}: {error}");
        }
        let settings = Settings::load_from(None, &Environment::of(&genesys)).unwrap();
        assert_eq!(settings.livechat.kind, HubKind::Genesys);
        let (api, login) = settings.livechat.genesys.hosts().unwrap();
        assert_eq!(
            (api.as_str(), login.as_str()),
            (
                "https://api.mypurecloud.ie/",
                "https://login.mypurecloud.ie/"
            )
        );
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("SKILL_BIND", "nonsense")], "SKILL_BIND"),
            (&[("LIVECHAT_BASE_URL", "ftp://x")], "LIVECHAT_BASE_URL"),
            (&[("SKILL_PUBLIC_URL", "not a url")], "SKILL_PUBLIC_URL"),
            (&[("SKILL_APP_ID", "not-a-guid")], "SKILL_APP_ID"),
            (&[("SKILL_APP_ID", SKILL)], "SKILL_APP_SECRET"),
            (
                &[("SKILL_APP_ID", SKILL), ("SKILL_APP_SECRET", "x")],
                "SKILL_TENANT_ID",
            ),
            (
                &[
                    ("SKILL_APP_ID", SKILL),
                    ("SKILL_APP_SECRET", "x"),
                    ("SKILL_TENANT_ID", TENANT),
                ],
                "SKILL_ALLOWED_CALLERS",
            ),
            (&[("BOT_APP_ID", BOT)], "BOT_APP_SECRET"),
            (
                &[
                    ("BOT_APP_ID", BOT),
                    ("BOT_APP_SECRET", "x"),
                    ("BOT_TENANT_ID", TENANT),
                ],
                "BOT_APP_ID / bot.app_id is set but SKILL_APP_ID is not",
            ),
            (
                &[(
                    "TEAMS_SERVICE_URL",
                    "https://smba.trafficmanager.net/teams/",
                )],
                "TEAMS_SERVICE_URL / teams.service_url is set but SKILL_APP_ID is not",
            ),
            (
                &[
                    ("SKILL_APP_ID", SKILL),
                    ("SKILL_APP_SECRET", "x"),
                    ("SKILL_TENANT_ID", TENANT),
                    ("SKILL_ALLOWED_CALLERS", BOT),
                ],
                "WEBHOOK_SECRET / livechat.webhook_secret is required",
            ),
            (
                &[("SKILL_ALLOW_UNSIGNED_WEBHOOKS", "maybe")],
                "SKILL_ALLOW_UNSIGNED_WEBHOOKS",
            ),
            (
                &[("AZURE_AUTHORITY_HOST", "http://login.example.com")],
                "AZURE_AUTHORITY_HOST",
            ),
            (
                &[("SKILL_BIND", "0.0.0.0:5001")],
                "SKILL_BIND / application.bind is 0.0.0.0:5001, beyond loopback, but SKILL_APP_ID is not set",
            ),
            (
                &[("SKILL_PUBLIC_URL", "https://abc-5001.euw.devtunnels.ms")],
                "SKILL_PUBLIC_URL / application.public_url is https://abc-5001.euw.devtunnels.ms/, beyond loopback, but SKILL_APP_ID is not set",
            ),
            (
                &[("SKILL_OPENID_METADATA_URL", "http://keys.example.com/openid")],
                "SKILL_OPENID_METADATA_URL / auth.openid_metadata_url: 'http://keys.example.com/openid' must be https",
            ),
            (
                &[
                    ("LIVECHAT_BASE_URL", "http://livechat.example.com"),
                    ("LIVECHAT_API_KEY", "k"),
                ],
                "LIVECHAT_BASE_URL / livechat.base_url (it receives LIVECHAT_API_KEY",
            ),
            (
                &[("SKILL_ALLOWED_HOSTS", "https://skill.example.com")],
                "SKILL_ALLOWED_HOSTS",
            ),
            (
                &[("WEBHOOK_SECRET_PREVIOUS", "old")],
                "WEBHOOK_SECRET_PREVIOUS / livechat.webhook_previous_secret is set without WEBHOOK_SECRET",
            ),
            (
                &[("SKILL_TRUSTED_HOSTS", "https://x.com/")],
                "SKILL_TRUSTED_HOSTS",
            ),
            (
                &[("SKILL_FILE_HOSTS", "https://x.com/")],
                "SKILL_FILE_HOSTS",
            ),
            (&[("SKILL_FILE_LINK_DAYS", "0")], "SKILL_FILE_LINK_DAYS"),
            (&[("SKILL_MAX_FILE_BYTES", "lots")], "SKILL_MAX_FILE_BYTES"),
        ];
        for (pairs, expected) in cases {
            let error = Settings::load_from(None, &env(pairs))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(expected),
                "{pairs:?}: expected the error to name {expected}, got: {error}"
            );
        }
    }

    #[test]
    fn a_key_goes_over_plain_http_only_to_loopback_or_on_a_private_network_said_so() {
        let key = [("LIVECHAT_API_KEY", "k")];
        for (pairs, allowed) in [
            (vec![("LIVECHAT_BASE_URL", "http://127.0.0.1:5000")], true),
            (
                vec![("LIVECHAT_BASE_URL", "https://livechat.example.com")],
                true,
            ),
            (vec![("LIVECHAT_BASE_URL", "http://contoso:5000")], false),
            (
                vec![
                    ("LIVECHAT_BASE_URL", "http://contoso:5000"),
                    ("LIVECHAT_PLAIN_HTTP", "true"),
                ],
                true,
            ),
        ] {
            let mut pairs = pairs.clone();
            pairs.extend(key);
            assert_eq!(
                Settings::load_from(None, &env(&pairs)).is_ok(),
                allowed,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skill.toml");
        std::fs::write(&path, "[livechat]\nbase_ur = \"http://x\"\n").unwrap();
        let error = format!(
            "{:#}",
            Settings::load_from(Some(&path), &Environment::default()).unwrap_err()
        );
        assert!(error.contains("base_ur"), "{error}");
    }

    #[test]
    fn the_shipped_configuration_file_holds_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configuration/skill.toml");
        let shipped = Settings::load_from(Some(&path), &Environment::default()).unwrap();
        let built_in = Settings::load_from(None, &Environment::default()).unwrap();
        assert_eq!(
            format!("{shipped:#?}"),
            format!("{built_in:#?}"),
            "skill/configuration/skill.toml says what the defaults are: change both together"
        );
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let secret = uuid::Uuid::new_v4().to_string();
        let settings = Settings::load_from(
            None,
            &env(&[
                ("WEBHOOK_SECRET", secret.as_str()),
                ("LIVECHAT_API_KEY", secret.as_str()),
                ("SKILL_DATABASE_URL", secret.as_str()),
            ]),
        )
        .unwrap();
        assert!(!format!("{settings:?}").contains(&secret));
    }

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid(SKILL));
        assert!(!is_guid(""));
        assert!(!is_guid("1111111-1111-1111-1111-111111111111"));
        assert!(!is_guid("11111111-1111-1111-1111-11111111111g"));
    }
}
