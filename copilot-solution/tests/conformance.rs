//! One conformance suite for every engagement hub the skill reaches: the same cases (start,
//! messages both ways in order, typing, an agent joining, the agent ending, the customer ending, a
//! restart in the middle, an agent leaving right after a restart, duplicate deliveries) run with the three real processes against Contoso
//! Live Chat and against the Genesys Cloud stand-in (`genesys-standin/standin.py`, which checks
//! every request against Genesys' own SDK models and fails the case when one breaks them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use test_support::free_port;
use tokio::process::Child;

const AGENT: &str = "Ann";
const AGENT_PASSWORD: &str = "ann-password";
const WEBHOOK_SECRET: &str = "conformance-webhook-secret";
const GENESYS_CLIENT: &str = "conformance-client";
const GENESYS_SECRET: &str = "conformance-client-secret";
const GENESYS_INTEGRATION: &str = "0f6a1c43-7d0e-4a55-9f0e-2c1d5e3b7a10";

async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    test_support::eventually_within(Duration::from_secs(20), what, check).await
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Contoso,
    Genesys,
}

/// The skill, a hub and the Copilot Studio and Teams stand-in, as processes.
struct Rig {
    kind: Kind,
    emulator: String,
    hub: String,
    skill_url: String,
    http: reqwest::Client,
    agent: Option<test_support::OnlineAgent>,
    skill: Child,
    skill_env: Vec<(&'static str, String)>,
    bin: PathBuf,
    data: tempfile::TempDir,
    _others: Vec<Child>,
}

fn standin_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../genesys-standin/standin.py")
}

impl Rig {
    async fn start(kind: Kind) -> Rig {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_copilot-solution"))
            .parent()
            .unwrap()
            .to_owned();
        for name in ["skill", "contoso-livechat"] {
            assert!(bin.join(name).exists(), "{name} is not built in {}: run `cargo build --workspace --bins` (scripts/test.sh does)", bin.display());
        }
        let data = tempfile::tempdir().unwrap();
        let (skill_port, hub_port, emulator_port) = (free_port(), free_port(), free_port());
        let skill_url = format!("http://127.0.0.1:{skill_port}");
        let hub = format!("http://127.0.0.1:{hub_port}");
        let webhook = format!("{skill_url}{}", livechat_contract::webhook::WEBHOOK_PATH);
        let log = |name: &str| data.path().join(format!("{name}.log"));
        let mut others = Vec::new();
        let mut skill_env = vec![
            ("SKILL_BIND", format!("127.0.0.1:{skill_port}")),
            ("SKILL_PUBLIC_URL", skill_url.clone()),
            (
                "SKILL_DATA_DIR",
                data.path().join("skill").display().to_string(),
            ),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ];
        match kind {
            Kind::Contoso => {
                others.push(
                    test_support::service_command(
                        &bin.join("contoso-livechat"),
                        &log("livechat"),
                        &[
                            ("LIVECHAT_BIND", format!("127.0.0.1:{hub_port}")),
                            (
                                "LIVECHAT_DATA_DIR",
                                data.path().join("livechat").display().to_string(),
                            ),
                            ("LIVECHAT_WEBHOOK_URL", webhook),
                            ("LIVECHAT_AGENT_NAME", AGENT.to_owned()),
                            ("LIVECHAT_AGENT_PASSWORD", AGENT_PASSWORD.to_owned()),
                            ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
                        ],
                    )
                    .spawn()
                    .unwrap(),
                );
                skill_env.push(("LIVECHAT_BASE_URL", hub.clone()));
            }
            Kind::Genesys => {
                let python = std::env::var("HANDOVER_PYTHON").unwrap_or_else(|_| "python3".into());
                let sdk = std::process::Command::new(&python)
                    .args(["-c", "import PureCloudPlatformClientV2"])
                    .status();
                assert!(
                    sdk.is_ok_and(|status| status.success()),
                    "the Genesys stand-in needs Python 3 with Genesys' SDK: pip install PureCloudPlatformClientV2 (scripts/test.sh installs it)"
                );
                let mut command = tokio::process::Command::new(&python);
                command
                    .arg(standin_script())
                    .env("GENESYS_STANDIN_BIND", format!("127.0.0.1:{hub_port}"))
                    .env("GENESYS_STANDIN_WEBHOOK_URL", webhook)
                    .env("GENESYS_CLIENT_ID", GENESYS_CLIENT)
                    .env("GENESYS_CLIENT_SECRET", GENESYS_SECRET)
                    .env("GENESYS_INTEGRATION_ID", GENESYS_INTEGRATION)
                    .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
                    .stdout(std::fs::File::create(log("genesys")).unwrap())
                    .stderr(std::fs::File::create(log("genesys.err")).unwrap())
                    .kill_on_drop(true);
                others.push(command.spawn().unwrap());
                skill_env.extend([
                    ("LIVECHAT_KIND", "genesys".to_owned()),
                    ("GENESYS_API_URL", hub.clone()),
                    ("GENESYS_LOGIN_URL", hub.clone()),
                    ("GENESYS_CLIENT_ID", GENESYS_CLIENT.to_owned()),
                    ("GENESYS_CLIENT_SECRET", GENESYS_SECRET.to_owned()),
                    ("GENESYS_INTEGRATION_ID", GENESYS_INTEGRATION.to_owned()),
                ]);
            }
        }
        others.push(
            test_support::service_command(
                &bin.join("copilot-solution"),
                &log("emulator"),
                &[
                    ("EMULATOR_BIND", format!("127.0.0.1:{emulator_port}")),
                    ("SKILL_ENDPOINT", format!("{skill_url}/api/messages")),
                ],
            )
            .arg("emulate")
            .spawn()
            .unwrap(),
        );
        let http = reqwest::Client::new();
        // The skill would wait for the hub; the cases start quicker when the hub is up first.
        let url = format!("{hub}/healthz");
        eventually(&url, || async {
            http.get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        })
        .await;
        let skill = spawn_skill(&bin, &data, &skill_env, 0);
        for base in [&skill_url, &format!("http://127.0.0.1:{emulator_port}")] {
            let url = format!("{base}/healthz");
            eventually(&url, || async {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(drop)
            })
            .await;
        }
        let agent = match kind {
            Kind::Contoso => Some(test_support::agent_online(&hub, AGENT, AGENT_PASSWORD).await),
            Kind::Genesys => None,
        };
        Rig {
            kind,
            emulator: format!("http://127.0.0.1:{emulator_port}"),
            hub,
            skill_url,
            http,
            agent,
            skill,
            skill_env,
            bin,
            data,
            _others: others,
        }
    }

