//! The crash campaign: the real skill and Contoso Live Chat as processes, messages flowing both
//! ways through them, while the skill is killed with SIGKILL and restarted on the same data
//! several times, then the live chat the same way. Every message id is checked at the far end:
//! none lost, none shown twice in the live chat, order kept per conversation; Teams may see a
//! message twice only if its delivery was in flight at a kill (the Bot Connector has no
//! idempotency key), which bounds the duplicates by kills times conversations.
//!
//! The same traffic runs against two skills sharing one PostgreSQL database, one of them killed for
//! good: the other takes over what it held.
//!
//! This test plays Copilot Studio (posting activities; an activity whose answer was lost is sent
//! again with the same id, as a channel does), the agents (`POST /api/chat/send`) and Teams (a
//! fake Bot Connector on loopback). It prints its figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::{eventually_within, free_port};
use tokio::process::Child;
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONVERSATIONS: usize = 10;
const MESSAGES_EACH_WAY: usize = 30;
const KILLS_EACH: usize = 3;
const WEBHOOK_SECRET: &str = "crash-campaign-secret";

/// One service: how to start it, and the running process.
struct Service {
    name: &'static str,
    program: PathBuf,
    environment: Vec<(&'static str, String)>,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Service {
    /// The binary `name` in `bin`, logging to `{data}/{name}.log`; not started yet.
    fn new(
        name: &'static str,
        bin: &Path,
        data: &Path,
        port: u16,
        environment: Vec<(&'static str, String)>,
    ) -> Service {
        Service {
            name,
            program: bin.join(name),
            environment,
            log: data.join(format!("{name}.log")),
            port,
            child: None,
        }
    }

    async fn start(&mut self, http: &reqwest::Client) {
        let mut command =
            test_support::service_command(&self.program, &self.log, &self.environment);
        self.child = Some(command.spawn().unwrap());
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let name = self.name;
        eventually_within(Duration::from_secs(30), &format!("{name} up"), || async {
            http.get(&url)
                .send()
                .await
                .ok()
                .filter(|answer| answer.status().is_success())
                .map(drop)
        })
        .await;
    }

    /// SIGKILL: no shutdown, no flush; whatever was in flight is cut off.
    async fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
}

fn bin_dir() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_copilot-solution"))
        .parent()
        .unwrap()
        .to_owned();
    for name in ["skill", "contoso-livechat"] {
        assert!(
            bin.join(name).exists(),
            "{name} is not built in {}: run `cargo build --workspace --bins` (scripts/test.sh does)",
            bin.display()
        );
    }
    bin
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

/// What Copilot Studio sends the skill for conversation `conversation`.
fn activity(connector: &str, conversation: &str, id: &str, fields: Value) -> Value {
    let mut activity = json!({
        "id": id,
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "serviceUrl": format!("{connector}/"),
        "channelId": "msteams",
        "from": { "id": format!("29:{conversation}"), "name": format!("Customer {conversation}") },
        "recipient": { "id": "handoff-skill", "role": "skill" },
        "conversation": { "id": conversation, "tenantId": "crash-tenant" },
        "locale": "en-US",
    });
    for (key, value) in fields.as_object().unwrap() {
        activity[key] = value.clone();
    }
    activity
}

/// Posts until one of the services acknowledges (the first named first, then each in turn: one
/// may be down, restarting or dead); how many tries it took.
async fn post_until_accepted(http: &reqwest::Client, urls: &[&str], body: &Value) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tries = 0;
    loop {
        let url = urls[tries % urls.len()];
        tries += 1;
        if let Ok(answer) = http.post(url).json(body).send().await {
            if answer.status().is_success() {
                return tries;
            }
            assert!(
                answer.status().is_server_error() || answer.status() == 429,
                "{url} refused {body}: {}",
                answer.status()
            );
        }
        assert!(Instant::now() < deadline, "{urls:?} never accepted {body}");
        if tries % urls.len() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The live chat's transcript of a conversation (empty while it is down).
async fn transcript(http: &reqwest::Client, livechat: &str, conversation: &str) -> Vec<Value> {
    let url = format!("{livechat}/api/chat/messages?conversationId={conversation}");
    match http.get(url).send().await {
        Ok(answer) if answer.status().is_success() => answer.json().await.unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Whether the live chat, once it answers again, holds `text` in conversation `id`.
async fn in_transcript_once_up(
    http: &reqwest::Client,
    livechat: &str,
    id: &str,
    text: &str,
) -> bool {
    eventually_within(Duration::from_secs(60), "the live chat back", || async {
        let answer = http.get(format!("{livechat}/healthz")).send().await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        let entries = transcript(http, livechat, id).await;
        Some(entries.iter().any(|entry| entry["message"] == text))
    })
    .await
}

/// The customers' messages in a conversation's transcript, in order.
async fn customer_texts(http: &reqwest::Client, livechat: &str, id: &str) -> Vec<String> {
    transcript(http, livechat, id)
        .await
        .iter()
        .filter(|entry| entry["role"] == "customer")
        .map(|entry| entry["message"].as_str().unwrap().to_owned())
        .collect()
}

/// Lost, duplicated and out-of-order counts of `expected` in `seen` (first sightings).
fn tally(expected: &[String], seen: &[String]) -> (usize, usize, usize) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for text in seen {
        *counts.entry(text.as_str()).or_default() += 1;
    }
    let lost = expected
        .iter()
        .filter(|text| !counts.contains_key(text.as_str()))
        .count();
    let duplicated = counts.values().map(|count| count - 1).sum();
    let mut first_seen: Vec<usize> = Vec::new();
    for text in seen {
        if let Some(position) = expected.iter().position(|wanted| wanted == text) {
            if !first_seen.contains(&position) {
                first_seen.push(position);
            }
        }
    }
    let reordered = first_seen
        .windows(2)
        .filter(|pair| pair[1] < pair[0])
        .count();
    (lost, duplicated, reordered)
}

/// The fake Bot Connector: takes every send, answering after `delay`.
async fn bot_connector(delay: Duration) -> MockServer {
    let connector = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v3/conversations/[^/]+/activities(/[^/]+)?$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "sent" }))
                .set_delay(delay),
        )
        .mount(&connector)
        .await;
    connector
}

