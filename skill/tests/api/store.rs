//! The store's test suite: every case runs against SQLite and against PostgreSQL, so the one
//! store body is checked on both databases alike (the macro makes the two lists the same).

use std::time::Duration;

use futures_util::FutureExt;
use skill::domain::{
    ClosedBy, Lane, MessageToUser, NoteRole, Outbound, Session, SessionState, ToAgent,
};
use skill::store::{
    Arrival, BeginSession, DeliveryOutcome, Dialect, Enqueued, Intake, Store, UserMessages,
};

use crate::databases::*;

macro_rules! on_both_databases {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _database) = crate::databases::Database::sqlite().await;
                    super::$case(store).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _database) = crate::databases::Database::postgres().await;
                    super::$case(store).await;
                }
            )+
        }
    };
}

on_both_databases!(
    one_live_session_per_conversation,
    a_start_related_to_a_live_session_reuses_it,
    sessions_are_found_by_live_chat_id_in_any_state,
    the_hubs_own_ids_of_open_conversations_are_kept,
    the_latest_session_is_the_last_one_begun,
    interrupted_openings_are_closed_at_start,
    user_messages_record_the_forwarded_problem_description,
    closing_stores_its_announcements_once,
    agent_messages_need_an_open_session,
    only_queue_heads_are_due_and_duplicates_are_refused,
    retries_wait_and_failures_are_counted,
    purging_keeps_what_is_still_live,
    a_write_wakes_only_the_lane_it_adds_to,
    a_batch_that_marks_and_inserts_answers_each_write_from_its_own_statement,
);

async fn begin(store: &Store, id: &str) -> Session {
    match store
        .begin_session(&conversation(id), None, &address(), None)
        .await
        .unwrap()
    {
        BeginSession::Created(session) => session,
        other => panic!("expected a new session: {other:?}"),
    }
}

async fn open(store: &Store, id: &str, livechat_id: &str) -> Session {
    let session = begin(store, id).await;
    store
        .complete_session_open(&session.id, &livechat(livechat_id), None, None, None)
        .await
        .unwrap();
    session
}

fn soon() -> i64 {
    chrono::Utc::now().timestamp_millis() + 1
}

