//! The skill's benchmark: the real `skill` binary as a child process, a fake live chat and a fake
//! Bot Connector in this process answering at once, and a load generator that checks every message
//! id. Prints figures; asserts nothing.
//!
//! ```text
//! cargo run --release -p skill --example load -- --sessions 10000 --rate 1000 --duration 60
//! cargo run --release -p skill --example load -- --sessions 1000 --concurrency 64 --duration 20
//! cargo run --release -p skill --example load -- --database-url postgres://... --instances 2
//! ```
//!
//! Without `--rate` the load is closed-loop: `--concurrency` senders, each sending its next message
//! when the previous one is acknowledged. With `--rate` it is open-loop: messages are scheduled at
//! that rate, and every latency counts from the scheduled send time (a late send counts as late).
//! A conversation's messages are sent one after the other, so their order is defined: the receiver
//! checks it, and counts every id lost (acknowledged, never delivered) or delivered twice.
//!
//! For each direction (agent to user through the webhook, user to agent through `/api/messages`)
//! it prints offered, accepted and delivered messages a second, end-to-end and acknowledgement
//! latency (p50/p90/p99/max), lost/duplicated/reordered counts, and the skill's CPU (cores) and
//! peak resident memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use test_support::free_port;
use test_support::teams_limits::{self, TeamsLimits};

#[derive(Parser, Debug, Clone)]
#[command(about = "Load run of the handover skill against fake peers on loopback")]
struct Arguments {
    /// Open sessions the messages are spread over.
    #[arg(long, default_value_t = 1_000)]
    sessions: usize,
    /// Messages a second to offer (open loop); without it, closed loop.
    #[arg(long)]
    rate: Option<u64>,
    /// Concurrent senders of the closed loop.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of load per direction.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// `to-user`, `to-agent` or `both` (one after the other).
    #[arg(long, default_value = "both")]
    direction: String,
    /// A PostgreSQL database for the skill instead of its SQLite file (use an empty one).
    #[arg(long)]
    database_url: Option<String>,
    /// Skill instances sharing the database (PostgreSQL only); requests alternate between them.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// The skill binary; by default `target/release/skill`, built if missing.
    #[arg(long)]
    skill: Option<PathBuf>,
    /// A settings file for the skill (`SKILL_CONFIG`); by default the built-in defaults.
    #[arg(long)]
    skill_config: Option<PathBuf>,
    /// Webhook ids as random UUID v4s rather than the time-ordered ones Contoso Live Chat makes.
    #[arg(long)]
    random_ids: bool,
    /// Worker threads of the fake live chat and Bot Connector.
    #[arg(long, default_value_t = 1)]
    peer_workers: usize,
    /// Seconds to wait after the load for what is still on its way.
    #[arg(long, default_value_t = 30)]
    drain: u64,
    /// Teams tenants the sessions are spread over (session n in tenant n % tenants); by default
    /// one per session, so that only the conversations' windows can bind.
    #[arg(long)]
    tenants: Option<usize>,
    /// The fake Bot Connector enforces Teams' documented windows (7/1 s, 8/2 s, 60/30 s, 1,800/h
    /// per conversation, 50/1 s per tenant), answering 429 with `Retry-After` to a send that does
    /// not fit; the run prints how much of what the windows allow was delivered.
    #[arg(long)]
    teams_limits: bool,
    /// Seconds into the load at which the receiving peer (the live chat for `to-agent`, Teams for
    /// `to-user`) goes down, answering 503, for `--outage-secs`; the run prints how the backlog
    /// drained once it was back and how many delay notices each conversation got.
    #[arg(long)]
    outage_after: Option<u64>,
    /// How long the outage lasts, in seconds.
    #[arg(long, default_value_t = 600)]
    outage_secs: u64,
    /// Seconds into the load at which the first of several instances is killed (SIGKILL); the run
    /// prints how long the others took to deliver what was accepted before it.
    #[arg(long)]
    kill_after: Option<u64>,
    /// A folder for the skills' logs (`skill-<direction>-<n>.log`, stdout and stderr, the skills'
    /// default level); by default they are discarded.
    #[arg(long)]
    skill_logs: Option<PathBuf>,
}

