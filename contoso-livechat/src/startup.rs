//! Wiring: asks the [`Settings`] for what they describe, builds the store, the agents, the
//! webhook, typing and queue workers and the HTTP server, and runs them. Tests build exactly this,
//! on port 0, with a clock they stop.

use std::sync::Arc;

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::SameSite;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use service_support::clock::Clock;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::auth::{Agents, RevokedSessions};
use crate::configuration::{
    AgentRoster, Assignment, Settings, DEFAULT_AGENT_PASSWORD, DEFAULT_AGENT_USERNAME,
};
use crate::files::janitor::FilesJanitor;
use crate::presence::LivePages;
use crate::queue::QueueWorker;
use crate::routes;
use crate::routes::api::SessionApi;
use crate::routes::compose::ReplyLimit;
use crate::routes::pages::{CannedReplies, DefaultAgentHint};
use crate::store::{ConfiguredAgent, Store};
use crate::throttle::SignInThrottle;
use crate::typing::TypingWorker;
use crate::webhook::{WebhookClient, WebhookWorker};

/// The running app: HTTP server plus the webhook, typing and queue workers and the files' janitor.
pub struct Application {
    port: u16,
    server: Server,
    worker: WebhookWorker,
    typing: TypingWorker,
    queue: QueueWorker,
    janitor: FilesJanitor,
    /// The data directory's lock, held until the workers have stopped.
    lock: service_support::lock::DataDirLock,
}

/// Stops a running [`Application`] from outside.
#[derive(Clone)]
pub struct ApplicationHandle {
    server: ServerHandle,
}

