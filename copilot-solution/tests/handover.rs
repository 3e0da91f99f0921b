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
    agent: Option<test_support::OnlineAgent>,
    _children: Vec<Child>,
    data: tempfile::TempDir,
}

impl Services {
    /// The three services, with an agent online.
    async fn start() -> Services {
        Services::start_with(Vec::new()).await
    }

    /// The three services, with an agent online and these settings for the skill.
    async fn start_with(skill_settings: Vec<(&'static str, String)>) -> Services {
        Services::start_with_both(skill_settings, Vec::new()).await
    }

    /// The three services, with an agent online and these settings for the skill and the live chat.
    async fn start_with_both(
        skill_settings: Vec<(&'static str, String)>,
        livechat_settings: Vec<(&'static str, String)>,
    ) -> Services {
        let mut services = Services::start_configured(skill_settings, livechat_settings).await;
        services.agent =
            Some(test_support::agent_online(&services.livechat, AGENT, AGENT_PASSWORD).await);
        services
    }

    /// The three services, and no agent online.
    async fn start_without_agents() -> Services {
        Services::start_configured(Vec::new(), Vec::new()).await
    }

    async fn start_configured(
        skill_settings: Vec<(&'static str, String)>,
        livechat_settings: Vec<(&'static str, String)>,
    ) -> Services {
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
                ]
                .into_iter()
                .chain(livechat_settings)
                .collect(),
            ),
            spawn(
                &bin.join("skill"),
                &[],
                "skill",
                [
                    ("SKILL_BIND", format!("127.0.0.1:{skill_port}")),
                    // Where the links to agents' files point.
                    ("SKILL_PUBLIC_URL", format!("http://127.0.0.1:{skill_port}")),
                    ("SKILL_DATA_DIR", dir("skill")),
                    ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
                    (
                        "LIVECHAT_BASE_URL",
                        format!("http://127.0.0.1:{livechat_port}"),
                    ),
                ]
                .into_iter()
                .chain(skill_settings)
                .collect(),
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
            agent: None,
            _children: children,
            data,
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

    /// The user attaches `bytes` as `name` in the stand-in and sends it `as` (picture, file or
    /// reference), with `text`.
    async fn user_sends_file(
        &self,
        text: &str,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
        sent_as: &str,
    ) {
        let stored: Value = self
            .http
            .post(format!("{}/chat/files", self.emulator))
            .query(&[("name", name)])
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let response = self
            .http
            .post(format!("{}/chat/messages", self.emulator))
            .json(&json!({ "text": text, "attachment": {"id": stored["id"], "as": sent_as} }))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{name}: {}",
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
        .wait_for_line("bot", "You're waiting for Contoso Live Chat", asked)
        .await;
    // The live chat put the customer in its queue; the skill told them where they are, and
    // only the skill: the customer reads their place once.
    services
        .wait_for_line("bot", "You're next in the queue", asked)
        .await;
    let places = services
        .chat_lines()
        .await
        .into_iter()
        .filter(|line| {
            line["role"] == "bot"
                && line["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("in the queue")
        })
        .count();
    assert_eq!(places, 1, "{:?}", services.chat_lines().await);

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
        .wait_for_line("bot", "step away from the printer", 0)
        .await;
    let line = services
        .chat_lines()
        .await
        .into_iter()
        .find(|l| l["seq"].as_u64() == Some(answered))
        .unwrap();
    // As Teams shows it: from the bot's account, the agent's name in bold before their words.
    assert_eq!(line["parts"][0], json!({"text": AGENT, "strong": true}));
    assert_eq!(
        line["text"],
        format!("{AGENT}: Hi Megan, this is Ann. Please step away from the printer.")
    );

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
        (services.conversation(&conversation).await["state"] == "ended").then_some(())
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
        .wait_for_line("bot", "leave a message for the team", told)
        .await;
    services.user_says("no").await;
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

impl Services {
    /// The user asks for a person and is queued; the live chat's conversation id.
    async fn queued_with(&self, problem: &str) -> (String, u64) {
        self.wait_for_line("bot", "talk to a person", 0).await;
        self.user_says("I need to talk to a person").await;
        let asked = self.wait_for_line("bot", "describe your problem", 0).await;
        self.user_says(problem).await;
        let queued = self
            .wait_for_line("bot", "You're waiting for Contoso Live Chat", asked)
            .await;
        (self.wait_for_livechat_message(problem).await, queued)
    }

    /// Every conversation the live chat lists (open ones and the recently ended).
    async fn conversations(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/api/chat/conversations", self.livechat))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn conversation(&self, id: &str) -> Value {
        self.conversations()
            .await
            .into_iter()
            .find(|conversation| conversation["id"] == id)
            .unwrap_or_default()
    }

    /// Waits until the conversation's transcript has a message containing `text`.
    async fn wait_for_transcript(&self, conversation: &str, text: &str) {
        eventually(&format!("'{text}' in the transcript"), || async {
            self.livechat_messages(Some(conversation))
                .await
                .iter()
                .any(|m| m["message"].as_str().unwrap().contains(text))
                .then_some(())
        })
        .await;
    }

    fn agent(&self) -> &test_support::OnlineAgent {
        self.agent.as_ref().unwrap()
    }
}

#[tokio::test]
async fn an_agent_closing_the_chat_hands_back_to_the_bot_which_asks_for_a_rating() {
    let services = Services::start().await;
    let (conversation, queued) = services.queued_with("My invoice is wrong").await;
    assert_eq!(services.agent().act(&conversation, "accept").await, 303);
    let joined = services
        .wait_for_line("bot", "Ann joined the chat", queued)
        .await;
    assert_eq!(services.agent().act(&conversation, "end").await, 303);
    let closed = services
        .wait_for_line("bot", "agent has closed the live chat", joined)
        .await;

    // The next words end the action with agentEnded: the topic asks for a rating.
    services.user_says("thanks!").await;
    let asked = services
        .wait_for_line("bot", "from 1 (poor) to 5 (excellent)", closed)
        .await;
    services.user_says("4").await;
    services
        .wait_for_line("bot", "Thank you for your feedback", asked)
        .await;
    eventually("the rating in the live chat", || async {
        (services.conversation(&conversation).await["rating"] == 4).then_some(())
    })
    .await;
}

#[tokio::test]
async fn with_nobody_online_the_user_leaves_a_message_the_agents_find_later() {
    let services = Services::start_without_agents().await;
    services.wait_for_line("bot", "talk to a person", 0).await;
    services.user_says("Talk to a person").await;
    services
        .wait_for_line("bot", "describe your problem", 0)
        .await;
    services.user_says("My invoice is wrong").await;
    let offered = services
        .wait_for_line("bot", "leave a message for the team", 0)
        .await;
    services.user_says("yes").await;
    let asked = services
        .wait_for_line("bot", "What should the team know?", offered)
        .await;
    services.user_says("Please call me back on 555-0100").await;
    services
        .wait_for_line("bot", "passed your message to the team", asked)
        .await;
    // A conversation of its own, closed at once (nobody waits in it), for the agents to find.
    let conversation = eventually("the left message's conversation, closed", || async {
        services
            .conversations()
            .await
            .into_iter()
            .find(|c| {
                c["problemDescription"] == "Please call me back on 555-0100"
                    && c["state"] == "ended"
            })
            .map(|c| c["id"].as_str().unwrap().to_owned())
    })
    .await;
    let transcript = services.livechat_messages(Some(&conversation)).await;
    assert!(
        transcript.iter().any(|m| m["message"]
            .as_str()
            .unwrap()
            .contains("not waiting in this chat")),
        "{transcript:?}"
    );
    // The bot has the conversation again.
    services.user_says("What's up?").await;
    services
        .wait_for_line("bot", "talk to a person", asked)
        .await;
}

/// Every byte of the SQLite database files in `folder` (write-ahead logs included).
fn database_bytes(folder: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".db") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

#[tokio::test]
async fn outside_business_hours_the_user_is_told_and_leaves_a_message_with_the_card_number_masked()
{
    // Closed today (and the days either side, so midnight cannot open it mid-test).
    let today = chrono::Utc::now().date_naive();
    let config = tempfile::NamedTempFile::new().unwrap();
    let days: Vec<String> = [-1, 0, 1]
        .iter()
        .map(|offset| format!("\"{}\"", today + chrono::Duration::days(*offset)))
        .collect();
    std::fs::write(
        config.path(),
        format!(
            "[hours]\ntime_zone = \"UTC\"\nholidays = [{}]\n",
            days.join(", ")
        ),
    )
    .unwrap();
    let services = Services::start_with_both(
        Vec::new(),
        vec![("LIVECHAT_CONFIG", config.path().display().to_string())],
    )
    .await;
    services.wait_for_line("bot", "talk to a person", 0).await;
    services.user_says("Talk to a person").await;
    services
        .wait_for_line("bot", "describe your problem", 0)
        .await;
    services.user_says("A refund").await;
    let reopening = (today + chrono::Duration::days(2))
        .format("%A %-d %B")
        .to_string();
    let told = services
        .wait_for_line(
            "bot",
            &format!("They're back {reopening} at 00:00 (UTC time)"),
            0,
        )
        .await;
    let offered = services
        .wait_for_line("bot", "leave a message for the team", told)
        .await;
    // Neither yes nor no: asked once more, in the question's own words.
    services.user_says("hmm").await;
    let again = services
        .wait_for_line("bot", "Please answer yes or no", offered)
        .await;
    services.user_says("yes").await;
    let asked = services
        .wait_for_line("bot", "What should the team know?", again)
        .await;
    services
        .user_says("Refund to card 4111 1111 1111 1111 please, order 4111111111111112")
        .await;
    services
        .wait_for_line("bot", "passed your message to the team", asked)
        .await;
    let conversation = eventually("the left message's conversation", || async {
        services
            .conversations()
            .await
            .into_iter()
            .find(|c| c["state"] == "ended")
            .map(|c| c["id"].as_str().unwrap().to_owned())
    })
    .await;
    let transcript = services.livechat_messages(Some(&conversation)).await;
    assert!(
        transcript.iter().any(|m| m["message"]
            == "Refund to card [card number removed] please, order 4111111111111112"
            && m["masked"] == json!(["card-number"])),
        "{transcript:?}"
    );
    // The card number reached neither database file; the order number is kept.
    for service in ["livechat", "skill"] {
        let stored = database_bytes(&services.data.path().join(service));
        for original in ["4111 1111 1111 1111", "4111111111111111"] {
            let at = stored
                .windows(original.len())
                .position(|w| w == original.as_bytes());
            assert!(
                at.is_none(),
                "the {service} database holds {original}: {}",
                String::from_utf8_lossy(
                    &stored[at.unwrap_or(0).saturating_sub(300)
                        ..(at.unwrap_or(0) + 100).min(stored.len())]
                )
            );
        }
    }
    let stored = database_bytes(&services.data.path().join("livechat"));
    assert!(stored.windows(16).any(|w| w == b"4111111111111112"));
}

#[tokio::test]
async fn a_chat_nobody_takes_in_time_ends_and_the_topic_offers_to_try_again() {
    let services = Services::start_with(vec![("SKILL_QUEUE_TIMEOUT_SECS", "1".to_owned())]).await;
    let (conversation, queued) = services.queued_with("Where is my parcel?").await;
    let closed = services
        .wait_for_line(
            "bot",
            "no agent could take your chat within 1 second",
            queued,
        )
        .await;
    services.user_says("hello?").await;
    services
        .wait_for_line("bot", "Nobody could take the chat this time", closed)
        .await;
    services
        .wait_for_transcript(&conversation, "nobody accepted it")
        .await;
}

#[tokio::test]
async fn a_silent_customer_is_warned_then_closed_and_the_topic_says_so() {
    let services = Services::start_with(vec![
        ("SKILL_INACTIVITY_WARNING_SECS", "1".to_owned()),
        ("SKILL_INACTIVITY_TIMEOUT_SECS", "2".to_owned()),
    ])
    .await;
    let (conversation, queued) = services.queued_with("My screen is blank").await;
    assert_eq!(services.agent().act(&conversation, "accept").await, 303);
    let warned = services
        .wait_for_line("bot", "Are you still there?", queued)
        .await;
    let closed = services
        .wait_for_line("bot", "no reply for 2 seconds", warned)
        .await;
    services.user_says("sorry, I was away").await;
    services
        .wait_for_line("bot", "closed after a quiet while", closed)
        .await;
    services
        .wait_for_transcript(&conversation, "the customer wrote nothing for 2 seconds")
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
        .wait_for_text("#lines .line.bot", "You're waiting for Contoso Live Chat")
        .await;

    // The agent signs in to the live chat in another window and finds the conversation.
    let livechat = browser
        .sign_in_in_new_window(&services.livechat, AGENT, AGENT_PASSWORD)
        .await;
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
    client.switch_to_window(livechat.clone()).await.unwrap();
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
        .wait_for_text("#lines .line.bot", "step away from the printer")
        .await;
    // The agent's name in bold, as Teams shows the skill's Markdown.
    browser
        .wait_for_text("#lines .line.bot strong", AGENT)
        .await;
    browser.type_and_enter("#message", "Done, thank you!").await;
    client.switch_to_window(livechat.clone()).await.unwrap();
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
    client.switch_to_window(livechat).await.unwrap();
    browser
        .wait_for_text("#transcript", "customer has ended the chat")
        .await;
    browser.wait_for_text(".state-badge", "Ended").await;
    browser.screenshot("e2e-livechat.png").await;
    browser.stop().await;
}

/// In the stand-in's page, the user asks for a person and describes their problem.
async fn ask_for_a_person(browser: &Browser, services: &Services, problem: &str) {
    browser.client.goto(&services.emulator).await.unwrap();
    browser.wait_for_text("#lines", "talk to a person").await;
    browser.type_and_enter("#message", "Talk to a person").await;
    browser
        .wait_for_text("#lines .line.bot", "describe your problem")
        .await;
    browser.type_and_enter("#message", problem).await;
}

#[tokio::test]
async fn a_left_message_and_a_rating_through_the_stand_in_page() {
    let browser = Browser::start(900, 760).await;

    // Nobody online: the user leaves a message for the team.
    let services = Services::start_without_agents().await;
    ask_for_a_person(&browser, &services, "My invoice is wrong").await;
    browser
        .wait_for_text("#lines .line.bot", "leave a message for the team")
        .await;
    browser.type_and_enter("#message", "yes").await;
    browser
        .wait_for_text("#lines .line.bot", "What should the team know?")
        .await;
    browser
        .type_and_enter("#message", "Please call me back on 555-0100")
        .await;
    browser
        .wait_for_text("#lines .line.bot", "passed your message to the team")
        .await;
    browser.screenshot("e2e-left-message.png").await;
    drop(services);

    // An agent takes the chat and closes it: the bot asks for a rating.
    let services = Services::start().await;
    ask_for_a_person(&browser, &services, "My parcel never came").await;
    browser
        .wait_for_text("#lines .line.bot", "You're waiting for Contoso Live Chat")
        .await;
    let conversation = services
        .wait_for_livechat_message("My parcel never came")
        .await;
    assert_eq!(services.agent().act(&conversation, "accept").await, 303);
    browser
        .wait_for_text("#lines .line.bot", "Ann joined the chat")
        .await;
    let sent = services
        .http
        .post(format!("{}/api/chat/send", services.livechat))
        .json(&json!({"conversationId": conversation, "message": "It's on its way today; here is the tracking link.", "sender": AGENT}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    browser
        .wait_for_text("#lines .line.bot", "on its way today")
        .await;
    assert_eq!(services.agent().act(&conversation, "end").await, 303);
    browser
        .wait_for_text("#lines .line.bot", "agent has closed the live chat")
        .await;
    browser.type_and_enter("#message", "Thanks!").await;
    browser
        .wait_for_text("#lines .line.bot", "from 1 (poor) to 5 (excellent)")
        .await;
    browser.type_and_enter("#message", "5").await;
    browser
        .wait_for_text("#lines .line.bot", "Thank you for your feedback")
        .await;
    browser.screenshot("e2e-rating.png").await;
    eventually("the rating in the live chat", || async {
        (services.conversation(&conversation).await["rating"] == 5).then_some(())
    })
    .await;
    browser.stop().await;
}

impl Services {
    /// The live chat's entries of `conversation` that carry a file named `name`, once there is one.
    async fn wait_for_file(&self, conversation: &str, name: &str) -> Value {
        eventually(&format!("{name} in the live chat"), || async {
            self.livechat_messages(Some(conversation))
                .await
                .into_iter()
                .find(|entry| entry["attachments"][0]["name"] == name)
        })
        .await
    }

    /// The chat line (after `after`) that shows something of `kind`, once there is one.
    async fn wait_for_shown(&self, kind: &str, after: u64) -> Value {
        eventually(&format!("a {kind} in the chat"), || async {
            self.chat_lines().await.into_iter().find(|line| {
                line["seq"].as_u64().unwrap() > after && line["shown"][0]["kind"] == kind
            })
        })
        .await
    }

    async fn bytes_at(&self, url: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let headers = response.headers().clone();
        (headers, response.bytes().await.unwrap().to_vec())
    }
}

#[tokio::test]
async fn pictures_and_files_cross_both_ways_through_the_three_services() {
    let services = Services::start().await;
    let (conversation, queued) = services.queued_with("My router's light is red").await;
    assert_eq!(services.agent().act(&conversation, "accept").await, 303);
    services
        .wait_for_line("bot", "Ann joined the chat", queued)
        .await;

    // A picture pasted in Teams: fetched from the stand-in's Bot Connector, kept by the live chat.
    let photo = test_support::files::picture(320, 240);
    services
        .user_sends_file(
            "This light",
            "router.png",
            "image/png",
            photo.clone(),
            "picture",
        )
        .await;
    services
        .wait_for_transcript(&conversation, "This light")
        .await;
    // Teams gives a pasted picture no name: the agent sees it named for its kind.
    let entry = services.wait_for_file(&conversation, "picture.png").await;
    assert_eq!(entry["role"], "customer");
    assert_eq!(entry["sender"], "Megan Bowen");
    let stored = &entry["attachments"][0];
    assert_eq!(stored["contentType"], "image/png");
    assert_eq!(
        (stored["width"].as_u64(), stored["height"].as_u64()),
        (Some(320), Some(240))
    );
    let (_, bytes) = services
        .bytes_at(&format!(
            "{}{}",
            services.livechat,
            stored["url"].as_str().unwrap()
        ))
        .await;
    assert_eq!(bytes, photo);

    // A file sent in a personal chat: fetched from its pre-authenticated link.
    let warranty = test_support::files::pdf("Warranty card");
    services
        .user_sends_file(
            "",
            "warranty.pdf",
            "application/pdf",
            warranty.clone(),
            "file",
        )
        .await;
    let entry = services.wait_for_file(&conversation, "warranty.pdf").await;
    assert_eq!(entry["attachments"][0]["contentType"], "application/pdf");

    // What Copilot Studio forwards in a file's place cannot be fetched: both sides are told.
    let before = services.chat_lines().await.len() as u64;
    services
        .user_sends_file("", "receipt.png", "image/png", photo.clone(), "reference")
        .await;
    services
        .wait_for_line("bot", "I couldn't pass on receipt.png", before)
        .await;
    services
        .wait_for_transcript(&conversation, "Megan Bowen sent receipt.png")
        .await;

    // The agent sends a PDF with words, then a picture alone, from the page's form.
    let label = test_support::files::pdf("Return label");
    let serial = test_support::files::picture(400, 300);
    let before = services.chat_lines().await.len() as u64;
    assert_eq!(
        services
            .agent()
            .reply_with_file(
                &conversation,
                "Here is your return label",
                "return label.pdf",
                label.clone()
            )
            .await,
        303
    );
    assert_eq!(
        services
            .agent()
            .reply_with_file(&conversation, "", "serial number.png", serial.clone())
            .await,
        303
    );
    let words = services
        .wait_for_line("bot", "Here is your return label", before)
        .await;
    let card = services.wait_for_shown("card", words).await;
    assert_eq!(card["shown"][0]["texts"][0], "Ann sent a file");
    assert_eq!(card["shown"][0]["texts"][1], "return label.pdf");
    let download = card["shown"][0]["actions"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let picture = services.wait_for_shown("picture", words).await;
    assert!(
        picture["seq"].as_u64() > card["seq"].as_u64(),
        "in the order the agent sent them"
    );
    let picture_url = picture["shown"][0]["url"].as_str().unwrap().to_owned();
    // Both links are the skill's, and give the agent's bytes.
    let (headers, bytes) = services.bytes_at(&download).await;
    assert_eq!(bytes, label);
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    let (headers, bytes) = services.bytes_at(&picture_url).await;
    assert_eq!(bytes, serial);
    assert_eq!(headers["content-type"], "image/png");
    // And the agent's page shows both delivered.
    eventually("the agent's files delivered", || async {
        let transcript = services.livechat_messages(Some(&conversation)).await;
        let delivered = transcript
            .iter()
            .filter(|entry| entry["role"] == "agent" && entry["deliveryState"] == "delivered")
            .count();
        (delivered == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn pictures_and_files_through_both_web_pages() {
    let services = Services::start().await;
    let files = tempfile::tempdir().unwrap();
    let photo_path = files.path().join("router light.png");
    std::fs::write(&photo_path, test_support::files::picture(480, 320)).unwrap();
    let label_path = files.path().join("return label.pdf");
    let label = test_support::files::pdf("Return label");
    std::fs::write(&label_path, &label).unwrap();
    let serial_path = files.path().join("serial number.png");
    std::fs::write(&serial_path, test_support::files::picture(360, 240)).unwrap();

    let browser = Browser::start(1100, 900).await;
    let client = &browser.client;
    ask_for_a_person(&browser, &services, "My router's light is red").await;
    let teams = client.window().await.unwrap();
    browser
        .wait_for_text("#lines .line.bot", "You're waiting for Contoso Live Chat")
        .await;
    let conversation = services
        .wait_for_livechat_message("My router's light is red")
        .await;
    assert_eq!(services.agent().act(&conversation, "accept").await, 303);
    browser
        .wait_for_text("#lines .line.bot", "Ann joined the chat")
        .await;

    // The user attaches a picture in the stand-in and sends it with a few words.
    client
        .find(Locator::Css("#attach"))
        .await
        .unwrap()
        .send_keys(&photo_path.display().to_string())
        .await
        .unwrap();
    browser
        .wait_for_text("#attachment", "router light.png")
        .await;
    browser
        .type_and_enter("#message", "This light keeps blinking")
        .await;
    browser
        .wait_for_text("#lines .line.user", "This light keeps blinking")
        .await;

    // The agent sees it as a thumbnail, from the live chat's own origin.
    browser
        .sign_in_in_new_window(&services.livechat, AGENT, AGENT_PASSWORD)
        .await;
    client
        .goto(&format!(
            "{}/agent/conversations/{conversation}",
            services.livechat
        ))
        .await
        .unwrap();
    browser.wait_for_text("#transcript", "picture.png").await;
    wait_for_loaded_picture(&browser, "#transcript img.thumb").await;

    // The agent attaches the label from the file input and sends it with words, then drops in the
    // picture of where the serial number is and sends it alone.
    client
        .find(Locator::Css("#attach"))
        .await
        .unwrap()
        .send_keys(&label_path.display().to_string())
        .await
        .unwrap();
    browser
        .wait_for_text("#attachment-preview", "return label.pdf")
        .await;
    browser
        .type_and_enter("#reply", "Here is your return label")
        .await;
    browser
        .wait_for_text("#transcript .message.agent", "return label.pdf")
        .await;
    client
        .find(Locator::Css("#attach"))
        .await
        .unwrap()
        .send_keys(&serial_path.display().to_string())
        .await
        .unwrap();
    browser
        .wait_for_text("#attachment-preview", "serial number.png")
        .await;
    browser.click("#composer button.primary").await;
    eventually("both replies delivered", || async {
        let delivered = client
            .find_all(Locator::Css(
                "#transcript .message.agent .delivery.delivered",
            ))
            .await
            .ok()?
            .len();
        (delivered == 2).then_some(())
    })
    .await;
    browser
        .type_and_enter("#reply", "The serial number is on the sticker underneath.")
        .await;
    browser
        .wait_for_text("#transcript .message.agent", "sticker underneath")
        .await;
    browser.screenshot("e2e-livechat-files.png").await;

    // The customer sees the card and the picture, and the card's link gives the file.
    client.switch_to_window(teams).await.unwrap();
    browser
        .wait_for_text("#lines .shown.card", "Download")
        .await;
    wait_for_loaded_picture(&browser, "#lines .shown.picture img").await;
    browser
        .wait_for_text("#lines .line.bot", "sticker underneath")
        .await;
    browser.screenshot("e2e-teams-files.png").await;
    let link = client
        .find(Locator::Css("#lines .shown.card a.card-action"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let (_, bytes) = services.bytes_at(&link).await;
    assert_eq!(bytes, label);
    browser.stop().await;
}

/// Waits until the picture at `css` has loaded (the browser decoded it: its width is known).
async fn wait_for_loaded_picture(browser: &Browser, css: &str) {
    eventually(&format!("{css} loaded"), || async {
        let width = browser
            .client
            .execute(
                "const image = document.querySelector(arguments[0]); return image && image.complete ? image.naturalWidth : 0;",
                vec![json!(css)],
            )
            .await
            .ok()?;
        (width.as_u64().unwrap_or(0) > 0).then_some(())
    })
    .await;
}

/// A span as an OTLP collector receives it.
#[derive(Debug, Clone)]
struct ExportedSpan {
    service: String,
    name: String,
    trace: String,
    id: String,
    parent: String,
    attributes: std::collections::HashMap<String, String>,
}

impl ExportedSpan {
    fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }

    /// The route a request span answered, in either service's words.
    fn route(&self) -> &str {
        [self.attribute("route"), self.attribute("http.route")]
            .into_iter()
            .find(|route| !route.is_empty())
            .unwrap_or_default()
    }
}

/// Every span the collector received (OTLP/HTTP with JSON bodies).
async fn exported_spans(collector: &wiremock::MockServer) -> Vec<ExportedSpan> {
    let mut spans = Vec::new();
    for request in collector.received_requests().await.unwrap_or_default() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        for resource in body["resourceSpans"].as_array().into_iter().flatten() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|attribute| attribute["key"] == "service.name")
                .and_then(|attribute| attribute["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned();
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let attributes = span["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|attribute| {
                            let value = &attribute["value"];
                            let text = value["stringValue"]
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| value.to_string());
                            (
                                attribute["key"].as_str().unwrap_or_default().to_owned(),
                                text,
                            )
                        })
                        .collect();
                    let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                    spans.push(ExportedSpan {
                        service: service.clone(),
                        name: text("name"),
                        trace: text("traceId"),
                        id: text("spanId"),
                        parent: text("parentSpanId"),
                        attributes,
                    });
                }
            }
        }
    }
    spans
}

/// One trace as an indented tree, service and span name on each line.
fn render_trace(spans: &[ExportedSpan], trace: &str) -> String {
    fn walk(spans: &[ExportedSpan], trace: &str, parent: &str, depth: usize, out: &mut String) {
        for span in spans
            .iter()
            .filter(|s| s.trace == trace && s.parent == parent)
        {
            let route = span.route();
            let detail = if route.is_empty() {
                String::new()
            } else {
                format!(" {route}")
            };
            out.push_str(&format!(
                "{}{} · {}{detail}\n",
                "  ".repeat(depth),
                span.service,
                span.name
            ));
            walk(spans, trace, &span.id, depth + 1, out);
        }
    }
    let known: std::collections::HashSet<&str> = spans.iter().map(|s| s.id.as_str()).collect();
    let mut out = format!("trace {trace}\n");
    // Roots: no parent, or a parent the collector never got.
    for root in spans
        .iter()
        .filter(|s| s.trace == trace && !known.contains(s.parent.as_str()))
    {
        let route = root.route();
        out.push_str(&format!("{} · {} {route}\n", root.service, root.name));
        walk(spans, trace, &root.id, 1, &mut out);
    }
    out
}

#[tokio::test]
async fn one_trace_runs_from_the_teams_activity_through_both_services_and_back() {
    use wiremock::matchers::{method, path};
    let collector = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&collector)
        .await;
    let traced = |service: &str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.uri()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
            ("OTEL_SERVICE_NAME", service.to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ]
    };
    let services =
        Services::start_with_both(traced("handover-skill"), traced("contoso-livechat")).await;
    services.wait_for_line("bot", "talk to a person", 0).await;
    services.user_says("I need to talk to a person").await;
    services
        .wait_for_line("bot", "describe your problem", 0)
        .await;
    services.user_says("My printer is on fire").await;
    let conversation = services
        .wait_for_livechat_message("My printer is on fire")
        .await;
    let sent = services
        .http
        .post(format!("{}/api/chat/send", services.livechat))
        .json(&json!({"conversationId": conversation, "message": "Please step away from the printer.", "sender": AGENT}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    services
        .wait_for_line("bot", "step away from the printer", 0)
        .await;

    // The customer's words: the Teams activity's request in the skill, its outbox's send, and the
    // live chat's request that took them, one trace, the live chat's span a child of the skill's.
    let (inbound, outbound) = eventually("both ways in the exported traces", || async {
        let spans = exported_spans(&collector).await;
        let child_of_the_other = |route: &str, service: &str, other: &str| {
            spans
                .iter()
                .filter(|s| s.service == service && s.route() == route)
                .find(|s| {
                    spans
                        .iter()
                        .any(|p| p.service == other && p.id == s.parent && p.trace == s.trace)
                })
                .cloned()
        };
        let inbound =
            child_of_the_other("/api/chat/receive", "contoso-livechat", "handover-skill")?;
        let outbound = child_of_the_other(
            "/api/livechat/messages",
            "handover-skill",
            "contoso-livechat",
        )?;
        let in_trace = |trace: &str, service: &str, route: &str| {
            spans
                .iter()
                .any(|s| s.trace == trace && s.service == service && s.route() == route)
        };
        let delivered_to_teams = spans.iter().any(|s| {
            s.trace == outbound.trace
                && s.service == "handover-skill"
                && s.name == "deliver"
                && s.attribute("lane") == "teams"
        });
        (in_trace(&inbound.trace, "handover-skill", "/api/messages")
            && in_trace(&outbound.trace, "contoso-livechat", "/api/chat/send")
            && delivered_to_teams)
            .then_some((inbound, outbound))
    })
    .await;
    assert_ne!(inbound.trace, outbound.trace);
    let spans = exported_spans(&collector).await;
    let rendering = format!(
        "{}\n{}",
        render_trace(&spans, &inbound.trace),
        render_trace(&spans, &outbound.trace)
    );
    eprintln!("{rendering}");
    if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/trace.txt");
        std::fs::write(docs, rendering).unwrap();
    }
}