    /// Kills the skill (SIGKILL) and starts it again on the same data.
    async fn restart_skill(&mut self) {
        self.skill.kill().await.unwrap();
        self.skill = spawn_skill(&self.bin, &self.data, &self.skill_env, 1);
        let url = format!("{}/healthz", self.skill_url);
        eventually("the skill back", || async {
            self.http
                .get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        })
        .await;
    }

    async fn user_says(&self, text: &str) {
        let response = self
            .http
            .post(format!("{}/chat/messages", self.emulator))
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{text}: {}",
            response.status()
        );
    }

    async fn lines(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/chat/lines", self.emulator))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The bot's lines in Teams, in order.
    async fn bot_lines(&self) -> Vec<String> {
        self.lines()
            .await
            .iter()
            .filter(|line| line["role"] == "bot")
            .map(|line| line["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn wait_for_bot(&self, text: &str) {
        eventually(&format!("'{text}' in Teams"), || async {
            self.bot_lines()
                .await
                .iter()
                .any(|line| line.contains(text))
                .then_some(())
        })
        .await;
    }

    /// Asks for a person and waits for the hub's conversation; its id on the hub.
    async fn hand_over(&self, problem: &str) -> String {
        self.wait_for_bot("talk to a person").await;
        self.user_says("I need to talk to a person").await;
        self.wait_for_bot("describe your problem").await;
        self.user_says(problem).await;
        self.wait_for_bot("Live Chat").await;
        eventually("the conversation on the hub", || async {
            let texts = self.customer_texts_all().await;
            texts
                .into_iter()
                .find(|(_, text)| text.contains(problem))
                .map(|(conversation, _)| conversation)
        })
        .await
    }

    /// Every customer text the hub holds, with its conversation.
    async fn customer_texts_all(&self) -> Vec<(String, String)> {
        match self.kind {
            Kind::Contoso => {
                let messages: Vec<Value> =
                    self.get(&format!("{}/api/chat/messages", self.hub)).await;
                messages
                    .iter()
                    .filter(|m| m["role"] == "customer")
                    .map(|m| {
                        (
                            m["conversationId"].as_str().unwrap().to_owned(),
                            m["message"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            }
            Kind::Genesys => {
                let conversations: Vec<Value> = self
                    .get(&format!("{}/standin/conversations", self.hub))
                    .await;
                conversations
                    .iter()
                    .flat_map(|c| {
                        let id = c["conversationId"].as_str().unwrap().to_owned();
                        c["messages"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter(|m| m["direction"] == "inbound")
                            .map(move |m| (id.clone(), m["text"].as_str().unwrap().to_owned()))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            }
        }
    }

    async fn customer_texts(&self, conversation: &str) -> Vec<String> {
        self.customer_texts_all()
            .await
            .into_iter()
            .filter(|(id, _)| id == conversation)
            .map(|(_, text)| text)
            .collect()
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> T {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn genesys_control(&self, action: &str, body: Value) -> Value {
        let answer = self
            .http
            .post(format!("{}/standin/agent/{action}", self.hub))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{action}: {}",
            answer.status()
        );
        answer.json().await.unwrap()
    }

    async fn agent_joins(&self, conversation: &str) {
        match self.kind {
            Kind::Contoso => {
                let status = self
                    .agent
                    .as_ref()
                    .unwrap()
                    .act(conversation, "accept")
                    .await;
                assert!(status.is_success() || status.is_redirection(), "{status}");
            }
            Kind::Genesys => {
                self.genesys_control(
                    "join",
                    json!({"conversationId": conversation, "name": AGENT}),
                )
                .await;
            }
        }
    }

    async fn agent_says(&self, conversation: &str, text: &str) {
        match self.kind {
            Kind::Contoso => {
                let sent = self
                    .http
                    .post(format!("{}/api/chat/send", self.hub))
                    .json(
                        &json!({"conversationId": conversation, "message": text, "sender": AGENT}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(sent.status(), 200);
            }
            Kind::Genesys => {
                self.genesys_control(
                    "send",
                    json!({"conversationId": conversation, "text": text}),
                )
                .await;
            }
        }
    }

    /// The hub delivers one agent message twice, as a hub retrying after a lost answer does.
    async fn agent_says_twice(&self, conversation: &str, text: &str) {
        match self.kind {
            Kind::Contoso => {
                let event = livechat_contract::webhook::WebhookEvent::Message(
                    livechat_contract::webhook::AgentMessage {
                        conversation_id: conversation.to_owned(),
                        message: text.to_owned(),
                        sender: Some(AGENT.to_owned()),
                        timestamp: None,
                        id: format!("duplicate-{conversation}"),
                        attachments: Vec::new(),
                    },
                );
                let body = serde_json::to_vec(&event).unwrap();
                for _ in 0..2 {
                    let now = chrono_now();
                    let headers = livechat_contract::signature::signature_headers(
                        WEBHOOK_SECRET.as_bytes(),
                        now,
                        &body,
                    )
                    .unwrap();
                    let mut request = self
                        .http
                        .post(format!(
                            "{}{}",
                            self.skill_url,
                            livechat_contract::webhook::WEBHOOK_PATH
                        ))
                        .header("content-type", "application/json")
                        .body(body.clone());
                    for (name, value) in headers {
                        request = request.header(name, value);
                    }
                    assert_eq!(request.send().await.unwrap().status(), 200);
                }
            }
            Kind::Genesys => {
                let answer = self
                    .genesys_control(
                        "send",
                        json!({"conversationId": conversation, "text": text, "repeat": 2}),
                    )
                    .await;
                assert_eq!(answer["webhookStatuses"], json!([200, 200]), "{answer}");
            }
        }
    }

    async fn agent_types(&self, conversation: &str) {
        match self.kind {
            Kind::Contoso => {
                let status = self
                    .agent
                    .as_ref()
                    .unwrap()
                    .act(conversation, "typing")
                    .await;
                assert!(status.is_success(), "{status}");
            }
            Kind::Genesys => {
                self.genesys_control("typing", json!({"conversationId": conversation}))
                    .await;
            }
        }
    }

    async fn agent_leaves(&self, conversation: &str) {
        match self.kind {
            Kind::Contoso => {
                let status = self.agent.as_ref().unwrap().act(conversation, "end").await;
                assert!(status.is_success() || status.is_redirection(), "{status}");
            }
            Kind::Genesys => {
                self.genesys_control("leave", json!({"conversationId": conversation}))
                    .await;
            }
        }
    }

    /// Whether the hub holds the conversation as ended by the customer.
    async fn customer_ended(&self, conversation: &str) -> bool {
        match self.kind {
            Kind::Contoso => {
                let conversations: Vec<Value> = self
                    .get(&format!("{}/api/chat/conversations", self.hub))
                    .await;
                conversations
                    .iter()
                    .any(|c| c["id"] == conversation && c["state"] == "ended")
            }
            Kind::Genesys => {
                let conversations: Vec<Value> = self
                    .get(&format!("{}/standin/conversations", self.hub))
                    .await;
                conversations.iter().any(|c| {
                    c["conversationId"] == conversation && c["customerState"] == "disconnected"
                })
            }
        }
    }

    /// The skill's notification channel no longer follows an ended conversation (Genesys only:
    /// a channel holds at most 1,000 topics).
    async fn unfollowed(&self, conversation: &str) {
        if self.kind == Kind::Genesys {
            let topic = format!("v2.conversations.{conversation}");
            eventually("the ended conversation's topic dropped", || async {
                let report: Value = self.get(&format!("{}/standin/report", self.hub)).await;
                let channels = report["channels"].as_object().unwrap();
                (!channels.is_empty()
                    && channels
                        .values()
                        .all(|topics| !topics.as_array().unwrap().contains(&json!(topic))))
                .then_some(())
            })
            .await;
        }
    }

    /// Nothing the skill sent broke the hub's definitions (Genesys' SDK models for the stand-in).
    async fn assert_every_request_valid(&self) {
        if self.kind == Kind::Genesys {
            let report: Value = self.get(&format!("{}/standin/report", self.hub)).await;
            assert_eq!(
                report["invalid"],
                json!([]),
                "requests Genesys' SDK models refuse: {report}"
            );
            assert!(report["requests"].as_u64().unwrap() > 0);
        }
    }
}

impl Drop for Rig {
    /// A failed case shows the processes' logs, which go with the temporary directory.
    fn drop(&mut self) {
        if std::thread::panicking() {
            for entry in std::fs::read_dir(self.data.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = entry.path();
                if path
                    .extension()
                    .is_some_and(|extension| extension == "log" || extension == "err")
                {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(40).collect();
                    eprintln!("--- {} (last lines)", path.display());
                    for line in tail.into_iter().rev() {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn spawn_skill(
    bin: &Path,
    data: &tempfile::TempDir,
    env: &[(&'static str, String)],
    n: u32,
) -> Child {
    test_support::service_command(
        &bin.join("skill"),
        &data.path().join(format!("skill-{n}.log")),
        env,
    )
    .spawn()
    .unwrap()
}

/// The texts in `lines` that contain one of `wanted`, in order.
fn in_order(lines: &[String], wanted: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| wanted.iter().any(|w| line.contains(w)))
        .cloned()
        .collect()
}

async fn start_and_messages_both_ways_in_order(kind: Kind) {
    let rig = Rig::start(kind).await;
    let conversation = rig.hand_over("My printer is on fire").await;
    let customer: Vec<String> = (1..=5).map(|n| format!("customer line {n}")).collect();
    for line in &customer {
        rig.user_says(line).await;
    }
    eventually("the customer's lines on the hub in order", || async {
        let texts = rig.customer_texts(&conversation).await;
        let seen = in_order(&texts, &["customer line"]);
        (seen == customer).then_some(())
    })
    .await;
    let agent: Vec<String> = (1..=5).map(|n| format!("agent line {n}")).collect();
    for line in &agent {
        rig.agent_says(&conversation, line).await;
    }
    eventually("the agent's lines in Teams in order", || async {
        let seen = in_order(&rig.bot_lines().await, &["agent line"]);
        (seen.len() == agent.len()
            && seen
                .iter()
                .zip(&agent)
                .all(|(shown, sent)| shown.ends_with(sent.as_str())))
        .then_some(())
    })
    .await;
    rig.assert_every_request_valid().await;
}

async fn typing_reaches_teams(kind: Kind) {
    let rig = Rig::start(kind).await;
    let conversation = rig.hand_over("Typing check").await;
    rig.agent_joins(&conversation).await;
    rig.wait_for_bot(&format!("{AGENT} joined")).await;
    let events = rig
        .http
        .get(format!("{}/chat/events", rig.emulator))
        .send()
        .await
        .unwrap();
    let mut stream = events.bytes_stream();
    rig.agent_types(&conversation).await;
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("event: typing") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "Teams was shown the agent typing");
    rig.assert_every_request_valid().await;
}

async fn the_agent_joining_and_ending_is_told(kind: Kind) {
    let rig = Rig::start(kind).await;
    let conversation = rig.hand_over("Join and end").await;
    rig.agent_joins(&conversation).await;
    rig.wait_for_bot(&format!("{AGENT} joined")).await;
    rig.agent_says(&conversation, "How can I help?").await;
    rig.wait_for_bot("How can I help?").await;
    rig.agent_leaves(&conversation).await;
    rig.wait_for_bot("The agent has closed the live chat").await;
    // The conversation is the bot's again.
    rig.unfollowed(&conversation).await;
    rig.user_says("hello again").await;
    rig.wait_for_bot("talk to a person").await;
    assert!(
        !rig.customer_texts(&conversation)
            .await
            .iter()
            .any(|t| t == "hello again"),
        "nothing after the end reaches the hub"
    );
    rig.assert_every_request_valid().await;
}

async fn the_customer_ending_ends_it_on_the_hub(kind: Kind) {
    let rig = Rig::start(kind).await;
    let conversation = rig.hand_over("Customer ends").await;
    rig.agent_joins(&conversation).await;
    rig.wait_for_bot(&format!("{AGENT} joined")).await;
    rig.user_says("goodbye").await;
    rig.wait_for_bot("live chat has ended").await;
    eventually("the hub's conversation ended", || async {
        rig.customer_ended(&conversation).await.then_some(())
    })
    .await;
    rig.unfollowed(&conversation).await;
    rig.assert_every_request_valid().await;
}

async fn a_restart_in_the_middle_loses_nothing(kind: Kind) {
    let mut rig = Rig::start(kind).await;
    let conversation = rig.hand_over("Restart in the middle").await;
    rig.agent_joins(&conversation).await;
    rig.wait_for_bot(&format!("{AGENT} joined")).await;
    rig.user_says("before the restart").await;
    rig.restart_skill().await;
    rig.user_says("after the restart").await;
    rig.agent_says(&conversation, "still here after the restart")
        .await;
    rig.wait_for_bot("still here after the restart").await;
    eventually("both customer lines on the hub, in order, once", || async {
        let texts = rig.customer_texts(&conversation).await;
        (in_order(&texts, &["the restart"]) == ["before the restart", "after the restart"])
            .then_some(())
    })
    .await;
    rig.agent_leaves(&conversation).await;
    rig.wait_for_bot("The agent has closed the live chat").await;
    rig.assert_every_request_valid().await;
}

async fn an_agent_leaving_right_after_a_restart_is_told(kind: Kind) {
    let mut rig = Rig::start(kind).await;
    let conversation = rig.hand_over("Leaving after a restart").await;
    rig.agent_joins(&conversation).await;
    rig.wait_for_bot(&format!("{AGENT} joined")).await;
    rig.restart_skill().await;
    // Nothing from the customer in between: the restarted skill follows the conversation from
    // what it stored.
    rig.agent_leaves(&conversation).await;
    rig.wait_for_bot("The agent has closed the live chat").await;
    rig.assert_every_request_valid().await;
}

async fn a_duplicate_delivery_reaches_teams_once(kind: Kind) {
    let rig = Rig::start(kind).await;
    let conversation = rig.hand_over("Duplicates").await;
    rig.agent_says_twice(&conversation, "said once, delivered twice")
        .await;
    rig.agent_says(&conversation, "the marker after it").await;
    rig.wait_for_bot("the marker after it").await;
    let lines = rig.bot_lines().await;
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("said once, delivered twice"))
            .count(),
        1,
        "{lines:?}"
    );
    rig.assert_every_request_valid().await;
}

macro_rules! for_every_hub {
    ($($case:ident),* $(,)?) => {
        mod contoso {
            $(#[tokio::test] async fn $case() { super::$case(super::Kind::Contoso).await })*
        }
        mod genesys {
            $(#[tokio::test] async fn $case() { super::$case(super::Kind::Genesys).await })*
        }
    };
}

for_every_hub!(
    start_and_messages_both_ways_in_order,
    typing_reaches_teams,
    the_agent_joining_and_ending_is_told,
    the_customer_ending_ends_it_on_the_hub,
    a_restart_in_the_middle_loses_nothing,
    an_agent_leaving_right_after_a_restart_is_told,
    a_duplicate_delivery_reaches_teams_once,
);
