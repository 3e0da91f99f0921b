//! A local stand-in for Copilot Studio and Teams, so the whole handover runs on one machine with no
//! Microsoft account: a web chat where a "Teams user" talks to the Contoso Agent.
//!
//! It runs the solution's own topics ([`engine`]), invokes the real skill over the real skill
//! protocol (the skill's anonymous local mode: no tokens, loopback only), and receives what the skill
//! sends back on Bot Connector endpoints of its own: in-turn replies at
//! `/connector/v3/conversations/{id}/activities/{activityId}`, proactive messages (the live agent's
//! replies, which the skill sends to Teams) at `/connector/v3/conversations/{id}/activities`.
//! The page shows each line as it arrives over server-sent events. The user may attach a picture
//! or a file, sent to the skill the way Teams and Copilot Studio send them (`files.rs`); pictures
//! and file cards the agent sends are shown as Teams shows them.

pub mod engine;
pub mod files;
pub mod markdown;
pub mod topics;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::solution::Solution;
use engine::{Engine, Output};
use topics::Agent;

/// How long a skill action may take to end before the stand-in gives up on it.
const SKILL_ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the stand-in (environment: `EMULATOR_BIND`, `SKILL_ENDPOINT`, `EMULATOR_USER_NAME`).
#[derive(Debug, Clone)]
pub struct EmulatorSettings {
    pub bind: String,
    pub skill_endpoint: String,
    pub user_name: String,
    pub source: PathBuf,
}

impl EmulatorSettings {
    pub fn from_environment(source: PathBuf) -> anyhow::Result<Self> {
        let get = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let settings = Self {
            bind: get("EMULATOR_BIND", "127.0.0.1:5002"),
            skill_endpoint: get("SKILL_ENDPOINT", "http://127.0.0.1:5001/api/messages"),
            user_name: get("EMULATOR_USER_NAME", "Megan Bowen"),
            source,
        };
        settings
            .bind
            .parse::<std::net::SocketAddr>()
            .map_err(|_| anyhow::anyhow!("EMULATOR_BIND: '{}' is not host:port", settings.bind))?;
        let endpoint = url::Url::parse(&settings.skill_endpoint).map_err(|_| {
            anyhow::anyhow!("SKILL_ENDPOINT: '{}' is not a URL", settings.skill_endpoint)
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            anyhow::bail!(
                "SKILL_ENDPOINT: '{}' must be http or https",
                settings.skill_endpoint
            );
        }
        Ok(settings)
    }
}

/// A line of the chat.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub seq: u64,
    /// `user`, `bot` (the agent's words and the skill's messages, all from the bot's account, as in
    /// Teams) or `system`.
    pub role: String,
    pub sender: String,
    /// The text as shown, without its styles.
    pub text: String,
    /// The text as shown, in runs of one style each (Teams Markdown rendered, nothing undone).
    pub parts: Vec<markdown::Run>,
    /// Pictures, cards and files the line carries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shown: Vec<files::Shown>,
    pub timestamp: String,
}

struct Conversation {
    id: String,
    engine: Engine,
    /// The attachments of the user's message being sent, for the skill's message action.
    attachments: Vec<Value>,
}

/// The stand-in's shared state.
pub struct Emulator {
    settings: EmulatorSettings,
    agent: Agent,
    http: reqwest::Client,
    public_base: String,
    /// One conversation; the turn lock serialises user turns and skill callbacks.
    conversation: tokio::sync::Mutex<Conversation>,
    lines: Mutex<Vec<Line>>,
    /// What the user attached.
    uploads: Mutex<files::Uploads>,
    latest: watch::Sender<u64>,
    /// Counts the typing activities the skill sent: each shows the indicator for a while.
    typing: watch::Sender<u64>,
}

impl Emulator {
    fn new(settings: EmulatorSettings, agent: Agent, public_base: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        let engine = Engine::new(agent.clone(), "msteams");
        let (latest, _) = watch::channel(0);
        let (typing, _) = watch::channel(0);
        Ok(Self {
            settings,
            agent,
            http,
            public_base,
            conversation: tokio::sync::Mutex::new(Conversation {
                id: format!("local-{}", uuid::Uuid::new_v4()),
                engine,
                attachments: Vec::new(),
            }),
            lines: Mutex::new(Vec::new()),
            uploads: Mutex::new(files::Uploads::default()),
            latest,
            typing,
        })
    }

