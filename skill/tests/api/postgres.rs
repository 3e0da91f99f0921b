//! Several instances on one PostgreSQL database (see [`crate::databases`]). Each test makes its
//! own database.

use std::collections::{HashMap, HashSet};

use skill::domain::{ClosedBy, Lane};
use skill::store::{BeginSession, DeliveryOutcome, Enqueued, Store};
use sqlx::Connection;

use crate::databases::*;
use crate::helpers::*;
use test_support::{eventually, eventually_within};

#[tokio::test]
async fn two_instances_never_open_two_sessions_or_claim_the_same_delivery() {
    let database = TestDatabase::create().await;
    let first = Store::connect_postgres(&database.url).await.unwrap();
    let second = Store::connect_postgres(&database.url).await.unwrap();
    let (conv, address) = (conversation("conv"), address());

    let (a, b) = tokio::join!(
        first.begin_session(&conv, None, &address, None),
        second.begin_session(&conv, None, &address, None)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, BeginSession::Created(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    let id = match &outcomes[0] {
        BeginSession::Created(s) | BeginSession::Existing(s) => s.id.clone(),
    };
    first
        .complete_session_open(&id, &livechat("lc-1"), None, None, None)
        .await
        .unwrap();
    assert_eq!(
        second
            .session_by_livechat_id(&livechat("lc-1"))
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert_eq!(
        second
            .enqueue_for_open_session(&id, to_user("conv", Some("m1")))
            .await
            .unwrap(),
        Enqueued::Accepted
    );
    assert_eq!(
        first
            .enqueue_for_open_session(&id, to_user("conv", Some("m1")))
            .await
            .unwrap(),
        Enqueued::Duplicate
    );

    for queue in 0..10 {
        first
            .enqueue(to_user(&format!("q{queue}"), Some(&format!("x{queue}"))))
            .await
            .unwrap();
    }
    let now = chrono::Utc::now().timestamp_millis() + 1;
    let (mine, theirs) = tokio::join!(
        first.due_deliveries(Lane::Teams, now, 8, &[]),
        second.due_deliveries(Lane::Teams, now, 8, &[])
    );
    let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
    let mine_ids: HashSet<_> = mine.iter().map(|d| d.id).collect();
    assert!(
        theirs.iter().all(|d| !mine_ids.contains(&d.id)),
        "a delivery was claimed twice"
    );
    assert_eq!(
        mine.len() + theirs.len(),
        11,
        "every queue head was claimed once"
    );
    assert!(
        first
            .due_deliveries(Lane::Teams, now, 8, &[])
            .await
            .unwrap()
            .is_empty(),
        "claimed rows wait for their lease"
    );
    // Finished deliveries are purged after the retention; claimed and pending ones stay.
    first.record_outcome(mine[0].id, DeliveryOutcome::Delivered);
    first.flush().await.unwrap();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let purged = first.purge_finished(&tomorrow).await.unwrap();
    assert_eq!((purged.sessions, purged.deliveries), (0, 1));
    assert_eq!(
        second.delivery_counts(Lane::Teams).await.unwrap().pending,
        10
    );
}

#[tokio::test]
async fn two_skill_instances_share_sessions_and_deliver_each_reply_once_in_order() {
    let database = TestDatabase::create().await;
    let first = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        ..Options::default()
    })
    .await;
    let second = spawn_another_instance(&first).await;

    // The session opened through one instance is known to the other.
    let livechat_id = first.start_session("conv-shared").await;
    assert_eq!(
        second
            .post_activity(&second.message_activity("conv-shared", "through the second"))
            .await
            .status(),
        202
    );
    let forwarded = wait_for_bodies(&first.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded[0]["conversationId"], livechat_id.as_str());

    // Webhooks land on either instance; both workers run; each reply reaches Teams once, in order.
    for n in 0..10 {
        let app = if n % 2 == 0 { &first } else { &second };
        let response = app
            .post_webhook(&TestApp::agent_message(
                &livechat_id,
                &format!("m-{n}"),
                &format!("reply {n}"),
            ))
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        second
            .post_webhook(&TestApp::agent_message(&livechat_id, "m-3", "reply 3"))
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap()["status"],
        "duplicate"
    );
    let sent = wait_for_bodies(&first.peers.teams, &teams_path("conv-shared"), 10).await;
    let texts: Vec<String> = sent
        .iter()
        .map(|b| b["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        (0..10)
            .map(|n| format!("**Ann Agent**: reply {n}"))
            .collect::<Vec<_>>()
    );

    // The end through one instance closes the session for both.
    let end = second.end_activity("conv-shared");
    assert_eq!(second.post_activity(&end).await.status(), 202);
    second.reply_to(&end).await;
    assert_eq!(
        first
            .post_webhook(&TestApp::agent_message(&livechat_id, "late", "late"))
            .await
            .status(),
        410
    );

    first.stop().await;
    second.stop().await;
}

/// Text made to break out of an SQL string (quotes, backslashes, placeholders, a comment) arrives
/// as it was sent, both ways, through PostgreSQL's writer, which writes some values into its
/// statements (the session ids of its first look) and binds the rest.
#[tokio::test]
async fn text_made_to_break_out_of_a_statement_arrives_as_it_was_sent_both_ways() {
    let database = TestDatabase::create().await;
    let app = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        ..Options::default()
    })
    .await;
    let livechat_id = app.start_session("conv-quotes").await;
    let hostile =
        "it's $1 and $2 \\' '' E'\\\\' ); DROP TABLE deliveries; -- \"q\" $$x$$ $tag$ 日本 🙂";

    assert_eq!(
        app.post_activity(&app.message_activity("conv-quotes", hostile))
            .await
            .status(),
        202
    );
    let forwarded = wait_for_bodies(&app.peers.livechat, "/api/chat/receive", 1).await;
    assert_eq!(forwarded[0]["message"], hostile);

    let response = app
        .post_webhook(&TestApp::agent_message(&livechat_id, "m-quotes", hostile))
        .await;
    assert_eq!(response.status(), 200);
    let sent = wait_for_bodies(&app.peers.teams, &teams_path("conv-quotes"), 1).await;
    let shown = hostile.replace('\\', "\\\\");
    assert_eq!(sent[0]["text"], format!("**Ann Agent**: {shown}"));

    // The tables are all there, and each message is stored once.
    app.stop().await;
    let store = Store::connect_postgres(&database.url).await.unwrap();
    for lane in [Lane::Teams, Lane::LiveChat] {
        let counts = store.delivery_counts(lane).await.unwrap();
        assert_eq!(counts.pending + counts.delivered, 1, "{lane:?}: {counts:?}");
    }
}

