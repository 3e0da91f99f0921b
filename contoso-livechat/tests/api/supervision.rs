//! Roles, private notes and whispers: notes for every agent, a supervisor's whisper only for the
//! agent who has the conversation; neither ever reaches the skill's webhook or the session API.

use serde_json::Value;

use crate::helpers::*;

fn team() -> Options {
    Options {
        second_agent: true,
        supervisor: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn notes_are_for_agents_whispers_for_their_agent_and_neither_reaches_the_skill() {
    let app = spawn_app_with(team()).await;
    let conversation = app.start_conversation("Megan Bowen").await;
    app.customer_says(&conversation, "hello?").await;
    let ann = app.signed_in_agent().await;
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    let sue = app.signed_in_as(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    ann.accept(&conversation).await;

    let noted = ben
        .act(
            &conversation,
            "notes",
            &[("note", "ben-note: VIP customer, card 4111 1111 1111 1111")],
        )
        .await;
    assert_eq!(noted.status(), 303);
    let whisper = |client: &AgentClient, text: &str| {
        let fields = [
            ("note", text.to_owned()),
            ("csrf_token", client.csrf.clone()),
        ];
        let url = format!(
            "{}/supervisor/conversations/{conversation}/whisper",
            client.address
        );
        let request = client.client.post(url).form(&fields);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        whisper(&sue, "sue-whisper: offer the refund")
            .await
            .status(),
        303
    );
    // Only a supervisor whispers.
    assert_eq!(whisper(&ben, "ben-whisper").await.status(), 403);
    assert_eq!(
        ann.act(&conversation, "notes", &[("note", "  ")])
            .await
            .status(),
        400
    );

    // Ann sees the note and the whisper to her; Ben the note only; Sue both.
    async fn page_of(client: &AgentClient, conversation: &str) -> String {
        let route = format!("/agent/conversations/{conversation}");
        client.get(&route).await.text().await.unwrap()
    }
    let page = |client| page_of(client, &conversation);
    let anns = page(&ann).await;
    assert!(
        anns.contains("ben-note: VIP customer, card [card number removed]"),
        "masked as an agent's words"
    );
    assert!(anns.contains("Private note") && anns.contains("sue-whisper: offer the refund"));
    assert!(anns.contains("Whisper to Ann"));
    let bens = page(&ben).await;
    assert!(bens.contains("ben-note") && !bens.contains("sue-whisper"));
    assert!(page(&sue).await.contains("sue-whisper"));
    assert!(
        !bens.contains("id=\"whisper-form\"") && page(&sue).await.contains("id=\"whisper-form\"")
    );

    // Downloads with notes: each sees what their page shows; without, none.
    async fn download_of(client: &AgentClient, conversation: &str, query: &str) -> String {
        let route = format!("/agent/conversations/{conversation}/transcript?{query}");
        client.get(&route).await.text().await.unwrap()
    }
    let download = |client, query| download_of(client, &conversation, query);
    let with_notes = download(&ann, "notes=1").await;
    assert!(
        with_notes.contains("(private note) Ben: ben-note"),
        "{with_notes}"
    );
    assert!(with_notes.contains("(whisper to Ann) Sue: sue-whisper"));
    assert!(!download(&ben, "notes=1").await.contains("sue-whisper"));
    assert!(!download(&ann, "format=text").await.contains("ben-note"));
    let json: Value = serde_json::from_str(&download(&sue, "format=json&notes=1").await).unwrap();
    assert_eq!(json["notes"].as_array().unwrap().len(), 2);

    // A later marker for the webhook: Ann's reply. Nothing before it carried a note.
    assert_eq!(
        ann.reply(&conversation, "after-the-notes").await.status(),
        303
    );
    let bodies = webhook_bodies(&app.webhook, 2).await;
    assert!(bodies
        .iter()
        .any(|body| body["message"] == "after-the-notes"));
    for body in all_webhook_bodies(&app.webhook).await {
        let text = body.to_string();
        assert!(
            !text.contains("ben-note") && !text.contains("sue-whisper"),
            "{text}"
        );
    }
    let transcript = serde_json::to_string(&app.transcript(&conversation).await).unwrap();
    assert!(!transcript.contains("ben-note") && !transcript.contains("sue-whisper"));

    // Once ended: a note still may be added (wrap-up), a whisper is a 409.
    ann.act(&conversation, "end", &[]).await;
    assert_eq!(whisper(&sue, "too late").await.status(), 409);
    assert_eq!(
        ann.act(&conversation, "notes", &[("note", "closing note")])
            .await
            .status(),
        303
    );
    assert_eq!(
        ann.act("no-such-conversation", "notes", &[("note", "x")])
            .await
            .status(),
        404
    );
}

async fn supervise(
    client: &AgentClient,
    conversation: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields = fields.to_vec();
    fields.push(("csrf_token", client.csrf.as_str()));
    client
        .post_form(
            &format!("/supervisor/conversations/{conversation}/{action}"),
            &fields,
        )
        .await
}

async fn holder(app: &TestApp, conversation: &str) -> Value {
    app.conversations()
        .await
        .into_iter()
        .find(|c| c["id"] == conversation)
        .unwrap()["assignedAgent"]
        .clone()
}

#[tokio::test]
async fn a_supervisor_takes_over_reassigns_and_force_closes_and_the_customer_hears_each() {
    let app = spawn_app_with(team()).await;
    let conversation = app.start_conversation("Megan Bowen").await;
    let ann = app.signed_in_agent().await;
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    let sue = app.signed_in_as(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    ann.accept(&conversation).await;

    // Agents may not.
    for action in ["take-over", "reassign", "close"] {
        assert_eq!(
            supervise(
                &ben,
                &conversation,
                action,
                &[("to", "Ben"), ("reason", "x")]
            )
            .await
            .status(),
            403,
            "{action}"
        );
    }
    let page = ann
        .get(&format!("/agent/conversations/{conversation}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("supervisor-actions"));

    // Take over: Sue has it, and the customer is told she joined, from Ann.
    assert_eq!(
        supervise(&sue, &conversation, "take-over", &[])
            .await
            .status(),
        303
    );
    assert_eq!(holder(&app, &conversation).await, SUPERVISOR);
    let joined = webhook_bodies(&app.webhook, 2).await;
    let sues = joined
        .iter()
        .find(|body| body["type"] == "agentJoined" && body["agentName"] == SUPERVISOR)
        .unwrap_or_else(|| panic!("{joined:?}"));
    assert_eq!(sues["transferredBy"], AGENT_NAME);
    assert_eq!(
        supervise(&sue, &conversation, "take-over", &[])
            .await
            .status(),
        409,
        "hers already"
    );

    // Reassign: not to an agent who is away, and to one online with room.
    ben.set_presence("away").await;
    assert_eq!(
        supervise(&sue, &conversation, "reassign", &[("to", SECOND_AGENT)])
            .await
            .status(),
        409
    );
    ben.set_presence("online").await;
    assert_eq!(
        supervise(&sue, &conversation, "reassign", &[("to", SECOND_AGENT)])
            .await
            .status(),
        303
    );
    assert_eq!(holder(&app, &conversation).await, SECOND_AGENT);

    // Force-close: a reason is needed; the customer hears the end; the reason is a private note.
    assert_eq!(
        supervise(&sue, &conversation, "close", &[("reason", " ")])
            .await
            .status(),
        400
    );
    assert_eq!(
        supervise(
            &sue,
            &conversation,
            "close",
            &[("reason", "abusive language")]
        )
        .await
        .status(),
        303
    );
    let ended = webhook_bodies(&app.webhook, 4).await;
    let end = ended
        .iter()
        .find(|body| body["type"] == "conversationEnded")
        .unwrap_or_else(|| panic!("{ended:?}"));
    assert_eq!(end["conversationId"], conversation.as_str());
    assert!(ended
        .iter()
        .all(|body| !body.to_string().contains("abusive language")));
    let transcript = ben
        .get(&format!(
            "/agent/conversations/{conversation}/transcript?notes=1"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        transcript.contains("(private note) Sue: Closed by a supervisor: abusive language"),
        "{transcript}"
    );
    assert_eq!(
        supervise(&sue, &conversation, "close", &[("reason", "again")])
            .await
            .status(),
        409
    );
    assert_eq!(
        supervise(&sue, "no-such", "take-over", &[]).await.status(),
        404
    );
}

async fn summary_of(app: &TestApp, conversation: &str) -> Value {
    app.conversations()
        .await
        .into_iter()
        .find(|c| c["id"] == conversation)
        .unwrap()
}

#[tokio::test]
async fn a_required_wrap_up_keeps_the_slot_until_it_is_done_or_times_out() {
    let clock = service_support::clock::Clock::paused();
    let app = spawn_app_with(
        Options {
            clock: Some(clock.clone()),
            ..team()
        }
        .with_settings(|settings| {
            settings.wrap_up.required = true;
            settings.wrap_up.timeout_secs = 120;
        }),
    )
    .await;
    let ann = app.signed_in_agent().await;
    let ben = app.signed_in_as(SECOND_AGENT, SECOND_PASSWORD).await;
    assert_eq!(ann.set_capacity("1").await.status(), 303);
    let first = app.start_conversation("Megan Bowen").await;
    ann.accept(&first).await;
    let early = ann
        .act(&first, "wrap-up", &[("disposition", "resolved")])
        .await;
    assert_eq!(early.status(), 409, "not before the end");
    ann.act(&first, "end", &[]).await;

    // Ended, not wrapped up: Ann's one slot is still taken.
    let second = app.start_conversation("Lee").await;
    let refused = ann.act(&second, "accept", &[]).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(summary_of(&app, &first).await["wrapUpPending"], true);
    let page = ann
        .get(&format!("/agent/conversations/{first}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"wrap-up-form\""), "the page asks for it");

    // Bad input: an unknown code; someone else's conversation.
    assert_eq!(
        ann.act(&first, "wrap-up", &[("disposition", "done")])
            .await
            .status(),
        400
    );
    assert_eq!(
        ben.act(&first, "wrap-up", &[("disposition", "resolved")])
            .await
            .status(),
        403
    );
    let wrapped = ann
        .act(
            &first,
            "wrap-up",
            &[
                ("disposition", "follow-up"),
                ("summary", "Call back; card 4111 1111 1111 1111"),
            ],
        )
        .await;
    assert_eq!(wrapped.status(), 303);
    let first_summary = summary_of(&app, &first).await;
    assert_eq!(first_summary["disposition"], "follow-up");
    assert_eq!(
        first_summary["wrapUpSummary"],
        "Call back; card [card number removed]"
    );
    assert!(first_summary.get("wrapUpPending").is_none());
    assert_eq!(
        ann.act(&first, "wrap-up", &[("disposition", "resolved")])
            .await
            .status(),
        409,
        "once"
    );
    let page = ann
        .get(&format!("/agent/conversations/{first}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Needs a follow-up: Call back"), "{page}");

    // The slot is free: Ann takes the next; when she ends it and says nothing, the time-out does.
    ann.accept(&second).await;
    ann.act(&second, "end", &[]).await;
    let third = app.start_conversation("Kim").await;
    assert_eq!(ann.act(&third, "accept", &[]).await.status(), 409);
    clock.advance(std::time::Duration::from_secs(121));
    test_support::eventually("the wrap-up timed out", || async {
        (summary_of(&app, &second).await["disposition"] == "timeout").then_some(())
    })
    .await;
    ann.accept(&third).await;
}

#[tokio::test]
async fn bad_disposition_lists_stop_the_start_naming_the_code() {
    use contoso_livechat::configuration::{Disposition, Settings};
    let check = |dispositions: Vec<Disposition>| {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut toml = String::new();
        for disposition in &dispositions {
            toml.push_str(&format!(
                "[[wrap_up.dispositions]]\ncode = \"{}\"\nlabel = \"{}\"\n",
                disposition.code, disposition.label
            ));
        }
        std::fs::write(file.path(), toml).unwrap();
        Settings::load_from(
            Some(file.path()),
            &service_support::settings::Environment::from_map(Default::default()),
        )
        .map(|_| ())
        .map_err(|error| format!("{error:#}"))
    };
    let code = |code: &str| Disposition {
        code: code.into(),
        label: "A label".into(),
    };
    assert!(check(vec![code("resolved"), code("sold")]).is_ok());
    assert!(check(vec![code("timeout")])
        .unwrap_err()
        .contains("'timeout'"));
    assert!(check(vec![code("two words")])
        .unwrap_err()
        .contains("'two words'"));
    assert!(check(vec![code("a"), code("A")])
        .unwrap_err()
        .contains("used twice"));
}

#[tokio::test]
async fn the_handoff_context_lists_the_customers_earlier_conversations() {
    let app = spawn_app().await;
    let ann = app.signed_in_agent().await;
    let start = |customer: &'static str| {
        let app = &app;
        async move {
            app.start_with(&serde_json::json!({"customerName": "Megan", "customerId": customer}))
                .await
        }
    };
    let first = start("aad-megan").await;
    ann.accept(&first).await;
    ann.act(&first, "end", &[]).await;
    ann.act(&first, "wrap-up", &[("disposition", "resolved")])
        .await;
    app.post_api(
        "/api/chat/rate",
        &serde_json::json!({"conversationId": first, "rating": 4}),
    )
    .await;
    let others = start("aad-lee").await;
    let now = start("aad-megan").await;
    let page = ann
        .get(&format!("/agent/conversations/{now}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Earlier conversations (1)"), "{page}");
    assert!(page.contains(&format!("href=\"/agent/conversations/{first}\"")));
    assert!(
        page.contains(&format!(
            "<td>{AGENT_NAME}</td><td>Resolved</td><td>4 of 5</td>"
        )),
        "{page}"
    );
    assert!(!page.contains(&others));
    let lone = ann
        .get(&format!("/agent/conversations/{others}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!lone.contains("Earlier conversations"));
}

#[tokio::test]
async fn the_supervisors_view_shows_every_open_conversation_and_agent_and_flags_late_answers() {
    let clock = service_support::clock::Clock::paused();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..team()
    })
    .await;
    let ann = app.signed_in_agent().await;
    let sue = app.signed_in_as(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let waiting = app.start_conversation("Waiting Wendy").await;
    let handled = app.start_conversation("Handled Hugo").await;
    ann.accept(&handled).await;
    app.customer_says(&handled, "still there?").await;
    let ended = app.start_conversation("Ended Eve").await;
    app.post_api(
        "/api/chat/end",
        &serde_json::json!({"conversationId": ended}),
    )
    .await;

    assert_eq!(ann.get("/supervisor").await.status(), 403);
    let stranger = browser(std::sync::Arc::new(reqwest::cookie::Jar::default()));
    let anonymous = stranger
        .get(format!("{}/supervisor", app.address))
        .send()
        .await
        .unwrap();
    assert!(anonymous.status().is_redirection());

    let board = sue.get("/supervisor").await.text().await.unwrap();
    assert!(board.contains("Waiting Wendy") && board.contains("Handled Hugo"));
    assert!(!board.contains("Ended Eve"), "only open conversations");
    assert!(board.contains("still there?"), "the last message");
    assert!(board.contains("With an agent") && board.contains(&format!("<td>{AGENT_NAME}</td>")));
    assert!(!board.contains("Over target"));
    assert!(
        board.contains(&format!("<td>{SUPERVISOR}</td><td>supervisor</td>")),
        "{board}"
    );
    assert!(board.contains(">Ann</td><td>agent</td>"));
    // The agents' pages link here for supervisors only.
    assert!(sue
        .get("/agent")
        .await
        .text()
        .await
        .unwrap()
        .contains("href=\"/supervisor\""));
    assert!(!ann
        .get("/agent")
        .await
        .text()
        .await
        .unwrap()
        .contains("href=\"/supervisor\""));

    // Three minutes on (and a little: the rows' times are the system's, the clock was stopped a
    // moment before them), Hugo's message is past the two-minute first-response target.
    clock.advance(std::time::Duration::from_secs(200));
    let later = sue.get("/supervisor").await.text().await.unwrap();
    let hugo = later.split("Handled Hugo").nth(1).unwrap();
    assert!(
        hugo.split("</tr>").next().unwrap().contains("Over target"),
        "{later}"
    );
    assert!(
        hugo.split("</tr>")
            .next()
            .unwrap()
            .contains("handling 3 min"),
        "{later}"
    );
    let wendy = later.split("Waiting Wendy").nth(1).unwrap();
    assert!(wendy
        .split("</tr>")
        .next()
        .unwrap()
        .contains("waiting 3 min"));
    assert!(later.contains(&format!("href=\"/agent/conversations/{waiting}\"")));
}

#[tokio::test]
async fn the_dashboard_draws_its_figures_as_svg_and_gives_them_as_csv() {
    let app = spawn_app_with(team()).await;
    let ann = app.signed_in_agent().await;
    let sue = app.signed_in_as(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    for (rating, code) in [(5, "resolved"), (4, "resolved"), (2, "spam")] {
        let conversation = app.start_conversation("Megan Bowen").await;
        ann.accept(&conversation).await;
        ann.reply(&conversation, "Hello!").await;
        ann.act(&conversation, "end", &[]).await;
        ann.act(&conversation, "wrap-up", &[("disposition", code)])
            .await;
        app.post_api(
            "/api/chat/rate",
            &serde_json::json!({"conversationId": conversation, "rating": rating}),
        )
        .await;
    }
    app.start_conversation("Still waiting").await;

    assert_eq!(ann.get("/supervisor/dashboard").await.status(), 403);
    assert_eq!(ann.get("/supervisor/dashboard.csv").await.status(), 403);
    let page = sue.get("/supervisor/dashboard").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("<dd id=\"figure-started\">4</dd>"), "{page}");
    assert!(page.contains("<dd id=\"figure-queue\">1</dd>"));
    assert!(page.contains("3.7 of 5 (3 rated)"));
    assert!(
        page.contains("3 of 3 within 2 min 0 s"),
        "every first reply came at once"
    );
    // Three charts, drawn on the server: one bar per hour so far, five ratings, two dispositions.
    assert_eq!(page.matches("<svg ").count(), 3);
    let ratings = page
        .split("id=\"chart-ratings\"")
        .nth(1)
        .unwrap()
        .split("</figure>")
        .next()
        .unwrap();
    assert_eq!(ratings.matches("<rect ").count(), 5);
    assert!(ratings.contains("<title>5 ★: 1</title>"));
    let dispositions = page
        .split("id=\"chart-dispositions\"")
        .nth(1)
        .unwrap()
        .split("</figure>")
        .next()
        .unwrap();
    assert!(
        dispositions.contains("<title>Resolved: 2</title>")
            && dispositions.contains("<title>Spam or abuse: 1</title>")
    );
    assert!(!page.contains("<script>"), "no inline script");

    let csv = sue.get("/supervisor/dashboard.csv?period=7d").await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("section,key,value\r\nperiod,name,7d\r\n"),
        "{csv}"
    );
    assert!(csv.contains("conversations,started,4\r\n"));
    assert!(csv.contains("ratings,5,1\r\n") && csv.contains("ratings,average,3.67\r\n"));
    assert!(csv.contains("dispositions,resolved,2\r\n"));
    assert!(
        csv.matches("conversations_per_hour,").count() >= 6 * 24,
        "seven days of hours"
    );
    assert_eq!(
        sue.get("/supervisor/dashboard?period=year").await.status(),
        400
    );
}
