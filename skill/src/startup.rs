//! Wiring: asks the [`Settings`] for what they describe (the listener, the store, the clients, the
//! credentials, the retry policies), puts the handover, its workers and the HTTP server together,
//! and runs them. Tests build exactly this, on port 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::configuration::{Settings, USER_AGENT};
use crate::handover::pacing::RateWindows;
use crate::handover::{
    Clock, Handover, HandoverParts, LiveChatCourier, OutboxWorker, PushedEvents, TimerWorker,
    WorkerLimits,
};
use crate::livechat::WebhookReader;
use crate::metrics::Metrics;
use crate::protocol::cards::FileLinks;
use crate::protocol::fetch::{clear_stale_staging, AttachmentFetcher};
use crate::protocol::{
    ConnectorClient, ReplySender, SkillEndpoint, TeamsCourier, TokenClient, TrustedHosts,
};
use crate::routes::manifest::SkillManifest;
use crate::routes::{self, RequestLimits};
use crate::store::Store;
use crate::tasks::DeferredWork;

/// The running skill: HTTP server plus outbox workers.
pub struct Application {
    port: u16,
    server: Server,
    workers: Vec<OutboxWorker>,
    timers: TimerWorker,
    /// What the live chat reports beside its webhook, when it does.
    pushed: Option<PushedEvents>,
    deferred: DeferredWork,
    store: Store,
    retention_days: u32,
    /// How often this instance says it is alive, and after how long silent another's claims are
    /// released (PostgreSQL).
    heartbeat: (Duration, Duration),
    /// Teams' windows, whose share each heartbeat sets from how many instances are live.
    windows: Arc<RateWindows>,
    /// Where customers' files wait between their fetch and their post, and when a leftover there
    /// is stale (longer than a delivery to the live chat is retried).
    staging: (std::path::PathBuf, Duration),
    /// The data directory's lock (SQLite only), held until the last outcome is recorded.
    lock: Option<service_support::lock::DataDirLock>,
    /// The skill endpoint, which takes up at start what a stop left unfinished.
    endpoint: web::Data<SkillEndpoint>,
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
        // Before the store: a second process on the same SQLite file refuses to start.
        let lock = match settings.application.database_url {
            None => Some(service_support::lock::DataDirLock::acquire(
                &settings.application.data_dir,
                "the skill",
                "SKILL_DATA_DIR",
            )?),
            Some(_) => None,
        };
        let listener = settings.application.listener()?;
        let port = listener.local_addr()?.port();
        let store = settings
            .application
            .open_store(settings.delivery.claim_lease_ms)
            .await?;
        let interrupted = store.recover_interrupted_sessions().await?;
        if interrupted > 0 {
            tracing::warn!(
                sessions = interrupted,
                "closed sessions whose opening was interrupted by a stop"
            );
        }
        let hub_kind = settings.livechat.kind.name();
        let metrics = Arc::new(Metrics::new(hub_kind)?);
        let delivery = &settings.delivery;
        let tokens_http = delivery.token_client()?;
        let deliveries_http = delivery.delivery_client()?;
        let hub = settings
            .livechat
            .hub(deliveries_http.clone(), &settings.files)?;
        let tokens = Arc::new(TokenClient::new(
            tokens_http.clone(),
            settings.auth.authority_host.clone(),
        ));
        let trusted = TrustedHosts::new(&settings.auth.trusted_hosts);
        let connector = Arc::new(ConnectorClient::new(
            deliveries_http,
            tokens.clone(),
            trusted.clone(),
        ));
        announce_mode(&settings, hub.webhooks.as_ref());
        let fetch_rules = settings
            .files
            .fetch_rules(&settings.application.data_dir, settings.is_anonymous());
        let staging = fetch_rules.staging.clone();
        let fetcher = Arc::new(AttachmentFetcher::new(
            fetch_rules,
            tokens,
            settings.bot.credential(),
            trusted,
            USER_AGENT,
        )?);

