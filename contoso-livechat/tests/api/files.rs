//! Files both ways: the skill's upload of a customer's file, the agent's reply with a file (to the
//! webhook), the downloads with their headers, every refusal leaving nothing stored, the storage
//! cap, retention and the malware scan.

use std::time::Duration;

use serde_json::Value;
use service_support::clock::Clock;
use test_support::files::{fake_clamd, pdf, picture, EICAR};

use crate::helpers::*;

async fn upload_json(app: &TestApp, conversation: &str, name: &str, bytes: Vec<u8>) -> Value {
    let response = app.upload(conversation, name, None, bytes).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn a_customers_picture_is_stored_once_shown_and_fetched_with_the_key() {
    let app = spawn_app_with(Options {
        api_key: true,
        ..Options::default()
    })
    .await;
    let conversation = app.start_conversation("Megan").await;
    let bytes = picture(120, 80);
    let response = app
        .upload(
            &conversation,
            "../../screen shot.png",
            Some("skill-delivery:7"),
            bytes.clone(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let attachment = &answer["attachment"];
    assert_eq!(attachment["name"], "screen shot.png", "folders are dropped");
    assert_eq!(attachment["contentType"], "image/png");
    assert_eq!(attachment["size"], bytes.len());
    assert_eq!(attachment["sha256"], sha256_hex(&bytes));
    assert_eq!(
        (attachment["width"].as_u64(), attachment["height"].as_u64()),
        (Some(120), Some(80))
    );
    let url = attachment["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/api/chat/files/"), "{url}");

    // A repeat of the same id answers the same entry and stores nothing.
    let again: Value = app
        .upload(
            &conversation,
            "other.png",
            Some("skill-delivery:7"),
            bytes.clone(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], answer["id"]);
    let transcript = app.transcript(&conversation).await;
    let files: Vec<&Value> = transcript
        .iter()
        .filter(|entry| entry["attachments"].is_array())
        .collect();
    assert_eq!(files.len(), 1, "{transcript:?}");
    assert_eq!(files[0]["role"], "customer");
    assert_eq!(files[0]["sender"], "Megan Bowen");
    assert_eq!(files[0]["attachments"][0]["url"], url.as_str());

    // The bytes, with the key only, as the kind they are and never to be rendered.
    let fetched = app.get_api(&url).await;
    assert_eq!(fetched.status(), 200);
    let headers = fetched.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(fetched.bytes().await.unwrap(), bytes);
    let anonymous = app
        .api
        .get(format!("{}{url}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let unknown = app.get_api("/api/chat/files/nope").await;
    assert_eq!(unknown.status(), 404);

    // The agent sees a thumbnail from the live chat's own origin, and the inbox says what came.
    let agent = app.signed_in_agent().await;
    agent.accept(&conversation).await;
    let page = agent
        .get(&format!("/agent/conversations/{conversation}"))
        .await
        .text()
        .await
        .unwrap();
    let id = attachment["id"].as_str().unwrap();
    assert!(
        page.contains(&format!("<img class=\"thumb\" src=\"/agent/files/{id}\"")),
        "{page}"
    );
    let shown = agent.get(&format!("/agent/files/{id}")).await;
    assert_eq!(shown.status(), 200);
    assert!(shown.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline;"));
    assert_eq!(
        shown.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    let summary = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["id"] == conversation.as_str())
        .unwrap();
    assert_eq!(summary["lastMessage"], "Sent screen shot.png");
}

#[tokio::test]
async fn refused_files_are_answered_plainly_and_leave_nothing_behind() {
    let app = spawn_app_with(Options {
        max_file_bytes: Some(64 * 1024),
        ..Options::default()
    })
    .await;
    let conversation = app.start_conversation("Megan").await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "page.png",
            b"<html><script>alert(1)</script></html>".to_vec(),
            415,
            "Web page (HTML) files are not accepted",
        ),
        (
            "drawing.png",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            415,
            "SVG drawing",
        ),
        (
            "tool.pdf",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec(),
            415,
            "not accepted",
        ),
        (
            "big.txt",
            vec![b'a'; 64 * 1024 + 1],
            413,
            "larger than 64 KB",
        ),
        ("empty.txt", Vec::new(), 400, "empty"),
    ];
    for (name, bytes, status, words) in cases {
        let response = app.upload(&conversation, name, None, bytes).await;
        assert_eq!(response.status(), status, "{name}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(words),
            "{name}: {body}"
        );
    }
    let unknown = app
        .upload("no-such-conversation", "a.txt", None, b"hi".to_vec())
        .await;
    assert_eq!(unknown.status(), 404);
    let as_agent = app
        .api
        .post(format!(
            "{}/api/chat/attachments?conversationId={conversation}&role=agent",
            app.address
        ))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(as_agent.status(), 400);
    assert!(
        app.transcript(&conversation)
            .await
            .iter()
            .all(|entry| entry["attachments"].is_null()),
        "no refused file was stored"
    );
    let objects = app.data_dir.path().join("files/objects");
    assert_eq!(walk(&objects).len(), 0, "no refused bytes were kept");
    assert_eq!(walk(&app.data_dir.path().join("files/incoming")).len(), 0);

    // An ended conversation takes nothing more.
    app.post_api(
        "/api/chat/end",
        &serde_json::json!({"conversationId": conversation}),
    )
    .await;
    let ended = app
        .upload(&conversation, "late.txt", None, b"hi".to_vec())
        .await;
    assert_eq!(ended.status(), 409);
}

/// Every file under `folder`.
fn walk(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            if entry.path().is_dir() {
                walk(&entry.path())
            } else {
                vec![entry.path()]
            }
        })
        .collect()
}

#[tokio::test]
async fn a_full_storage_refuses_with_507_and_the_same_bytes_take_no_more_room() {
    let first = picture(40, 40);
    let app = spawn_app_with(Options {
        max_file_bytes: Some(first.len() as u64 + 100),
        max_total_bytes: Some(first.len() as u64 + 100),
        ..Options::default()
    })
    .await;
    let conversation = app.start_conversation("Megan").await;
    upload_json(&app, &conversation, "a.png", first.clone()).await;
    // The same bytes again are kept once: they fit.
    upload_json(&app, &conversation, "a-again.png", first).await;
    let other = picture(41, 40);
    let full = app.upload(&conversation, "b.png", None, other).await;
    assert_eq!(full.status(), 507);
    let body: Value = full.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("storage is full"),
        "{body}"
    );
    let stored: usize = app
        .transcript(&conversation)
        .await
        .iter()
        .filter(|entry| entry["attachments"].is_array())
        .count();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn an_agents_file_reaches_the_webhook_with_where_to_fetch_it() {
    let app = spawn_app_with(Options {
        api_key: true,
        ..Options::default()
    })
    .await;
    let conversation = app.start_conversation("Megan").await;
    let agent = app.signed_in_agent().await;
    agent.accept(&conversation).await;
    let document = pdf("Your return label");
    let response = agent
        .reply_with_file(
            &conversation,
            "Here is your label",
            "return label.pdf",
            document.clone(),
        )
        .await;
    assert_eq!(
        response.status(),
        303,
        "a plain form is sent back to the page"
    );
    // A file alone is a reply too.
    let label = picture(300, 200);
    let alone = agent
        .reply_with_file(&conversation, "", "where.png", label.clone())
        .await;
    assert_eq!(alone.status(), 303);

    let bodies = webhook_bodies(&app.webhook, 3).await;
    let messages: Vec<&Value> = bodies.iter().filter(|b| b["type"] == "message").collect();
    assert_eq!(messages.len(), 2, "{bodies:?}");
    assert_eq!(messages[0]["message"], "Here is your label");
    let file = &messages[0]["attachments"][0];
    assert_eq!(file["name"], "return label.pdf");
    assert_eq!(file["contentType"], "application/pdf");
    assert_eq!(file["size"], document.len());
    assert_eq!(file["sha256"], sha256_hex(&document));
    assert_eq!(messages[1]["message"], "");
    let picture_file = &messages[1]["attachments"][0];
    assert_eq!(
        (
            picture_file["width"].as_u64(),
            picture_file["height"].as_u64()
        ),
        (Some(300), Some(200))
    );
    // The skill fetches it from the session API with the key.
    let fetched = app.get_api(file["url"].as_str().unwrap()).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(fetched.bytes().await.unwrap(), document);
    // The agent's page offers it as a download, never inline.
    let id = file["id"].as_str().unwrap();
    let download = agent.get(&format!("/agent/files/{id}")).await;
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    // Delivered, like a reply in words.
    let transcript = app.transcript(&conversation).await;
    let delivered = eventually("both replies delivered", || async {
        let transcript = app.transcript(&conversation).await;
        let states: Vec<Value> = transcript
            .iter()
            .filter(|entry| entry["role"] == "agent")
            .map(|entry| entry["deliveryState"].clone())
            .collect();
        (states.len() == 2 && states.iter().all(|state| state == "delivered")).then_some(states)
    })
    .await;
    assert_eq!(delivered.len(), 2, "{transcript:?}");
}

#[tokio::test]
async fn an_agents_file_needs_the_csrf_token_first_and_refusals_store_nothing() {
    let app = spawn_app().await;
    let conversation = app.start_conversation("Megan").await;
    let agent = app.signed_in_agent().await;
    agent.accept(&conversation).await;
    let url = format!(
        "{}/agent/conversations/{conversation}/messages",
        app.address
    );
    // The file ahead of the token: refused before the file is read.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf("x")).file_name("a.pdf"),
        )
        .text("csrf_token", agent.csrf.clone());
    let early = agent
        .client
        .post(&url)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 403);
    let wrong = reqwest::multipart::Form::new()
        .text("csrf_token", "not-the-token")
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf("x")).file_name("a.pdf"),
        );
    assert_eq!(
        agent
            .client
            .post(&url)
            .multipart(wrong)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let html = agent
        .reply_with_file(
            &conversation,
            "",
            "invoice.pdf",
            b"<!doctype html><p>hi".to_vec(),
        )
        .await;
    assert_eq!(html.status(), 415);
    assert!(html
        .text()
        .await
        .unwrap()
        .contains("Web page (HTML) files are not accepted here."));
    let nothing = agent
        .reply_with_file(&conversation, "  ", "", Vec::new())
        .await;
    assert_eq!(nothing.status(), 400, "no words and no file");
    // Someone else's conversation.
    let other = app.start_conversation("Nestor").await;
    let not_mine = agent.reply_with_file(&other, "", "a.pdf", pdf("x")).await;
    assert_eq!(not_mine.status(), 409);
    assert!(app
        .transcript(&conversation)
        .await
        .iter()
        .all(|e| e["role"] != "agent"));
    assert!(all_webhook_bodies(&app.webhook)
        .await
        .iter()
        .all(|b| b["type"] != "message"));
    // Signed out, a file is not shown.
    let stranger = browser(std::sync::Arc::new(reqwest::cookie::Jar::default()));
    let refused = stranger
        .get(format!("{}/agent/files/anything", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 303);
}

#[tokio::test]
async fn the_files_of_long_ended_conversations_are_removed_and_their_names_kept() {
    let clock = Clock::paused();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let ended = app.start_conversation("Megan").await;
    let open = app.start_conversation("Nestor").await;
    let old = upload_json(&app, &ended, "old.png", picture(30, 30)).await;
    let kept = upload_json(&app, &open, "kept.png", picture(31, 30)).await;
    app.post_api(
        "/api/chat/end",
        &serde_json::json!({"conversationId": ended}),
    )
    .await;
    assert_eq!(walk(&app.data_dir.path().join("files/objects")).len(), 2);
    clock.advance(Duration::from_secs(31 * 86_400));
    let gone = eventually("the old file removed", || async {
        let response = app
            .get_api(old["attachment"]["url"].as_str().unwrap())
            .await;
        (response.status() == 410).then_some(response)
    })
    .await;
    let body: Value = gone.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("removed"),
        "{body}"
    );
    let entry = app.transcript(&ended).await;
    let file = entry.iter().find(|e| e["attachments"].is_array()).unwrap();
    assert_eq!(file["attachments"][0]["name"], "old.png");
    assert_eq!(file["attachments"][0]["removed"], true);
    eventually("the old bytes deleted", || async {
        (walk(&app.data_dir.path().join("files/objects")).len() == 1).then_some(())
    })
    .await;
    let still = app
        .get_api(kept["attachment"]["url"].as_str().unwrap())
        .await;
    assert_eq!(still.status(), 200, "an open conversation's file stays");
}

