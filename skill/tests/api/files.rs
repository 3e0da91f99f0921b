//! Pictures and files both ways, against the fakes: what each inbound shape fetches (and with
//! which credential), every refusal told to the customer and noted for the agent, the token never
//! sent to a download link, a crash mid-fetch, transfers never holding up words (nor, waiting for
//! their turn past their claim, sent by two instances), and an agent's files reaching Teams as a
//! picture and a card whose links the skill serves.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use test_support::eventually_within;
use test_support::files::{pdf, picture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// The token the fake issuer hands the Copilot Studio agent for Bot Framework calls.
fn agents_token() -> String {
    format!(
        "Bearer {}",
        issued_token(AGENT_APP_ID, "https://api.botframework.com/.default")
    )
}

/// A message activity with these attachments.
fn message_with(app: &TestApp, conversation: &str, text: &str, attachments: Value) -> Value {
    app.activity(
        conversation,
        json!({ "type": "message", "text": text, "attachments": attachments }),
    )
}

/// The uploads the live chat received, in order: each one's query and body.
async fn uploads(app: &TestApp) -> Vec<(HashMap<String, String>, Vec<u8>, String)> {
    requests_to(&app.peers.livechat, "/api/chat/attachments")
        .await
        .into_iter()
        .map(|request| {
            let content_type = request
                .headers
                .get("content-type")
                .map(|value| value.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (
                request.url.query_pairs().into_owned().collect(),
                request.body,
                content_type,
            )
        })
        .collect()
}

async fn wait_for_uploads(
    app: &TestApp,
    count: usize,
) -> Vec<(HashMap<String, String>, Vec<u8>, String)> {
    eventually(&format!("{count} upload(s)"), || async {
        let uploads = uploads(app).await;
        (uploads.len() >= count).then_some(uploads)
    })
    .await
}

/// The system notes the agent got in `livechat`, once there are `count`.
async fn agent_notes(app: &TestApp, livechat: &str, count: usize) -> Vec<String> {
    eventually(&format!("{count} note(s) for the agent"), || async {
        let notes: Vec<String> = bodies_at(&app.peers.livechat, "/api/chat/receive")
            .await
            .into_iter()
            .filter(|body| body["conversationId"] == livechat && body["role"] == "system")
            .map(|body| body["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        (notes.len() >= count).then_some(notes)
    })
    .await
}

/// Serves `bytes` at `route` on `server`.
async fn serve_file(
    server: &wiremock::MockServer,
    route: &str,
    content_type: &str,
    bytes: Vec<u8>,
) {
    Mock::given(method("GET"))
        .and(path(route))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", content_type)
                .set_body_bytes(bytes),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_pasted_picture_is_fetched_with_the_agents_token_and_follows_the_words() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-picture").await;
    let png = picture(64, 48);
    serve_file(
        &app.peers.teams,
        "/v3/attachments/0-eus-d4/views/original",
        "image/png",
        png.clone(),
    )
    .await;
    let content_url = format!(
        "{}/v3/attachments/0-eus-d4/views/original",
        app.peers.teams.uri()
    );
    let message = message_with(
        &app,
        "conv-picture",
        "It broke here image",
        json!([
            {"contentType": "image/*", "contentUrl": content_url},
            {"contentType": "text/html", "content": "<p>It&nbsp;broke <b>here</b> <img itemtype=\"http://schema.skype.com/AMSImage\" alt=\"image\" src=\"https://us-api.asm.skype.com/v1/objects/0-eus-d4/views/imgo\"> <img itemtype=\"http://schema.skype.com/Emoji\" alt=\"😞\" src=\"https://statics.teams.cdn.office.net/x.png\"></p>"}
        ]),
    );
    assert_eq!(app.post_activity(&message).await.status(), 202);

    let uploads = wait_for_uploads(&app, 1).await;
    let (query, body, content_type) = &uploads[0];
    assert_eq!(body, &png, "the picture's bytes reached the live chat");
    assert_eq!(content_type, "image/png");
    assert_eq!(query["conversationId"], livechat);
    assert_eq!(
        query["name"], "picture.png",
        "a picture without a name is named for its kind"
    );
    assert_eq!(query["sender"], "Megan Bowen");
    assert_eq!(query["role"], "customer");
    assert!(query["id"].starts_with("skill-delivery:"), "{query:?}");

    // The words as written, from the HTML: entities decoded, the emoji kept, no tags.
    let words = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(words[0]["message"], "It broke here 😞");
    // Words first, then the picture: one queue, in order.
    let received: Vec<String> = app
        .peers
        .livechat
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| request.url.path().to_owned())
        .filter(|path| path == "/api/chat/receive" || path == "/api/chat/attachments")
        .collect();
    assert_eq!(received, ["/api/chat/receive", "/api/chat/attachments"]);
    // The picture was fetched from the conversation's Bot Connector with the agent's token.
    let fetches = requests_to(&app.peers.teams, "/v3/attachments/0-eus-d4/views/original").await;
    assert_eq!(fetches.len(), 1);
    assert_eq!(authorization_of(&fetches[0]), agents_token());
    assert_staging_empty(&app).await;
}

/// Nothing is left in staging once the deliveries are done.
async fn assert_staging_empty(app: &TestApp) {
    let staging = app.data_dir.path().join("files/staging");
    eventually("staging emptied", || async {
        let left = std::fs::read_dir(&staging)
            .map(|entries| entries.count())
            .unwrap_or(0);
        (left == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_teams_file_is_fetched_from_its_download_link_without_any_token() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-file").await;
    let document = pdf("Order 1234");
    serve_file(
        &app.peers.downloads,
        "/personal/download",
        "application/octet-stream",
        document.clone(),
    )
    .await;
    // A picture on another host than the conversation's Bot Connector is a link too: no token.
    let png = picture(20, 20);
    serve_file(
        &app.peers.downloads,
        "/elsewhere.png",
        "image/png",
        png.clone(),
    )
    .await;
    let message = message_with(
        &app,
        "conv-file",
        "",
        json!([
            {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "../Order 1234.pdf",
             "contentUrl": "https://contoso.sharepoint.com/personal/megan/Documents/Order 1234.pdf",
             "content": {"downloadUrl": format!("{}/personal/download?tempauth=abc", app.peers.downloads.uri()), "uniqueId": "1150D938", "fileType": "pdf"}},
            {"contentType": "image/png", "name": "elsewhere.png", "contentUrl": format!("{}/elsewhere.png", app.peers.downloads.uri())}
        ]),
    );
    assert_eq!(app.post_activity(&message).await.status(), 202);
    let uploads = wait_for_uploads(&app, 2).await;
    assert_eq!(uploads[0].1, document);
    assert_eq!(uploads[0].0["name"], "Order 1234.pdf");
    assert_eq!(uploads[0].0["conversationId"], livechat);
    assert_eq!(uploads[0].2, "application/pdf", "the kind its bytes are");
    assert_eq!(uploads[1].1, png);
    for request in app.peers.downloads.received_requests().await.unwrap() {
        assert_eq!(
            authorization_of(&request),
            "",
            "no token ever goes to a download link"
        );
    }
    assert!(
        bodies_at(&app.peers.livechat, "/api/chat/receive")
            .await
            .is_empty(),
        "files alone: no words were sent"
    );
}

/// A server that answers `head` and then `body` in chunks of `chunk` bytes, `pause` apart (chunked
/// transfer encoding: no length is declared). Answers its base URL.
async fn raw_server(head: &'static str, body: Vec<u8>, chunk: usize, pause: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for part in body.chunks(chunk) {
                    let framed =
                        [format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
                    if socket.write_all(&framed).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    format!("http://{address}")
}

const PNG_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n";

/// Bytes a PNG's signature begins, `len` long.
fn png_like(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.resize(len, 7);
    bytes
}

#[tokio::test]
async fn every_refusal_is_told_to_the_customer_and_noted_for_the_agent() {
    let app = spawn_app_with(Options {
        max_file_bytes: Some(50_000),
        transfer_timeout_secs: Some(1),
        file_hosts: Some("localhost, 10.255.255.1"),
        ..Options::default()
    })
    .await;
    let downloads = app.peers.downloads.uri();
    // No length declared: refused as the bytes pass the limit.
    let streamed = raw_server(PNG_HEAD, png_like(120_000), 8_192, Duration::ZERO).await;
    // A byte at a time, slower than a transfer may take.
    let slow = raw_server(PNG_HEAD, png_like(2_000), 1, Duration::from_millis(100)).await;
    let port = url::Url::parse(&downloads).unwrap().port().unwrap();
    Mock::given(method("GET"))
        .and(path("/declared-big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![0u8; 60_000]))
        .mount(&app.peers.downloads)
        .await;
    serve_file(
        &app.peers.downloads,
        "/photo.png",
        "image/png",
        b"<!doctype html><script>alert(1)</script>".to_vec(),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/moved"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", format!("{downloads}/photo.png")),
        )
        .mount(&app.peers.downloads)
        .await;
    Mock::given(method("GET"))
        .and(path("/expired"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&app.peers.downloads)
        .await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "host",
            json!({"contentType": "image/png", "name": "a.png", "contentUrl": "https://files.evil.example/a.png"}),
            "files are not fetched from files.evil.example",
        ),
        (
            "metadata",
            json!({"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "b.pdf", "content": {"downloadUrl": "https://169.254.169.254/latest/meta-data"}}),
            "files are not fetched from 169.254.169.254",
        ),
        (
            "plain http",
            json!({"contentType": "image/png", "name": "c.png", "contentUrl": "http://contoso.sharepoint.com/c.png"}),
            "its link is not https",
        ),
        (
            "private",
            json!({"contentType": "image/png", "name": "p.png", "contentUrl": "https://10.255.255.1/p.png"}),
            "its link points into a private network",
        ),
        (
            "resolved",
            json!({"contentType": "image/png", "name": "r.png", "contentUrl": format!("http://localhost:{port}/r.png")}),
            "its link points into a private network",
        ),
        (
            "large",
            json!({"contentType": "image/png", "name": "big.png", "contentUrl": format!("{streamed}/big.png")}),
            "larger than 49 KB",
        ),
        (
            "declared large",
            json!({"contentType": "image/png", "name": "d.png", "contentUrl": format!("{downloads}/declared-big")}),
            "larger than 49 KB",
        ),
        (
            "kind",
            json!({"contentType": "image/png", "name": "photo.png", "contentUrl": format!("{downloads}/photo.png")}),
            "files of this kind (web page (HTML)) are not accepted",
        ),
        (
            "redirect",
            json!({"contentType": "image/png", "name": "e.png", "contentUrl": format!("{downloads}/moved")}),
            "redirected",
        ),
        (
            "expired",
            json!({"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "f.pdf", "content": {"downloadUrl": format!("{downloads}/expired?tempauth=x")}}),
            "its link had expired or was refused (403)",
        ),
        (
            "slow",
            json!({"contentType": "image/png", "name": "g.png", "contentUrl": format!("{slow}/g.png")}),
            "it took too long to arrive",
        ),
    ];
    for (case, attachment, reason) in cases {
        let conversation = format!("conv-refused-{}", case.replace(' ', "-"));
        let livechat = app.start_session(&conversation).await;
        let message = message_with(&app, &conversation, "", json!([attachment]));
        assert_eq!(app.post_activity(&message).await.status(), 202, "{case}");
        let notes = agent_notes(&app, &livechat, 1).await;
        assert!(
            notes[0].contains(reason),
            "{case}: the agent's note says why: {notes:?}"
        );
        assert!(
            notes[0].starts_with("Megan Bowen sent "),
            "{case}: {notes:?}"
        );
        let told = eventually(&format!("{case}: the customer told"), || async {
            let texts: Vec<String> = bodies_at(&app.peers.teams, &teams_path(&conversation))
                .await
                .iter()
                .filter_map(|body| body["text"].as_str().map(str::to_owned))
                .filter(|text| text.starts_with("I couldn't pass"))
                .collect();
            (!texts.is_empty()).then_some(texts)
        })
        .await;
        assert!(
            told[0].contains(reason),
            "{case}: the customer hears why: {told:?}"
        );
    }
    assert!(
        uploads(&app).await.is_empty(),
        "nothing refused reached the live chat"
    );
    let fetched: Vec<String> = app
        .peers
        .downloads
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| request.url.path().to_owned())
        .collect();
    assert_eq!(
        fetched.iter().filter(|path| *path == "/photo.png").count(),
        1,
        "fetched for its own case only: the redirect to it was not followed ({fetched:?})"
    );
    assert_staging_empty(&app).await;
}

#[tokio::test]
async fn what_copilot_studio_keeps_and_what_is_not_a_file_are_told_at_once() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-reference").await;
    let mut files = vec![json!({"contentType": "image/png", "name": "photo.png",
        "content": {"$kind": "FileDataValue", "value": {"$kind": "ConversationFileReference", "value": "8e2f0c11"}}})];
    for n in 0..6 {
        serve_file(
            &app.peers.downloads,
            &format!("/n{n}.txt"),
            "text/plain",
            format!("note {n}").into_bytes(),
        )
        .await;
        files.push(json!({"contentType": "text/plain", "name": format!("n{n}.txt"), "contentUrl": format!("{}/n{n}.txt", app.peers.downloads.uri())}));
    }
    files.push(json!({"contentType": "application/vnd.microsoft.card.hero", "content": {"title": "A card"}}));
    let message = message_with(&app, "conv-reference", "see these", json!(files));
    assert_eq!(app.post_activity(&message).await.status(), 202);
    // Told in the same turn, before any file is fetched: once, naming both.
    let told = teams_texts(&app, "conv-reference", 1).await;
    assert!(
        told[0]
            .starts_with("I couldn't pass on photo.png (files sent to the assistant stay with it"),
        "{told:?}"
    );
    assert!(
        told[0].contains("n5.txt (only 5 files can be passed on from one message)"),
        "{told:?}"
    );
    let posted = wait_for_uploads(&app, 5).await;
    let names: Vec<&str> = posted
        .iter()
        .map(|(query, ..)| query["name"].as_str())
        .collect();
    assert_eq!(names, ["n0.txt", "n1.txt", "n2.txt", "n3.txt", "n4.txt"]);
    let notes = agent_notes(&app, &livechat, 2).await;
    assert_eq!(
        notes[0],
        "Megan Bowen sent a hero card, which can't be shown here."
    );
    assert!(
        notes[1].starts_with("Megan Bowen sent photo.png (files sent to the assistant"),
        "{notes:?}"
    );
    // The same activity again stores nothing more.
    assert_eq!(app.post_activity(&message).await.status(), 202);
    assert_silent_after(&app, "conv-reference", 1).await;
    assert_eq!(uploads(&app).await.len(), 5);
}

/// Nothing more reached Teams in `conversation` than `count` messages, by the markers.
async fn assert_silent_after(app: &TestApp, conversation: &str, count: usize) {
    let livechat_id = app.start_session(MARKER_CONVERSATION).await;
    let reply = TestApp::agent_message(&livechat_id, "marker-after-files", "marker");
    assert_eq!(app.post_webhook(&reply).await.status(), 200);
    wait_for_bodies(&app.peers.teams, &teams_path(MARKER_CONVERSATION), 1).await;
    let sent = bodies_at(&app.peers.teams, &teams_path(conversation)).await;
    assert_eq!(sent.len(), count, "{sent:?}");
}

#[tokio::test]
async fn a_card_submit_and_a_sticker_reach_the_agent_as_notes() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-notes").await;
    let submit = app.activity(
        "conv-notes",
        json!({"type": "message", "value": {"LiveChatConversationId": livechat, "serialNumber": "SN-42", "urgent": true}}),
    );
    assert_eq!(app.post_activity(&submit).await.status(), 202);
    let sticker = message_with(
        &app,
        "conv-notes",
        "",
        json!([{"contentType": "text/html", "content": "<p><img alt=\"Thumbs up\" src=\"https://statics.teams.microsoft.com/evergreen-assets/stickerassets/thumbs.png\"></p>"}]),
    );
    assert_eq!(app.post_activity(&sticker).await.status(), 202);
    let notes = agent_notes(&app, &livechat, 2).await;
    assert_eq!(
        notes[0],
        "Megan Bowen submitted a card: serialNumber: SN-42; urgent: true."
    );
    assert_eq!(notes[1], "Megan Bowen sent a sticker (Thumbs up).");
}

#[tokio::test]
async fn a_fetched_file_is_posted_once_when_the_live_chat_was_down_and_fetched_again_after_a_crash()
{
    let app = spawn_app().await;
    app.start_session("conv-retry").await;
    let document = pdf("retry");
    serve_file(
        &app.peers.downloads,
        "/doc",
        "application/pdf",
        document.clone(),
    )
    .await;
    // The live chat is down for the first post: the staged file waits and is posted, not fetched
    // again.
    Peers::refuse(&app.peers.livechat, "/api/chat/attachments", 503, Some(1)).await;
    let message = message_with(
        &app,
        "conv-retry",
        "",
        json!([{"contentType": "application/pdf", "name": "doc.pdf", "contentUrl": format!("{}/doc", app.peers.downloads.uri())}]),
    );
    assert_eq!(app.post_activity(&message).await.status(), 202);
    let posted = eventually("posted after the outage", || async {
        let uploads = uploads(&app).await;
        (uploads.len() >= 2).then_some(uploads)
    })
    .await;
    assert_eq!(
        posted[0].0["id"], posted[1].0["id"],
        "one delivery, one key"
    );
    assert_eq!(posted[1].1, document);
    assert_eq!(
        requests_to(&app.peers.downloads, "/doc").await.len(),
        1,
        "fetched once"
    );
    assert_staging_empty(&app).await;

    // A process stopped while the file is on its way: the next fetches it again, and the live
    // chat is asked to store it under the same key.
    Mock::given(method("GET"))
        .and(path("/hanging"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(document.clone())
                .set_delay(Duration::from_secs(30)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.peers.downloads)
        .await;
    serve_file(
        &app.peers.downloads,
        "/hanging",
        "application/pdf",
        document.clone(),
    )
    .await;
    app.start_session("conv-crash").await;
    let message = message_with(
        &app,
        "conv-crash",
        "",
        json!([{"contentType": "application/pdf", "name": "hanging.pdf", "contentUrl": format!("{}/hanging", app.peers.downloads.uri())}]),
    );
    assert_eq!(app.post_activity(&message).await.status(), 202);
    eventually("the fetch under way", || async {
        (!requests_to(&app.peers.downloads, "/hanging")
            .await
            .is_empty())
        .then_some(())
    })
    .await;
    let app = app.restart().await;
    let posted = eventually("posted after the restart", || async {
        let uploads = uploads(&app).await;
        (uploads.len() >= 3).then_some(uploads)
    })
    .await;
    assert_eq!(posted[2].0["name"], "hanging.pdf");
    assert_eq!(posted[2].1, document);
    assert_eq!(
        requests_to(&app.peers.downloads, "/hanging").await.len(),
        2,
        "fetched again"
    );
    assert_eq!(posted.len(), 3, "stored once");
    assert_staging_empty(&app).await;
}

#[tokio::test]
async fn a_slow_transfer_never_holds_up_words_in_other_conversations() {
    let app = spawn_app_with(Options {
        max_transfers: Some(1),
        ..Options::default()
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/slow.pdf"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(pdf("slow"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&app.peers.downloads)
        .await;
    for conversation in ["conv-slow-1", "conv-slow-2", "conv-slow-3"] {
        app.start_session(conversation).await;
        let message = message_with(
            &app,
            conversation,
            "",
            json!([{"contentType": "application/pdf", "name": "slow.pdf", "contentUrl": format!("{}/slow.pdf", app.peers.downloads.uri())}]),
        );
        assert_eq!(app.post_activity(&message).await.status(), 202);
    }
    let livechat = app.start_session("conv-words").await;
    let words = app.message_activity("conv-words", "Are you there?");
    assert_eq!(app.post_activity(&words).await.status(), 202);
    let received = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(received[0]["conversationId"], livechat);
    assert!(
        uploads(&app).await.is_empty(),
        "the words went while every file was still on its way"
    );
    wait_for_uploads(&app, 3).await;
}

#[tokio::test]
async fn a_transfer_that_waited_for_its_place_past_its_claim_is_not_sent_by_two_instances() {
    let database = crate::databases::TestDatabase::create().await;
    // Claims of 3 s, transfers of at most 1 s taking 0.9 s each, one at a time: the fourth file
    // waits for its place until its claim has too little left, the ones after it until theirs
    // has ended and the second instance may take them.
    let first = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        claim_lease_ms: Some(3_000),
        max_transfers: Some(1),
        ..Options::default()
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/queued.pdf"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(pdf("queued"))
                .set_delay(Duration::from_millis(900)),
        )
        .mount(&first.peers.downloads)
        .await;
    let second = spawn_another_instance(&first).await;
    let conversations: Vec<String> = (0..7).map(|n| format!("conv-queued-{n}")).collect();
    for conversation in &conversations {
        first.start_session(conversation).await;
    }
    for conversation in &conversations {
        let message = message_with(
            &first,
            conversation,
            "",
            json!([{"contentType": "application/pdf", "name": "queued.pdf", "contentUrl": format!("{}/queued.pdf", first.peers.downloads.uri())}]),
        );
        assert_eq!(first.post_activity(&message).await.status(), 202);
    }
    eventually_within(Duration::from_secs(60), "every file uploaded", || async {
        let uploads = uploads(&first).await;
        (uploads.len() >= conversations.len()).then_some(())
    })
    .await;
    // Stopping waits for what is in flight, so any second send of a file has landed by then.
    second.wait_stopped().await;
    let peers = first.wait_stopped().await;
    let ids: Vec<String> = requests_to(&peers.livechat, "/api/chat/attachments")
        .await
        .iter()
        .filter_map(|request| {
            request
                .url
                .query_pairs()
                .find(|(key, _)| key == "id")
                .map(|(_, id)| id.into_owned())
        })
        .collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len(), distinct.len()),
        (conversations.len(), conversations.len()),
        "each file uploaded once: {ids:?}"
    );
}

/// An agent's webhook message with files, as Contoso Live Chat sends it.
fn agent_message_with_files(livechat: &str, id: &str, text: &str, files: Value) -> Value {
    json!({"conversationId": livechat, "id": id, "message": text, "sender": "Ann Agent",
           "timestamp": chrono::Utc::now().to_rfc3339(), "attachments": files})
}

/// The path and query of a link the skill sent (its host is the public URL's).
fn path_of(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    assert!(
        [PUBLIC_URL, LOCAL_PUBLIC_URL]
            .iter()
            .any(|public| link.starts_with(public)),
        "{link}"
    );
    url.path().to_owned()
}

#[tokio::test]
async fn an_agents_picture_and_pdf_reach_teams_after_the_words_and_their_links_serve_them() {
    let app = spawn_app_with(Options {
        livechat_api_key: Some("livechat-key"),
        ..Options::default()
    })
    .await;
    let livechat = app.start_session("conv-agent-files").await;
    let png = picture(300, 200);
    let document = pdf("Return label");
    serve_file(
        &app.peers.livechat,
        "/api/chat/files/f-png",
        "image/png",
        png.clone(),
    )
    .await;
    serve_file(
        &app.peers.livechat,
        "/api/chat/files/f-pdf",
        "application/pdf",
        document.clone(),
    )
    .await;
    let event = agent_message_with_files(
        &livechat,
        "msg-files",
        "Here is your label",
        json!([
            {"id": "f-png", "name": "where.png", "contentType": "image/png", "size": png.len(), "sha256": "00", "url": "/api/chat/files/f-png", "width": 300, "height": 200},
            {"id": "f-pdf", "name": "return label.pdf", "contentType": "application/pdf", "size": document.len(), "sha256": "00", "url": "/api/chat/files/f-pdf"}
        ]),
    );
    assert_eq!(app.post_webhook(&event).await.status(), 200);
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-agent-files"), 3).await;
    assert_eq!(sent[0]["text"], "**Ann Agent**: Here is your label");
    let image = &sent[1]["attachments"][0];
    assert_eq!(image["contentType"], "image/png");
    assert_eq!(image["name"], "where.png");
    assert!(
        sent[1]["text"].is_null(),
        "a file's activity has no words (Teams would split it)"
    );
    let card = &sent[2]["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["version"], "1.4");
    assert_eq!(
        card["content"]["body"][0]["inlines"][0]["text"],
        "Ann Agent"
    );
    assert_eq!(
        card["content"]["body"][1]["inlines"][0]["text"],
        "return label.pdf"
    );
    let download = card["content"]["actions"][0]["url"].as_str().unwrap();

    // The picture's link: inline, from the live chat with its key.
    let picture_path = path_of(image["contentUrl"].as_str().unwrap());
    let shown = app.get(&picture_path).await;
    assert_eq!(shown.status(), 200);
    let headers = shown.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline;"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(shown.bytes().await.unwrap(), png);
    let fetches = requests_to(&app.peers.livechat, "/api/chat/files/f-png").await;
    assert_eq!(authorization_of(&fetches[0]), "Bearer livechat-key");

    // The PDF's: a download, as often as it is opened (link scanners open links first).
    for _ in 0..2 {
        let saved = app.get(&path_of(download)).await;
        assert_eq!(saved.status(), 200);
        assert_eq!(
            saved.headers()["content-disposition"],
            "attachment; filename=\"return label.pdf\"; filename*=UTF-8''return%20label.pdf"
        );
        assert_eq!(saved.bytes().await.unwrap(), document);
    }
    let head = app
        .client
        .head(format!("{}{}", app.address, path_of(download)))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        document.len().to_string().as_str()
    );

    // A repeat of the event sends nothing more; other tokens open nothing.
    assert_eq!(app.post_webhook(&event).await.status(), 200);
    for bad in ["/files/nope", &format!("/files/{}", "0".repeat(64))] {
        let refused = app.get(bad).await;
        assert_eq!(refused.status(), 404, "{bad}");
        assert_eq!(refused.text().await.unwrap(), "This link is not valid.\n");
    }
    assert_silent_after(&app, "conv-agent-files", 3).await;
}

#[tokio::test]
async fn a_link_expires_and_a_file_the_live_chat_removed_is_gone() {
    let clock = Clock::paused();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let livechat = app.start_session("conv-expiry").await;
    Mock::given(method("GET"))
        .and(path("/api/chat/files/f-gone"))
        .respond_with(
            ResponseTemplate::new(410).set_body_json(json!({"error": "the file was removed"})),
        )
        .mount(&app.peers.livechat)
        .await;
    let event = agent_message_with_files(
        &livechat,
        "msg-expiry",
        "",
        json!([{"id": "f-gone", "name": "gone.pdf", "contentType": "application/pdf", "size": 10, "sha256": "00", "url": "/api/chat/files/f-gone"}]),
    );
    assert_eq!(app.post_webhook(&event).await.status(), 200);
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-expiry"), 1).await;
    let link = path_of(
        sent[0]["attachments"][0]["content"]["actions"][0]["url"]
            .as_str()
            .unwrap(),
    );
    let removed = app.get(&link).await;
    assert_eq!(removed.status(), 410);
    assert!(removed
        .text()
        .await
        .unwrap()
        .contains("no longer keeps this file"));
    clock.advance(Duration::from_secs(7 * 86_400 + 1));
    let expired = app.get(&link).await;
    assert_eq!(expired.status(), 410);
    assert_eq!(
        expired.text().await.unwrap(),
        "This link has expired. Ask the agent to send the file again.\n"
    );
}

#[tokio::test]
async fn a_webhook_naming_a_file_elsewhere_than_the_live_chat_is_refused() {
    let app = spawn_app().await;
    let livechat = app.start_session("conv-elsewhere").await;
    for url in [
        "https://evil.example/x.pdf",
        "/api/chat/files/../../admin",
        "//evil.example/api/chat/files/x",
        "/api/chat/filesx",
    ] {
        let event = agent_message_with_files(
            &livechat,
            "msg-elsewhere",
            "",
            json!([{"id": "x", "name": "x.pdf", "contentType": "application/pdf", "size": 10, "sha256": "00", "url": url}]),
        );
        let refused = app.post_webhook(&event).await;
        assert_eq!(refused.status(), 400, "{url}");
        let body: Value = refused.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("/api/chat/files"),
            "{body}"
        );
    }
    assert_silent_after(&app, "conv-elsewhere", 0).await;
}