        let windows = Arc::new(RateWindows::new(delivery.teams_limits()));
        let teams = Arc::new(TeamsCourier::new(
            connector.clone(),
            settings.bot.credential(),
            settings.teams.target(&settings.bot),
            FileLinks::new(&settings.application.public_url),
            windows.clone(),
        ));
        let handover = Arc::new(Handover::new(
            store.clone(),
            hub.livechat.clone(),
            HandoverParts {
                metrics: metrics.clone(),
                livechat_timeout: settings.livechat.timeout(),
                typing: teams.clone(),
                typing_max_age: settings.livechat.typing_max_age(),
                timeouts: settings.timeouts.timeouts(),
                clock: clock.clone(),
                file_links_last: settings.files.links_last(),
                masker: settings.masker()?,
            },
        ));
        let followed = store.open_hub_conversations().await?;
        if !followed.is_empty() {
            tracing::info!(
                conversations = followed.len(),
                "following the open conversations again"
            );
        }
        hub.livechat.resume(followed);
        let pushed = hub.pushed.map(|events| PushedEvents {
            events,
            handover: handover.clone(),
        });
        let timers = TimerWorker {
            store: store.clone(),
            handover: handover.clone(),
            clock,
            tick: settings.timeouts.tick(),
        };
        let limits = WorkerLimits {
            max_in_flight: delivery.max_in_flight,
            max_in_memory: delivery.max_in_memory,
            max_transfers: settings.files.max_concurrent_transfers,
            longest_attempt: settings.longest_attempt(),
        };
        let worker = |courier, policy, pace| OutboxWorker {
            store: store.clone(),
            courier,
            handover: handover.clone(),
            policy,
            pace,
            poll_interval: delivery.poll_interval(),
            limits,
            metrics: metrics.clone(),
        };
        let workers = vec![
            worker(
                teams,
                delivery.teams_retry(),
                delivery.conversation_interval(),
            ),
            worker(
                Arc::new(LiveChatCourier {
                    livechat: hub.livechat.clone(),
                    files: fetcher,
                    transfers: tokio::runtime::Handle::current(),
                }),
                delivery.livechat_retry(),
                Duration::ZERO,
            ),
        ];

