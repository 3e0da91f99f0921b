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
