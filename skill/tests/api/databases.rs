//! Databases for the store tests: a temporary SQLite folder, or a fresh PostgreSQL database
//! ([`TestDatabase`]), dropped when the test ends, even when it fails.

use skill::domain::{
    ConversationAddress, CopilotConversationId, LiveChatConversationId, MessageToAgent,
    MessageToUser, NoteRole, Outbound, ToAgent, ToUser, UserConversation,
};
use skill::store::{NewDelivery, Store};
use tempfile::TempDir;
pub use test_support::postgres::TestDatabase;

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
