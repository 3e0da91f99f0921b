//! The protocol as Microsoft's own SDKs see it: skill consumers built with `botbuilder` and with
//! `@microsoft/agents-hosting` (npm) invoke the real skill and receive its replies through the SDKs'
//! own handlers. They live in `interop/sdk-hosts/`; `scripts/test.sh` installs their packages.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;

use crate::helpers::*;

/// Runs one of the SDK hosts against `app` and returns its JSON report.
async fn run_host(app: &TestApp, script: &str) -> Value {
    run_host_with(app, script, &[]).await
}

/// Runs one of the SDK hosts with extra environment variables.
async fn run_host_with(app: &TestApp, script: &str, env: &[(&str, String)]) -> Value {
    let host_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/sdk-hosts");
    assert!(
        host_dir.join("node_modules/botbuilder").exists() && host_dir.join("node_modules/@microsoft/agents-hosting").exists(),
        "the SDK hosts are not installed: run `npm ci --prefix interop/sdk-hosts` (scripts/test.sh does)"
    );
    let output = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(&host_dir)
        .env("SKILL_ENDPOINT", format!("{}/api/messages", app.address))
        .env("NODE_ENV", "development")
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("the host finished")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[tokio::test]
async fn a_botbuilder_skill_consumer_can_invoke_the_skill_and_receive_its_replies() {
    let app = spawn_app_with(Options {
        authenticated: false,
        ..Options::default()
    })
    .await;
    let png = test_support::files::picture(32, 24);
    wiremock::Mock::given(wiremock::matchers::path("/printer.png"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .set_body_bytes(png.clone()),
        )
        .mount(&app.peers.teams)
        .await;
    let file_url = format!("{}/printer.png", app.peers.teams.uri());
    let report = run_host_with(&app, "botbuilder-host.mjs", &[("FILE_URL", file_url)]).await;

    // startConversation: 202, then an endOfConversation the SDK routed to the host bot.
    assert_eq!(report["start"]["status"], 202);
    let start = &report["start"]["endOfConversation"];
    assert_eq!(start["code"], "completedSuccessfully", "{report}");
    assert_eq!(start["name"], "startConversation");
    let livechat_id = start["value"]["liveChatConversationId"].as_str().unwrap();

    // sendMessage arrives with a new skill conversation id, as the SDK makes one per invocation.
    assert_eq!(report["message"]["status"], 202);
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded[0]["conversationId"], livechat_id);
    assert_eq!(forwarded[0]["message"], "My printer is on fire");
    assert_eq!(forwarded[0]["sender"], "Interop User");

    // A picture the SDK attached reaches the live chat whole, under the name it was given.
    assert_eq!(report["picture"]["status"], 202, "{report}");
    let upload = eventually("the picture's upload", || async {
        requests_to(&app.peers.livechat, "/api/chat/attachments")
            .await
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(upload.body, png);
    let query: std::collections::HashMap<String, String> =
        upload.url.query_pairs().into_owned().collect();
    assert_eq!(query["conversationId"], livechat_id);
    assert_eq!(query["name"], "printer.png");

    // expectReplies: the SDK reads the replies from the HTTP answer.
    assert_eq!(report["expectReplies"]["status"], 200);
    assert_eq!(
        report["expectReplies"]["body"]["activities"][0]["type"],
        "endOfConversation"
    );

    // endConversation: the SDK host gets completedSuccessfully and the live chat session ends.
    assert_eq!(
        report["end"]["endOfConversation"]["code"],
        "completedSuccessfully"
    );
    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat_id);

    assert_eq!(report["invoke"]["status"], 501);
}

#[tokio::test]
async fn an_agents_sdk_consumer_can_invoke_the_skill_and_receive_its_replies() {
    let app = spawn_app_with(Options {
        authenticated: false,
        ..Options::default()
    })
    .await;
    let report = run_host(&app, "agents-host.mjs").await;

    // The Agents SDK's own response handler accepted the skill's replies and ran its agent.
    assert_eq!(report["start"], "Accepted", "{report}");
    assert_eq!(report["startEnd"]["code"], "completedSuccessfully");
    let livechat_id = report["startEnd"]["value"]["liveChatConversationId"]
        .as_str()
        .unwrap();

    // Its message carries no inputs and a new conversation id; relatesTo ties it to the session.
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded[0]["conversationId"], livechat_id);
    assert_eq!(forwarded[0]["message"], "Hello from the Agents SDK");
    assert_eq!(forwarded[0]["sender"], "Agents User");

    assert_eq!(report["endEnd"]["code"], "completedSuccessfully");
    let ends = wait_for_bodies(&app.peers.livechat, "/api/chat/end", 1).await;
    assert_eq!(ends[0]["conversationId"], livechat_id);
}

#[tokio::test]
async fn the_agents_sdk_receives_every_actions_outputs_with_their_declared_names_and_types() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let app = spawn_app_with(Options {
        authenticated: false,
        ..Options::default()
    })
    .await;
    let host_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/sdk-hosts");
    let mut host = tokio::process::Command::new("node")
        .arg("agents-host.mjs")
        .current_dir(&host_dir)
        .env("SKILL_ENDPOINT", format!("{}/api/messages", app.address))
        .env("NODE_ENV", "development")
        .env("HOST_FLOW", "outcomes")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(host.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the host answered in time")
            .unwrap()
            .expect("a line from the host")
    };
    let ready: Value = serde_json::from_str(&next_line().await).unwrap();
    let livechat_id = ready["ready"].as_str().unwrap().to_owned();

    // The agent joins and closes the chat, then the host's next message ends sendMessage.
    let joined = serde_json::json!({"type": "agentJoined", "conversationId": livechat_id, "id": "j-1", "agentName": "Ann Agent"});
    assert_eq!(app.post_webhook(&joined).await.status(), 200);
    let ended = serde_json::json!({"type": "conversationEnded", "conversationId": livechat_id, "sender": "Ann Agent"});
    assert_eq!(app.post_webhook(&ended).await.status(), 200);
    let mut stdin = host.stdin.take().unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    stdin.flush().await.unwrap();
    let report: Value = serde_json::from_str(&next_line().await).unwrap();
    assert!(report.get("error").is_none(), "{report}");
    assert!(host.wait().await.unwrap().success());

    let start = &report["startEnd"]["value"];
    assert!(
        start["Status"].is_string()
            && start["QueuePosition"].is_number()
            && start["EstimatedWaitMinutes"].is_number(),
        "{start}"
    );
    let message = &report["messageEnd"];
    assert_eq!(message["code"], "completedSuccessfully");
    assert_eq!(
        message["value"],
        serde_json::json!({"Outcome": "agentEnded", "AgentName": "Ann Agent"})
    );
    assert_eq!(report["rateEnd"]["code"], "completedSuccessfully");
    assert_eq!(
        report["rateEnd"]["value"],
        serde_json::json!({"Outcome": "rated"})
    );
    assert_eq!(report["leaveEnd"]["code"], "completedSuccessfully");
    assert_eq!(report["leaveEnd"]["value"]["Outcome"], "messageLeft");
    assert!(report["leaveEnd"]["value"]["LiveChatConversationId"].is_string());
    let ratings = wait_for_bodies(&app.peers.livechat, "/api/chat/rate", 1).await;
    assert_eq!(
        ratings[0],
        serde_json::json!({"conversationId": livechat_id, "rating": 5, "comment": "Great help"})
    );
}

