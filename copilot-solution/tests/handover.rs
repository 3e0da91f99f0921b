//! The whole handover, end to end, with the three real processes: the skill, Contoso Live Chat and
//! the Copilot Studio and Teams stand-in, talking to each other on loopback. Once through their HTTP
//! APIs, once through both web pages in headless Chromium (screenshots in `target/screenshots/`,
//! and in `docs/` with `UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{json, Value};
use test_support::{free_port, Browser};
use tokio::process::Child;

const AGENT: &str = "Ann";
const AGENT_PASSWORD: &str = "ann-password";
/// The live chat signs its webhooks and the skill checks them, as in production.
const WEBHOOK_SECRET: &str = "end-to-end-webhook-secret";

async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    // Three processes start from cold on a shared machine: more room than the in-process tests.
    test_support::eventually_within(Duration::from_secs(15), what, check).await
}

/// The three services as separate processes; killed when dropped.
struct Services {
    emulator: String,
    livechat: String,
    http: reqwest::Client,
    /// An agent signed in with a page open: the skill opens a session only when one is online.
    _agent: Option<test_support::OnlineAgent>,
    _children: Vec<Child>,
    _data: tempfile::TempDir,
}

impl Services {
    /// The three services, with an agent online.
    async fn start() -> Services {
        let mut services = Services::start_without_agents().await;
        services._agent =
            Some(test_support::agent_online(&services.livechat, AGENT, AGENT_PASSWORD).await);
        services
    }