/// Which way the measured messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The agent writes (webhook); the fake Bot Connector receives.
    ToUser,
    /// The user writes (`/api/messages`); the fake live chat receives.
    ToAgent,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::ToUser => "agent to user",
            Direction::ToAgent => "user to agent",
        }
    }
}

/// One message a receiver got: conversation, sequence number, when.
type Receipt = (u32, u32, Instant);

/// What the fake peers received.
struct Received {
    /// At the fake Bot Connector (agent to user).
    at_connector: Mutex<Vec<Receipt>>,
    /// At the fake live chat (user to agent).
    at_livechat: Mutex<Vec<Receipt>>,
    /// Live-chat conversations opened by the skill, numbered.
    opened: AtomicU64,
    /// Teams' windows, when the fake Bot Connector enforces them.
    teams: Option<TeamsLimits>,
    /// The live chat's `receive` and the Bot Connector answer 503 while these are on.
    livechat_down: AtomicBool,
    connector_down: AtomicBool,
    /// Delay notices received, by conversation (the customer's in Teams, the agent's in the
    /// live chat).
    notices: Mutex<HashMap<String, u32>>,
    /// Message ids the fake live chat has taken: like Contoso Live Chat it answers a repeat
    /// without storing it again, and counts it here (a send repeated after a crash).
    livechat_ids: Mutex<std::collections::HashSet<String>>,
    resent_to_livechat: AtomicU64,
}

impl Received {
    fn notice(&self, conversation: &str) {
        *self
            .notices
            .lock()
            .unwrap()
            .entry(conversation.to_owned())
            .or_default() += 1;
    }
}

impl Received {
    fn of(&self, direction: Direction) -> &Mutex<Vec<Receipt>> {
        match direction {
            Direction::ToUser => &self.at_connector,
            Direction::ToAgent => &self.at_livechat,
        }
    }
}

/// Reads `{prefix}{conversation}-{sequence}` out of a text.
fn parse_marker(text: &str, prefix: char) -> Option<(u32, u32)> {
    let start = text.rfind(prefix)?;
    let (conversation, sequence) = text[start + 1..].split_once('-')?;
    Some((conversation.parse().ok()?, sequence.trim().parse().ok()?))
}

async fn fake_start(received: web::Data<Received>) -> HttpResponse {
    let n = received.opened.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({ "conversationId": format!("lc-{n}") }))
}

/// The text of a JSON string field, found without parsing the whole body (the benchmark's peers
/// must cost little next to the skill they measure).
fn field<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(body).ok()?;
    let key = format!("\"{name}\":\"");
    let start = text.find(&key)? + key.len();
    let end = start + text[start..].find('"')?;
    Some(&text[start..end])
}

/// Notes the marker found in `body`'s `key` field (messages of `direction` only) and answers as the
/// live chat and the Bot Connector both do.
fn record(body: &[u8], key: &str, direction: char, into: &Mutex<Vec<Receipt>>) -> HttpResponse {
    let now = Instant::now();
    if let Some((conversation, sequence)) =
        field(body, key).and_then(|t| parse_marker(t, direction))
    {
        into.lock().unwrap().push((conversation, sequence, now));
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"id":"x"}"#)
}

