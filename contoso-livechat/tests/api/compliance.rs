//! The rules around the data: sensitive data masked before it is stored or shown.

use serde_json::{json, Value};
use service_support::masking::{AppliesTo, RuleSettings};

use crate::helpers::*;

const CARD: &str = "4111 1111 1111 1111";
const CARD_DIGITS: &str = "4111111111111111";

/// Every byte the live chat's database holds, its write-ahead log included.
fn database_bytes(app: &TestApp) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["livechat.db", "livechat.db-wal"] {
        if let Ok(file) = std::fs::read(app.data_dir.path().join(name)) {
            bytes.extend(file);
        }
    }
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn card_numbers_are_masked_before_they_are_stored_or_sent_and_the_agent_sees_it() {
    let app = spawn_app_with(Options::default().with_settings(|settings| {
        settings.masking.rules.push(RuleSettings {
            name: "order-pin".into(),
            pattern: r"PIN \d{4}".into(),
            replacement: "PIN ****".into(),
            applies_to: AppliesTo::Customer,
        });
    }))
    .await;
    let conversation = app
        .start_with(
            &json!({"customerName": "Megan", "problemDescription": format!("refund to {CARD}")}),
        )
        .await;
    let said = app
        .customer_says(
            &conversation,
            &format!("my card is {CARD} and PIN 1234, order 4111111111111112"),
        )
        .await;
    assert_eq!(said.status(), 200);
    let agent = app.signed_in_agent().await;
    agent.accept(&conversation).await;
    assert!(agent
        .reply(
            &conversation,
            &format!("I see {CARD_DIGITS}; my PIN 9999 stays")
        )
        .await
        .status()
        .is_redirection());

    let transcript = app.transcript(&conversation).await;
    let customer: &Value = transcript
        .iter()
        .find(|entry| entry["role"] == "customer")
        .unwrap();
    assert_eq!(
        customer["message"],
        "my card is [card number removed] and PIN ****, order 4111111111111112"
    );
    assert_eq!(customer["masked"], json!(["card-number", "order-pin"]));
    let reply = transcript
        .iter()
        .find(|entry| entry["role"] == "agent")
        .unwrap();
    // The customer's rule does not apply to the agent's words.
    assert_eq!(
        reply["message"],
        "I see [card number removed]; my PIN 9999 stays"
    );
    let conversations = app.conversations().await;
    assert_eq!(
        conversations[0]["problemDescription"],
        "refund to [card number removed]"
    );

    // The webhook carried the masked reply; the page says something was masked.
    let bodies = webhook_bodies(&app.webhook, 2).await;
    let sent = bodies
        .iter()
        .find(|body| body["type"] == "message")
        .unwrap();
    assert_eq!(
        sent["message"],
        "I see [card number removed]; my PIN 9999 stays"
    );
    let page = agent
        .get(&format!("/agent/conversations/{conversation}"))
        .await;
    let page = page.text().await.unwrap();
    assert!(page.contains("Masked: card number, order pin"), "{page}");
    assert!(!page.contains(CARD));

    let stored = database_bytes(&app);
    assert!(
        holds(&stored, "[card number removed]"),
        "the masked text is stored"
    );
    for original in [CARD, CARD_DIGITS, "PIN 1234"] {
        assert!(!holds(&stored, original), "the database holds {original}");
    }
    assert!(
        holds(&stored, "4111111111111112"),
        "an order number is kept"
    );
}

#[tokio::test]
async fn a_masking_rule_that_does_not_compile_stops_the_start_naming_it() {
    let mut settings = contoso_livechat::configuration::Settings::default();
    settings.masking.rules.push(RuleSettings {
        name: "iban".into(),
        pattern: "[A-Z".into(),
        replacement: "x".into(),
        applies_to: AppliesTo::Both,
    });
    let error = settings.masker().unwrap_err().to_string();
    assert!(
        error.contains("masking rule 'iban' does not compile"),
        "{error}"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "[[masking.rules]]\nname = \"iban\"\npattern = \"[A-Z\"\nreplacement = \"x\"\n",
    )
    .unwrap();
    let error = contoso_livechat::configuration::Settings::load_from(
        Some(file.path()),
        &service_support::settings::Environment::from_map(Default::default()),
    )
    .unwrap_err();
    assert!(format!("{error:#}").contains("'iban'"), "{error:#}");
}

/// A conversation of `customer` with words only they said, and a picture.
async fn conversation_of(app: &TestApp, customer: &str, words: &str) -> String {
    let conversation = app
        .start_with(
            &json!({"customerName": "Megan", "customerId": customer, "problemDescription": words}),
        )
        .await;
    assert_eq!(app.customer_says(&conversation, words).await.status(), 200);
    let picture = test_support::files::picture(8, 8);
    let uploaded = app
        .upload(&conversation, "receipt.png", None, picture)
        .await;
    assert_eq!(uploaded.status(), 200);
    conversation
}

