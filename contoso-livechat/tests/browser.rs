//! The agent pages in a real browser: headless Chromium driven over WebDriver (chromedriver from
//! Debian's `chromium-driver`), against the real app and a recording fake of the skill's webhook.
//! Screenshots go to `target/screenshots/`, and to `docs/` with `UPDATE_SCREENSHOTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::Duration;

use base64::Engine;
use fantoccini::Locator;
use helpers::*;
use test_support::Browser;

/// A browser 1280 wide and `height` high, signed in as `name`, its live updates connected.
async fn signed_in(app: &TestApp, name: &str, password: &str, height: u32) -> Browser {
    let browser = Browser::start(1280, height).await;
    browser
        .client
        .goto(&format!("{}/signin", app.address))
        .await
        .unwrap();
    browser.sign_in(name, password).await;
    browser.wait_for_text(".agent-name", name).await;
    eventually("the live connection", || async {
        browser
            .client
            .find(Locator::Css("#connection.live"))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    browser
}

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
    browser
        .click(&format!("li[data-conversation-id='{id}'] a"))
        .await;
    browser
        .wait_for_text(".context", "The printer is on fire")
        .await;
    // It waits in the queue until the agent accepts it; then the reply box opens.
    browser.click("#accept-form button").await;
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
    browser.click("#end-form button").await;
    let bodies = webhook_bodies(&app.webhook, 4).await;
    assert_eq!(bodies[3]["type"], "conversationEnded");
    browser.wait_for_text(".state-badge", "Ended").await;
    browser.stop().await;
}

/// Two agents in two browsers (separate profiles, so separate sessions), as two new agents would
/// use the pages: one queue, one accepts, the other reads; a transfer with a note; a canned reply.
#[tokio::test]
async fn two_agents_share_the_queue_accept_transfer_and_use_canned_replies() {
    let app = spawn_app_with(Options {
        second_agent: true,
        ..Options::default()
    })
    .await;
    let ann = signed_in(&app, AGENT_NAME, AGENT_PASSWORD, 860).await;
    let ben = signed_in(&app, SECOND_AGENT, SECOND_PASSWORD, 860).await;
    assert_eq!(app.availability().await["agentsOnline"], 2);

    // A new conversation appears in both queues, with its handoff context.
    let id = app.start_conversation("Megan Bowen").await;
    app.customer_says(&id, "Hello? Anyone?").await;
    let row = format!("#queue-conversations li[data-conversation-id='{id}']");
    for browser in [&ann, &ben] {
        browser.wait_for_text(&row, "The printer is on fire").await;
    }
    ann.screenshot("queue.png").await;

    // Ann accepts from her queue; it leaves Ben's queue for the others' list at once.
    ann.click(&format!("{row} button.accept")).await;
    ann.wait_for_text("#holder-line", "You have this conversation")
        .await;
    test_support::eventually_within(
        Duration::from_secs(3),
        "the conversation out of Ben's queue",
        || async {
            let queued = ben.client.find_all(Locator::Css(&row)).await.ok()?;
            queued.is_empty().then_some(())
        },
    )
    .await;
    ben.wait_for_text("#other-conversations", "Megan Bowen")
        .await;
    let joined = webhook_bodies(&app.webhook, 1).await;
    assert_eq!(joined[0]["type"], "agentJoined");
    assert_eq!(joined[0]["agentName"], AGENT_NAME);

    // Ben can read it, not write in it.
    ben.client
        .goto(&format!("{}/agent/conversations/{id}", app.address))
        .await
        .unwrap();
    ben.wait_for_text("#holder-line", "Ann has this conversation")
        .await;
    assert!(
        !ben.client
            .find(Locator::Css("#reply"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap(),
        "no reply box for a conversation that is not his"
    );

    // Ann types (the skill hears she is typing), then hands it to Ben with a note.
    ann.client
        .find(Locator::Css("#reply"))
        .await
        .unwrap()
        .send_keys("Let me get")
        .await
        .unwrap();
    let typing = typing_bodies(&app.webhook, 1).await;
    assert_eq!(typing[0]["conversationId"], id.as_str());
    ann.client
        .find(Locator::Css("#transfer-to"))
        .await
        .unwrap()
        .select_by_value(SECOND_AGENT)
        .await
        .unwrap();
    ann.client
        .find(Locator::Css("#transfer-note-input"))
        .await
        .unwrap()
        .send_keys("Printer fire, order 42; she is calm")
        .await
        .unwrap();
    ann.click("#transfer-form button").await;
    ann.wait_for_text("#holder-line", "Ben has this conversation")
        .await;
    ben.wait_for_text("#holder-line", "You have this conversation")
        .await;
    let events = webhook_bodies(&app.webhook, 2).await;
    assert_eq!(events[1]["type"], "agentJoined");
    assert_eq!(events[1]["agentName"], SECOND_AGENT);
    assert_eq!(events[1]["transferredBy"], AGENT_NAME);
    ben.client.refresh().await.unwrap();
    ben.wait_for_text("#transfer-note", "Printer fire, order 42")
        .await;
    ben.wait_for_text("#transcript", "Ann transferred the conversation to Ben")
        .await;

    // Ben answers with a prepared reply: `/` and the start of its name, then Tab.
    let reply = ben.client.find(Locator::Css("#reply")).await.unwrap();
    reply.send_keys("/hel").await.unwrap();
    ben.wait_for_text("#canned", "/hello").await;
    ben.screenshot("transfer.png").await;
    reply.send_keys("\u{E004}").await.unwrap();
    assert_eq!(
        reply.prop("value").await.unwrap().as_deref(),
        Some("Hello, thanks for waiting. How can I help you today?")
    );
    reply.send_keys("\u{E007}").await.unwrap();
    let events = webhook_bodies(&app.webhook, 3).await;
    assert_eq!(
        events[2]["message"],
        "Hello, thanks for waiting. How can I help you today?"
    );
    assert_eq!(events[2]["sender"], SECOND_AGENT);

    // Ben steps away: the header says so, and he no longer counts as online.
    ben.client
        .find(Locator::Css("#presence"))
        .await
        .unwrap()
        .select_by_value("away")
        .await
        .unwrap();
    eventually("Ben away", || async {
        (app.availability().await["agentsOnline"] == 1).then_some(())
    })
    .await;
    ann.stop().await;
    ben.stop().await;
}

/// The page's file handling in a real browser: a picture pasted into the reply box and a file
/// dropped on it are previewed and sent (the file alone too); a file over the limit is refused
/// before it is uploaded, saying the limit; a hostile file name is shown as text.
#[tokio::test]
async fn an_agent_pastes_and_drops_files_and_is_told_the_limits_first() {
    let app = spawn_app_with(Options {
        max_file_bytes: Some(64 * 1024),
        ..Options::default()
    })
    .await;
    let id = app.start_conversation("Megan Bowen").await;
    let picture = test_support::files::picture(200, 120);
    let hostile = app
        .upload(
            &id,
            "<img src=x onerror=alert(1)>.png",
            None,
            picture.clone(),
        )
        .await;
    assert_eq!(hostile.status(), 200);
    let browser = Browser::start(1100, 860).await;
    let client = &browser.client;
    client
        .goto(&format!("{}/signin", app.address))
        .await
        .unwrap();
    browser.sign_in(AGENT_NAME, AGENT_PASSWORD).await;
    browser.wait_for_text(".agent-name", AGENT_NAME).await;
    client
        .goto(&format!("{}/agent/conversations/{id}", app.address))
        .await
        .unwrap();
    browser.click("#accept-form button").await;
    browser
        .wait_for_text("#holder-line", "You have this conversation")
        .await;
    browser
        .wait_for_text(
            "#file-limits",
            "Files up to 64 KB: pictures, PDF, office documents and text files.",
        )
        .await;
    // The customer's file's name is text, never markup.
    let name = browser
        .wait_for_text("#transcript .attachment .file-name", "onerror")
        .await;
    assert_eq!(name, "img src=x onerror=alert(1).png");

    // A picture pasted into the reply box: previewed, then sent with words.
    let paste = r#"
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const file = new File([bytes], 'image.png', { type: 'image/png' });
        const data = new DataTransfer();
        data.items.add(file);
        document.getElementById('reply').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    "#;
    client
        .execute(
            paste,
            vec![serde_json::json!(
                base64::engine::general_purpose::STANDARD.encode(&picture)
            )],
        )
        .await
        .unwrap();
    browser
        .wait_for_text("#attachment-preview", "pasted-picture.png")
        .await;
    browser.type_and_enter("#reply", "Is it this one?").await;
    browser
        .wait_for_text(
            "#transcript .message.agent .file-name",
            "pasted-picture.png",
        )
        .await;

    // A document dropped on the composer, sent alone.
    let drop = r#"
        const file = new File([arguments[0]], 'notes.txt', { type: 'text/plain' });
        const data = new DataTransfer();
        data.items.add(file);
        document.getElementById('composer').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    "#;
    client
        .execute(drop, vec![serde_json::json!("Serial: SN-42")])
        .await
        .unwrap();
    browser
        .wait_for_text("#attachment-preview", "notes.txt")
        .await;
    browser.click("#composer button.primary").await;
    browser
        .wait_for_text("#transcript .message.agent .file-name", "notes.txt")
        .await;
    let bodies = webhook_bodies(&app.webhook, 3).await;
    let sent: Vec<&serde_json::Value> = bodies.iter().filter(|b| b["type"] == "message").collect();
    assert_eq!(sent[0]["message"], "Is it this one?");
    assert_eq!(sent[0]["attachments"][0]["name"], "pasted-picture.png");
    assert_eq!(sent[1]["message"], "");
    assert_eq!(sent[1]["attachments"][0]["contentType"], "text/plain");

    // Over the limit: told before anything is uploaded.
    let big = r#"
        const file = new File([new Uint8Array(100 * 1024)], 'scan.pdf', { type: 'application/pdf' });
        const data = new DataTransfer();
        data.items.add(file);
        document.getElementById('composer').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    "#;
    client.execute(big, Vec::new()).await.unwrap();
    browser
        .wait_for_text(
            "#attachment-preview .warning",
            "files up to 64 KB can be sent",
        )
        .await;
    browser.click("#composer button.primary").await;
    browser
        .wait_for_text(
            "#composer-error",
            "scan.pdf is 100 KB; files up to 64 KB can be sent.",
        )
        .await;
    browser.screenshot("attachments.png").await;
    assert_eq!(
        all_webhook_bodies(&app.webhook)
            .await
            .iter()
            .filter(|b| b["type"] == "message")
            .count(),
        2,
        "nothing more was sent"
    );
    browser.stop().await;
}

/// An agent and a supervisor in two browsers: the supervisor sees the conversation live, whispers
/// (the agent sees it at once, the webhook never carries it), takes it over and force-closes it;
/// the agent wraps up another; the dashboard renders with the data and follows a new one live.
#[tokio::test]
async fn a_supervisor_watches_whispers_takes_over_and_closes_while_the_agent_wraps_up() {
    let app = spawn_app_with(Options {
        supervisor: true,
        ..Options::default()
    })
    .await;
    let ann = signed_in(&app, AGENT_NAME, AGENT_PASSWORD, 860).await;
    let sue = signed_in(&app, SUPERVISOR, SUPERVISOR_PASSWORD, 900).await;

    // Two customers; Ann accepts both from her queue.
    let megan = app.start_conversation("Megan Bowen").await;
    app.customer_says(&megan, "My order never came.").await;
    let lee = app.start_conversation("Lee Gu").await;
    app.customer_says(&lee, "How do I reset my password?").await;
    for id in [&megan, &lee] {
        let row = format!("#queue-conversations li[data-conversation-id='{id}']");
        ann.wait_for_text(&row, "The printer is on fire").await;
        ann.click(&format!("{row} button.accept")).await;
        ann.wait_for_text("#holder-line", "You have this conversation")
            .await;
        ann.client
            .goto(&format!("{}/agent", app.address))
            .await
            .unwrap();
    }

    // The supervisor's view lists both, with Ann, live: a new message shows without a reload.
    sue.click("#supervisor-link").await;
    sue.wait_for_text("#board-conversations", "Megan Bowen")
        .await;
    sue.wait_for_text("#board-agents", "Ann").await;
    app.customer_says(&lee, "Hello? Still there?").await;
    sue.wait_for_text("#board-conversations", "Hello? Still there?")
        .await;
    sue.screenshot("supervisor.png").await;

    // Sue whispers in Megan's conversation; Ann, on its page, sees it at once.
    ann.client
        .goto(&format!("{}/agent/conversations/{megan}", app.address))
        .await
        .unwrap();
    ann.wait_for_text("#holder-line", "You have this conversation")
        .await;
    sue.client
        .goto(&format!("{}/agent/conversations/{megan}", app.address))
        .await
        .unwrap();
    sue.wait_for_text("#holder-line", "Ann has this conversation")
        .await;
    sue.type_and_enter("#whisper-input", "Offer her a refund, it's our fault")
        .await;
    ann.wait_for_text("#transcript .note.whisper", "Offer her a refund")
        .await;
    ann.wait_for_text("#transcript .note.whisper", "Whisper to Ann")
        .await;

    // Sue takes over: Ann's page says so; the customer is told Sue joined.
    sue.click("#take-over-form button").await;
    sue.wait_for_text("#holder-line", "You have this conversation")
        .await;
    ann.wait_for_text("#holder-line", "Sue has this conversation")
        .await;
    let joined = webhook_bodies(&app.webhook, 3).await;
    assert!(joined
        .iter()
        .any(|body| body["type"] == "agentJoined" && body["agentName"] == SUPERVISOR));

    // And closes it with a reason; the customer hears the end.
    sue.client
        .find(Locator::Css("#close-reason"))
        .await
        .unwrap()
        .send_keys("Refund issued; nothing more to do")
        .await
        .unwrap();
    sue.click("#force-close-form button").await;
    sue.wait_for_text(".state-badge", "Ended").await;
    let events = webhook_bodies(&app.webhook, 4).await;
    assert!(events.iter().any(
        |body| body["type"] == "conversationEnded" && body["conversationId"] == megan.as_str()
    ));
    for body in all_webhook_bodies(&app.webhook).await {
        assert!(
            !body.to_string().contains("Offer her a refund"),
            "a whisper reached the skill"
        );
    }

    // Ann ends Lee's and wraps it up from the form the end shows.
    ann.client
        .goto(&format!("{}/agent/conversations/{lee}", app.address))
        .await
        .unwrap();
    ann.wait_for_text("#holder-line", "You have this conversation")
        .await;
    ann.type_and_enter("#reply", "I've sent you a reset link.")
        .await;
    ann.wait_for_text("#transcript", "I've sent you a reset link.")
        .await;
    ann.click("#end-form button").await;
    ann.wait_for_text(".state-badge", "Ended").await;
    ann.client
        .find(Locator::Css("#disposition-select"))
        .await
        .unwrap()
        .select_by_value("resolved")
        .await
        .unwrap();
    ann.type_and_enter("#wrap-up-summary", "Reset link sent")
        .await;
    ann.wait_for_text("#disposition", "Resolved: Reset link sent")
        .await;
    app.post_api(
        "/api/chat/rate",
        &serde_json::json!({"conversationId": lee, "rating": 5}),
    )
    .await;

    // The dashboard, with the data, follows a new conversation live.
    sue.client
        .goto(&format!("{}/supervisor/dashboard", app.address))
        .await
        .unwrap();
    sue.wait_for_text("#figure-started", "2").await;
    sue.wait_for_text("#chart-dispositions", "").await;
    let dispositions = sue
        .client
        .find_all(Locator::Css("#chart-dispositions rect"))
        .await
        .unwrap();
    assert_eq!(dispositions.len(), 1, "resolved, once");
    app.start_conversation("Kim Akers").await;
    sue.wait_for_text("#figure-started", "3").await;
    sue.wait_for_text("#figure-queue", "1").await;
    sue.screenshot("dashboard.png").await;
    ann.stop().await;
    sue.stop().await;
}