/// Rows written straight into the tables below, after the first messages: more than any look at
/// a row or a queue reads, fewer than a read of the whole table.
const GROWN: i64 = 40_000;

/// PostgreSQL settles on one plan for a prepared statement after its first five runs, made for
/// the tables as they were then. The skill's first messages meet nearly empty tables, and a plan
/// made then may read a whole table (a list of ids is cheapest so while it has a few rows): each
/// statement on the message path must still look at the rows it names once the tables have grown.
#[tokio::test]
async fn statements_first_run_on_empty_tables_read_only_the_rows_they_need_once_those_have_grown() {
    let database = TestDatabase::create().await;
    let app = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        ..Options::default()
    })
    .await;
    let livechat_id = app.start_session("conv-plans").await;
    // More than five runs of every statement of the message path, both ways, on near-empty tables.
    exchange_eight(&app, &livechat_id, "early").await;

    // The tables grow: finished deliveries of other conversations, and their closed sessions.
    let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(&format!(
        "INSERT INTO deliveries (lane, queue_key, dedupe_key, payload, state, next_attempt_at, created_at, finished_at)
             SELECT CASE WHEN n % 2 = 0 THEN 'teams' ELSE 'livechat' END, 'grown-' || (n % 5000), 'grown-' || n, '{{}}', 'delivered', 0, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z'
             FROM generate_series(1, {GROWN}) AS n;
         INSERT INTO sessions (id, copilot_conversation_id, livechat_conversation_id, state, closed_by, reference, created_at)
             SELECT 'grown-' || n, 'grown-' || n, 'grown-lc-' || n, 'closed', 'user', '{{}}', '2026-01-01T00:00:00.000Z'
             FROM generate_series(1, {GROWN}) AS n"
    ))
    .execute(&mut connection)
    .await
    .unwrap();
    drop(connection);

    exchange_eight(&app, &livechat_id, "late").await;
    // A backend reports what it read at the latest as it ends: stop the skill, wait until its
    // connections are gone (a busy machine may take a while to wind it down), then read the
    // statistics.
    drop(app.wait_stopped().await);
    let others = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    eventually_within(
        std::time::Duration::from_secs(60),
        "the skill's connections to end",
        || async { (database.count(others).await == 0).then_some(()) },
    )
    .await;
    let read_whole = database
        .count("SELECT SUM(seq_tup_read)::BIGINT FROM pg_stat_user_tables WHERE relname IN ('deliveries', 'sessions')")
        .await;
    assert!(
        read_whole < GROWN,
        "{read_whole} rows read by whole-table scans: a statement planned while the tables were nearly empty reads them whole"
    );
}