    fn push_line(&self, role: &str, sender: &str, text: &str) {
        self.push_runs(
            role,
            sender,
            vec![markdown::Run {
                text: text.to_owned(),
                ..markdown::Run::default()
            }],
        );
    }

    fn push_runs(&self, role: &str, sender: &str, parts: Vec<markdown::Run>) {
        self.push_line_with(role, sender, parts, Vec::new());
    }

    fn push_line_with(
        &self,
        role: &str,
        sender: &str,
        parts: Vec<markdown::Run>,
        shown: Vec<files::Shown>,
    ) {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let seq = lines.last().map(|line| line.seq + 1).unwrap_or(1);
        lines.push(Line {
            seq,
            role: role.into(),
            sender: sender.into(),
            text: markdown::plain(&parts),
            parts,
            shown,
            timestamp: chrono::Utc::now().to_rfc3339(),
        });
        drop(lines);
        self.latest.send_replace(seq);
    }

    fn lines_after(&self, seq: u64) -> Vec<Line> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|line| line.seq > seq)
            .cloned()
            .collect()
    }

    /// Carries out the engine's outputs; a skill that cannot be reached ends its action with an error.
    async fn perform(self: &Arc<Self>, conversation: &mut Conversation, outputs: Vec<Output>) {
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            match output {
                Output::Say(text) => self.push_line("bot", &self.agent.name, &text),
                Output::InvokeSkill {
                    activity_id,
                    action_id,
                    activity_type,
                    value,
                    text,
                } => {
                    let mut activity = self.skill_activity(
                        &conversation.id,
                        &activity_id,
                        &action_id,
                        &activity_type,
                        value,
                        text,
                    );
                    if activity_type == "message" && !conversation.attachments.is_empty() {
                        activity["attachments"] =
                            Value::Array(std::mem::take(&mut conversation.attachments));
                    }
                    match self
                        .http
                        .post(&self.settings.skill_endpoint)
                        .json(&activity)
                        .send()
                        .await
                    {
                        Ok(response) if response.status().is_success() => {
                            tracing::info!(
                                action_id,
                                status = response.status().as_u16(),
                                "skill action invoked"
                            );
                            if activity_type == "event" {
                                self.expire_later(activity_id);
                            }
                        }
                        Ok(response) => {
                            let reason =
                                format!("the handoff skill answered {}", response.status());
                            queue.extend(conversation.engine.skill_failed(&activity_id, &reason));
                        }
                        Err(error) => {
                            let reason = format!(
                                "the handoff skill is not reachable at {} ({})",
                                self.settings.skill_endpoint,
                                error.without_url()
                            );
                            queue.extend(conversation.engine.skill_failed(&activity_id, &reason));
                        }
                    }
                }
            }
        }
    }

    fn expire_later(self: &Arc<Self>, activity_id: String) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SKILL_ACTION_TIMEOUT).await;
            let mut conversation = this.conversation.lock().await;
            let outputs = conversation.engine.skill_failed(
                &activity_id,
                "the handoff skill did not finish the action in time",
            );
            this.perform(&mut conversation, outputs).await;
        });
    }

    fn skill_activity(
        &self,
        conversation_id: &str,
        activity_id: &str,
        action_id: &str,
        activity_type: &str,
        value: serde_json::Map<String, Value>,
        text: Option<String>,
    ) -> Value {
        let mut activity = json!({
            "type": activity_type,
            "id": activity_id,
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "serviceUrl": format!("{}/connector/", self.public_base),
            "channelId": "msteams",
            "from": { "id": "29:local-teams-user", "name": self.settings.user_name, "aadObjectId": "00000000-0000-0000-0000-00000000beef" },
            "recipient": { "id": "handoff-skill", "role": "skill" },
            "conversation": { "id": conversation_id, "tenantId": "local-tenant" },
            "locale": "en-US",
            "value": value,
        });
        if activity_type == "event" {
            activity["name"] = json!(action_id);
        }
        if let Some(text) = text {
            activity["text"] = json!(text);
        }
        activity
    }
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("../../static/emulator.html"))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(include_str!("../../static/emulator.js"))
}

async fn styles() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(include_str!("../../static/emulator.css"))
}