/// The live chat, on SQLite in `data`, calling the skill's webhook at `skill_url`.
fn livechat_service(bin: &Path, data: &Path, port: u16, skill_url: &str) -> Service {
    let config = write(
        &data.join("livechat.toml"),
        "[webhook]\nmax_attempts = 1000\nbase_backoff_ms = 100\nmax_backoff_ms = 1000\npoll_interval_ms = 200\n",
    );
    Service::new(
        "contoso-livechat",
        bin,
        data,
        port,
        vec![
            ("LIVECHAT_CONFIG", config),
            ("LIVECHAT_BIND", format!("127.0.0.1:{port}")),
            (
                "LIVECHAT_DATA_DIR",
                data.join("livechat").display().to_string(),
            ),
            (
                "LIVECHAT_WEBHOOK_URL",
                format!("{skill_url}/api/livechat/messages"),
            ),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ],
    )
}

/// A skill named `name` (its data folder and log), with `delivery` settings added to short
/// backoffs, so that a run waits out each outage quickly; everything else default.
fn skill_service(
    bin: &Path,
    data: &Path,
    name: &str,
    port: u16,
    livechat_url: &str,
    delivery: &str,
    more: Vec<(&'static str, String)>,
) -> Service {
    let config = write(
        &data.join(format!("{name}.toml")),
        &format!("[delivery]\nbase_backoff_ms = 100\nmax_backoff_ms = 1000\npoll_interval_ms = 200\n{delivery}"),
    );
    let mut environment = vec![
        ("SKILL_CONFIG", config),
        ("SKILL_BIND", format!("127.0.0.1:{port}")),
        ("SKILL_DATA_DIR", data.join(name).display().to_string()),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ("LIVECHAT_BASE_URL", livechat_url.to_owned()),
    ];
    environment.extend(more);
    let mut service = Service::new("skill", bin, data, port, environment);
    service.log = data.join(format!("{name}.log"));
    service
}

/// Hands each conversation over to a live chat session, through `skills` in turn; the sessions'
/// live-chat ids.
async fn hand_over(
    http: &reqwest::Client,
    connector: &MockServer,
    skills: &[&str],
    conversations: &[String],
) -> Vec<String> {
    let mut livechat_ids: Vec<String> = Vec::new();
    for (n, conversation) in conversations.iter().enumerate() {
        let start_id = format!("start-{conversation}");
        let start = activity(
            &connector.uri(),
            conversation,
            &start_id,
            json!({ "type": "event", "name": "startConversation" }),
        );
        let url = format!("{}/api/messages", skills[n % skills.len()]);
        post_until_accepted(http, &[&url], &start).await;
        let reply_path = format!("/v3/conversations/{conversation}/activities/{start_id}");
        let id = eventually_within(Duration::from_secs(20), "the start's answer", || async {
            connector
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .find(|request| request.url.path() == reply_path)
                .map(|request| serde_json::from_slice::<Value>(&request.body).unwrap())
                .and_then(|reply| {
                    reply["value"]["liveChatConversationId"]
                        .as_str()
                        .map(str::to_owned)
                })
        })
        .await;
        livechat_ids.push(id);
    }
    livechat_ids
}

/// Messages both ways at once, counted in `sent` as each is accepted: the customers' through
/// `skills` (message n of a conversation to skill n, the next one if it does not answer), the
/// agents' through the live chat. The customers' task answers how many activities were sent again.
fn traffic(
    http: &reqwest::Client,
    connector: &str,
    skills: &[&str],
    livechat: &str,
    conversations: &[String],
    livechat_ids: &[String],
    sent: &Arc<AtomicUsize>,
) -> (JoinHandle<usize>, JoinHandle<()>) {
    let customers = {
        let (http, connector, sent) = (http.clone(), connector.to_owned(), sent.clone());
        let urls: Vec<String> = skills
            .iter()
            .map(|skill| format!("{skill}/api/messages"))
            .collect();
        let conversations = conversations.to_vec();
        tokio::spawn(async move {
            let mut resent = 0;
            for n in 0..MESSAGES_EACH_WAY {
                for conversation in &conversations {
                    let message = activity(
                        &connector,
                        conversation,
                        &format!("u-{conversation}-{n}"),
                        json!({ "type": "message", "text": format!("u:{conversation}:{n}") }),
                    );
                    let mut order: Vec<&str> = urls.iter().map(String::as_str).collect();
                    order.rotate_left(n % urls.len());
                    resent += post_until_accepted(&http, &order, &message).await - 1;
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }
            resent
        })
    };
    let agents = {
        let (http, livechat, sent) = (http.clone(), livechat.to_owned(), sent.clone());
        let chats: Vec<(String, String)> = conversations
            .iter()
            .cloned()
            .zip(livechat_ids.iter().cloned())
            .collect();
        tokio::spawn(async move {
            let send_url = format!("{livechat}/api/chat/send");
            for n in 0..MESSAGES_EACH_WAY {
                for (conversation, id) in &chats {
                    // Named by the Teams conversation, not the live chat's id: a UUID's digits
                    // can pass for a card number, which the skill masks.
                    let text = format!("a:{conversation}:{n}");
                    let body = json!({ "conversationId": id, "message": text, "sender": "Ann" });
                    // An agent's send has no key: after a lost answer, look before sending again.
                    loop {
                        let answer = http.post(&send_url).json(&body).send().await;
                        if answer.is_ok_and(|answer| answer.status().is_success())
                            || in_transcript_once_up(&http, &livechat, id, &text).await
                        {
                            break;
                        }
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    (customers, agents)
}

/// Waits (bounded) until every message has arrived at its far end: the customers' in the live
/// chat, the agents' in Teams; then (lost, duplicated, reordered) user to agent and agent to user,
/// summed over the conversations.
async fn everything_delivered(
    http: &reqwest::Client,
    connector: &MockServer,
    livechat: &str,
    conversations: &[String],
    livechat_ids: &[String],
) -> ((usize, usize, usize), (usize, usize, usize)) {
    let expected_users = |conversation: &str| -> Vec<String> {
        (0..MESSAGES_EACH_WAY)
            .map(|n| format!("u:{conversation}:{n}"))
            .collect()
    };
    let expected_agents = |conversation: &str| -> Vec<String> {
        (0..MESSAGES_EACH_WAY)
            .map(|n| format!("a:{conversation}:{n}"))
            .collect()
    };
    let teams_texts = |requests: &[wiremock::Request], conversation: &str| -> Vec<String> {
        let path = format!("/v3/conversations/{conversation}/activities");
        requests
            .iter()
            .filter(|request| request.url.path() == path)
            .filter_map(|request| {
                let body: Value = serde_json::from_slice(&request.body).ok()?;
                let text = body["text"].as_str()?;
                // "**Ann**: a:...": the agent's text after the name.
                text.rsplit(": ").next().map(str::to_owned)
            })
            .filter(|text| text.starts_with("a:"))
            .collect()
    };
    // (lost, duplicated, reordered) each way, and what is missing.
    let tallies = || async {
        let requests = connector.received_requests().await.unwrap_or_default();
        let (mut to_agent, mut to_user) = ((0, 0, 0), (0, 0, 0));
        let mut missing: Vec<String> = Vec::new();
        let add = |sum: &mut (usize, usize, usize), (lost, duplicated, reordered)| {
            *sum = (sum.0 + lost, sum.1 + duplicated, sum.2 + reordered);
        };
        for (conversation, id) in conversations.iter().zip(livechat_ids) {
            let users = customer_texts(http, livechat, id).await;
            let expected = expected_users(conversation);
            add(&mut to_agent, tally(&expected, &users));
            missing.extend(expected.into_iter().filter(|text| !users.contains(text)));
            let agents = teams_texts(&requests, conversation);
            let expected = expected_agents(conversation);
            add(&mut to_user, tally(&expected, &agents));
            missing.extend(expected.into_iter().filter(|text| !agents.contains(text)));
        }
        (to_agent, to_user, missing)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (to_agent, to_user, missing) = tallies().await;
        if missing.is_empty() {
            return (to_agent, to_user);
        }
        if Instant::now() >= deadline {
            let mut paths: HashMap<String, usize> = HashMap::new();
            for request in connector.received_requests().await.unwrap_or_default() {
                *paths.entry(request.url.path().to_owned()).or_default() += 1;
            }
            panic!(
                "not delivered within 120 s: {missing:?} (user -> agent {to_agent:?}, agent -> user {to_user:?}); the Bot Connector's requests by path: {paths:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Nothing lost or reordered either way, nothing shown twice in the live chat (it drops a repeated
/// id), and at most `teams_repeats` in Teams: what was in flight at the kills (the Bot Connector
/// has no idempotency key).
fn nothing_lost_doubled_or_reordered(
    to_agent: (usize, usize, usize),
    to_user: (usize, usize, usize),
    teams_repeats: usize,
) {
    assert_eq!(
        to_agent,
        (0, 0, 0),
        "user -> agent: lost, doubled, reordered"
    );
    assert_eq!(
        (to_user.0, to_user.2),
        (0, 0),
        "agent -> user: lost, reordered"
    );
    assert!(
        to_user.1 <= teams_repeats,
        "Teams repeats only what was in flight at a kill: {} duplicates",
        to_user.1
    );
}

/// Waits until `due` messages were accepted (kills are paced by progress, not by the clock).
async fn traffic_reaches(sent: &AtomicUsize, due: usize) {
    eventually_within(
        Duration::from_secs(120),
        "traffic before the next kill",
        || async { (sent.load(Ordering::SeqCst) >= due).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_across_repeated_sigkills_of_either_service() {
    let bin = bin_dir();
    let data = tempfile::tempdir().unwrap();
    let connector = bot_connector(Duration::ZERO).await;
    let (skill_port, livechat_port) = (free_port(), free_port());
    let (skill_url, livechat_url) = (
        format!("http://127.0.0.1:{skill_port}"),
        format!("http://127.0.0.1:{livechat_port}"),
    );
    let mut skill = skill_service(
        &bin,
        data.path(),
        "skill",
        skill_port,
        &livechat_url,
        "",
        Vec::new(),
    );
    let mut livechat = livechat_service(&bin, data.path(), livechat_port, &skill_url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    livechat.start(&http).await;
    skill.start(&http).await;
    // The default local agent online: the skill opens sessions only when someone can answer.
    let _agent = test_support::agent_online(&livechat_url, "alex", "contoso-demo").await;

    let conversations: Vec<String> = (0..CONVERSATIONS).map(|n| format!("crash-{n}")).collect();
    let livechat_ids = hand_over(&http, &connector, &[&skill_url], &conversations).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let (customers, agents) = traffic(
        &http,
        &connector.uri(),
        &[&skill_url],
        &livechat_url,
        &conversations,
        &livechat_ids,
        &sent,
    );
    let total = 2 * CONVERSATIONS * MESSAGES_EACH_WAY;
    let kills = 2 * KILLS_EACH;
    for kill in 0..kills {
        traffic_reaches(&sent, total * (kill + 1) / (kills + 2)).await;
        let service = if kill < KILLS_EACH {
            &mut skill
        } else {
            &mut livechat
        };
        service.kill().await;
        service.start(&http).await;
    }
    let resent = customers.await.unwrap();
    agents.await.unwrap();

    let (to_agent, to_user) = everything_delivered(
        &http,
        &connector,
        &livechat_url,
        &conversations,
        &livechat_ids,
    )
    .await;
    let per_way = CONVERSATIONS * MESSAGES_EACH_WAY;
    println!(
        "crash campaign: {KILLS_EACH} SIGKILLs of the skill, then {KILLS_EACH} of the live chat, {CONVERSATIONS} conversations\n\
         user -> agent: {per_way} sent ({resent} activities sent again when no answer came), lost {}, shown twice in the live chat {}, reordered {}\n\
         agent -> user: {per_way} sent, lost {}, Teams duplicates {} (deliveries in flight at a kill), reordered {}",
        to_agent.0, to_agent.1, to_agent.2, to_user.0, to_user.1, to_user.2
    );
    nothing_lost_doubled_or_reordered(to_agent, to_user, KILLS_EACH * CONVERSATIONS);
    skill.kill().await;
    livechat.kill().await;
}

/// Two skills share one PostgreSQL database under traffic both ways; one is SIGKILLed and never
/// comes back. The other takes over what the dead one had claimed (released once its heartbeat
/// stops) and everything accepted arrives: the customers' messages in the live chat once each and
/// in order, the agents' in Teams in order, repeated only where a send was in flight at the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_of_two_instances_is_killed_the_other_delivers_what_it_held() {
    let database = test_support::postgres::TestDatabase::create().await;
    let bin = bin_dir();
    let data = tempfile::tempdir().unwrap();
    // Teams answers slowly, so that the instance killed holds sends in flight and claims.
    let connector = bot_connector(Duration::from_millis(100)).await;
    let (doomed_port, survivor_port, livechat_port) = (free_port(), free_port(), free_port());
    let [doomed_url, survivor_url, livechat_url] =
        [doomed_port, survivor_port, livechat_port].map(|port| format!("http://127.0.0.1:{port}"));
    // Beats five times a second, silent after one: the takeover comes within the run.
    let shared = "heartbeat_ms = 200\ninstance_silent_after_ms = 1000\n";
    let database_url = vec![("SKILL_DATABASE_URL", database.url.clone())];
    let mut doomed = skill_service(
        &bin,
        data.path(),
        "doomed",
        doomed_port,
        &livechat_url,
        shared,
        database_url.clone(),
    );
    let mut survivor = skill_service(
        &bin,
        data.path(),
        "survivor",
        survivor_port,
        &livechat_url,
        shared,
        database_url,
    );
    // The live chat calls the survivor: a load balancer would stop sending to the dead one.
    let mut livechat = livechat_service(&bin, data.path(), livechat_port, &survivor_url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    livechat.start(&http).await;
    doomed.start(&http).await;
    survivor.start(&http).await;
    let _agent = test_support::agent_online(&livechat_url, "alex", "contoso-demo").await;

    let conversations: Vec<String> = (0..CONVERSATIONS)
        .map(|n| format!("takeover-{n}"))
        .collect();
    let skills = [doomed_url.as_str(), survivor_url.as_str()];
    let livechat_ids = hand_over(&http, &connector, &skills, &conversations).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let (customers, agents) = traffic(
        &http,
        &connector.uri(),
        &skills,
        &livechat_url,
        &conversations,
        &livechat_ids,
        &sent,
    );
    traffic_reaches(&sent, CONVERSATIONS * MESSAGES_EACH_WAY / 2).await;
    // Killed while both instances hold claims (sends in flight, Teams answering slowly), so that
    // there is something to take over.
    eventually_within(Duration::from_secs(60), "both instances holding claims", || async {
        let holders = database
            .count("SELECT COUNT(DISTINCT claimed_by) FROM deliveries WHERE state = 'pending' AND claimed_by IS NOT NULL")
            .await;
        (holders == 2).then_some(())
    })
    .await;
    doomed.kill().await;
    // The survivor hears the silence and releases what the dead one held (its log says so, with
    // how many: none when the dead one's last sends all finished before the kill);
    // waited for, since the messages may all have arrived before it: a send whose answer died
    // with the instance reached Teams already.
    let takeovers = eventually_within(
        Duration::from_secs(30),
        "the survivor releasing the killed instance's claims",
        || async {
            let log = std::fs::read_to_string(&survivor.log).unwrap_or_default();
            let lines: Vec<String> = log
                .lines()
                .filter(|line| line.contains("an instance fell silent"))
                .map(str::to_owned)
                .collect();
            (!lines.is_empty()).then_some(lines)
        },
    )
    .await;
    let resent = customers.await.unwrap();
    agents.await.unwrap();

    let (to_agent, to_user) = everything_delivered(
        &http,
        &connector,
        &livechat_url,
        &conversations,
        &livechat_ids,
    )
    .await;
    println!(
        "takeover: one of two instances SIGKILLed under traffic, {CONVERSATIONS} conversations\n\
         the survivor: {takeovers:?}\n\
         user -> agent: lost {}, shown twice in the live chat {}, reordered {} ({resent} activities sent again, to the other instance once one did not answer)\n\
         agent -> user: lost {}, Teams duplicates {} (in flight at the kill), reordered {}",
        to_agent.0, to_agent.1, to_agent.2, to_user.0, to_user.1, to_user.2
    );
    nothing_lost_doubled_or_reordered(to_agent, to_user, CONVERSATIONS);
    survivor.kill().await;
    livechat.kill().await;
}