/// Eight messages each way through the session, each delivered before this returns.
async fn exchange_eight(app: &TestApp, livechat_id: &str, phase: &str) {
    let teams = teams_path("conv-plans");
    let livechat_before = bodies_at(&app.peers.livechat, "/api/chat/receive")
        .await
        .len();
    let teams_before = bodies_at(&app.peers.teams, &teams).await.len();
    for n in 0..8 {
        let text = format!("{phase} {n}");
        let activity = app.message_activity("conv-plans", &text);
        assert_eq!(app.post_activity(&activity).await.status(), 202);
        let message = TestApp::agent_message(livechat_id, &format!("{phase}-{n}"), &text);
        assert_eq!(app.post_webhook(&message).await.status(), 200);
    }
    wait_for_bodies(
        &app.peers.livechat,
        "/api/chat/receive",
        livechat_before + 8,
    )
    .await;
    wait_for_bodies(&app.peers.teams, &teams, teams_before + 8).await;
}

/// Two live instances on a new database, their heartbeats heard by both, and the place of each.
async fn two_live_instances(database: &TestDatabase) -> [(Store, usize); 2] {
    let first = Store::connect_postgres(&database.url).await.unwrap();
    let second = Store::connect_postgres(&database.url).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis() + 1;
    first.heartbeat(now, 5_000).await.unwrap();
    second.heartbeat(now, 5_000).await.unwrap();
    let beats = [
        first.heartbeat(now, 5_000).await.unwrap(),
        second.heartbeat(now, 5_000).await.unwrap(),
    ];
    // Two live: each its own place, and so its own share of Teams' windows.
    assert_eq!(beats.map(|beat| beat.live), [2, 2]);
    assert_eq!(beats[0].place + beats[1].place, 1, "{beats:?}");
    [(first, beats[0].place), (second, beats[1].place)]
}

/// Each instance claims the Teams heads of the conversations stored (in this order, one message
/// each): which place claimed each conversation. None is claimed twice.
async fn claimed_by_place(
    instances: &[(Store, usize); 2],
    conversations: &[String],
) -> HashMap<String, usize> {
    for conversation in conversations {
        instances[0]
            .0
            .enqueue(to_user(conversation, None))
            .await
            .unwrap();
    }
    let now = chrono::Utc::now().timestamp_millis() + 1;
    let mut owners = HashMap::new();
    for (store, place) in instances {
        let claimed = store
            .due_deliveries(Lane::Teams, now, 64, &[])
            .await
            .unwrap();
        for delivery in claimed {
            let earlier = owners.insert(delivery.queue_key.clone(), *place);
            assert_eq!(earlier, None, "{} claimed twice", delivery.queue_key);
        }
    }
    owners
}

#[tokio::test]
async fn two_live_instances_split_teams_conversations_between_them_and_one_leaving_hands_them_back()
{
    // Sixteen conversations stored in one order, and in two databases in the other (behind one
    // more, so that every id differs): each conversation falls to the same place either way.
    let conversations: Vec<String> = (0..16).map(|n| format!("split-{n}")).collect();
    let database = TestDatabase::create().await;
    let instances = two_live_instances(&database).await;
    let owners = claimed_by_place(&instances, &conversations).await;
    assert_eq!(owners.len(), 16, "{owners:?}");
    let places: HashSet<usize> = owners.values().copied().collect();
    assert_eq!(places.len(), 2, "both take a part: {owners:?}");
    let other = TestDatabase::create().await;
    let others = two_live_instances(&other).await;
    let mut reversed = vec!["first".to_owned()];
    reversed.extend(conversations.iter().rev().cloned());
    let mut again = claimed_by_place(&others, &reversed).await;
    again.remove("first");
    assert_eq!(
        again, owners,
        "a conversation falls to a place, not its messages"
    );

    // The live chat's lane is not split: either claims what is there.
    let [(first, _), (second, second_place)] = instances;
    first.enqueue(to_agent("lc-split", "hello")).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis() + 1;
    let livechat = second
        .due_deliveries(Lane::LiveChat, now, 8, &[])
        .await
        .unwrap();
    assert_eq!(livechat.len(), 1);

    // The second leaves: what it held is released at once, and the first, alone again, takes it.
    let theirs = owners
        .values()
        .filter(|&&place| place == second_place)
        .count();
    first.enqueue(to_user("after", None)).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis() + 1;
    assert_eq!(second.leave(now + 10).await.unwrap(), theirs + 1);
    let alone = first.heartbeat(now + 20, 5_000).await.unwrap();
    assert_eq!((alone.place, alone.live), (0, 1));
    let taken = first
        .due_deliveries(Lane::Teams, now + 20, 64, &[])
        .await
        .unwrap();
    assert_eq!(taken.len(), theirs + 1, "{taken:?}");
}