async fn fake_receive(body: web::Bytes, received: web::Data<Received>) -> HttpResponse {
    if received.livechat_down.load(Ordering::Relaxed) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    if let Some(id) = field(&body, "id") {
        if !received.livechat_ids.lock().unwrap().insert(id.to_owned()) {
            received.resent_to_livechat.fetch_add(1, Ordering::Relaxed);
            return HttpResponse::Ok()
                .content_type("application/json")
                .body(r#"{"id":"x"}"#);
        }
    }
    if field(&body, "message").is_some_and(|text| text.starts_with("Teams isn't taking messages")) {
        received.notice(field(&body, "conversationId").unwrap_or_default());
    }
    record(&body, "message", 'u', &received.at_livechat)
}

async fn fake_connector(
    request: actix_web::HttpRequest,
    body: web::Bytes,
    received: web::Data<Received>,
) -> HttpResponse {
    let conversation = request.match_info().get("id").unwrap_or_default();
    if received.connector_down.load(Ordering::Relaxed) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    if field(&body, "text").is_some_and(|text| text.contains("can't be reached right now")) {
        received.notice(conversation);
    }
    if let Some(limits) = &received.teams {
        let tenant = field(&body, "tenantId").unwrap_or_default();
        if let Err(wait) = limits.arrive(conversation, tenant, Instant::now()) {
            // Teams' Retry-After is in whole seconds.
            let seconds = wait.as_millis().div_ceil(1_000).max(1);
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", seconds.to_string()))
                .finish();
        }
    }
    record(&body, "text", 'a', &received.at_connector)
}

/// The skill binary next to this example's, built first if it is not there.
fn skill_binary(arguments: &Arguments) -> PathBuf {
    match &arguments.skill {
        Some(path) => path.clone(),
        None => test_support::release_binary("skill", "skill"),
    }
}

/// A skill process and what the benchmark reads of it.
struct SkillProcess {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl SkillProcess {
    fn start(arguments: &Arguments, binary: &PathBuf, peers: &str, log: &str) -> SkillProcess {
        let database_url = arguments.database_url.as_deref();
        let port = free_port();
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(binary);
        command
            .env("SKILL_BIND", format!("127.0.0.1:{port}"))
            .env("SKILL_DATA_DIR", data.path())
            .env("LIVECHAT_BASE_URL", peers)
            // The sessions wait in the fake live chat's queue and their customers may say nothing
            // for the whole run: its timers (queue, inactivity) would close them in long runs.
            .env("SKILL_QUEUE_TIMEOUT_SECS", "0")
            .env("SKILL_INACTIVITY_WARNING_SECS", "0")
            .env("SKILL_INACTIVITY_TIMEOUT_SECS", "0")
            .env_remove("RUST_LOG");
        match &arguments.skill_logs {
            Some(folder) => {
                std::fs::create_dir_all(folder).unwrap();
                let file = std::fs::File::create(folder.join(format!("{log}.log"))).unwrap();
                command.stdout(file.try_clone().unwrap()).stderr(file);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        if let Some(url) = database_url {
            command.env("SKILL_DATABASE_URL", url);
        }
        // The defaults unless a file is named: not the repository's skill.toml by accident.
        command.env(
            "SKILL_CONFIG",
            arguments
                .skill_config
                .clone()
                .unwrap_or_else(|| PathBuf::from("/dev/null")),
        );
        SkillProcess {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            _data: data,
        }
    }

    /// User and system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        test_support::cpu_seconds_of(self.child.id())
    }

    /// Peak resident memory in MB.
    fn peak_rss_mb(&self) -> f64 {
        test_support::peak_rss_mb_of(self.child.id())
    }
}

impl Drop for SkillProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sessions: conversation `n` of the generator is Copilot conversation `bench-{n}` with
/// live-chat conversation `livechat[n]`.
struct Sessions {
    livechat: Vec<String>,
}

fn activity(connector: &str, conversation: usize, tenants: usize, fields: Value) -> Value {
    let mut activity = json!({
        "id": format!("act-{}", uuid::Uuid::new_v4()),
        "serviceUrl": connector, "channelId": "msteams",
        "from": {"id": format!("29:user-{conversation}"), "name": "Bench User"},
        "recipient": {"id": "skill"},
        "conversation": {"id": format!("bench-{conversation}"), "tenantId": tenant_of(conversation, tenants)},
    });
    for (key, value) in fields.as_object().unwrap() {
        activity[key] = value.clone();
    }
    activity
}

/// The tenant of conversation `n`.
fn tenant_of(conversation: usize, tenants: usize) -> String {
    format!("tenant-{}", conversation % tenants.max(1))
}

async fn open_sessions(
    client: &reqwest::Client,
    skills: &[String],
    connector: &str,
    count: usize,
    tenants: usize,
) -> Sessions {
    use futures_util::stream::{self, StreamExt};
    let started = Instant::now();
    let mut livechat: Vec<(usize, String)> = stream::iter(0..count)
        .map(|n| {
            let body = activity(
                connector,
                n,
                tenants,
                json!({"type": "event", "name": "startConversation", "deliveryMode": "expectReplies"}),
            );
            let url = format!("{}/api/messages", skills[n % skills.len()]);
            let client = client.clone();
            async move {
                let reply: Value = client.post(url).json(&body).send().await.unwrap().json().await.unwrap();
                let id = reply["activities"][0]["value"]["liveChatConversationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no session opened: {reply}"))
                    .to_owned();
                (n, id)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    livechat.sort();
    println!(
        "opened {count} sessions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Sessions {
        livechat: livechat.into_iter().map(|(_, id)| id).collect(),
    }
}

/// What the senders recorded per message.
struct Sent {
    conversation: u32,
    sequence: u32,
    scheduled: Instant,
    acknowledged: Option<Instant>,
}

/// Keep-alive HTTP/1.1 connections to one skill, handed out one request at a time.
struct Connections {
    address: String,
    free: Mutex<Vec<http1::SendRequest<Full<Bytes>>>>,
}

impl Connections {
    fn to(base: &str) -> Connections {
        Connections {
            address: base.trim_start_matches("http://").to_owned(),
            free: Mutex::new(Vec::new()),
        }
    }

    async fn take(&self) -> Option<http1::SendRequest<Full<Bytes>>> {
        loop {
            let ready = self.free.lock().unwrap().pop();
            match ready {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Some(sender);
                    }
                }
                None => {
                    let stream = tokio::net::TcpStream::connect(&self.address).await.ok()?;
                    stream.set_nodelay(true).ok()?;
                    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
                    tokio::spawn(connection);
                    return Some(sender);
                }
            }
        }
    }

    fn give_back(&self, sender: http1::SendRequest<Full<Bytes>>) {
        self.free.lock().unwrap().push(sender);
    }

    /// Posts `body` to `path`; true for a 2xx.
    async fn post(&self, path: &str, body: String) -> bool {
        let Some(mut sender) = self.take().await else {
            return false;
        };
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, &self.address)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let Ok(response) = sender.send_request(request).await else {
            return false;
        };
        let accepted = response.status().is_success();
        // The body is read to the end, so the connection can carry the next request.
        if response.into_body().collect().await.is_err() {
            return false;
        }
        self.give_back(sender);
        accepted
    }
}

/// Sends one message and waits for its acknowledgement; true when accepted.
#[allow(clippy::too_many_arguments)]
async fn send_one(
    random_ids: bool,
    skill: &Connections,
    direction: Direction,
    connector: &str,
    sessions: &Sessions,
    conversation: usize,
    sequence: u32,
) -> bool {
    // Bodies are written as text: building JSON values per message would cost the benchmark more
    // than the skill spends on them.
    let (path, body) = match direction {
        Direction::ToUser => (
            "/api/livechat/messages",
            // Ids as Contoso Live Chat makes them (UUID v7, time-ordered); `--random-ids` sends
            // UUID v4s instead.
            format!(
                r#"{{"conversationId":"{}","id":"{}","message":"a{conversation}-{sequence}","sender":"Bench"}}"#,
                sessions.livechat[conversation],
                if random_ids {
                    uuid::Uuid::new_v4()
                } else {
                    uuid::Uuid::now_v7()
                }
            ),
        ),
        Direction::ToAgent => (
            "/api/messages",
            format!(
                r#"{{"type":"message","id":"act-{conversation}-{sequence}","serviceUrl":"{connector}","channelId":"msteams","from":{{"id":"29:user-{conversation}","name":"Bench User"}},"recipient":{{"id":"skill"}},"conversation":{{"id":"bench-{conversation}"}},"text":"u{conversation}-{sequence}"}}"#
            ),
        ),
    };
    skill.post(path, body).await
}

/// Runs one direction and prints its row.
async fn run(
    arguments: &Arguments,
    direction: Direction,
    skills: &[SkillProcess],
    sessions: Arc<Sessions>,
    connector: &str,
    received: &web::Data<Received>,
) {
    let receipts = received.of(direction);
    let bases: Arc<Vec<Connections>> =
        Arc::new(skills.iter().map(|s| Connections::to(&s.base)).collect());
    let duration = Duration::from_secs(arguments.duration);
    // Before the figures' own counts start: it is the benchmark's CPU, not the skill's.
    let yardstick_before = test_support::Yardstick::measure();
    let cpu_before: f64 = skills.iter().map(SkillProcess::cpu_seconds).sum();
    let own_cpu_before = test_support::cpu_seconds_of(std::process::id());
    let ticks_before = test_support::cpu_ticks();
    let throttled_before = received.teams.as_ref().map_or(0, TeamsLimits::throttled);
    received.notices.lock().unwrap().clear();
    let resent_before = received.resent_to_livechat.load(Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + duration;
    // One instance killed under load, and when.
    let killed_at = Arc::new(Mutex::new(None));
    if let Some(after) = arguments.kill_after {
        assert!(skills.len() > 1, "--kill-after needs --instances 2 or more");
        let (pid, killed_at) = (skills[0].child.id(), killed_at.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until((started + Duration::from_secs(after)).into()).await;
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            *killed_at.lock().unwrap() = Some(Instant::now());
            println!("{:<14} instance 1 of the skill killed", "");
        });
    }
    // The outage: the receiving peer down for a while, and when it came back.
    let back_at = Arc::new(Mutex::new(None));
    if let Some(after) = arguments.outage_after {
        let (received, back_at) = (received.clone(), back_at.clone());
        let outage = Duration::from_secs(arguments.outage_secs);
        tokio::spawn(async move {
            let switch = match direction {
                Direction::ToAgent => &received.livechat_down,
                Direction::ToUser => &received.connector_down,
            };
            tokio::time::sleep_until((started + Duration::from_secs(after)).into()).await;
            switch.store(true, Ordering::Relaxed);
            println!("{:<14} the receiving peer is down", "");
            tokio::time::sleep(outage).await;
            switch.store(false, Ordering::Relaxed);
            *back_at.lock().unwrap() = Some(Instant::now());
            println!("{:<14} the receiving peer is back", "");
        });
    }
    let conversations = arguments.sessions;

    // One task per sender; a conversation belongs to one sender, so its messages go one by one.
    let senders = match arguments.rate {
        Some(_) => conversations,
        None => arguments.concurrency.min(conversations),
    };
    let mut tasks = Vec::new();
    for sender in 0..senders {
        let (bases, sessions) = (bases.clone(), sessions.clone());
        let connector = connector.to_owned();
        let rate = arguments.rate;
        let random_ids = arguments.random_ids;
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mine: Vec<usize> = (sender..conversations).step_by(senders).collect();
            let mut sequences = vec![0u32; mine.len()];
            let mut turn = 0usize;
            loop {
                let (index, scheduled) = match rate {
                    // Message k of the whole run goes to conversation k % conversations at
                    // started + k / rate; this task owns one conversation.
                    Some(rate) => {
                        let k = sequences[0] as u64 * conversations as u64 + sender as u64;
                        let at = started + Duration::from_secs_f64(k as f64 / rate as f64);
                        (0, at)
                    }
                    None => (turn % mine.len(), Instant::now()),
                };
                if scheduled >= deadline || Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep_until(scheduled.into()).await;
                let conversation = mine[index];
                let sequence = sequences[index];
                let skill = &bases[(conversation + sequence as usize) % bases.len()];
                let accepted = send_one(
                    random_ids,
                    skill,
                    direction,
                    &connector,
                    &sessions,
                    conversation,
                    sequence,
                )
                .await;
                sent.push(Sent {
                    conversation: conversation as u32,
                    sequence,
                    scheduled,
                    acknowledged: accepted.then(Instant::now),
                });
                sequences[index] += 1;
                turn += 1;
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(task.await.unwrap());
    }
    let load_ended = Instant::now();
    let cpu_after: f64 = skills.iter().map(SkillProcess::cpu_seconds).sum();
    let own_cpu = test_support::cpu_seconds_of(std::process::id()) - own_cpu_before;
    let steal = test_support::steal_since(ticks_before) * 100.0;
    let accepted = sent.iter().filter(|s| s.acknowledged.is_some()).count();

    // Let what is on its way arrive (bounded), then account for every id.
    let acknowledged: std::collections::HashSet<(u32, u32)> = sent
        .iter()
        .filter(|s| s.acknowledged.is_some())
        .map(|s| (s.conversation, s.sequence))
        .collect();
    let drain_until = Instant::now() + Duration::from_secs(arguments.drain);
    while Instant::now() < drain_until {
        let arrived = receipts.lock().unwrap().len();
        // By id, not by count: neither a duplicate nor a message whose sender saw no answer (in
        // flight to an instance killed as it committed) may end the wait for an acknowledged one
        // still on its way.
        if arrived >= accepted {
            let distinct: std::collections::HashSet<(u32, u32)> = receipts
                .lock()
                .unwrap()
                .iter()
                .map(|&(conversation, sequence, _)| (conversation, sequence))
                .collect();
            if acknowledged.iter().all(|id| distinct.contains(id)) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let receipts = receipts.lock().unwrap().clone();
    let yardstick_after = test_support::Yardstick::measure();
    let report = Report::new(&sent, &receipts, started, load_ended);
    if let Some(back) = *back_at.lock().unwrap() {
        print_drain(&sent, &receipts, back, received);
    }
    if let Some(killed) = *killed_at.lock().unwrap() {
        print_takeover(&sent, &receipts, killed);
    }
    let throttled = received.teams.as_ref().map_or(0, TeamsLimits::throttled) - throttled_before;
    let elapsed = load_ended.duration_since(started).as_secs_f64();
    let offered = match arguments.rate {
        Some(rate) => rate as f64,
        None => sent.len() as f64 / elapsed,
    };
    println!(
        "{:<14} offered {:>7.0}/s  accepted {:>7.0}/s  delivered {:>7.0}/s in the window ({} of {} by the end)",
        direction.label(),
        offered,
        accepted as f64 / elapsed,
        report.delivered_in_window as f64 / elapsed,
        report.delivered,
        accepted,
    );
    println!(
        "{:<14} end-to-end {}   ack {}",
        "", report.end_to_end, report.acknowledgement
    );
    if direction == Direction::ToUser && received.teams.is_some() {
        // What a sender that knew the windows could have delivered of the same accepted load.
        let tenants = arguments.tenants.unwrap_or(arguments.sessions);
        let offered: Vec<(String, String, Instant)> = sent
            .iter()
            .filter_map(|s| {
                s.acknowledged.map(|at| {
                    let conversation = s.conversation as usize;
                    (
                        format!("bench-{conversation}"),
                        tenant_of(conversation, tenants),
                        at,
                    )
                })
            })
            .collect();
        let allowed = teams_limits::allowed(
            &teams_limits::teams_conversation_windows(),
            &teams_limits::teams_tenant_windows(),
            &offered,
            load_ended,
        );
        println!(
            "{:<14} Teams' windows allowed {allowed} in the window; delivered {} ({:.1} %), 429s answered {throttled}",
            "",
            report.delivered_in_window,
            100.0 * report.delivered_in_window as f64 / allowed.max(1) as f64,
        );
    }
    println!(
        "{:<14} lost {} (not delivered {} s after the load)  duplicated {}{}  reordered {}  refused {}  429s {throttled}  skill CPU {:.2} cores  peak RSS {:.1} MB  (benchmark's own CPU {:.2} cores; host steal {:.0}%)",
        "",
        report.lost,
        arguments.drain,
        report.duplicated,
        match received.resent_to_livechat.load(Ordering::Relaxed) - resent_before {
            0 => String::new(),
            resent => format!(" (and {resent} sent again, dropped by the live chat by id)"),
        },
        report.reordered,
        sent.len() - accepted,
        (cpu_after - cpu_before) / elapsed,
        skills.iter().map(SkillProcess::peak_rss_mb).fold(0.0, f64::max),
        own_cpu / elapsed,
        steal,
    );
    println!(
        "{:<14} machine before the load: {yardstick_before}; after: {yardstick_after}",
        "",
    );
}

/// When each message first arrived.
fn first_arrivals(receipts: &[Receipt]) -> HashMap<(u32, u32), Instant> {
    let mut first = HashMap::new();
    for &(conversation, sequence, at) in receipts {
        first.entry((conversation, sequence)).or_insert(at);
    }
    first
}

/// How the backlog of an outage drained: what was accepted before the peer came back and not yet
/// delivered, how long until the last of it arrived, everything delivered meanwhile a second, and
/// the delay notices per conversation.
fn print_drain(sent: &[Sent], receipts: &[Receipt], back: Instant, received: &Received) {
    let first = first_arrivals(receipts);
    let backlog: Vec<Option<Instant>> = sent
        .iter()
        .filter(|s| s.acknowledged.is_some_and(|at| at < back))
        .map(|s| first.get(&(s.conversation, s.sequence)).copied())
        .filter(|arrived| arrived.is_none_or(|at| at >= back))
        .collect();
    let undelivered = backlog.iter().filter(|arrived| arrived.is_none()).count();
    let caught_up = backlog.iter().flatten().max().copied().unwrap_or(back);
    let drained_in = caught_up.duration_since(back).as_secs_f64();
    let delivered_meanwhile = first
        .values()
        .filter(|&&at| at >= back && at <= caught_up)
        .count();
    let notices = received.notices.lock().unwrap();
    println!(
        "{:<14} drain: backlog {} at the peer's return, all of it in {:.1} s ({} never), {:.0} delivered/s meanwhile; delay notices {} in {} conversations, at most {} in one",
        "",
        backlog.len(),
        drained_in,
        undelivered,
        delivered_meanwhile as f64 / drained_in.max(0.001),
        notices.values().sum::<u32>(),
        notices.len(),
        notices.values().max().copied().unwrap_or(0),
    );
}

/// After a kill: what was accepted before it and not yet delivered, and how long until the last of
/// it arrived (the survivors taking over the dead instance's claims).
fn print_takeover(sent: &[Sent], receipts: &[Receipt], killed: Instant) {
    let first = first_arrivals(receipts);
    let waiting: Vec<Option<Instant>> = sent
        .iter()
        .filter(|s| s.acknowledged.is_some_and(|at| at < killed))
        .map(|s| first.get(&(s.conversation, s.sequence)).copied())
        .filter(|arrived| arrived.is_none_or(|at| at >= killed))
        .collect();
    let last = waiting.iter().flatten().max().copied().unwrap_or(killed);
    println!(
        "{:<14} takeover: {} accepted before the kill were undelivered then; the last arrived {:.1} s after it ({} never)",
        "",
        waiting.len(),
        last.duration_since(killed).as_secs_f64(),
        waiting.iter().filter(|arrived| arrived.is_none()).count(),
    );
}

/// Latency percentiles in milliseconds.
struct Percentiles(Vec<f64>);

impl std::fmt::Display for Percentiles {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values = &self.0;
        if values.is_empty() {
            return write!(formatter, "(none)");
        }
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        write!(
            formatter,
            "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0)
        )
    }
}

struct Report {
    delivered: usize,
    delivered_in_window: usize,
    lost: usize,
    duplicated: usize,
    reordered: usize,
    end_to_end: Percentiles,
    acknowledgement: Percentiles,
}

impl Report {
    fn new(sent: &[Sent], receipts: &[Receipt], started: Instant, ended: Instant) -> Report {
        let milliseconds = |later: Instant, earlier: Instant| {
            later.saturating_duration_since(earlier).as_secs_f64() * 1000.0
        };
        let by_id: HashMap<(u32, u32), &Sent> = sent
            .iter()
            .map(|s| ((s.conversation, s.sequence), s))
            .collect();
        let mut seen: HashMap<(u32, u32), usize> = HashMap::new();
        let mut last_sequence: HashMap<u32, u32> = HashMap::new();
        let (mut reordered, mut end_to_end) = (0, Vec::new());
        for &(conversation, sequence, at) in receipts {
            let count = seen.entry((conversation, sequence)).or_default();
            *count += 1;
            if *count > 1 {
                continue;
            }
            if let Some(previous) = last_sequence.insert(conversation, sequence) {
                if sequence < previous {
                    reordered += 1;
                }
            }
            if let Some(message) = by_id.get(&(conversation, sequence)) {
                end_to_end.push(milliseconds(at, message.scheduled));
            }
        }
        let lost = sent
            .iter()
            .filter(|s| {
                s.acknowledged.is_some() && !seen.contains_key(&(s.conversation, s.sequence))
            })
            .count();
        let mut acknowledgement: Vec<f64> = sent
            .iter()
            .filter_map(|s| s.acknowledged.map(|at| milliseconds(at, s.scheduled)))
            .collect();
        end_to_end.sort_by(f64::total_cmp);
        acknowledgement.sort_by(f64::total_cmp);
        Report {
            delivered: seen.len(),
            delivered_in_window: receipts
                .iter()
                .filter(|(_, _, at)| *at >= started && *at <= ended)
                .count(),
            lost,
            duplicated: seen.values().filter(|&&n| n > 1).map(|n| n - 1).sum(),
            reordered,
            end_to_end: Percentiles(end_to_end),
            acknowledgement: Percentiles(acknowledgement),
        }
    }
}

/// Empties the skill's tables in a PostgreSQL database, so that every run starts alike.
async fn empty_database(url: &str) {
    use sqlx::Connection;
    // Said here, plainly: the skills would otherwise fail to start with their output discarded.
    let mut connection = match sqlx::PgConnection::connect(url).await {
        Ok(connection) => connection,
        Err(error) => panic!(
            "cannot connect to --database-url ({error}); the database must exist (for example: createdb -h 127.0.0.1 -U postgres bench)"
        ),
    };
    for statement in ["DROP SCHEMA public CASCADE", "CREATE SCHEMA public"] {
        let _ = sqlx::query(statement).execute(&mut connection).await;
    }
}

#[tokio::main]
async fn main() {
    let arguments = Arguments::parse();
    assert!(
        arguments.instances == 1 || arguments.database_url.is_some(),
        "several instances need --database-url (they share a PostgreSQL database)"
    );
    let binary = skill_binary(&arguments);

    // The fake live chat and the fake Bot Connector: one server, answering at once.
    let received = web::Data::new(Received {
        at_connector: Mutex::default(),
        at_livechat: Mutex::default(),
        opened: AtomicU64::default(),
        teams: arguments.teams_limits.then(TeamsLimits::teams),
        livechat_down: AtomicBool::new(false),
        connector_down: AtomicBool::new(false),
        notices: Mutex::default(),
        livechat_ids: Mutex::default(),
        resent_to_livechat: AtomicU64::default(),
    });
    let peer_port = free_port();
    let server_data = received.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(server_data.clone())
            .route("/api/chat/start", web::post().to(fake_start))
            .route("/api/chat/receive", web::post().to(fake_receive))
            .route(
                "/api/chat/end",
                web::post().to(|| async { HttpResponse::Ok().json(json!({})) }),
            )
            .route(
                "/v3/conversations/{id}/activities",
                web::post().to(fake_connector),
            )
            .route(
                "/v3/conversations/{id}/activities/{reply}",
                web::post().to(fake_connector),
            )
    })
    .workers(arguments.peer_workers)
    .backlog(4_096)
    .max_connection_rate(4_096)
    .bind(("127.0.0.1", peer_port))
    .unwrap()
    .run();
    let server_handle = server.handle();
    tokio::spawn(server);
    let peers = format!("http://127.0.0.1:{peer_port}");
    let connector = format!("{peers}/");

    let mode = match arguments.rate {
        Some(rate) => format!("open loop at {rate}/s"),
        None => format!("closed loop, {} senders", arguments.concurrency),
    };
    println!(
        "{} skill instance(s) on {}, {} sessions, {mode}, {} s per direction",
        arguments.instances,
        if arguments.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        arguments.sessions,
        arguments.duration
    );
    let directions = match arguments.direction.as_str() {
        "to-user" => vec![Direction::ToUser],
        "to-agent" => vec![Direction::ToAgent],
        _ => vec![Direction::ToUser, Direction::ToAgent],
    };
    // Each direction gets fresh skill processes and sessions, so that nothing left over from one
    // is measured in the other.
    for direction in directions {
        if let Some(url) = &arguments.database_url {
            empty_database(url).await;
        }
        let skills: Vec<SkillProcess> = (0..arguments.instances)
            .map(|n| {
                let log = format!("skill-{}-{n}", direction.label().replace(' ', "-"));
                SkillProcess::start(&arguments, &binary, &peers, &log)
            })
            .collect();
        let client = reqwest::Client::new();
        for skill in &skills {
            test_support::wait_until_ready(&skill.base, "the skill").await;
        }
        if skills.len() > 1 {
            // Instances starting together send nothing to Teams for their first two heartbeats
            // (until each has heard of each other): the load measures them settled.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let bases: Vec<String> = skills.iter().map(|s| s.base.clone()).collect();
        let tenants = arguments.tenants.unwrap_or(arguments.sessions);
        let sessions =
            Arc::new(open_sessions(&client, &bases, &connector, arguments.sessions, tenants).await);
        run(
            &arguments, direction, &skills, sessions, &connector, &received,
        )
        .await;
    }
    server_handle.stop(false).await;
}