#[tokio::test]
async fn the_activities_carrying_an_agents_files_parse_with_microsofts_sdk_and_card_library() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let livechat = app.start_session("conv-interop-files").await;
    let event = serde_json::json!({
        "conversationId": livechat, "id": "msg-interop-files", "message": "Your label and where to stick it",
        "sender": "Ann [Agent] *", "attachments": [
            {"id": "f-1", "name": "return [label](https://evil.example).pdf", "contentType": "application/pdf", "size": 98_304, "sha256": "00", "url": "/api/chat/files/f-1"},
            {"id": "f-2", "name": "where.png", "contentType": "image/png", "size": 40_000, "sha256": "00", "url": "/api/chat/files/f-2", "width": 640, "height": 480},
            {"id": "f-3", "name": "big.png", "contentType": "image/png", "size": 4_000_000, "sha256": "00", "url": "/api/chat/files/f-3", "width": 4000, "height": 3000},
            {"id": "f-4", "name": "moving.gif", "contentType": "image/gif", "size": 40_000, "sha256": "00", "url": "/api/chat/files/f-4", "width": 64, "height": 64, "animated": true}
        ]
    });
    assert_eq!(app.post_webhook(&event).await.status(), 200);
    let activities = wait_for_bodies(&app.peers.teams, &teams_path("conv-interop-files"), 5).await;

    let host_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/sdk-hosts");
    let mut checker = tokio::process::Command::new("node")
        .arg("check-teams-activities.mjs")
        .current_dir(&host_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = checker.stdin.take().unwrap();
    stdin
        .write_all(&serde_json::to_vec(&activities).unwrap())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        checker.wait_with_output(),
    )
    .await
    .expect("the checker finished")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for (n, activity) in report.as_array().unwrap().iter().enumerate() {
        assert_eq!(activity["parsed"], true, "{n}: {activity}");
        assert_eq!(
            activity["problems"],
            serde_json::json!([]),
            "{n}: {activity}"
        );
    }
    // Words, then a card, a picture, and cards for what Teams would not show inline.
    let kinds: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|activity| {
            activity["attachments"][0]["kind"]
                .as_str()
                .unwrap_or("words")
        })
        .collect();
    assert_eq!(kinds, ["words", "card", "picture", "card", "card"]);
    let download = report[1]["attachments"][0]["actions"][0].clone();
    assert_eq!(download["type"], "Action.OpenUrl");
    assert!(download["url"]
        .as_str()
        .unwrap()
        .starts_with("https://skill.example.com/files/"));
}