#[derive(Deserialize)]
struct After {
    after: Option<u64>,
}

async fn lines(emulator: web::Data<Emulator>, query: web::Query<After>) -> HttpResponse {
    HttpResponse::Ok().json(emulator.lines_after(query.after.unwrap_or(0)))
}

#[derive(Deserialize)]
struct UserMessage {
    #[serde(default)]
    text: String,
    /// A file attached with `POST /chat/files`, and how it is sent.
    #[serde(default)]
    attachment: Option<AttachedFile>,
}

#[derive(Deserialize)]
struct AttachedFile {
    id: String,
    #[serde(rename = "as")]
    sent_as: files::SentAs,
}

async fn user_says(emulator: web::Data<Emulator>, body: web::Json<UserMessage>) -> HttpResponse {
    let text = body.text.trim();
    let emulator = emulator.into_inner();
    let attached = match &body.attachment {
        Some(file) => {
            let uploads = emulator
                .uploads
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let Some(upload) = uploads.get(&file.id) else {
                return HttpResponse::BadRequest()
                    .json(json!({"error": "attach the file again: it is no longer kept"}));
            };
            let shown = match file.sent_as {
                files::SentAs::Picture => files::Shown::Picture {
                    url: format!("/chat/files/{}", upload.id),
                    name: upload.name.clone(),
                },
                files::SentAs::File => files::Shown::File {
                    name: upload.name.clone(),
                    note: "sent as a Teams file".into(),
                },
                files::SentAs::Reference => files::Shown::File {
                    name: upload.name.clone(),
                    note: "sent as a Copilot Studio file reference".into(),
                },
            };
            let attachments =
                files::teams_attachments(upload, file.sent_as, text, &emulator.public_base);
            Some((shown, attachments))
        }
        None => None,
    };
    if text.is_empty() && attached.is_none() {
        return HttpResponse::BadRequest().json(json!({"error": "write something first"}));
    }
    let mut conversation = emulator.conversation.lock().await;
    let parts = vec![markdown::Run {
        text: text.to_owned(),
        ..markdown::Run::default()
    }];
    match attached {
        Some((shown, attachments)) => {
            emulator.push_line_with("user", &emulator.settings.user_name, parts, vec![shown]);
            if !conversation.engine.in_skill_action() {
                // Copilot Studio's own topics take no files; only a live agent does.
                emulator.push_line(
                    "bot",
                    &emulator.agent.name,
                    "I can't look at files myself. Ask to talk to a person, and you can send it to them.",
                );
                return HttpResponse::Accepted().json(json!({"inSkillAction": false}));
            }
            conversation.attachments = attachments;
        }
        None => emulator.push_line_with("user", &emulator.settings.user_name, parts, Vec::new()),
    }
    let outputs = conversation.engine.user_message(text);
    emulator.perform(&mut conversation, outputs).await;
    // Files the topics did not send on are not kept for a later message.
    conversation.attachments.clear();
    HttpResponse::Accepted().json(json!({"inSkillAction": conversation.engine.in_skill_action()}))
}

#[derive(Deserialize)]
struct FileQuery {
    #[serde(default)]
    name: String,
}

/// `POST /chat/files?name=…`: the page attaches a file (the body); answered with its id.
async fn attach(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    query: web::Query<FileQuery>,
    body: web::Bytes,
) -> HttpResponse {
    if body.is_empty() {
        return HttpResponse::BadRequest().json(json!({"error": "the file is empty"}));
    }
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let name = match query.name.trim() {
        "" => "file".to_owned(),
        name => name.chars().take(200).collect(),
    };
    let id = emulator
        .uploads
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .keep(&name, &content_type, body);
    HttpResponse::Ok().json(json!({"id": id, "contentType": content_type}))
}

/// The bytes of a kept file, never to be run: served as it is, as a download unless a picture.
fn file_answer(upload: &files::Upload) -> HttpResponse {
    let picture = service_support::files::INLINE_PICTURES.contains(&upload.content_type.as_str());
    HttpResponse::Ok()
        .content_type(if picture {
            upload.content_type.as_str()
        } else {
            "application/octet-stream"
        })
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            service_support::files::SERVED_FILE_POLICY,
        ))
        .body(upload.bytes.clone())
}