#[tokio::test]
async fn the_malware_scan_refuses_what_it_flags_and_nothing_unscanned_is_taken() {
    let clamd = fake_clamd().await;
    let app = spawn_app_with(Options {
        clamd: Some(format!("tcp://{clamd}")),
        ..Options::default()
    })
    .await;
    let conversation = app.start_conversation("Megan").await;
    upload_json(&app, &conversation, "clean.txt", b"just notes".to_vec()).await;
    let infected = app
        .upload(&conversation, "eicar.txt", None, EICAR.to_vec())
        .await;
    assert_eq!(infected.status(), 422);
    let body: Value = infected.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Eicar-Test-Signature"),
        "{body}"
    );
    let agent = app.signed_in_agent().await;
    agent.accept(&conversation).await;
    let from_agent = agent
        .reply_with_file(&conversation, "", "eicar.txt", EICAR.to_vec())
        .await;
    assert_eq!(from_agent.status(), 422);
    assert!(from_agent
        .text()
        .await
        .unwrap()
        .contains("malware scan refused"));

    // With the scanner gone, files are refused rather than taken unscanned.
    let unreachable = spawn_app_with(Options {
        clamd: Some(format!("tcp://127.0.0.1:{}", test_support::free_port())),
        ..Options::default()
    })
    .await;
    let conversation = unreachable.start_conversation("Megan").await;
    let refused = unreachable
        .upload(&conversation, "notes.txt", None, b"notes".to_vec())
        .await;
    assert_eq!(refused.status(), 503);
    let stored = unreachable
        .transcript(&conversation)
        .await
        .iter()
        .filter(|entry| entry["attachments"].is_array())
        .count();
    assert_eq!(stored, 0);
}
