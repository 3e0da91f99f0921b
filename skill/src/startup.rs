//! Wiring: builds every collaborator from [`Settings`], binds the listener and runs the HTTP server
//! and the outbox workers. Tests build exactly this, on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use url::Url;

use crate::configuration::Settings;
use crate::handover::{
    Clock, Handover, HandoverParts, LiveChatCourier, OutboxWorker, RetryPolicy, TimerWorker,
    WorkerLimits,
};
use crate::http::HttpClient;
use crate::livechat::{ContosoLiveChat, LiveChat};
use crate::metrics::Metrics;
use crate::protocol::manifest::skill_manifest;
use crate::protocol::{
    ClientCredentials, ConnectorClient, InboundAuth, OutboundCredential, ReplySender,
    SkillEndpoint, TeamsCourier, TeamsTarget, TokenClient, TrustedHosts,
};
use crate::routes::manifest::SkillManifest;
use crate::routes::{self, RequestLimits};
use crate::store::Store;
use crate::tasks::Background;

/// Scope of proactive messages to Teams.
const BOT_FRAMEWORK_SCOPE: &str = "https://api.botframework.com/.default";

/// The running skill: HTTP server plus outbox workers.
pub struct Application {
    port: u16,
    server: Server,
    workers: Vec<OutboxWorker>,
    timers: TimerWorker,
    background: Background,
    store: Store,
    retention_days: u32,
}

/// Stops a running [`Application`] from outside (tests, embedding).
#[derive(Clone)]
pub struct ApplicationHandle {
    server: ServerHandle,
}