fn files_kept(app: &TestApp) -> usize {
    walk(&app.data_dir.path().join("files"))
}

fn walk(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    if entry.path().is_dir() {
                        walk(&entry.path())
                    } else {
                        usize::from(!entry.path().starts_with(folder.join("incoming")))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_customer_is_exported_then_erased_in_one_go_and_the_database_file_forgets_them() {
    let app = spawn_app_with(Options {
        api_key: true,
        ..Options::default()
    })
    .await;
    let ended = conversation_of(&app, "aad-megan", "megan-secret-one").await;
    assert_eq!(
        app.post_api(
            "/api/chat/rate",
            &json!({"conversationId": ended, "rating": 2, "comment": "megan-comment"})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post_api("/api/chat/end", &json!({"conversationId": ended}))
            .await
            .status(),
        200
    );
    let open = conversation_of(&app, "aad-megan", "megan-secret-two").await;
    let other = app
        .start_with(&json!({"customerName": "Lee", "customerId": "aad-lee"}))
        .await;
    app.customer_says(&other, "lee-words-stay").await;
    let agent = app.signed_in_agent().await;
    agent.accept(&open).await;
    assert_eq!(
        agent
            .act(&open, "notes", &[("note", "megan-note-text")])
            .await
            .status(),
        303
    );

    // Without the key: refused; the export has both conversations, transcripts and all.
    let anonymous = app
        .api
        .get(format!("{}/api/privacy/customers/aad-megan", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let export: Value = app
        .get_api("/api/privacy/customers/aad-megan")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(export["customerId"], "aad-megan");
    let conversations = export["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 2);
    assert_eq!(conversations[0]["rating"], 2);
    assert_eq!(
        conversations[1]["notes"][0]["body"], "megan-note-text",
        "notes are exported too"
    );
    assert!(conversations[1]["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["message"] == "megan-secret-two"));
    let kept_before = files_kept(&app);

    let erase = |customer: &'static str| {
        let app = &app;
        async move {
            app.api
                .delete(format!("{}/api/privacy/customers/{customer}", app.address))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap()
        }
    };
    let erased = erase("aad-megan").await;
    assert_eq!(erased.status(), 200);
    let counts: Value = erased.json().await.unwrap();
    assert_eq!(counts["conversations"], 2);
    assert_eq!(counts["ended"], 1, "the open one was ended first");
    assert_eq!(counts["files"], 2);
    assert!(counts["messages"].as_u64().unwrap() >= 4, "{counts}");

    // The customer is told the open one ended, as for an agent's end.
    let bodies = webhook_bodies(&app.webhook, 2).await;
    assert!(
        bodies
            .iter()
            .any(|body| body["type"] == "conversationEnded"
                && body["conversationId"] == open.as_str())
    );

    // Nothing of the customer is left: not in the API, not in the files, not in the database file.
    assert_eq!(
        app.get_api("/api/privacy/customers/aad-megan")
            .await
            .status(),
        404
    );
    assert_eq!(erase("aad-megan").await.status(), 404);
    assert_eq!(erase("nobody").await.status(), 404);
    let listed = app.conversations().await;
    assert!(listed.iter().all(|c| c["id"] != ended.as_str()));
    assert!(listed.iter().any(|c| c["id"] == other.as_str()));
    assert_eq!(
        files_kept(&app),
        kept_before - 1,
        "the one picture's bytes went (both uploads were the same bytes)"
    );
    let stored = database_bytes(&app);
    for gone in [
        "megan-secret-one",
        "megan-secret-two",
        "megan-comment",
        "megan-note-text",
        "aad-megan",
        "receipt.png",
    ] {
        assert!(!holds(&stored, gone), "the database still holds {gone}");
    }
    assert!(
        holds(&stored, "lee-words-stay"),
        "another customer's data stays"
    );
    // The page shows nothing of it either.
    let inbox = agent.get("/agent").await.text().await.unwrap();
    assert!(!inbox.contains("megan-secret"), "{inbox}");

    // The erasure is audited by its counts, the customer only as a hash.
    let (data_dir, _) = app.stop().await;
    let database = rusqlite::Connection::open(data_dir.path().join("livechat.db")).unwrap();
    let audited: (i64, i64, String) = database
        .query_row(
            "SELECT conversations, files, customer_sha256 FROM erasures",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!((audited.0, audited.1), (2, 2));
    assert_eq!(audited.2.len(), 64);
}

#[tokio::test]
async fn ended_conversations_are_deleted_after_the_retention_period_and_zero_keeps_them() {
    let clock = service_support::clock::Clock::paused();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let old = conversation_of(&app, "aad-old", "old-words").await;
    app.post_api("/api/chat/end", &json!({"conversationId": old}))
        .await;
    let open = conversation_of(&app, "aad-open", "open-words").await;

    // 89 days on, nothing goes; after 90 the ended one does, the open one stays.
    clock.advance(std::time::Duration::from_secs(89 * 86_400));
    let probe = app.start_with(&json!({"customerName": "Probe"})).await;
    test_support::eventually("a janitor round", || async {
        // A later marker: the janitor has run (its file round, 30 days, removed the old picture).
        app.transcript(&old)
            .await
            .iter()
            .any(|entry| entry["attachments"][0]["removed"] == true)
            .then_some(())
    })
    .await;
    assert!(app
        .conversations()
        .await
        .iter()
        .any(|c| c["id"] == old.as_str()));
    clock.advance(std::time::Duration::from_secs(2 * 86_400));
    test_support::eventually("the old conversation deleted", || async {
        (!app
            .conversations()
            .await
            .iter()
            .any(|c| c["id"] == old.as_str()))
        .then_some(())
    })
    .await;
    let listed = app.conversations().await;
    assert!(listed.iter().any(|c| c["id"] == open.as_str()));
    assert!(listed.iter().any(|c| c["id"] == probe.as_str()));
    assert_eq!(
        app.get_api(&format!("/api/chat/messages?conversationId={old}"))
            .await
            .status(),
        404
    );
    // The janitor checkpoints the log after the deletion it has just made visible.
    test_support::eventually("the database file holding none of it", || async {
        (!holds(&database_bytes(&app), "old-words")).then_some(())
    })
    .await;

    // retention_days = 0 keeps everything, however old.
    let keeping_clock = service_support::clock::Clock::paused();
    let keeping = spawn_app_with(
        Options {
            clock: Some(keeping_clock.clone()),
            ..Options::default()
        }
        .with_settings(|settings| {
            settings.privacy.retention_days = 0;
            settings.files.retention_days = 1;
        }),
    )
    .await;
    let kept = conversation_of(&keeping, "aad-kept", "kept-words").await;
    keeping
        .post_api("/api/chat/end", &json!({"conversationId": kept}))
        .await;
    keeping_clock.advance(std::time::Duration::from_secs(4_000 * 86_400));
    // The marker that the janitor has been round: the picture went after its one day.
    test_support::eventually("a janitor round", || async {
        keeping
            .transcript(&kept)
            .await
            .iter()
            .any(|entry| entry["attachments"][0]["removed"] == true)
            .then_some(())
    })
    .await;
    assert!(keeping
        .conversations()
        .await
        .iter()
        .any(|c| c["id"] == kept.as_str()));
}

#[tokio::test]
async fn the_erase_customer_command_works_beside_the_running_live_chat_and_without_it() {
    let app = spawn_app_with(Options {
        api_key: true,
        ..Options::default()
    })
    .await;
    conversation_of(&app, "aad-one", "one-words").await;
    conversation_of(&app, "aad-two", "two-words").await;
    // Not blocking: the live chat it talks to runs on this test's own runtime.
    let command = |data_dir: &std::path::Path, bind: &str, customer: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_contoso-livechat"))
            .args(["erase-customer", customer])
            .env_clear()
            // Where no configuration file is: the defaults and these.
            .current_dir(data_dir)
            .env("LIVECHAT_DATA_DIR", data_dir)
            .env("LIVECHAT_BIND", bind)
            .env("LIVECHAT_API_KEY", API_KEY)
            .output()
    };
    let bind = app.address.trim_start_matches("http://").to_owned();
    // While it runs: through its API.
    let ran = command(app.data_dir.path(), &bind, "aad-one")
        .await
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let counts: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(counts["conversations"], 1);
    assert_eq!(
        app.get_api("/api/privacy/customers/aad-one").await.status(),
        404
    );
    // Stopped: on the store itself. An unknown customer: exit code 2.
    let (data_dir, _) = app.stop().await;
    let ran = command(data_dir.path(), "127.0.0.1:9", "aad-two")
        .await
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let counts: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(counts["conversations"], 1);
    let unknown = command(data_dir.path(), "127.0.0.1:9", "aad-two")
        .await
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no conversation of this customer"));
}

#[tokio::test]
async fn an_agent_downloads_a_transcript_as_text_or_json_masked_as_stored() {
    let app = spawn_app().await;
    let conversation = conversation_of(&app, "aad-dl", &format!("card {CARD} please")).await;
    let agent = app.signed_in_agent().await;
    agent.accept(&conversation).await;
    agent.reply(&conversation, "Refund on its way").await;

    let text = agent
        .get(&format!(
            "/agent/conversations/{conversation}/transcript?format=text"
        ))
        .await;
    assert_eq!(text.status(), 200);
    assert!(text.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("transcript-{conversation}.txt")));
    let text = text.text().await.unwrap();
    assert!(text.starts_with("Conversation with Megan ("), "{text}");
    assert!(text.contains("Customer id: aad-dl"));
    assert!(
        text.contains("Megan Bowen (customer): card [card number removed] please"),
        "{text}"
    );
    assert!(text.contains("    masked: card-number"));
    assert!(text.contains("    file: receipt.png (image/png"));
    assert!(text.contains(&format!("{AGENT_NAME} (agent): Refund on its way")));
    assert!(!text.contains(CARD));

    let json: Value = agent
        .get(&format!(
            "/agent/conversations/{conversation}/transcript?format=json"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["id"], conversation.as_str());
    let entries = json["transcript"].as_array().unwrap();
    assert_eq!(entries.last().unwrap()["message"], "Refund on its way");

    // Only for signed-in agents; an unknown conversation is a 404, an unknown format a 400.
    let stranger = browser(std::sync::Arc::new(reqwest::cookie::Jar::default()));
    let refused = stranger
        .get(format!(
            "{}/agent/conversations/{conversation}/transcript",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_redirection(), "{}", refused.status());
    assert_eq!(
        agent
            .get("/agent/conversations/nope/transcript")
            .await
            .status(),
        404
    );
    assert_eq!(
        agent
            .get(&format!(
                "/agent/conversations/{conversation}/transcript?format=pdf"
            ))
            .await
            .status(),
        400
    );
}

/// Generated cases, shrinking aside: a Luhn-valid card number as people type it, in any text.
fn generated_cards(cases: u32) -> Vec<(String, String)> {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};
    let card = (12usize..=18)
        .prop_flat_map(|len| proptest::collection::vec(0u8..10, len))
        .prop_map(|mut digits| {
            for check in 0..10 {
                digits.push(check);
                if service_support::masking::luhn(&digits) {
                    break;
                }
                digits.pop();
            }
            digits
                .iter()
                .map(|digit| char::from(b'0' + digit))
                .collect::<String>()
        });
    let typed = (card, 0u8..3).prop_map(|(digits, style)| {
        let separator = match style {
            0 => return (digits.clone(), digits),
            1 => " ",
            _ => "-",
        };
        let grouped = digits
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join(separator);
        (digits, grouped)
    });
    let around = (
        "[a-zA-Zéü .,!?]{0,30}",
        "[ (:]",
        "[ ).!]",
        "[a-zA-Z .,!?]{0,30}",
    );
    let text = (typed, around).prop_map(|((digits, grouped), (before, left, right, after))| {
        (digits, format!("{before}{left}{grouped}{right}{after}"))
    });
    let mut runner = TestRunner::new(Config::with_cases(cases));
    (0..cases)
        .map(|_| text.new_tree(&mut runner).unwrap().current())
        .collect()
}

#[tokio::test]
async fn no_generated_card_number_survives_to_storage_the_event_log_or_a_download() {
    let app = spawn_app().await;
    let agent = app.signed_in_agent().await;
    let conversation = app.start_conversation("Megan Bowen").await;
    agent.accept(&conversation).await;
    let cases = generated_cards(48);
    for (index, (_, text)) in cases.iter().enumerate() {
        let said = app.customer_says(&conversation, text).await;
        assert_eq!(said.status(), 200, "{text}");
        if index % 3 == 0 {
            // The agent repeats it, and notes it: masked as the agent's words.
            assert!(agent
                .reply(&conversation, text)
                .await
                .status()
                .is_redirection());
            agent.act(&conversation, "notes", &[("note", text)]).await;
        }
    }
    let download = agent
        .get(&format!(
            "/agent/conversations/{conversation}/transcript?format=text&notes=1"
        ))
        .await
        .text()
        .await
        .unwrap();
    let json = agent
        .get(&format!(
            "/agent/conversations/{conversation}/transcript?format=json&notes=1"
        ))
        .await
        .text()
        .await
        .unwrap();
    let stored = database_bytes(&app);
    let only_digits = |text: &str| {
        text.chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    };
    for (digits, text) in &cases {
        for (place, haystack) in [("the download", &download), ("the JSON download", &json)] {
            assert!(
                !only_digits(haystack).contains(digits),
                "{place} holds {digits} of {text}"
            );
        }
        // In the file, as typed and as bare digits (the events hold JSON of the same texts).
        let typed: String = text
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == ' ' || *c == '-')
            .collect();
        assert!(!holds(&stored, digits), "the database holds {digits}");
        assert!(!holds(&stored, typed.trim()), "the database holds {typed}");
    }
    assert!(holds(&stored, CARD_REPLACEMENT_TEXT));
}

const CARD_REPLACEMENT_TEXT: &str = service_support::masking::CARD_REPLACEMENT;