        let deferred = DeferredWork::on_current_runtime();
        let endpoint = web::Data::new(SkillEndpoint {
            auth: settings.auth.inbound_auth(tokens_http),
            content: settings
                .files
                .content_rules(settings.teams.target(&settings.bot)),
            handover: handover.clone(),
            replies: Arc::new(ReplySender::new(
                connector,
                settings.auth.skill_credentials(),
                delivery.reply_retry(),
            )),
            deferred: deferred.clone(),
            metrics: metrics.clone(),
            turns: store.clone(),
            masker: settings.masker()?,
        });
        let server = serve(
            listener,
            &settings,
            Shared {
                endpoint: endpoint.clone(),
                handover: web::Data::from(handover),
                manifest: web::Data::new(SkillManifest(settings.skill_manifest())),
                limits: web::Data::new(RequestLimits {
                    max_activity_bytes: settings.application.max_activity_bytes,
                    max_webhook_bytes: settings.application.max_webhook_bytes,
                    body_deadline: settings.application.request_deadline(),
                }),
                store: web::Data::new(store.clone()),
                webhooks: web::Data::from(hub.webhooks),
                metrics,
            },
        )?;
        tracing::info!(address = %settings.application.bind, port, "the skill is listening");
        Ok(Self {
            port,
            server,
            workers,
            timers,
            pushed,
            deferred,
            store,
            retention_days: settings.application.retention_days,
            heartbeat: (delivery.heartbeat(), delivery.instance_silent_after()),
            windows,
            staging: (
                staging,
                Duration::from_secs(delivery.livechat_retry_for_secs + 3_600),
            ),
            lock,
            endpoint,
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
    /// workers and waits for deferred work. What is not delivered stays in the store.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = CancellationToken::new();
        // The first heartbeat before the first send. Teams' windows are shared with the instances
        // it finds; one starting beside others, or at the same moment as another it cannot see
        // yet, sends nothing to Teams for two heartbeats, until each has heard of each other and
        // taken its smaller share.
        let (every, silent_after) = self.heartbeat;
        heartbeat(&self.store, &self.windows, silent_after).await;
        if self.store.dialect() == crate::store::Dialect::Postgres {
            self.windows
                .hold_until(std::time::Instant::now() + 2 * every);
        }
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
        if let Some(pushed) = self.pushed {
            tokio::spawn(pushed.run(shutdown.clone()));
        }
        // Requests answered 202 before a stop, whose replies were never sent.
        let endpoint = self.endpoint.clone();
        tokio::spawn(async move { endpoint.resume_unfinished_turns().await });
        let clock_sync = tokio::spawn(sync_clock_periodically(
            self.store.clone(),
            shutdown.clone(),
        ));
        let heartbeat = tokio::spawn(heartbeat_periodically(
            self.store.clone(),
            self.windows.clone(),
            self.heartbeat,
            shutdown.clone(),
        ));
        let purge = tokio::spawn(purge_periodically(
            self.store.clone(),
            self.retention_days,
            self.staging,
            shutdown.clone(),
        ));
        let served = self.server.await;
        tracing::info!("HTTP server stopped; stopping the workers");
        shutdown.cancel();
        if !self.deferred.finish(Duration::from_secs(15)).await {
            tracing::warn!("deferred work still running at shutdown was abandoned");
        }
        let _ = deliveries.await;
        let _ = purge.await;
        let _ = clock_sync.await;
        let _ = heartbeat.await;
        let _ = timers.await;
        // The workers' last outcomes are recorded without waiting; commit them before stopping.
        if let Err(error) = self.store.flush().await {
            tracing::warn!(error.cause_chain = ?error, "cannot record the last delivery outcomes; those deliveries are sent again on the next start");
        }
        match self.store.leave(self.store.now_ms()).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(
                deliveries = released,
                "released what this instance held to the other instances"
            ),
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, "cannot tell the other instances this one is leaving; they take over once it falls silent")
            }
        }
        drop(self.lock);
        served.context("the HTTP server failed")
    }
}

/// What every HTTP worker's app shares.
struct Shared {
    endpoint: web::Data<SkillEndpoint>,
    handover: web::Data<Handover>,
    manifest: web::Data<SkillManifest>,
    limits: web::Data<RequestLimits>,
    store: web::Data<Store>,
    webhooks: web::Data<dyn WebhookReader>,
    metrics: Arc<Metrics>,
}

