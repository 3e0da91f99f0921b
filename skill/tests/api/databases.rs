//! Databases for the store tests: a temporary SQLite folder, or a fresh PostgreSQL database on the
//! machine's server (loopback, as on this machine and in CI; `SKILL_TEST_POSTGRES_URL` points
//! elsewhere), dropped when the test ends, even when it fails.

use skill::domain::{
    ConversationAddress, CopilotConversationId, LiveChatConversationId, MessageToAgent,
    MessageToUser, NoteRole, Outbound, ToAgent, ToUser, UserConversation,
};
use skill::store::{NewDelivery, Store};
use sqlx::Connection;
use tempfile::TempDir;

/// A fresh, empty PostgreSQL database.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin_url = std::env::var("SKILL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need PostgreSQL at {admin_url} (set SKILL_TEST_POSTGRES_URL): {e}"
                )
            });
        let name = format!("skill_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base.to_owned())
            .unwrap();
        TestDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }

    /// The number a `SELECT COUNT(*) ...` answers.
    pub async fn count(&self, statement: &str) -> i64 {
        let mut connection = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query_scalar(statement)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await; a thread of its own with a small runtime can.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("cannot drop the test database {}", self.name);
        }
    }
}

/// A store on a new, empty database of either kind, and what keeps that database alive.
pub enum Database {
    Sqlite { _folder: TempDir },
    Postgres { _database: TestDatabase },
}

impl Database {
    pub async fn sqlite() -> (Store, Database) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).await.unwrap();
        (store, Database::Sqlite { _folder: dir })
    }

    pub async fn postgres() -> (Store, Database) {
        let database = TestDatabase::create().await;
        let store = Store::connect_postgres(&database.url).await.unwrap();
        (
            store,
            Database::Postgres {
                _database: database,
            },
        )
    }
}

pub fn conversation(id: &str) -> CopilotConversationId {
    CopilotConversationId::parse(id).unwrap()
}

pub fn livechat(id: &str) -> LiveChatConversationId {
    LiveChatConversationId::parse(id).unwrap()
}

pub fn address() -> ConversationAddress {
    ConversationAddress::from_recorded(r#"{"channelId":"msteams"}"#.to_owned())
}

/// A message for the Teams conversation `queue`, with the sender's id `dedupe`.
pub fn to_user(queue: &str, dedupe: Option<&str>) -> NewDelivery {
    NewDelivery {
        payload: Outbound::ToUser(ToUser {
            to: UserConversation {
                address: address(),
                conversation: conversation(queue),
                livechat: livechat(&format!("lc-{queue}")),
            },
            message: MessageToUser::notice(format!("to {queue}")),
        }),
        dedupe_key: dedupe.map(str::to_owned),
    }
}

/// A customer message for the live-chat conversation `queue`.
pub fn to_agent(queue: &str, text: &str) -> NewDelivery {
    NewDelivery {
        payload: Outbound::ToAgent(ToAgent::Message {
            livechat: livechat(queue),
            message: MessageToAgent {
                text: text.to_owned(),
                sender: "Megan".to_owned(),
                role: NoteRole::Customer,
            },
        }),
        dedupe_key: None,
    }
}
