//! The protocol as Microsoft's own SDK sees it: a skill consumer built with `botbuilder` (npm)
//! invokes the real skill and receives its replies through the SDK's CloudSkillHandler.
//! `interop/botbuilder-host/host.mjs` is that consumer; `scripts/test.sh` installs its packages.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_botbuilder_skill_consumer_can_invoke_the_skill_and_receive_its_replies() {
    let host_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/botbuilder-host");
    assert!(
        host_dir.join("node_modules/botbuilder").exists(),
        "the botbuilder host is not installed: run `npm ci --prefix interop/botbuilder-host` (scripts/test.sh does)"
    );
    let app = spawn_app_with(Options {
        authenticated: false,
        ..Options::default()
    })
    .await;

    let output = tokio::process::Command::new("node")
        .arg("host.mjs")
        .current_dir(&host_dir)
        .env("SKILL_ENDPOINT", format!("{}/api/messages", app.address))
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("the host finished")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "host failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    // startConversation: 202, then an endOfConversation the SDK routed to the host bot.
    assert_eq!(report["start"]["status"], 202);
    let start = &report["start"]["endOfConversation"];
    assert_eq!(start["code"], "completedSuccessfully", "{report}");
    assert_eq!(start["name"], "startConversation");
    let livechat_id = start["value"]["liveChatConversationId"].as_str().unwrap();

    // sendMessage arrives with a new skill conversation id, as the SDK makes one per invocation;
    // the LiveChatConversationId input ties it to the session.
    assert_eq!(report["message"]["status"], 202);
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded[0]["conversationId"], livechat_id);
    assert_eq!(forwarded[0]["message"], "My printer is on fire");
    assert_eq!(forwarded[0]["sender"], "Interop User");

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