impl ApplicationHandle {
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// [`Self::build`], with the queue's updates, presence and typing going by `clock` (tests
    /// stop it and move it).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        // Before the store: a second process on the same SQLite file refuses to start.
        let lock = service_support::lock::DataDirLock::acquire(
            &settings.application.data_dir,
            "Contoso Live Chat",
            "LIVECHAT_DATA_DIR",
        )?;
        let listener = settings.application.listener()?;
        let port = listener.local_addr()?.port();
        let store = Store::open(&settings.application.data_dir, clock.clone())
            .await?
            .with_file_space(settings.files.max_total_bytes)
            .with_masker(settings.masker()?)
            .with_required_wrap_up(settings.wrap_up.required_within());
        let file_store = Arc::new(settings.files.file_store(&settings.application.data_dir)?);
        if settings.files.clamd.is_none() {
            tracing::info!(
                "files are not scanned for malware (files.clamd / LIVECHAT_CLAMD is not set)"
            );
        }
        let roster = settings.effective_agents()?;
        let hint = if let AgentRoster::DefaultLocal(_) = roster {
            tracing::warn!(username = DEFAULT_AGENT_USERNAME, "no agents are configured: the default local agent can sign in (its password is on the sign-in page, which only loopback can reach); set LIVECHAT_AGENT_NAME and LIVECHAT_AGENT_PASSWORD, or [[agents]], for anything but a local run");
            Some(DefaultAgentHint {
                username: DEFAULT_AGENT_USERNAME.to_owned(),
                password: DEFAULT_AGENT_PASSWORD.to_owned(),
            })
        } else {
            None
        };
        if settings.api.key.is_none() {
            tracing::warn!("LIVECHAT_API_KEY is not set: the session API (/api/chat/*) is open to anyone who can reach this port");
        }
        if settings.webhook.secret.is_none() {
            tracing::warn!("WEBHOOK_SECRET is not set: webhooks to the skill are not signed");
        }
        let configured = roster.agents();
        store
            .sync_agents(
                configured
                    .iter()
                    .map(|agent| ConfiguredAgent {
                        username: agent.username.clone(),
                        display_name: agent.display_name.clone(),
                        capacity: agent.capacity.unwrap_or(settings.routing.default_capacity),
                    })
                    .collect(),
            )
            .await?;
        let agents = web::Data::new(Agents::new(configured)?);
        let throttle = web::Data::new(SignInThrottle::new(
            settings.application.client_ip_header.clone(),
            clock.clone(),
        ));
        let revoked = web::Data::new(RevokedSessions::default());
        let deadline = settings.application.request_deadline();
        let body_deadline = web::Data::new(crate::deadline::BodyDeadline {
            body: deadline,
            upload: settings.files.upload_deadline(),
        });
        let pages = Arc::new(LivePages::new(clock.clone()));
        let pages_data = web::Data::from(pages.clone());
        let metrics = Arc::new(crate::metrics::Metrics::new()?);
        let metrics_data = web::Data::from(metrics.clone());
        let client = Arc::new(WebhookClient {
            http: settings.webhook.http_client()?,
            settings: settings.webhook.clone(),
            metrics,
        });
        let worker = WebhookWorker {
            store: store.clone(),
            client: client.clone(),
        };
        let (relay, typing) = crate::typing::relay(&settings.typing, client, clock.clone());
        let relay = web::Data::new(relay);
        let queue = QueueWorker {
            store: store.clone(),
            pages,
            settings: settings.routing.clone(),
        };
        let janitor = FilesJanitor {
            store: store.clone(),
            files: file_store.clone(),
            retention: settings.files.retention(),
            conversation_retention: settings.privacy.retention(),
            interval: settings.files.janitor_interval(),
            clock: clock.clone(),
        };
        let files_data = web::Data::from(file_store);
        let canned = web::Data::new(CannedReplies(settings.canned_replies()));
        let session_key = settings.application.session_key();
        let secure_cookies = settings.application.secure_cookies();
        let hosts = web::Data::new(settings.application.allowed_hosts());
        let static_dir = settings.application.static_dir();
        if !static_dir.join("app.css").is_file() {
            tracing::warn!(folder = %static_dir.display(), "the pages' static files are not in this folder: the pages will lack their styles and scripts (set LIVECHAT_STATIC_DIR)");
        }
        let session_api = web::Data::new(SessionApi {
            keys: [&settings.api.key, &settings.api.previous_key]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            max_body_bytes: settings.api.max_body_bytes,
            max_message_chars: settings.api.max_message_chars,
            auto_assign: settings.routing.assignment == Assignment::Auto,
            hours: settings.business_hours()?,
            clock: clock.clone(),
        });
        let store_data = web::Data::new(store);
        let hint = web::Data::new(hint);
        let reply_limit = web::Data::new(ReplyLimit(settings.api.max_message_chars));
        let wrap_up = web::Data::new(settings.wrap_up.clone());
        let routing = web::Data::new(settings.routing.clone());
        let page_clock = web::Data::new(clock.clone());
        let business_hours = web::Data::new(settings.business_hours()?);
        let form_limit = settings.api.max_body_bytes;
        let workers = settings.application.http_workers();

        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                .cookie_name("contoso_livechat".to_owned())
                .cookie_secure(secure_cookies)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Strict)
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(PersistentSession::default().session_ttl(actix_web::cookie::time::Duration::hours(12)))
                .build();
            App::new()
                .wrap(actix_web::middleware::from_fn(crate::deadline::limit_body))
                .wrap(sessions)
                .wrap(
                    DefaultHeaders::new()
                        .add(("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"))
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "same-origin")),
                )
                .wrap(actix_web::middleware::from_fn(crate::metrics::time_requests))
                .wrap(actix_web::middleware::from_fn(service_support::hosts::check_host))
                .wrap(TracingLogger::<crate::telemetry::RequestSpans>::new())
                .app_data(hosts.clone())
                .app_data(metrics_data.clone())
                .app_data(web::FormConfig::default().limit(form_limit))
                .app_data(store_data.clone())
                .app_data(agents.clone())
                .app_data(throttle.clone())
                .app_data(revoked.clone())
                .app_data(pages_data.clone())
                .app_data(relay.clone())
                .app_data(canned.clone())
                .app_data(body_deadline.clone())
                .app_data(session_api.clone())
                .app_data(hint.clone())
                .app_data(reply_limit.clone())
                .app_data(files_data.clone())
                .app_data(wrap_up.clone())
                .app_data(routing.clone())
                .app_data(page_clock.clone())
                .app_data(business_hours.clone())
                .configure(|config| routes::configure(config, &static_dir))
        })
        .workers(workers)
        .client_request_timeout(deadline)
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        tracing::info!(address = %settings.application.bind, port, "Contoso Live Chat is listening");
        Ok(Self {
            port,
            server,
            worker,
            typing,
            queue,
            janitor,
            lock,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ApplicationHandle {
        ApplicationHandle {
            server: self.server.handle(),
        }
    }

    /// Serves until stopped, then stops the webhook worker; undelivered replies stay pending.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = CancellationToken::new();
        let worker = tokio::spawn(self.worker.run(shutdown.clone()));
        let typing = tokio::spawn(self.typing.run(shutdown.clone()));
        let queue = tokio::spawn(self.queue.run(shutdown.clone()));
        let janitor = tokio::spawn(self.janitor.run(shutdown.clone()));
        let served = self.server.await;
        shutdown.cancel();
        let _ = worker.await;
        let _ = typing.await;
        let _ = queue.await;
        let _ = janitor.await;
        drop(self.lock);
        served.context("the HTTP server failed")
    }
}