async fn one_live_session_per_conversation(store: Store) {
    let first = begin(&store, "c1").await;
    let BeginSession::Existing(again) = store
        .begin_session(&conversation("c1"), None, &address(), None)
        .await
        .unwrap()
    else {
        panic!("expected the same session")
    };
    assert_eq!(first.id, again.id);
    assert_eq!(again.state, SessionState::Opening);
    store
        .complete_session_open(&first.id, &livechat("lc-1"), None, None, None)
        .await
        .unwrap();
    let opened = store
        .live_session(&conversation("c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        opened.state,
        SessionState::Open {
            livechat: livechat("lc-1")
        }
    );
    assert_eq!(opened.address, address());
    assert!(store
        .close_session(&first.id, ClosedBy::User, vec![])
        .await
        .unwrap());
    assert!(
        !store
            .close_session(&first.id, ClosedBy::User, vec![])
            .await
            .unwrap(),
        "closing twice changes nothing"
    );
    assert!(store
        .live_session(&conversation("c1"))
        .await
        .unwrap()
        .is_none());
    let second = begin(&store, "c1").await;
    assert_ne!(first.id, second.id);
}

async fn a_start_related_to_a_live_session_reuses_it(store: Store) {
    let origin = conversation("conv-1");
    let BeginSession::Created(first) = store
        .begin_session(
            &conversation("invocation-1"),
            Some(&origin),
            &address(),
            None,
        )
        .await
        .unwrap()
    else {
        panic!("expected a new session")
    };
    let BeginSession::Existing(again) = store
        .begin_session(
            &conversation("invocation-2"),
            Some(&origin),
            &address(),
            None,
        )
        .await
        .unwrap()
    else {
        panic!("a second invocation from the same origin reuses the session")
    };
    assert_eq!(first.id, again.id);
    let found = store
        .live_session_by_origin(&origin)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(found.origin_conversation_id, Some(origin));
}

async fn sessions_are_found_by_live_chat_id_in_any_state(store: Store) {
    let session = open(&store, "c1", "lc-1").await;
    store
        .close_session(&session.id, ClosedBy::Agent, vec![])
        .await
        .unwrap();
    let closed = store
        .session_by_livechat_id(&livechat("lc-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        closed.state,
        SessionState::Closed {
            by: ClosedBy::Agent,
            livechat: Some(livechat("lc-1"))
        }
    );
    assert!(store
        .session_by_livechat_id(&livechat("lc-unknown"))
        .await
        .unwrap()
        .is_none());
}

async fn the_hubs_own_ids_of_open_conversations_are_kept(store: Store) {
    let kept = begin(&store, "c1").await;
    store
        .complete_session_open(&kept.id, &livechat("hs-1"), None, None, Some("g-1".into()))
        .await
        .unwrap();
    let closed = begin(&store, "c2").await;
    store
        .complete_session_open(
            &closed.id,
            &livechat("hs-2"),
            None,
            None,
            Some("g-2".into()),
        )
        .await
        .unwrap();
    store
        .close_session(&closed.id, ClosedBy::Agent, vec![])
        .await
        .unwrap();
    open(&store, "c3", "lc-3").await;
    assert_eq!(
        store.open_hub_conversations().await.unwrap(),
        vec![(livechat("hs-1"), "g-1".to_owned())],
        "only open sessions, only those the hub named"
    );
}

async fn the_latest_session_is_the_last_one_begun(store: Store) {
    let first = open(&store, "c1", "lc-1").await;
    store
        .close_session(&first.id, ClosedBy::User, vec![])
        .await
        .unwrap();
    let second = begin(&store, "c1").await;
    store.fail_session_open(&second.id, false).await.unwrap();
    let latest = store
        .latest_session(&conversation("c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        latest.id, second.id,
        "even when both began in the same millisecond"
    );
    assert_eq!(
        latest.state,
        SessionState::Closed {
            by: ClosedBy::Error,
            livechat: None
        }
    );
    assert!(store
        .latest_session(&conversation("c2"))
        .await
        .unwrap()
        .is_none());
}

async fn interrupted_openings_are_closed_at_start(store: Store) {
    let interrupted = begin(&store, "c1").await;
    let closed = store.recover_interrupted_sessions().await.unwrap();
    match store.dialect() {
        // One instance: anything still opening belonged to a process that stopped.
        Dialect::Sqlite => {
            assert_eq!(closed, 1);
            assert!(store
                .live_session(&conversation("c1"))
                .await
                .unwrap()
                .is_none());
            // With the close, a call that ends whatever its start opened in the live chat.
            let counts = store.delivery_counts(Lane::LiveChat).await.unwrap();
            assert_eq!(counts.pending, 1);
        }
        // A shared database: another instance may be opening it right now.
        Dialect::Postgres => {
            assert_eq!(closed, 0);
            let live = store
                .live_session(&conversation("c1"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(live.id, interrupted.id);
        }
    }
}

async fn user_messages_record_the_forwarded_problem_description(store: Store) {
    let session = open(&store, "c1", "lc-1").await;
    assert!(!session.problem_forwarded);
    store
        .record_user_messages(
            &session.id,
            UserMessages {
                deliveries: vec![
                    to_agent("lc-1", "printer on fire"),
                    to_agent("lc-1", "help"),
                ],
                includes_problem_description: true,
                inactivity_timer: None,
            },
        )
        .await
        .unwrap();
    let session = store
        .live_session(&conversation("c1"))
        .await
        .unwrap()
        .unwrap();
    assert!(session.problem_forwarded);
    let due = store
        .due_deliveries(Lane::LiveChat, soon(), 10, &[])
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "one queue, one head");
    let Ok(Outbound::ToAgent(ToAgent::Message {
        message,
        livechat: to,
    })) = &due[0].payload
    else {
        panic!("{:?}", due[0].payload)
    };
    assert_eq!(to, &livechat("lc-1"));
    assert_eq!(message.text, "printer on fire", "oldest first");
    assert_eq!(message.role, NoteRole::Customer);
    assert_eq!(
        store.delivery_counts(Lane::LiveChat).await.unwrap().pending,
        2
    );
}

async fn closing_stores_its_announcements_once(store: Store) {
    let session = open(&store, "c1", "lc-1").await;
    let announce = || vec![to_user("c1", Some("ended:e1"))];
    assert!(store
        .close_session(&session.id, ClosedBy::Agent, announce())
        .await
        .unwrap());
    assert!(!store
        .close_session(&session.id, ClosedBy::Agent, announce())
        .await
        .unwrap());
    let counts = store.delivery_counts(Lane::Teams).await.unwrap();
    assert_eq!(counts.pending, 1, "a refused close stores nothing");
    let due = store
        .due_deliveries(Lane::Teams, soon(), 10, &[])
        .await
        .unwrap();
    let Ok(Outbound::ToUser(notice)) = &due[0].payload else {
        panic!("{:?}", due[0].payload)
    };
    assert_eq!(notice.message, MessageToUser::notice("to c1"));
    assert_eq!(notice.to.address, address());
}

async fn agent_messages_need_an_open_session(store: Store) {
    let session = begin(&store, "c1").await;
    let enqueue = |id: &str| store.enqueue_for_open_session(&session.id, to_user("c1", Some(id)));
    assert_eq!(
        enqueue("x").await.unwrap(),
        Enqueued::SessionClosed,
        "still opening"
    );
    store
        .complete_session_open(&session.id, &livechat("lc"), None, None, None)
        .await
        .unwrap();
    assert_eq!(enqueue("x").await.unwrap(), Enqueued::Accepted);
    assert_eq!(enqueue("x").await.unwrap(), Enqueued::Duplicate);
    store
        .close_session(&session.id, ClosedBy::Agent, vec![])
        .await
        .unwrap();
    assert_eq!(
        enqueue("x").await.unwrap(),
        Enqueued::Duplicate,
        "a repeat of an accepted message stays accepted after the close"
    );
    assert_eq!(enqueue("y").await.unwrap(), Enqueued::SessionClosed);
}

async fn only_queue_heads_are_due_and_duplicates_are_refused(store: Store) {
    assert!(store.enqueue(to_user("a", Some("m1"))).await.unwrap());
    assert!(!store.enqueue(to_user("a", Some("m1"))).await.unwrap());
    assert!(store.enqueue(to_user("a", Some("m2"))).await.unwrap());
    assert!(store.enqueue(to_user("b", None)).await.unwrap());
    let now = soon();
    let due = store
        .due_deliveries(Lane::Teams, now, 10, &[])
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|d| d.queue_key.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    // Later looks are past PostgreSQL's lease on what the previous look claimed.
    let lease = skill::store::CLAIM_LEASE_MS;
    record(&store, due[0].id, retry(now + 10 * lease, "busy")).await;
    let later = now + lease + 1;
    let due = store
        .due_deliveries(Lane::Teams, later, 10, &[])
        .await
        .unwrap();
    assert_eq!(
        due.len(),
        1,
        "a's second message waits behind its head: {due:?}"
    );
    assert_eq!(due[0].queue_key, "b");
    assert!(store
        .due_deliveries(Lane::Teams, later + lease + 1, 10, &["b".to_owned()])
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .due_deliveries(Lane::LiveChat, now, 10, &[])
        .await
        .unwrap()
        .is_empty());
}

/// An outcome nobody waits for rides with the next write: one batch marks a delivery and inserts
/// another, and the insert's answer comes from the insert, not from the mark before it: were the
/// mark's rows taken for the insert's, the message would be answered as a duplicate and never sent.
async fn a_batch_that_marks_and_inserts_answers_each_write_from_its_own_statement(store: Store) {
    assert!(store.enqueue(to_user("a", Some("m1"))).await.unwrap());
    let due = store
        .due_deliveries(Lane::Teams, soon(), 10, &[])
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    // Not awaited: the outcome waits for company, and the enqueue right after is that company.
    store.record_outcome(due[0].id, DeliveryOutcome::Delivered);
    assert!(
        store.enqueue(to_user("b", Some("m2"))).await.unwrap(),
        "a new message is stored, not taken for a duplicate"
    );
    assert!(!store.enqueue(to_user("b", Some("m2"))).await.unwrap());
    let counts = store.delivery_counts(Lane::Teams).await.unwrap();
    assert_eq!((counts.pending, counts.delivered), (1, 1));
}

async fn retries_wait_and_failures_are_counted(store: Store) {
    store.enqueue(to_user("a", Some("m1"))).await.unwrap();
    let now = soon();
    let due = store
        .due_deliveries(Lane::Teams, now, 10, &[])
        .await
        .unwrap();
    assert_eq!(due[0].attempts, 0);
    record(&store, due[0].id, retry(now + 5_000, "502")).await;
    assert!(
        store
            .due_deliveries(Lane::Teams, now + 4_999, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "not due before its retry"
    );
    let retried = store
        .due_deliveries(Lane::Teams, now + 5_000, 10, &[])
        .await
        .unwrap();
    assert_eq!(retried[0].attempts, 1);
    record(
        &store,
        retried[0].id,
        DeliveryOutcome::Failed {
            error: "403".into(),
        },
    )
    .await;
    let counts = store.delivery_counts(Lane::Teams).await.unwrap();
    assert_eq!((counts.pending, counts.failed), (0, 1));
    let in_a_year = now + 365 * 86_400_000;
    assert!(
        store
            .due_deliveries(Lane::Teams, in_a_year, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "a failed delivery is never due again"
    );
}

async fn purging_keeps_what_is_still_live(store: Store) {
    let closed = open(&store, "c1", "lc-1").await;
    store
        .close_session(&closed.id, ClosedBy::User, vec![])
        .await
        .unwrap();
    open(&store, "c2", "lc-2").await;
    store.enqueue(to_user("c2", Some("done"))).await.unwrap();
    store.enqueue(to_user("c2", Some("waiting"))).await.unwrap();
    let due = store
        .due_deliveries(Lane::Teams, soon(), 1, &[])
        .await
        .unwrap();
    record(&store, due[0].id, DeliveryOutcome::Delivered).await;

    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let purged = store.purge_finished(&tomorrow).await.unwrap();
    assert_eq!((purged.sessions, purged.deliveries), (1, 1));
    assert!(store
        .session_by_livechat_id(&livechat("lc-1"))
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .session_by_livechat_id(&livechat("lc-2"))
            .await
            .unwrap()
            .is_some(),
        "open sessions stay"
    );
    assert_eq!(
        store.delivery_counts(Lane::Teams).await.unwrap().pending,
        1,
        "pending deliveries stay"
    );
    assert_eq!(store.count_open_sessions().await.unwrap(), 1);
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let purged = store.purge_finished(&yesterday).await.unwrap();
    assert_eq!((purged.sessions, purged.deliveries), (0, 0));
}

async fn a_write_wakes_only_the_lane_it_adds_to(store: Store) {
    // What each lane's worker is handed: SQLite pushes the committed deliveries, PostgreSQL
    // wakes the worker to claim them when it has no room for more (a Notify keeps a permit nobody
    // waited for, so no sleep).
    let teams = store.intake(Lane::Teams).unwrap();
    let livechat = store.intake(Lane::LiveChat).unwrap();
    store.enqueue(to_user("a", Some("m1"))).await.unwrap();
    assert!(!store.enqueue(to_user("a", Some("m1"))).await.unwrap());
    // A marker after both, for the lane that must hear nothing else.
    store.enqueue(to_agent("b", "marker")).await.unwrap();
    match (teams, livechat) {
        (Intake::Pushed(mut teams), Intake::Pushed(mut livechat)) => {
            let Some(Arrival::Stored(first)) = teams.recv().await else {
                panic!("the Teams worker is handed the delivery")
            };
            assert_eq!(first.len(), 1);
            let Some(Arrival::Stored(marker)) = livechat.recv().await else {
                panic!("the live-chat worker is handed the marker")
            };
            assert_eq!(marker.len(), 1, "and nothing before it");
            assert!(
                teams.try_recv().is_err(),
                "a duplicate adds nothing, so it hands over nothing"
            );
        }
        (Intake::Claimed(teams), Intake::Claimed(livechat)) => {
            // Neither worker said it has room, so nothing was claimed as it was stored.
            let (teams, livechat) = (teams.signal, livechat.signal);
            tokio::time::timeout(Duration::from_secs(5), teams.woken())
                .await
                .expect("the Teams worker is woken");
            tokio::time::timeout(Duration::from_secs(5), livechat.woken())
                .await
                .expect("the live-chat worker is woken, by the marker");
            assert!(
                teams.woken().now_or_never().is_none(),
                "a duplicate adds nothing, so it wakes nobody"
            );
            assert!(
                livechat.woken().now_or_never().is_none(),
                "the first write woke only the Teams worker"
            );
        }
        _ => panic!("both lanes are fed the same way"),
    }
}

/// The checkpoint sequence number in the header of SQLite's WAL: it rises each time the WAL
/// starts again from its beginning (0 before the file has a header).
fn wal_restarts(folder: &std::path::Path) -> u32 {
    use std::io::Read;
    let mut header = [0u8; 16];
    match std::fs::File::open(folder.join("skill.db-wal"))
        .and_then(|mut wal| wal.read_exact(&mut header))
    {
        Ok(()) => u32::from_be_bytes([header[12], header[13], header[14], header[15]]),
        Err(_) => 0,
    }
}

/// Under writes that never pause, the WAL still starts again from its beginning every few
/// seconds: a copy beside the writes alone never ends whole, and the WAL would grow without bound.
#[tokio::test]
async fn the_wal_starts_again_under_writes_that_never_pause() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(folder.path()).await.unwrap();
    let first = wal_restarts(folder.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut written = 0u64;
    while wal_restarts(folder.path()) < first + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL did not start again in 60 s of writes ({written} written)"
        );
        let key = format!("m{written}");
        assert!(store.enqueue(to_user("a", Some(&key))).await.unwrap());
        written += 1;
    }
}

/// Records an outcome as the workers do (without waiting), then waits for its commit.
async fn record(store: &Store, delivery: skill::domain::DeliveryId, outcome: DeliveryOutcome) {
    store.record_outcome(delivery, outcome);
    store.flush().await.unwrap();
}

fn retry(at_ms: i64, error: &str) -> DeliveryOutcome {
    DeliveryOutcome::Retry {
        at_ms,
        error: error.to_owned(),
        may_hurry: true,
    }
}

#[tokio::test]
async fn a_late_outcome_after_its_claim_was_taken_over_changes_nothing_on_postgres() {
    let (store, _database) = crate::databases::Database::postgres().await;
    store.enqueue(to_user("a", Some("m1"))).await.unwrap();
    let lease = skill::store::CLAIM_LEASE_MS;
    let now = store.now_ms() + 1_000;
    // Instance one claims it; its send outlasts the lease, and instance two takes it over.
    let first = store
        .due_deliveries(Lane::Teams, now, 10, &[])
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let first_claim = first[0].due_at_ms;
    let later = now + lease + 1;
    let second = store
        .due_deliveries(Lane::Teams, later, 10, &[])
        .await
        .unwrap();
    assert_eq!(
        second.len(),
        1,
        "the lease passed: another instance may take it over"
    );
    let second_claim = second[0].due_at_ms;
    assert_ne!(first_claim, second_claim);
    // The first instance's late failure and retry are fenced off; the second's outcome counts.
    for late in [
        DeliveryOutcome::Failed {
            error: "late".to_owned(),
        },
        retry(now + 5, "late"),
    ] {
        store.record_claimed_outcome(first[0].id, late, Some(first_claim));
        store.flush().await.unwrap();
    }
    let counts = store.delivery_counts(Lane::Teams).await.unwrap();
    assert_eq!((counts.pending, counts.failed), (1, 0), "{counts:?}");
    assert!(
        store
            .due_deliveries(Lane::Teams, later + 1, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "still held by the second claim, not made due by the late retry"
    );
    store.record_claimed_outcome(second[0].id, retry(later + 10, "503"), Some(second_claim));
    store.flush().await.unwrap();
    let due = store
        .due_deliveries(Lane::Teams, later + 11, 10, &[])
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "the second claim's retry was recorded");
    assert_eq!(due[0].attempts, 1);
}

#[tokio::test]
async fn postgres_times_go_by_the_databases_clock() {
    let (store, _database) = crate::databases::Database::postgres().await;
    // Same machine: the offset is the measuring's own error, well under a second.
    let offset = store.sync_clock().await.unwrap();
    assert!(offset.abs() < 1_000, "{offset} ms");
    let (sqlite, _file) = crate::databases::Database::sqlite().await;
    assert_eq!(sqlite.sync_clock().await.unwrap(), 0);
}