/// `GET /chat/files/{id}`: the page's own copy of what the user attached.
async fn attached(emulator: web::Data<Emulator>, path: web::Path<String>) -> HttpResponse {
    let uploads = emulator
        .uploads
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match uploads.get(&path.into_inner()) {
        Some(upload) => file_answer(upload),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /connector/v3/attachments/{id}/views/original`: a picture the user pasted, on the stand-in's
/// Bot Connector, as Teams keeps it. (The local skill is anonymous: no token exists to check.)
async fn connector_attachment(
    emulator: web::Data<Emulator>,
    path: web::Path<String>,
) -> HttpResponse {
    attached(emulator, path).await
}

#[derive(Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    tempauth: String,
}

/// `GET /downloads/{id}?tempauth=…`: a file sent in a personal chat, by its pre-authenticated
/// link, which expires after five minutes (403 then, as SharePoint answers).
async fn download(
    emulator: web::Data<Emulator>,
    path: web::Path<String>,
    query: web::Query<DownloadQuery>,
) -> HttpResponse {
    let uploads = emulator
        .uploads
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match uploads.by_download_link(&path.into_inner(), &query.tempauth) {
        Some(upload) => file_answer(upload),
        None => HttpResponse::Forbidden().json(json!({"error": "the link has expired"})),
    }
}

async fn reset(emulator: web::Data<Emulator>) -> HttpResponse {
    let emulator = emulator.into_inner();
    let mut conversation = emulator.conversation.lock().await;
    conversation.id = format!("local-{}", uuid::Uuid::new_v4());
    conversation.engine = Engine::new(emulator.agent.clone(), "msteams");
    conversation.attachments.clear();
    emulator.push_line("system", "", "A new conversation started.");
    let outputs = conversation.engine.start();
    emulator.perform(&mut conversation, outputs).await;
    HttpResponse::Ok().json(json!({"conversationId": conversation.id}))
}

/// SSE: every new line, numbered; a reconnect resumes after `Last-Event-ID`.
async fn events(
    request: HttpRequest,
    emulator: web::Data<Emulator>,
    query: web::Query<After>,
) -> HttpResponse {
    let mut last = request
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(query.after)
        .unwrap_or(0);
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<web::Bytes, std::convert::Infallible>>(16);
    let emulator = emulator.into_inner();
    actix_web::rt::spawn(async move {
        let mut changes = emulator.latest.subscribe();
        let mut typing = emulator.typing.subscribe();
        if sender
            .send(Ok(web::Bytes::from_static(b"retry: 1000\n\n")))
            .await
            .is_err()
        {
            return;
        }
        loop {
            for line in emulator.lines_after(last) {
                last = line.seq;
                let data = serde_json::to_string(&line).unwrap_or_default();
                if sender
                    .send(Ok(web::Bytes::from(format!(
                        "id: {}\nevent: line\ndata: {data}\n\n",
                        line.seq
                    ))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                changed = typing.changed() => {
                    if changed.is_err() || sender.send(Ok(web::Bytes::from_static(b"event: typing\ndata: {}\n\n"))).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(15)) => if sender.send(Ok(web::Bytes::from_static(b": ping\n\n"))).await.is_err() { return },
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(tokio_stream::wrappers::ReceiverStream::new(receiver))
}

/// ReplyToActivity from the skill: the end of a skill action (or an in-turn message).
async fn reply_to_activity(
    emulator: web::Data<Emulator>,
    path: web::Path<(String, String)>,
    activity: web::Json<Value>,
) -> HttpResponse {
    let (_conversation_id, activity_id) = path.into_inner();
    let activity = activity.into_inner();
    let emulator = emulator.into_inner();
    let mut conversation = emulator.conversation.lock().await;
    match activity["type"].as_str().unwrap_or_default() {
        "endOfConversation" => {
            let outputs = conversation.engine.skill_ended(
                &activity_id,
                activity["code"].as_str().unwrap_or("unknown"),
                &activity["value"],
                activity["text"].as_str().unwrap_or_default(),
            );
            emulator.perform(&mut conversation, outputs).await;
        }
        "message" => emulator.push_line(
            "bot",
            &emulator.agent.name,
            activity["text"].as_str().unwrap_or_default(),
        ),
        other => tracing::info!(activity_type = other, "ignored a reply from the skill"),
    }
    HttpResponse::Ok().json(json!({"id": uuid::Uuid::new_v4().to_string()}))
}

/// SendToConversation: what the skill sends to "Teams" proactively (the live agent's replies).
async fn send_to_conversation(
    emulator: web::Data<Emulator>,
    path: web::Path<String>,
    activity: web::Json<Value>,
) -> HttpResponse {
    let conversation_id = path.into_inner();
    let current = emulator.conversation.lock().await.id.clone();
    if conversation_id != current {
        return HttpResponse::NotFound().json(
            json!({"error": {"code": "ConversationNotFound", "message": "no such conversation"}}),
        );
    }
    if activity["type"] == "typing" {
        // Teams shows "… is typing" for a few seconds; so does the page.
        emulator.typing.send_modify(|count| *count += 1);
        return HttpResponse::Ok().json(json!({"id": uuid::Uuid::new_v4().to_string()}));
    }
    // As Teams shows it: from the bot's account, Markdown rendered when the activity says so, and
    // its pictures and cards.
    let text = activity["text"].as_str().unwrap_or_default();
    let parts = if activity["textFormat"] == "markdown" {
        markdown::runs(text)
    } else if text.is_empty() {
        Vec::new()
    } else {
        vec![markdown::Run {
            text: text.to_owned(),
            ..markdown::Run::default()
        }]
    };
    emulator.push_line_with(
        "bot",
        &emulator.agent.name,
        parts,
        files::shown_of(&activity),
    );
    HttpResponse::Ok().json(json!({"id": uuid::Uuid::new_v4().to_string()}))
}

/// The running stand-in.
pub struct EmulatorApp {
    port: u16,
    server: Server,
}

impl EmulatorApp {
    pub async fn build(settings: EmulatorSettings) -> anyhow::Result<Self> {
        let solution = Solution::load(&settings.source)?;
        solution.check()?;
        let agent = Agent::from_solution(&solution)?;
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {} (EMULATOR_BIND)", settings.bind))?;
        let address = listener.local_addr()?;
        let public_base = format!("http://{address}");
        let emulator = Arc::new(Emulator::new(settings, agent, public_base)?);
        {
            let mut conversation = emulator.conversation.lock().await;
            let outputs = conversation.engine.start();
            emulator.perform(&mut conversation, outputs).await;
        }
        let data = web::Data::from(emulator);
        // Loopback names and the bound address only: a page elsewhere cannot chat through it.
        let hosts = web::Data::new(service_support::hosts::AllowedHosts::new(
            address,
            None,
            &[],
        ));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    service_support::hosts::check_host,
                ))
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(hosts.clone())
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(256 * 1024))
                .route("/", web::get().to(page))
                .route("/static/emulator.js", web::get().to(script))
                .route("/static/emulator.css", web::get().to(styles))
                .route("/chat/lines", web::get().to(lines))
                .route("/chat/events", web::get().to(events))
                .route("/chat/messages", web::post().to(user_says))
                .service(
                    web::resource("/chat/files")
                        .app_data(web::PayloadConfig::new(files::MAX_BYTES))
                        .route(web::post().to(attach)),
                )
                .route("/chat/files/{id}", web::get().to(attached))
                .route(
                    "/connector/v3/attachments/{id}/views/original",
                    web::get().to(connector_attachment),
                )
                .route("/downloads/{id}", web::get().to(download))
                .route("/chat/reset", web::post().to(reset))
                .route(
                    "/connector/v3/conversations/{conversation}/activities/{activity}",
                    web::post().to(reply_to_activity),
                )
                .route(
                    "/connector/v3/conversations/{conversation}/activities",
                    web::post().to(send_to_conversation),
                )
                .route(
                    "/healthz",
                    web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
                )
        })
        .workers(2)
        .listen(listener)?
        .run();
        tracing::info!(%address, "the Copilot Studio and Teams stand-in is listening");
        Ok(Self {
            port: address.port(),
            server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server
            .await
            .context("the stand-in's HTTP server failed")
    }
}

/// `copilot-solution emulate`.
pub async fn run(source: PathBuf) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    let settings = EmulatorSettings::from_environment(source)?;
    tracing::info!(skill = %settings.skill_endpoint, "invoking the skill in its anonymous local mode");
    EmulatorApp::build(settings)
        .await?
        .run_until_stopped()
        .await
}