impl ApplicationHandle {
    /// Stops accepting requests, finishes those in flight, then the workers stop.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

impl Application {
    /// Builds everything and binds the listener; nothing is served until [`Self::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// [`Self::build`], with the timers going by `clock` (tests pause it).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.application.bind).with_context(|| {
            format!(
                "cannot listen on {} (SKILL_BIND)",
                settings.application.bind
            )
        })?;
        let port = listener.local_addr()?.port();

        // Redirects are never followed: a token must not travel to a host nobody vetted.
        let http = reqwest::Client::builder()
            .timeout(settings.delivery.http_timeout())
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("handover-skill/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .retry(reqwest::retry::never())
            .tcp_nodelay(true)
            .build()
            .context("cannot build the HTTP client")?;

        let database_url = settings
            .application
            .database_url
            .as_ref()
            .map(|url| url.expose_secret().to_owned());
        let store = Store::open(database_url.as_deref(), &settings.application.data_dir).await?;
        let interrupted = store.recover_interrupted_sessions().await?;
        if interrupted > 0 {
            tracing::warn!(
                sessions = interrupted,
                "closed sessions whose opening was interrupted by a stop"
            );
        }
        let metrics = Arc::new(Metrics::new()?);
        // The calls made for every message go through the lean client; tokens and signing keys
        // through reqwest.
        let deliveries = HttpClient::new(
            settings.delivery.http_timeout(),
            Duration::from_secs(5),
            concat!("handover-skill/", env!("CARGO_PKG_VERSION")),
        )?;
        let livechat: Arc<dyn LiveChat> = Arc::new(ContosoLiveChat::from_settings(
            deliveries.clone(),
            &settings.livechat,
        )?);
        let tokens = Arc::new(TokenClient::new(
            http.clone(),
            Url::parse(&settings.auth.authority_host)?,
        ));
        let connector = Arc::new(ConnectorClient::new(
            deliveries,
            tokens,
            TrustedHosts::new(&settings.auth.trusted_hosts),
        ));

        let skill_credentials = match (
            &settings.auth.app_id,
            &settings.auth.app_secret,
            &settings.auth.tenant_id,
        ) {
            (Some(client_id), Some(client_secret), Some(tenant)) => Some(ClientCredentials {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                tenant: tenant.clone(),
            }),
            _ => None,
        };
        let bot_credential = match (
            &settings.bot.app_id,
            &settings.bot.app_secret,
            &settings.bot.tenant_id,
        ) {
            (Some(client_id), Some(client_secret), Some(tenant)) => OutboundCredential::App {
                credentials: ClientCredentials {
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    tenant: tenant.clone(),
                },
                scope: BOT_FRAMEWORK_SCOPE.to_owned(),
            },
            _ => OutboundCredential::Anonymous,
        };
        announce_mode(&settings, livechat.as_ref());

        let teams = Arc::new(TeamsCourier::new(
            connector.clone(),
            bot_credential,
            TeamsTarget {
                service_url_override: settings.teams.service_url.clone(),
                bot_app_id: settings.bot.app_id.clone(),
            },
        ));
        let handover = Arc::new(Handover::new(
            store.clone(),
            livechat.clone(),
            HandoverParts {
                metrics: metrics.clone(),
                livechat_timeout: settings.livechat.timeout(),
                typing: teams.clone(),
                timeouts: settings.timeouts.timeouts(),
                clock: clock.clone(),
            },
        ));
        let timers = TimerWorker {
            store: store.clone(),
            handover: handover.clone(),
            clock,
            tick: settings.timeouts.tick(),
        };
        let delivery = &settings.delivery;
        let limits = WorkerLimits {
            max_in_flight: delivery.max_in_flight,
            max_in_memory: delivery.max_in_memory,
        };
        let workers = vec![
            OutboxWorker {
                store: store.clone(),
                courier: teams,
                handover: handover.clone(),
                policy: RetryPolicy {
                    max_attempts: delivery.teams_max_attempts,
                    retry_for: None,
                    base: delivery.base_backoff(),
                    max: delivery.max_backoff(),
                },
                pace: delivery.conversation_interval(),
                poll_interval: delivery.poll_interval(),
                limits,
                metrics: metrics.clone(),
            },
            OutboxWorker {
                store: store.clone(),
                courier: Arc::new(LiveChatCourier {
                    livechat: livechat.clone(),
                }),
                handover: handover.clone(),
                policy: RetryPolicy {
                    // Outages are waited out for a time, not a count of attempts.
                    max_attempts: u32::MAX,
                    retry_for: Some(delivery.livechat_retry_for()),
                    base: delivery.base_backoff(),
                    max: delivery.max_backoff(),
                },
                pace: Duration::ZERO,
                poll_interval: delivery.poll_interval(),
                limits,
                metrics: metrics.clone(),
            },
        ];

        let background = Background::on_current_runtime();
        let endpoint = web::Data::new(SkillEndpoint {
            auth: InboundAuth::from_settings(&settings, http.clone()),
            handover: handover.clone(),
            replies: Arc::new(ReplySender::new(connector, skill_credentials)),
            background: background.clone(),
            metrics: metrics.clone(),
        });
        let handover_data = web::Data::from(handover);
        let manifest = web::Data::new(SkillManifest(skill_manifest(&settings)));
        let limits = web::Data::new(RequestLimits {
            max_activity_bytes: settings.application.max_activity_bytes,
            max_webhook_bytes: settings.application.max_webhook_bytes,
            body_deadline: Duration::from_millis(settings.application.request_deadline_ms),
        });
        let store_data = web::Data::new(store.clone());
        let livechat_data: web::Data<dyn LiveChat> = web::Data::from(livechat);
        let metrics_data = web::Data::from(metrics.clone());
        let http_workers = match settings.application.http_workers {
            0 => std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            n => n,
        };

        let server = HttpServer::new(move || {
            let metrics = metrics.clone();
            App::new()
                .wrap_fn(move |request, service| {
                    // One light span per request (method, route, a request number and the status)
                    // and its latency; 4xx answers are logged where they are decided, 5xx here.
                    let started = Instant::now();
                    let route = request
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned());
                    let method = request.method().clone();
                    // Known methods only as labels: a caller cannot grow /metrics without bound.
                    let method_label: &'static str = match method.as_str() {
                        "GET" => "GET",
                        "POST" => "POST",
                        "PUT" => "PUT",
                        "DELETE" => "DELETE",
                        "HEAD" => "HEAD",
                        "OPTIONS" => "OPTIONS",
                        "PATCH" => "PATCH",
                        _ => "other",
                    };
                    let span = crate::telemetry::request_span(&method, &route);
                    let metrics = metrics.clone();
                    let response = span.in_scope(|| service.call(request));
                    async move {
                        let response = response.instrument(span.clone()).await?;
                        let status = response.status();
                        span.record("status", status.as_u16());
                        if status.is_server_error() {
                            tracing::error!(parent: &span, route = %route, status = status.as_u16(), "request failed");
                        }
                        metrics
                            .request_duration
                            .with_label_values(&[&route, method_label, status.as_str()])
                            .observe(started.elapsed().as_secs_f64());
                        Ok(response)
                    }
                })
                .app_data(endpoint.clone())
                .app_data(handover_data.clone())
                .app_data(manifest.clone())
                .app_data(limits.clone())
                .app_data(store_data.clone())
                .app_data(livechat_data.clone())
                .app_data(metrics_data.clone())
                .configure(routes::configure)
        })
        .workers(http_workers)
        .client_request_timeout(Duration::from_millis(settings.application.request_deadline_ms))
        .shutdown_timeout(10)
        .listen(listener)?
        .run();

        tracing::info!(address = %settings.application.bind, port, "the skill is listening");
        Ok(Self {
            port,
            server,
            workers,
            timers,
            background,
            store,
            retention_days: settings.application.retention_days,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ApplicationHandle {
        ApplicationHandle {
            server: self.server.handle(),
        }
    }

    /// Serves until stopped (Ctrl+C, SIGTERM or [`ApplicationHandle::stop`]), then stops the outbox
    /// workers and waits for background work. What is not delivered stays in the store.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = CancellationToken::new();
        // Both outbox workers share a thread of their own (see `tasks::on_own_thread`).
        let lanes = self
            .workers
            .into_iter()
            .map(|worker| worker.run(shutdown.clone()))
            .collect::<Vec<_>>();
        let deliveries = crate::tasks::on_own_thread("outbox", async move {
            futures_util::future::join_all(lanes).await;
        })?;
        let timers = tokio::spawn(self.timers.run(shutdown.clone()));
        let purge = tokio::spawn(purge_periodically(
            self.store.clone(),
            self.retention_days,
            shutdown.clone(),
        ));
        let served = self.server.await;
        tracing::info!("HTTP server stopped; stopping the workers");
        shutdown.cancel();
        if !self.background.finish(Duration::from_secs(15)).await {
            tracing::warn!("background work still running at shutdown was abandoned");
        }
        let _ = deliveries.await;
        let _ = purge.await;
        let _ = timers.await;
        // The workers' last outcomes are recorded without waiting; commit them before stopping.
        if let Err(error) = self.store.flush().await {
            tracing::warn!(error.cause_chain = ?error, "cannot record the last delivery outcomes; those deliveries are sent again on the next start");
        }
        served.context("the HTTP server failed")
    }
}