#[tokio::test]
async fn a_teams_head_is_claimed_as_stored_only_by_the_instance_its_conversation_falls_to() {
    use skill::store::Intake;
    use std::sync::atomic::Ordering;

    let conversations: Vec<String> = (0..16).map(|n| format!("split-{n}")).collect();
    let database = TestDatabase::create().await;
    let owners = claimed_by_place(&two_live_instances(&database).await, &conversations).await;
    // Another database, the first instance's worker with room: its inserts claim the heads of
    // its own conversations and leave the others' to them.
    let other = TestDatabase::create().await;
    let [(first, first_place), (second, second_place)] = two_live_instances(&other).await;
    let Ok(Intake::Claimed(claims)) = first.intake(Lane::Teams) else {
        panic!("a PostgreSQL worker claims its deliveries")
    };
    claims.room.store(true, Ordering::Relaxed);
    for conversation in &conversations {
        first.enqueue(to_user(conversation, None)).await.unwrap();
    }
    let falls_to = |place: usize| owners.values().filter(|&&p| p == place).count();
    assert_eq!(
        other
            .count("SELECT COUNT(*) FROM deliveries WHERE claimed_by IS NOT NULL")
            .await,
        falls_to(first_place) as i64,
        "{owners:?}"
    );
    let now = chrono::Utc::now().timestamp_millis() + 1;
    let taken = second
        .due_deliveries(Lane::Teams, now, 64, &[])
        .await
        .unwrap();
    assert_eq!(taken.len(), falls_to(second_place));
    assert!(taken.iter().all(|d| owners[&d.queue_key] == second_place));
}

#[tokio::test]
async fn a_silent_instances_claims_are_taken_over_within_seconds_and_its_late_outcome_is_fenced() {
    let database = TestDatabase::create().await;
    let first = Store::connect_postgres(&database.url).await.unwrap();
    let second = Store::connect_postgres(&database.url).await.unwrap();
    first.enqueue(to_user("held", Some("h1"))).await.unwrap();
    // Times are given, not waited for: the arithmetic of heartbeats and claims on a stopped clock.
    let now = chrono::Utc::now().timestamp_millis() + 1;
    first.heartbeat(now, 5_000).await.unwrap();
    let claimed = first
        .due_deliveries(Lane::Teams, now, 8, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    second.heartbeat(now, 5_000).await.unwrap();

    // The first instance falls silent. Four seconds on it may still be alive: nothing moves.
    assert_eq!(
        second.heartbeat(now + 4_000, 5_000).await.unwrap().released,
        0
    );
    assert!(second
        .due_deliveries(Lane::Teams, now + 4_000, 8, &[])
        .await
        .unwrap()
        .is_empty());
    // Six seconds on it is not: its claim is released and taken, long before its 2 min lease ends.
    let alone = second.heartbeat(now + 6_000, 5_000).await.unwrap();
    assert_eq!((alone.released, alone.place, alone.live), (1, 0, 1));
    let taken = second
        .due_deliveries(Lane::Teams, now + 6_000, 8, &[])
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![claimed[0].id]
    );
    // A retry the silent instance reports late changes nothing: the delivery is the other's.
    first.record_claimed_outcome(
        claimed[0].id,
        DeliveryOutcome::Retry {
            at_ms: now + 100_000,
            error: "late".into(),
            may_hurry: true,
        },
        Some(claimed[0].due_at_ms),
    );
    first.flush().await.unwrap();
    assert_eq!(
        database
            .count("SELECT COUNT(*) FROM deliveries WHERE last_error = 'late'")
            .await,
        0
    );
    // The live instance's own claim stays its own, however long it holds it.
    assert_eq!(
        second
            .heartbeat(now + 60_000, 5_000)
            .await
            .unwrap()
            .released,
        0
    );
}

