//! The agent pages in a real browser: headless Chromium driven over WebDriver (chromedriver from
//! Debian's `chromium-driver`), against the real app and a recording fake of the skill's webhook.
//! Screenshots go to `target/screenshots/`, and to `docs/` with `UPDATE_SCREENSHOTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use helpers::*;
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Browser {
    client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser test needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let webdriver = format!("http://127.0.0.1:{port}");
        eventually("chromedriver to answer", || async {
            reqwest::get(format!("{webdriver}/status"))
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                         "--window-size=1280,860", format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        // Both of rustls' crypto back-ends are compiled in (through different dependencies), so one
        // must be chosen; the WebDriver connection is plain http on loopback anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }

    /// Waits until the element at `css` has text containing `expected`; returns its text.
    async fn wait_for_text(&self, css: &str, expected: &str) -> String {
        eventually(&format!("'{expected}' in {css}"), || async {
            let elements = self.client.find_all(Locator::Css(css)).await.ok()?;
            for element in elements {
                let text = element.text().await.ok()?;
                if text.contains(expected) {
                    return Some(text);
                }
            }
            None
        })
        .await
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join(name), &png).unwrap();
        if std::env::var("UPDATE_SCREENSHOTS").is_ok() {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(name), &png).unwrap();
        }
    }
}

#[tokio::test]
async fn an_agent_sees_conversations_live_and_answers_with_enter() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let client = &browser.client;

    // Sign in.
    client
        .goto(&format!("{}/agent", app.address))
        .await
        .unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/signin"),
        "signed-out visitors land on sign-in"
    );
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(AGENT_NAME)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(AGENT_PASSWORD)
        .await
        .unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for_text(".agent-name", AGENT_NAME).await;
    browser
        .wait_for_text("#no-open", "No customer is waiting")
        .await;
    eventually("the live connection", || async {
        client
            .find(Locator::Css("#connection.live"))
            .await
            .ok()
            .map(|_| ())
    })
    .await;

    // A conversation started through the API appears without a reload, with its unread count.
    let earlier = app.start_conversation("Lee Gu").await;
    app.customer_says(&earlier, "Hi, my laptop will not start.")
        .await;
    let id = app.start_conversation("Megan Bowen").await;
    app.customer_says(&id, "The printer says PC LOAD LETTER.")
        .await;
    browser
        .wait_for_text("#open-conversations li.conversation", "Megan Bowen")
        .await;
    browser
        .wait_for_text("#open-conversations li.conversation", "PC LOAD LETTER")
        .await;
    eventually("the unread count in the title", || async {
        client.title().await.ok().filter(|t| t.starts_with("(2)"))
    })
    .await;
    browser.screenshot("inbox.png").await;

    // Open it: the handoff context is at the top, and new customer messages appear live.
    client
        .find(Locator::Css(&format!("li[data-conversation-id='{id}'] a")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text(".context", "The printer is on fire")
        .await;
    app.customer_says(&id, "It is also making a strange noise.")
        .await;
    browser.wait_for_text("#transcript", "strange noise").await;
    let script = "<script>document.title='pwned'</script> is what I typed";
    app.customer_says(&id, script).await;
    let shown = browser
        .wait_for_text("#transcript li.message.customer .body", "is what I typed")
        .await;
    assert_eq!(shown, script, "markup from a customer is shown as text");
    assert!(
        !client.title().await.unwrap().contains("pwned"),
        "and never run"
    );

    // The agent types a reply and presses Enter; the skill's webhook receives it from the signed-in agent.
    let reply = client.find(Locator::Css("#reply")).await.unwrap();
    reply.send_keys("Let me check that for you.").await.unwrap();
    reply.send_keys("\u{E007}").await.unwrap();
    let bodies = webhook_bodies(&app.webhook, 1).await;
    assert_eq!(bodies[0]["message"], "Let me check that for you.");
    assert_eq!(bodies[0]["sender"], AGENT_NAME);
    assert_eq!(bodies[0]["conversationId"], id.as_str());
    browser
        .wait_for_text("#transcript li.message.agent .delivery", "Delivered")
        .await;
    assert_eq!(
        reply.prop("value").await.unwrap().as_deref(),
        Some(""),
        "the box is cleared after sending"
    );
    browser.screenshot("conversation.png").await;

    // At a phone's width the page still works.
    client.set_window_size(390, 844).await.unwrap();
    reply.send_keys("Anything else?").await.unwrap();
    reply.send_keys("\u{E007}").await.unwrap();
    webhook_bodies(&app.webhook, 2).await;
    browser
        .wait_for_text("#transcript li.message.agent", "Anything else?")
        .await;
    browser.screenshot("conversation-phone.png").await;

    // Ending the conversation tells the skill and closes the composer.
    client.set_window_size(1280, 860).await.unwrap();
    client
        .find(Locator::Css("#end-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let bodies = webhook_bodies(&app.webhook, 3).await;
    assert_eq!(bodies[2]["type"], "conversationEnded");
    browser.wait_for_text(".state-badge", "Ended").await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    browser.stop().await;
}