/// Deletes closed sessions and finished deliveries older than the retention, hourly.
async fn purge_periodically(store: Store, retention_days: u32, shutdown: CancellationToken) {
    if retention_days == 0 {
        return;
    }
    loop {
        let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days)))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match store.purge_finished(&cutoff).await {
            Ok(purged) if purged.sessions + purged.deliveries > 0 => tracing::info!(
                sessions = purged.sessions,
                deliveries = purged.deliveries,
                retention_days,
                "purged finished sessions and deliveries"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, "cannot purge finished sessions")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60 * 60)) => {}
        }
    }
}

/// Says loudly which safety features are off.
fn announce_mode(settings: &Settings, livechat: &dyn LiveChat) {
    if settings.is_anonymous() {
        tracing::warn!("ANONYMOUS LOCAL MODE: SKILL_APP_ID is not set, so /api/messages accepts requests without a token, and the skill sends (replies, agents' messages) only to loopback serviceUrls, expectReplies included. Set SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID to serve Copilot Studio.");
    }
    if !livechat.webhooks_are_signed() {
        tracing::warn!("UNSIGNED WEBHOOKS: WEBHOOK_SECRET is not set, so /api/livechat/messages accepts any caller. Set the same WEBHOOK_SECRET here and in the live chat.");
    }
    if settings.bot.app_id.is_none() {
        tracing::warn!("BOT_APP_ID is not set: agents' replies are sent without a token, so they can only reach a loopback Teams stand-in.");
    }
    let bind_is_loopback = settings
        .application
        .bind
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|address| address.ip().is_loopback());
    if !bind_is_loopback && settings.is_anonymous() {
        tracing::warn!(bind = %settings.application.bind, "ANONYMOUS MODE BEYOND LOOPBACK: anyone who can reach this address can open live chats and write to agents without a token (replies still go only to loopback). Bind to 127.0.0.1, or set SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID.");
    } else if !bind_is_loopback {
        tracing::info!(bind = %settings.application.bind, "listening beyond loopback");
    }
}