    /// The three services, and no agent online.
    async fn start_without_agents() -> Services {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_copilot-solution"))
            .parent()
            .unwrap()
            .to_owned();
        for name in ["skill", "contoso-livechat"] {
            assert!(bin.join(name).exists(), "{name} is not built in {}: run `cargo build --workspace --bins` (scripts/test.sh does)", bin.display());
        }
        let data = tempfile::tempdir().unwrap();
        let (skill_port, livechat_port, emulator_port) = (free_port(), free_port(), free_port());
        let spawn =
            |program: &Path, args: &[&str], name: &str, environment: Vec<(&str, String)>| {
                let log = data.path().join(format!("{name}.log"));
                test_support::service_command(program, &log, &environment)
                    .args(args)
                    .spawn()
                    .unwrap()
            };
        let dir = |name: &str| data.path().join(name).display().to_string();
        let children = vec![
            spawn(
                &bin.join("contoso-livechat"),
                &[],
                "livechat",
                vec![
                    ("LIVECHAT_BIND", format!("127.0.0.1:{livechat_port}")),
                    ("LIVECHAT_DATA_DIR", dir("livechat")),
                    (
                        "LIVECHAT_WEBHOOK_URL",
                        format!("http://127.0.0.1:{skill_port}/api/livechat/messages"),
                    ),
                    ("LIVECHAT_AGENT_NAME", AGENT.to_owned()),
                    ("LIVECHAT_AGENT_PASSWORD", AGENT_PASSWORD.to_owned()),
                    ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
                ],
            ),
            spawn(
                &bin.join("skill"),
                &[],
                "skill",
                vec![
                    ("SKILL_BIND", format!("127.0.0.1:{skill_port}")),
                    ("SKILL_DATA_DIR", dir("skill")),
                    ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
                    (
                        "LIVECHAT_BASE_URL",
                        format!("http://127.0.0.1:{livechat_port}"),
                    ),
                ],
            ),
            spawn(
                &bin.join("copilot-solution"),
                &["emulate"],
                "emulator",
                vec![
                    ("EMULATOR_BIND", format!("127.0.0.1:{emulator_port}")),
                    (
                        "SKILL_ENDPOINT",
                        format!("http://127.0.0.1:{skill_port}/api/messages"),
                    ),
                ],
            ),
        ];
        let http = reqwest::Client::new();
        for port in [livechat_port, skill_port, emulator_port] {
            let url = format!("http://127.0.0.1:{port}/healthz");
            eventually(&url, || async {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            })
            .await;
        }
        Services {
            emulator: format!("http://127.0.0.1:{emulator_port}"),
            livechat: format!("http://127.0.0.1:{livechat_port}"),
            http,
            _agent: None,
            _children: children,
            _data: data,
        }
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

    async fn chat_lines(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/chat/lines", self.emulator))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits for a chat line by `role` containing `text`, after line number `after`; returns its number.
    async fn wait_for_line(&self, role: &str, text: &str, after: u64) -> u64 {
        eventually(&format!("a {role} line with '{text}'"), || async {
            self.chat_lines()
                .await
                .iter()
                .find(|l| {
                    l["role"] == role
                        && l["seq"].as_u64().unwrap() > after
                        && l["text"].as_str().unwrap().contains(text)
                })
                .map(|l| l["seq"].as_u64().unwrap())
        })
        .await
    }

    async fn livechat_messages(&self, conversation_id: Option<&str>) -> Vec<Value> {
        let query = conversation_id
            .map(|id| format!("?conversationId={id}"))
            .unwrap_or_default();
        self.http
            .get(format!("{}/api/chat/messages{query}", self.livechat))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the live chat holds a message containing `text`; returns its conversation id.
    async fn wait_for_livechat_message(&self, text: &str) -> String {
        eventually(&format!("'{text}' in the live chat"), || async {
            self.livechat_messages(None)
                .await
                .iter()
                .find(|m| m["message"].as_str().unwrap().contains(text))
                .map(|m| m["conversationId"].as_str().unwrap().to_owned())
        })
        .await
    }
}

#[tokio::test]
async fn a_teams_user_reaches_a_live_agent_and_comes_back_to_the_bot() {
    let services = Services::start().await;
    services.wait_for_line("bot", "talk to a person", 0).await;

    services.user_says("I need to talk to a person").await;
    let asked = services
        .wait_for_line("bot", "describe your problem", 0)
        .await;
    services.user_says("My printer is on fire").await;
    services
        .wait_for_line("bot", "connected to Contoso Live Chat", asked)
        .await;
    // The live chat put the customer in its queue; the skill told them where they are.
    services
        .wait_for_line("bot", "You're next in the queue", asked)
        .await;

    // The agent sees the problem in the live chat, once, from the customer.
    let conversation = services
        .wait_for_livechat_message("My printer is on fire")
        .await;
    let transcript = services.livechat_messages(Some(&conversation)).await;
    assert_eq!(transcript.len(), 1, "{transcript:?}");
    assert_eq!(transcript[0]["sender"], "Megan Bowen");

    // The agent answers; the answer reaches the user's chat as the skill's proactive message.
    let sent = services
        .http
        .post(format!("{}/api/chat/send", services.livechat))
        .json(&json!({"conversationId": conversation, "message": "Hi Megan, this is Ann. Please step away from the printer.", "sender": AGENT}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let answered = services
        .wait_for_line("agent", "step away from the printer", 0)
        .await;
    let line = services
        .chat_lines()
        .await
        .into_iter()
        .find(|l| l["seq"].as_u64() == Some(answered))
        .unwrap();
    assert_eq!(line["sender"], AGENT);

    // The user's next words go to the agent, not the bot.
    services.user_says("Done. What now?").await;
    services.wait_for_livechat_message("Done. What now?").await;

    // Goodbye ends the live chat and hands the user back to the bot.
    services.user_says("goodbye").await;
    let ended = services
        .wait_for_line("bot", "live chat has ended", answered)
        .await;
    eventually("the customer-left note in the live chat", || async {
        services
            .livechat_messages(Some(&conversation))
            .await
            .iter()
            .any(|m| {
                m["role"] == "system" && m["message"].as_str().unwrap().contains("ended the chat")
            })
            .then_some(())
    })
    .await;
    eventually("the live-chat session to end", || async {
        let conversations: Vec<Value> = services
            .http
            .get(format!("{}/api/chat/conversations", services.livechat))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        conversations
            .iter()
            .any(|c| c["id"] == conversation.as_str() && c["state"] == "ended")
            .then_some(())
    })
    .await;
    let late = services
        .http
        .post(format!("{}/api/chat/send", services.livechat))
        .json(&json!({"conversationId": conversation, "message": "hello?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 409, "the live-chat session has ended");

    services.user_says("Is anyone there?").await;
    services
        .wait_for_line("bot", "say \"talk to a person\"", ended)
        .await;
    let forwarded = services.livechat_messages(Some(&conversation)).await;
    assert!(
        forwarded.iter().all(|m| m["message"] != "Is anyone there?"),
        "the bot answered; nothing was forwarded"
    );
}

#[tokio::test]
async fn with_no_agent_online_the_user_is_told_and_stays_with_the_bot() {
    let services = Services::start_without_agents().await;
    services.wait_for_line("bot", "talk to a person", 0).await;
    services.user_says("I need to talk to a person").await;
    let asked = services
        .wait_for_line("bot", "describe your problem", 0)
        .await;
    services.user_says("My printer is on fire").await;
    let told = services
        .wait_for_line("bot", "No agent is available right now", asked)
        .await;
    services
        .wait_for_line("bot", "I'm here if you need anything else", told)
        .await;
    assert!(
        services.livechat_messages(None).await.is_empty(),
        "no live chat was opened"
    );
    // The bot has the conversation: a new request for a person asks again.
    services.user_says("Talk to a person").await;
    services
        .wait_for_line("bot", "describe your problem", told)
        .await;
}

#[tokio::test]
async fn the_same_handover_through_both_web_pages() {
    let services = Services::start().await;
    let browser = Browser::start(1100, 820).await;
    let client = &browser.client;

    // The Teams user asks for a person in the stand-in's chat.
    client.goto(&services.emulator).await.unwrap();
    let teams = client.window().await.unwrap();
    browser.wait_for_text("#lines", "talk to a person").await;
    browser
        .type_and_enter("#message", "I need to talk to a person")
        .await;
    browser
        .wait_for_text("#lines .line.bot", "describe your problem")
        .await;
    browser
        .type_and_enter("#message", "My printer is on fire")
        .await;
    browser
        .wait_for_text("#lines .line.bot", "connected to Contoso Live Chat")
        .await;

    // The agent signs in to the live chat in another window and finds the conversation.
    let livechat = client.new_window(false).await.unwrap();
    client
        .switch_to_window(livechat.handle.clone())
        .await
        .unwrap();
    client
        .goto(&format!("{}/signin", services.livechat))
        .await
        .unwrap();
    browser.sign_in(AGENT, AGENT_PASSWORD).await;
    browser
        .wait_for_text("#queue-conversations", "Megan Bowen")
        .await;
    browser
        .click("#queue-conversations li.conversation a")
        .await;
    browser
        .wait_for_text("#transcript", "My printer is on fire")
        .await;
    // It waits in the queue until the agent accepts it.
    browser.click("#accept-form button").await;
    browser
        .wait_for_text("#holder-line", "You have this conversation")
        .await;
    // Typing shows in the customer's chat while the agent writes.
    client
        .find(Locator::Css("#reply"))
        .await
        .unwrap()
        .send_keys("Hi Megan")
        .await
        .unwrap();
    client.switch_to_window(teams.clone()).await.unwrap();
    browser
        .wait_for_text("#lines .line.bot", "Ann joined the chat")
        .await;
    browser
        .wait_for_text("#typing:not(.hidden)", "is typing")
        .await;
    browser.screenshot("e2e-teams-typing.png").await;
    client
        .switch_to_window(livechat.handle.clone())
        .await
        .unwrap();
    browser
        .type_and_enter(
            "#reply",
            ", this is Ann. Please step away from the printer.",
        )
        .await;
    browser
        .wait_for_text("#transcript .delivery", "Delivered")
        .await;

    // The user sees the agent's answer, answers back, then says goodbye.
    client.switch_to_window(teams.clone()).await.unwrap();
    browser
        .wait_for_text("#lines .line.agent", "step away from the printer")
        .await;
    browser.type_and_enter("#message", "Done, thank you!").await;
    client
        .switch_to_window(livechat.handle.clone())
        .await
        .unwrap();
    browser
        .wait_for_text("#transcript", "Done, thank you!")
        .await;
    client.switch_to_window(teams.clone()).await.unwrap();
    browser.type_and_enter("#message", "goodbye").await;
    browser
        .wait_for_text("#lines .line.bot", "live chat has ended")
        .await;
    browser.type_and_enter("#message", "Is anyone there?").await;
    browser
        .wait_for_text("#lines .line.bot:last-child", "talk to a person")
        .await;
    browser.screenshot("e2e-teams.png").await;

    // The agent's page shows that the customer left, live.
    client.switch_to_window(livechat.handle).await.unwrap();
    browser
        .wait_for_text("#transcript", "customer has ended the chat")
        .await;
    browser.wait_for_text(".state-badge", "Ended").await;
    browser.screenshot("e2e-livechat.png").await;
    browser.stop().await;
}
