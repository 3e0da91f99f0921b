//! The crash campaign: the real skill and Contoso Live Chat as processes, messages flowing both
//! ways through them, while the skill is killed with SIGKILL and restarted on the same data
//! several times, then the live chat the same way. Every message id is checked at the far end:
//! none lost, none shown twice in the live chat, order kept per conversation; Teams may see a
//! message twice only if its delivery was in flight at a kill (the Bot Connector has no
//! idempotency key), which bounds the duplicates by kills times conversations.
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

/// Posts until the service acknowledges (it may be down or restarting); how many tries it took.
async fn post_until_accepted(http: &reqwest::Client, url: &str, body: &Value) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tries = 0;
    loop {
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
        assert!(Instant::now() < deadline, "{url} never accepted {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_across_repeated_sigkills_of_either_service() {
    let bin = bin_dir();
    let data = tempfile::tempdir().unwrap();
    let connector = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v3/conversations/[^/]+/activities(/[^/]+)?$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "sent" })))
        .mount(&connector)
        .await;
    let (skill_port, livechat_port) = (free_port(), free_port());
    let (skill_url, livechat_url) = (
        format!("http://127.0.0.1:{skill_port}"),
        format!("http://127.0.0.1:{livechat_port}"),
    );
    // Short backoffs, so that the run waits out each restart quickly; everything else default.
    let skill_config = write(
        &data.path().join("skill.toml"),
        "[delivery]\nbase_backoff_ms = 100\nmax_backoff_ms = 1000\npoll_interval_ms = 200\n",
    );
    let livechat_config = write(
        &data.path().join("livechat.toml"),
        "[webhook]\nmax_attempts = 1000\nbase_backoff_ms = 100\nmax_backoff_ms = 1000\npoll_interval_ms = 200\n",
    );
    let mut skill = Service::new(
        "skill",
        &bin,
        data.path(),
        skill_port,
        vec![
            ("SKILL_CONFIG", skill_config),
            ("SKILL_BIND", format!("127.0.0.1:{skill_port}")),
            (
                "SKILL_DATA_DIR",
                data.path().join("skill").display().to_string(),
            ),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("LIVECHAT_BASE_URL", livechat_url.clone()),
        ],
    );
    let mut livechat = Service::new(
        "contoso-livechat",
        &bin,
        data.path(),
        livechat_port,
        vec![
            ("LIVECHAT_CONFIG", livechat_config),
            ("LIVECHAT_BIND", format!("127.0.0.1:{livechat_port}")),
            (
                "LIVECHAT_DATA_DIR",
                data.path().join("livechat").display().to_string(),
            ),
            (
                "LIVECHAT_WEBHOOK_URL",
                format!("{skill_url}/api/livechat/messages"),
            ),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    livechat.start(&http).await;
    skill.start(&http).await;
    // The default local agent online: the skill opens sessions only when someone can answer.
    let _agent = test_support::agent_online(&livechat_url, "alex", "contoso-demo").await;

    // Every conversation hands over to a live chat session.
    let messages_url = format!("{skill_url}/api/messages");
    let conversations: Vec<String> = (0..CONVERSATIONS).map(|n| format!("crash-{n}")).collect();
    let mut livechat_ids: Vec<String> = Vec::new();
    for conversation in &conversations {
        let start_id = format!("start-{conversation}");
        let start = activity(
            &connector.uri(),
            conversation,
            &start_id,
            json!({ "type": "event", "name": "startConversation" }),
        );
        post_until_accepted(&http, &messages_url, &start).await;
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

    // Both directions at once; the kills are paced by progress, not by the clock.
    let sent = Arc::new(AtomicUsize::new(0));
    let customers = {
        let (http, connector, sent) = (http.clone(), connector.uri(), sent.clone());
        let (url, conversations) = (messages_url.clone(), conversations.clone());
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
                    resent += post_until_accepted(&http, &url, &message).await - 1;
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }
            resent
        })
    };
    let agents = {
        let (http, livechat, sent) = (http.clone(), livechat_url.clone(), sent.clone());
        let ids = livechat_ids.clone();
        tokio::spawn(async move {
            let send_url = format!("{livechat}/api/chat/send");
            for n in 0..MESSAGES_EACH_WAY {
                for id in &ids {
                    let text = format!("a:{id}:{n}");
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
    let total = 2 * CONVERSATIONS * MESSAGES_EACH_WAY;
    let kills = 2 * KILLS_EACH;
    for kill in 0..kills {
        let due = total * (kill + 1) / (kills + 2);
        eventually_within(
            Duration::from_secs(120),
            "traffic before the next kill",
            || async { (sent.load(Ordering::SeqCst) >= due).then_some(()) },
        )
        .await;
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

    // Everything arrives: the customers' messages in the live chat, the agents' in Teams.
    let expected_users = |conversation: &str| -> Vec<String> {
        (0..MESSAGES_EACH_WAY)
            .map(|n| format!("u:{conversation}:{n}"))
            .collect()
    };
    let expected_agents = |id: &str| -> Vec<String> {
        (0..MESSAGES_EACH_WAY)
            .map(|n| format!("a:{id}:{n}"))
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
    // (lost, duplicated, reordered) both ways, summed over the conversations.
    let tallies = || async {
        let requests = connector.received_requests().await.unwrap_or_default();
        let (mut to_agent, mut to_user) = ((0, 0, 0), (0, 0, 0));
        let add = |sum: &mut (usize, usize, usize), (lost, duplicated, reordered)| {
            *sum = (sum.0 + lost, sum.1 + duplicated, sum.2 + reordered);
        };
        for (conversation, id) in conversations.iter().zip(&livechat_ids) {
            let users = customer_texts(&http, &livechat_url, id).await;
            add(&mut to_agent, tally(&expected_users(conversation), &users));
            let agents = teams_texts(&requests, conversation);
            add(&mut to_user, tally(&expected_agents(id), &agents));
        }
        (to_agent, to_user)
    };
    let (to_agent, to_user) = eventually_within(
        Duration::from_secs(120),
        "every message delivered",
        || async {
            let (to_agent, to_user) = tallies().await;
            (to_agent.0 == 0 && to_user.0 == 0).then_some((to_agent, to_user))
        },
    )
    .await;
    let per_way = CONVERSATIONS * MESSAGES_EACH_WAY;
    println!(
        "crash campaign: {KILLS_EACH} SIGKILLs of the skill, then {KILLS_EACH} of the live chat, {CONVERSATIONS} conversations\n\
         user -> agent: {per_way} sent ({resent} activities sent again when no answer came), lost {}, shown twice in the live chat {}, reordered {}\n\
         agent -> user: {per_way} sent, lost {}, Teams duplicates {} (deliveries in flight at a kill), reordered {}",
        to_agent.0, to_agent.1, to_agent.2, to_user.0, to_user.1, to_user.2
    );
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
        to_user.1 <= KILLS_EACH * CONVERSATIONS,
        "Teams repeats only what was in flight at a kill: {} duplicates",
        to_user.1
    );
    skill.kill().await;
    livechat.kill().await;
}
