//! Inbound token checks and anonymous local mode.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn claims_with(changes: Value) -> Value {
    let mut claims = valid_claims();
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn valid_v1_and_v2_tokens_are_accepted() {
    let app = spawn_app().await;
    let v1 = app.message_activity("conv-auth", "hi");
    assert_eq!(app.post_activity(&v1).await.status(), 202);

    let v2 = claims_with(json!({
        "iss": format!("https://login.microsoftonline.com/{TENANT_ID}/v2.0"),
        "ver": "2.0", "azp": AGENT_APP_ID, "appid": null
    }));
    let response = app
        .post_activity_with(
            &app.message_activity("conv-auth", "hi"),
            Some(format!("Bearer {}", sign_token(&v2, KEY_ID))),
        )
        .await;
    assert_eq!(response.status(), 202);

    let lately_expired = claims_with(json!({"exp": chrono::Utc::now().timestamp() - 120}));
    let response = app
        .post_activity_with(
            &app.message_activity("conv-auth", "hi"),
            Some(format!("Bearer {}", sign_token(&lately_expired, KEY_ID))),
        )
        .await;
    assert_eq!(
        response.status(),
        202,
        "five minutes of clock skew are allowed"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401_and_change_nothing() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    let other_tenant = "0bad0000-0000-4000-8000-000000000000";
    let hs256 = jsonwebtoken::encode(
        &Header::default(),
        &valid_claims(),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        (
            "not a bearer header",
            Some(format!("Basic {}", valid_token())),
        ),
        ("not a JWT", Some("Bearer not.a.jwt".to_owned())),
        ("HS256 instead of RS256", Some(format!("Bearer {hs256}"))),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign_token(&claims_with(json!({"exp": now - 600})), KEY_ID)
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                sign_token(&claims_with(json!({"nbf": now + 900})), KEY_ID)
            )),
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                sign_token(&claims_with(json!({"aud": AGENT_APP_ID})), KEY_ID)
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                sign_token(
                    &claims_with(
                        json!({"iss": format!("https://sts.windows.net/{other_tenant}/"), "tid": other_tenant})
                    ),
                    KEY_ID
                )
            )),
        ),
        (
            "tid not bound to issuer",
            Some(format!(
                "Bearer {}",
                sign_token(&claims_with(json!({"tid": other_tenant})), KEY_ID)
            )),
        ),
        (
            "unknown key",
            Some(format!(
                "Bearer {}",
                sign_token(&valid_claims(), "forged-kid")
            )),
        ),
        (
            "disallowed caller",
            Some(format!(
                "Bearer {}",
                sign_token(
                    &claims_with(json!({"appid": "0bad0000-0000-4000-8000-00000000cafe"})),
                    KEY_ID
                )
            )),
        ),
        (
            "no caller",
            Some(format!(
                "Bearer {}",
                sign_token(&claims_with(json!({"appid": null})), KEY_ID)
            )),
        ),
        (
            "no expiry",
            Some(format!(
                "Bearer {}",
                sign_token(&claims_with(json!({"exp": null})), KEY_ID)
            )),
        ),
    ];
    for (description, authorization) in cases {
        let activity = app.start_activity("conv-401");
        let response = app.post_activity_with(&activity, authorization).await;
        assert_eq!(response.status(), 401, "{description}");
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{description}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "Unauthorized", "{description}");
    }
    assert_silent(
        &app,
        &[&app.peers.livechat, &app.peers.copilot],
        "nothing is sent",
    )
    .await;
}

#[tokio::test]
async fn unknown_keys_refresh_the_key_set_at_most_once_in_a_while() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let forged = app
            .post_activity_with(
                &app.start_activity("conv-kid"),
                Some(format!(
                    "Bearer {}",
                    sign_token(&valid_claims(), "random-kid")
                )),
            )
            .await;
        assert_eq!(forged.status(), 401);
    }
    let metadata_fetches = app
        .peers
        .issuer
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == "/.well-known/openid-configuration")
        .count();
    assert_eq!(
        metadata_fetches, 1,
        "forged kids must not make the skill hammer the metadata endpoint"
    );
}

#[tokio::test]
async fn a_401_from_the_connector_refreshes_the_token_once() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path_regex("^/v3/conversations/conv-stale/activities/.+$"))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.peers.copilot)
        .await;
    let activity = app.start_activity("conv-stale");
    app.post_activity(&activity).await;
    // The reply's own path only: a queue notice may reach the same peer at any moment.
    let reply_path = format!(
        "/v3/conversations/conv-stale/activities/{}",
        activity["id"].as_str().unwrap()
    );
    let attempts = eventually("the retried reply", || async {
        let requests = requests_to(&app.peers.copilot, &reply_path).await;
        (requests.len() >= 2).then_some(requests)
    })
    .await;
    // The 401, then the same reply with a fresh token (a busy machine may add a retry of its own;
    // the token is refreshed once either way, below).
    assert!(attempts.len() >= 2);
    let token_requests = app
        .peers
        .issuer
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/token"))
        .count();
    assert_eq!(
        token_requests, 2,
        "the cached token was dropped and a fresh one fetched"
    );
}

#[tokio::test]
async fn anonymous_local_mode_needs_no_token_but_answers_only_loopback() {
    let app = spawn_app_with(Options {
        authenticated: false,
        ..Options::default()
    })
    .await;
    let activity = app.start_activity("conv-anon");
    assert_eq!(app.post_activity_with(&activity, None).await.status(), 202);
    let reply = app.reply_to(&activity).await;
    assert_eq!(reply["code"], "completedSuccessfully");
    let path = format!(
        "/v3/conversations/conv-anon/activities/{}",
        activity["id"].as_str().unwrap()
    );
    let request = requests_to(&app.peers.copilot, &path).await.remove(0);
    assert_eq!(
        authorization_of(&request),
        "",
        "no token is sent in anonymous mode"
    );

    let mut remote = app.start_activity("conv-anon-remote");
    remote["serviceUrl"] = json!("https://pvaruntime.us-il102.gateway.prod.island.powerapps.com/api/runtime/bots/b/skillsV2/");
    let response = app.post_activity_with(&remote, None).await;
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("anonymous local mode"));
    assert!(
        app.peers
            .issuer
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| !r.url.path().ends_with("/token")),
        "no token was ever requested"
    );
}

#[tokio::test]
async fn anonymous_mode_refuses_a_remote_service_url_for_expect_replies_too() {
    let app = spawn_app_with(Options {
        authenticated: false,
        ..Options::default()
    })
    .await;
    let mut remote = app.start_activity("conv-anon-expect");
    remote["deliveryMode"] = json!("expectReplies");
    remote["serviceUrl"] = json!("https://smba.trafficmanager.net/teams/");
    let response = app.post_activity_with(&remote, None).await;
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("anonymous local mode"));

    // A later, loopback start is the marker: when it has reached the live chat, the refused one
    // would have too.
    let mut local = app.start_activity("conv-anon-expect-local");
    local["deliveryMode"] = json!("expectReplies");
    let answer = app.post_activity_with(&local, None).await;
    assert_eq!(answer.status(), 200);
    let starts = requests_to(&app.peers.livechat, "/api/chat/start").await;
    assert_eq!(
        starts.len(),
        1,
        "only the loopback start reached the live chat"
    );
    let context: Value = serde_json::from_slice(&starts[0].body).unwrap();
    assert_eq!(context["botConversationId"], "conv-anon-expect-local");
}