/// The HTTP server on `listener`: the routes, with one light span and a latency sample per request.
fn serve(
    listener: std::net::TcpListener,
    settings: &Settings,
    shared: Shared,
) -> anyhow::Result<Server> {
    let metrics_data = web::Data::from(shared.metrics.clone());
    let hosts = web::Data::new(settings.application.allowed_hosts());
    Ok(HttpServer::new(move || {
        let metrics = shared.metrics.clone();
        App::new()
            .wrap(actix_web::middleware::from_fn(
                service_support::hosts::check_host,
            ))
            .app_data(hosts.clone())
            .wrap_fn(move |request, service| {
                // One light span per request (method, route, a request number and the status) and
                // its latency; 4xx answers are logged where they are decided, 5xx here.
                let started = Instant::now();
                let route = request
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned());
                let method = request.method().clone();
                let method_label = service_support::telemetry::method_label(method.as_str());
                let span = crate::telemetry::request_span(&method, &route);
                // A request from the live chat continues its trace (traces exported only).
                service_support::trace_context::adopt_from(&span, request.headers());
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
            .app_data(shared.endpoint.clone())
            .app_data(shared.handover.clone())
            .app_data(shared.manifest.clone())
            .app_data(shared.limits.clone())
            .app_data(shared.store.clone())
            .app_data(shared.webhooks.clone())
            .app_data(metrics_data.clone())
            .configure(routes::configure)
    })
    .workers(settings.application.http_workers())
    .client_request_timeout(settings.application.request_deadline())
    .shutdown_timeout(10)
    .listen(listener)?
    .run())
}

/// Every minute (PostgreSQL): measures the database's clock again, by which claims are kept.
async fn sync_clock_periodically(store: Store, shutdown: CancellationToken) {
    if store.dialect() != crate::store::Dialect::Postgres {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        if let Err(error) = store.sync_clock().await {
            tracing::warn!(error.cause_chain = ?error, "cannot read the database's clock; keeping the last offset");
        }
    }
}

/// Every `every` (PostgreSQL): says this instance is alive, and releases the claims of instances
/// silent for `silent_after`, so that a dead instance's conversations go on within seconds.
async fn heartbeat_periodically(
    store: Store,
    windows: Arc<RateWindows>,
    (every, silent_after): (Duration, Duration),
    shutdown: CancellationToken,
) {
    if store.dialect() != crate::store::Dialect::Postgres {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        heartbeat(&store, &windows, silent_after).await;
    }
}

/// Says this instance is alive (PostgreSQL), and takes its share of Teams' windows among the
/// live instances (an instance joining or falling silent changes every share within a heartbeat).
async fn heartbeat(store: &Store, windows: &RateWindows, silent_after: Duration) {
    let silent_after_ms = i64::try_from(silent_after.as_millis()).unwrap_or(i64::MAX / 4);
    match store.heartbeat(store.now_ms(), silent_after_ms).await {
        Ok(beat) => windows.share(beat.place, beat.live),
        Err(error) => {
            tracing::warn!(error.cause_chain = ?error, "cannot send this instance's heartbeat")
        }
    }
}

/// Hourly: deletes closed sessions, finished deliveries and links to agents' files older than the
/// retention (unless it is 0), and customers' files left in staging longer than a delivery lasts.
async fn purge_periodically(
    store: Store,
    retention_days: u32,
    (staging, stale_after): (std::path::PathBuf, Duration),
    shutdown: CancellationToken,
) {
    loop {
        if retention_days > 0 {
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
        }
        let folder = staging.clone();
        match tokio::task::spawn_blocking(move || clear_stale_staging(&folder, stale_after)).await {
            Ok(Ok(cleared)) if cleared > 0 => {
                tracing::info!(files = cleared, "deleted stale staged files")
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(error = %error, "cannot clear the staged files"),
            Err(error) => tracing::warn!(error = %error, "cannot clear the staged files"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60 * 60)) => {}
        }
    }
}

/// Says loudly which safety features are off.
fn announce_mode(settings: &Settings, livechat: &dyn WebhookReader) {
    if settings.is_anonymous() {
        tracing::warn!("ANONYMOUS LOCAL MODE: SKILL_APP_ID is not set, so /api/messages accepts requests without a token, and the skill sends (replies, agents' messages) only to loopback serviceUrls, expectReplies included. Set SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID to serve Copilot Studio.");
    }
    if !livechat.webhooks_are_signed() {
        tracing::warn!("UNSIGNED WEBHOOKS: WEBHOOK_SECRET is not set, so the webhook accepts any caller. Set the same WEBHOOK_SECRET here and in the live chat.");
    }
    if settings.bot.app_id.is_none() {
        tracing::warn!("BOT_APP_ID is not set: agents' replies are sent without a token, so they can only reach a loopback Teams stand-in.");
    }
    // Anonymous mode beyond loopback is refused by the settings.
    if !settings.application.bind.ip().is_loopback() {
        tracing::info!(bind = %settings.application.bind, "listening beyond loopback");
    }
}