#[tokio::test]
async fn the_link_back_brings_forward_the_retries_of_every_instance_waiting_by_their_own_backoff() {
    let database = TestDatabase::create().await;
    let first = Store::connect_postgres(&database.url).await.unwrap();
    let second = Store::connect_postgres(&database.url).await.unwrap();
    for queue in ["own", "asked", "third"] {
        first.enqueue(to_user(queue, None)).await.unwrap();
    }
    first.enqueue(to_agent("lc", "hello")).await.unwrap();
    let now = first.now_ms() + 1;
    let claimed = first
        .due_deliveries(Lane::Teams, now, 8, &[])
        .await
        .unwrap();
    let livechat = first
        .due_deliveries(Lane::LiveChat, now, 8, &[])
        .await
        .unwrap();
    assert_eq!((claimed.len(), livechat.len()), (3, 1));
    // An outage: each fails, to be tried again in a minute; "asked" because Teams said when.
    let later = now + 60_000;
    for delivery in claimed.iter().chain(&livechat) {
        let asked = delivery.queue_key.ends_with("asked");
        first.record_claimed_outcome(
            delivery.id,
            DeliveryOutcome::Retry {
                at_ms: later,
                error: "503".into(),
                may_hurry: !asked,
            },
            delivery.claim,
        );
    }
    first.flush().await.unwrap();
    let due_now = |store: &Store, lane| {
        let store = store.clone();
        async move {
            let now = store.now_ms() + 1;
            store.due_deliveries(lane, now, 8, &[]).await.unwrap()
        }
    };
    assert!(due_now(&second, Lane::Teams).await.is_empty());

    // The link is back for Teams: the other instance finds the retries of its own backoff due,
    // not the one Teams asked to wait for, nor the live chat's.
    assert_eq!(
        first
            .hurry_retries(Lane::Teams, first.now_ms())
            .await
            .unwrap(),
        2
    );
    let taken = due_now(&second, Lane::Teams).await;
    let mut queues: Vec<&str> = taken.iter().map(|d| d.queue_key.as_str()).collect();
    queues.sort();
    assert_eq!(queues, ["own", "third"]);
    assert!(due_now(&second, Lane::LiveChat).await.is_empty());
    // Once: a second look finds nothing more to bring forward.
    assert_eq!(
        first
            .hurry_retries(Lane::Teams, first.now_ms())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn an_instance_forgets_a_session_another_instance_closed_and_finds_the_next_one() {
    let database = TestDatabase::create().await;
    let first = Store::connect_postgres(&database.url).await.unwrap();
    let second = Store::connect_postgres(&database.url).await.unwrap();
    eventually("the second instance keeping sessions", || async {
        second.caches_sessions().then_some(())
    })
    .await;
    let conv = conversation("conv-cached");
    let open = |store: Store, livechat_id: &'static str| async move {
        let BeginSession::Created(session) = store
            .begin_session(&conversation("conv-cached"), None, &address(), None)
            .await
            .unwrap()
        else {
            panic!("a session was already live");
        };
        store
            .complete_session_open(&session.id, &livechat(livechat_id), None, None, None)
            .await
            .unwrap();
        session.id
    };
    let first_session = open(first.clone(), "lc-cached-1").await;

    // Read twice through the second instance: the second read may come from its memory.
    for _ in 0..2 {
        let found = second.live_session(&conv).await.unwrap().unwrap();
        assert_eq!(found.id, first_session);
        assert!(found.is_open());
    }
    assert!(second
        .session_by_livechat_id(&livechat("lc-cached-1"))
        .await
        .unwrap()
        .is_some_and(|session| session.is_open()));

    // Closed through the first: the second stops answering the old session...
    assert!(first
        .close_session(&first_session, ClosedBy::Agent, Vec::new())
        .await
        .unwrap());
    eventually("the second instance to see the close", || async {
        second
            .live_session(&conv)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(!second
        .session_by_livechat_id(&livechat("lc-cached-1"))
        .await
        .unwrap()
        .unwrap()
        .is_open());

    // ...and finds the conversation's next session, opened through the first.
    let next_session = open(first.clone(), "lc-cached-2").await;
    eventually("the second instance to find the next session", || async {
        second
            .live_session(&conv)
            .await
            .unwrap()
            .filter(|session| session.id == next_session && session.is_open())
    })
    .await;
}

/// A delivery that starts its queue is claimed by the insert that stores it (no claim statement)
/// and handed to this instance's worker, while the worker says it has room; one behind it waits
/// in the table until its turn, for whichever instance claims it then.
#[tokio::test]
async fn a_new_queue_head_is_claimed_as_it_is_stored_and_the_rest_wait_their_turn() {
    use skill::store::{Arrival, Intake};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    let database = TestDatabase::create().await;
    let first = Store::connect_postgres(&database.url).await.unwrap();
    let second = Store::connect_postgres(&database.url).await.unwrap();
    let Ok(Intake::Claimed(mut claims)) = first.intake(Lane::Teams) else {
        panic!("a PostgreSQL worker claims its deliveries")
    };
    claims.room.store(true, Ordering::Relaxed);
    let handed = |arrival: Option<Arrival>| match arrival {
        Some(Arrival::Stored(deliveries)) => deliveries,
        other => panic!("expected deliveries claimed as stored, got {other:?}"),
    };

    first.enqueue(to_user("q", Some("m1"))).await.unwrap();
    first.enqueue(to_user("q", Some("m2"))).await.unwrap();
    let m1 = handed(
        tokio::time::timeout(Duration::from_secs(5), claims.claimed.recv())
            .await
            .expect("the head is handed to the worker"),
    );
    assert_eq!(m1.len(), 1);
    let m1 = &m1[0];
    assert!(m1.claim.is_some(), "handed claimed, with its lease");
    assert_eq!(
        database
            .count("SELECT COUNT(*) FROM deliveries WHERE claimed_by IS NOT NULL")
            .await,
        1,
        "only the head is claimed"
    );
    let now = chrono::Utc::now().timestamp_millis() + 1;
    assert!(
        second
            .due_deliveries(Lane::Teams, now, 8, &[])
            .await
            .unwrap()
            .is_empty(),
        "the head is the first instance's and the second waits behind it"
    );

    // Delivered: the second is the head now, due, claimed by the other instance here.
    first.record_claimed_outcome(m1.id, DeliveryOutcome::Delivered, m1.claim);
    first.flush().await.unwrap();
    let taken = second
        .due_deliveries(Lane::Teams, now, 8, &[])
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert!(taken[0].id > m1.id);

    // Two stored at once into one empty queue (one batch or two): only the first is claimed.
    let (a, b) = tokio::join!(
        first.enqueue(to_user("s", Some("s1"))),
        first.enqueue(to_user("s", Some("s2")))
    );
    assert!(a.unwrap() && b.unwrap());
    let heads = handed(
        tokio::time::timeout(Duration::from_secs(5), claims.claimed.recv())
            .await
            .expect("the new queue's head is handed over"),
    );
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert_eq!(
        database
            .count("SELECT COUNT(*) FROM deliveries WHERE queue_key = 's' AND claimed_by IS NOT NULL AND id = (SELECT MIN(id) FROM deliveries WHERE queue_key = 's')")
            .await,
        1,
        "the claimed one is the older"
    );

    // A worker without room is handed nothing: the head waits in the table for any instance.
    claims.room.store(false, Ordering::Relaxed);
    first.enqueue(to_user("r", Some("r1"))).await.unwrap();
    let taken = second
        .due_deliveries(Lane::Teams, now + 1_000, 8, &[])
        .await
        .unwrap();
    assert_eq!(
        taken
            .iter()
            .map(|d| d.queue_key.as_str())
            .collect::<Vec<_>>(),
        vec!["r"]
    );
    assert!(
        claims.claimed.try_recv().is_err(),
        "nothing else was handed over"
    );
}

/// A reply held in memory past its claim's lease (waiting out Teams' windows here) may meanwhile
/// be taken and sent by another instance: its first holder lets it go rather than send it too.
#[tokio::test]
async fn a_reply_held_past_its_claim_is_not_sent_by_its_first_holder_too() {
    let database = TestDatabase::create().await;
    // One send per conversation every 5 s, claims of 3 s: a reply waiting for the window outlives
    // its claim. Teams itself takes everything, and the second instance has sent nothing to this
    // conversation, so it sends what it takes over at once.
    let first = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        claim_lease_ms: Some(3_000),
        teams_windows: Some((vec![(5_000, 1)], vec![])),
        ..Options::default()
    })
    .await;
    let livechat_id = first.start_session("held").await;
    let second = spawn_another_instance(&first).await;
    for n in 0..3 {
        let reply = TestApp::agent_message(&livechat_id, &format!("h-{n}"), &format!("reply {n}"));
        assert_eq!(first.post_webhook(&reply).await.status(), 200);
    }
    // The last reply comes after any second send of an earlier one by the first instance, which
    // holds the conversation's turn until it sends or lets go.
    let texts = eventually_within(
        std::time::Duration::from_secs(60),
        "every reply in Teams",
        || async {
            // Every send Teams took, repeats kept.
            let texts: Vec<String> = bodies_at(&first.peers.teams, &teams_path("held"))
                .await
                .iter()
                .filter_map(|body| body["text"].as_str().map(str::to_owned))
                .filter(|text| text.starts_with("**Ann Agent**"))
                .collect();
            texts
                .iter()
                .any(|text| text.ends_with("reply 2"))
                .then_some(texts)
        },
    )
    .await;
    assert_eq!(
        texts,
        (0..3)
            .map(|n| format!("**Ann Agent**: reply {n}"))
            .collect::<Vec<_>>(),
        "each reply once, in order"
    );
    first.stop().await;
    second.stop().await;
}

/// What a worker is woken for, named (by its own writer and by another instance), until `count`
/// deliveries and queues are named; none of the wakes asks for the whole lane.
async fn named_to(signal: &skill::store::LaneSignal, count: usize) -> skill::store::Wanted {
    let mut named = skill::store::Wanted::default();
    while named.named() < count {
        tokio::time::timeout(std::time::Duration::from_secs(5), signal.woken())
            .await
            .unwrap_or_else(|_| panic!("woken for {count}, named so far {named:?}"));
        let wanted = signal.take();
        assert!(
            !wanted.all,
            "asked to look at the whole lane, after {named:?}"
        );
        named.add(wanted);
    }
    named
}

#[tokio::test]
async fn a_worker_is_told_which_deliveries_to_claim_and_claims_them_by_id() {
    use skill::store::Intake;

    let database = TestDatabase::create().await;
    let [(first, first_place), (second, second_place)] = two_live_instances(&database).await;
    let (Ok(Intake::Claimed(mine)), Ok(Intake::Claimed(theirs))) =
        (first.intake(Lane::Teams), second.intake(Lane::Teams))
    else {
        panic!("PostgreSQL workers claim their deliveries")
    };
    // Neither worker says it has room, so nothing is claimed as it is stored.
    let conversations: Vec<String> = (0..16).map(|n| format!("named-{n}")).collect();
    for conversation in &conversations {
        first.enqueue(to_user(conversation, None)).await.unwrap();
    }
    first.enqueue(to_user("named-0", None)).await.unwrap();
    // The storing instance's worker by its writer, the other's by a notification: both are told
    // the seventeen ids.
    let mut named = named_to(&mine.signal, 17).await.ids;
    named.sort();
    let mut heard = named_to(&theirs.signal, 17).await.ids;
    heard.sort();
    assert_eq!(named, heard);
    assert_eq!(
        database
            .count(&format!(
                "SELECT COUNT(*) FROM deliveries WHERE id IN ({})",
                named
                    .iter()
                    .map(|id| id.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
            .await,
        17,
        "the ids of the stored rows"
    );

    // Busy queues are left out.
    let now = chrono::Utc::now().timestamp_millis() + 1;
    assert!(second
        .claim_named(Lane::Teams, now, 64, &conversations, &named, &[])
        .await
        .unwrap()
        .is_empty());
    // Each claims the heads of its own conversations among them; the one behind a head, nobody.
    let taken_first = first
        .claim_named(Lane::Teams, now, 64, &[], &named, &[])
        .await
        .unwrap();
    let taken_second = second
        .claim_named(Lane::Teams, now, 64, &[], &named, &[])
        .await
        .unwrap();
    assert!(!taken_first.is_empty() && !taken_second.is_empty());
    let mut keys: Vec<&str> = taken_first
        .iter()
        .chain(&taken_second)
        .map(|d| d.queue_key.as_str())
        .collect();
    keys.sort();
    let mut expected: Vec<&str> = conversations.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(keys, expected, "each conversation's head once");
    let (later, last) = (named[16], named.len());
    assert!(
        taken_first
            .iter()
            .chain(&taken_second)
            .all(|d| d.id != later),
        "not the second of a queue ({last} named)"
    );
    // As the whole lane's claim splits them.
    let other = TestDatabase::create().await;
    let owners = claimed_by_place(&two_live_instances(&other).await, &conversations).await;
    for (taken, place) in [(&taken_first, first_place), (&taken_second, second_place)] {
        assert!(taken.iter().all(|d| owners[&d.queue_key] == place));
    }

    // Delivered: its queue is named to the worker of the instance that delivered it, once that is
    // committed, and its next head is claimed by naming the queue.
    let (store, signal, head) = match taken_first.iter().find(|d| d.queue_key == "named-0") {
        Some(head) => (&first, &mine.signal, head),
        None => (
            &second,
            &theirs.signal,
            taken_second
                .iter()
                .find(|d| d.queue_key == "named-0")
                .unwrap(),
        ),
    };
    store.record_claimed_outcome(head.id, DeliveryOutcome::Delivered, Some(head.due_at_ms));
    assert_eq!(named_to(signal, 1).await.queues, vec!["named-0".to_owned()]);
    let next = store
        .claim_named(Lane::Teams, now + 1, 64, &[], &[], &["named-0".to_owned()])
        .await
        .unwrap();
    assert_eq!(next.iter().map(|d| d.id).collect::<Vec<_>>(), vec![later]);
}

#[tokio::test]
async fn a_claim_let_go_is_claimed_again_at_once_and_only_by_its_holder() {
    use skill::store::Intake;

    let database = TestDatabase::create().await;
    let store = Store::connect_postgres(&database.url).await.unwrap();
    let Ok(Intake::Claimed(claims)) = store.intake(Lane::LiveChat) else {
        panic!("a PostgreSQL worker claims its deliveries")
    };
    store.enqueue(to_agent("let-go", "hello")).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis() + 1;
    let claimed = store
        .due_deliveries(Lane::LiveChat, now, 8, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let (id, claim) = (claimed[0].id, claimed[0].due_at_ms);
    assert!(
        store
            .due_deliveries(Lane::LiveChat, now, 8, &[])
            .await
            .unwrap()
            .is_empty(),
        "held by its claim"
    );
    assert!(
        !store
            .release_claim(Lane::LiveChat, id, claim + 1)
            .await
            .unwrap(),
        "not the claim it holds"
    );
    claims.signal.take();
    assert!(store
        .release_claim(Lane::LiveChat, id, claim)
        .await
        .unwrap());
    assert_eq!(
        named_to(&claims.signal, 1).await.ids,
        vec![id],
        "its worker is told"
    );
    let later = chrono::Utc::now().timestamp_millis() + 1_000;
    let again = store
        .claim_named(Lane::LiveChat, later, 8, &[], &[id], &[])
        .await
        .unwrap();
    assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
    assert!(
        !store
            .release_claim(Lane::LiveChat, id, claim)
            .await
            .unwrap(),
        "the claim let go lets nothing go again"
    );
}

/// A worker told of more deliveries than it has room for claims the rest as room frees, not at its
/// next poll (ten minutes here): room for one send at a time, and while Teams takes its time over
/// one conversation, replies to six others are stored and named to the worker.
#[tokio::test]
async fn a_worker_told_of_more_than_it_has_room_for_claims_the_rest_as_room_frees() {
    let database = TestDatabase::create().await;
    let app = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        poll_interval_ms: Some(600_000),
        max_in_flight: Some(1),
        ..Options::default()
    })
    .await;
    let conversations: Vec<String> = (0..7).map(|n| format!("room-{n}")).collect();
    let mut sessions = Vec::new();
    for conversation in &conversations {
        sessions.push(app.start_session(conversation).await);
    }
    app.peers
        .slow_teams("room-0", std::time::Duration::from_millis(1_500))
        .await;
    let sent_to = |n: usize| {
        let (teams, conversation) = (&app.peers.teams, &conversations[n]);
        async move {
            bodies_at(teams, &teams_path(conversation))
                .await
                .iter()
                .any(|body| body["text"] == format!("**Ann Agent**: reply {n}"))
        }
    };
    for (n, livechat_id) in sessions.iter().enumerate() {
        let reply = TestApp::agent_message(livechat_id, &format!("r-{n}"), &format!("reply {n}"));
        assert_eq!(app.post_webhook(&reply).await.status(), 200);
        if n == 0 {
            // The worker's one send is under way (Teams has it and takes its time over it).
            eventually("the first reply at Teams", || async {
                sent_to(0).await.then_some(())
            })
            .await;
        }
    }
    eventually_within(
        std::time::Duration::from_secs(30),
        "every reply in Teams, long before the next poll",
        || async {
            for n in 0..conversations.len() {
                if !sent_to(n).await {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    app.stop().await;
}
