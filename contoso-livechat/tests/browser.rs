//! The agent pages in a real browser: headless Chromium driven over WebDriver (chromedriver from
//! Debian's `chromium-driver`), against the real app and a recording fake of the skill's webhook.
//! Screenshots go to `target/screenshots/`, and to `docs/` with `UPDATE_SCREENSHOTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use fantoccini::Locator;
use helpers::*;
use test_support::Browser;

#[tokio::test]
async fn an_agent_sees_conversations_live_and_answers_with_enter() {
    let app = spawn_app().await;
    let browser = Browser::start(1280, 860).await;
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
    browser.sign_in(AGENT_NAME, AGENT_PASSWORD).await;
    browser.wait_for_text(".agent-name", AGENT_NAME).await;
    browser
        .wait_for_text("#no-queue", "Nobody is waiting")
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
        .wait_for_text("#queue-conversations li.conversation", "Megan Bowen")
        .await;
    browser
        .wait_for_text("#queue-conversations li.conversation", "PC LOAD LETTER")
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
    // It waits in the queue until the agent accepts it; then the reply box opens.
    client
        .find(Locator::Css("#accept-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#holder-line", "You have this conversation")
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
    // Shift+Enter starts a new line; Enter alone sends.
    let reply = client.find(Locator::Css("#reply")).await.unwrap();
    reply
        .send_keys("Let me check that for you.\u{E008}\u{E007}\u{E000}")
        .await
        .unwrap();
    assert_eq!(
        reply.prop("value").await.unwrap().as_deref(),
        Some("Let me check that for you.\n"),
        "Shift+Enter did not send"
    );
    browser.type_and_enter("#reply", "One moment.").await;
    let bodies = webhook_bodies(&app.webhook, 2).await;
    assert_eq!(bodies[0]["type"], "agentJoined");
    assert_eq!(
        bodies[1]["message"],
        "Let me check that for you.\nOne moment."
    );
    assert_eq!(bodies[1]["sender"], AGENT_NAME);
    assert_eq!(bodies[1]["conversationId"], id.as_str());
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
    browser.type_and_enter("#reply", "Anything else?").await;
    webhook_bodies(&app.webhook, 3).await;
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
    let bodies = webhook_bodies(&app.webhook, 4).await;
    assert_eq!(bodies[3]["type"], "conversationEnded");
    browser.wait_for_text(".state-badge", "Ended").await;
    browser.stop().await;
}
