//! A fresh PostgreSQL database for a test, on the machine's server (loopback, as on this machine
//! and in CI; `SKILL_TEST_POSTGRES_URL` points elsewhere), dropped when the test ends, even when
//! it fails (kept, and named on stderr, with `SKILL_TEST_KEEP_DATABASES` set).

use sqlx::Connection;

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
        if std::env::var_os("SKILL_TEST_KEEP_DATABASES").is_some() {
            eprintln!("kept the test database {}", self.url);
            return;
        }
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
