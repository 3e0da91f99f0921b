//! The writer's connection, behind the few calls it makes (begin, execute, query, commit), with a
//! statement's `$1`, `$2`, ... bound from a slice of [`Value`]s and rows read back as
//! [`ValueRow`]s.
//!
//! With SQLite the writer talks to SQLite directly (rusqlite) on its own thread: sqlx's SQLite
//! driver runs every statement on a worker thread of its own, and the two thread hops per statement
//! were most of a batch's time under load. With PostgreSQL it is sqlx's connection. Either way the
//! statements are the same text ([`super::sql`]).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::{AnyConnection, Column, Row, ValueRef};

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// NULL where a number goes: PostgreSQL types every parameter, and a plain NULL is text.
    NullInt,
    Int(i64),
    Text(String),
}

impl Value {
    /// A number, or a NULL typed as one.
    pub fn int_or_null(value: Option<i64>) -> Self {
        value.map_or(Value::NullInt, Value::Int)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// One row, its values by column name.
#[derive(Debug, Clone)]
pub struct ValueRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl ValueRow {
    fn get(&self, column: &str) -> anyhow::Result<&Value> {
        let index = self
            .columns
            .iter()
            .position(|name| name == column)
            .with_context(|| format!("the row has no column '{column}'"))?;
        self.values
            .get(index)
            .with_context(|| format!("the row has no value for '{column}'"))
    }

    pub fn text(&self, column: &str) -> anyhow::Result<String> {
        self.optional_text(column)?
            .with_context(|| format!("'{column}' is NULL"))
    }

    pub fn optional_text(&self, column: &str) -> anyhow::Result<Option<String>> {
        match self.get(column)? {
            Value::Null | Value::NullInt => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            Value::Int(_) => anyhow::bail!("'{column}' is a number, not text"),
        }
    }

    /// Whether the column holds a value (is not NULL).
    pub fn is_set(&self, column: &str) -> anyhow::Result<bool> {
        Ok(!matches!(self.get(column)?, Value::Null | Value::NullInt))
    }

    pub fn int(&self, column: &str) -> anyhow::Result<i64> {
        match self.get(column)? {
            Value::Int(value) => Ok(*value),
            other => anyhow::bail!("'{column}' is not a number: {other:?}"),
        }
    }

    /// The values of an sqlx row (the readers' rows), so one decoder serves both.
    pub fn of_any(row: &sqlx::any::AnyRow) -> anyhow::Result<ValueRow> {
        let columns: Arc<[String]> = row
            .columns()
            .iter()
            .map(|column| column.name().to_owned())
            .collect();
        let mut values = Vec::with_capacity(columns.len());
        for index in 0..columns.len() {
            let raw = row.try_get_raw(index)?;
            values.push(if raw.is_null() {
                Value::Null
            } else if let Ok(number) = row.try_get::<i64, _>(index) {
                Value::Int(number)
            } else {
                Value::Text(row.try_get::<String, _>(index)?)
            });
        }
        Ok(ValueRow { columns, values })
    }
}

/// What the writer needs of its connection.
#[async_trait]
pub trait WriteConnection: Send {
    async fn begin(&mut self) -> anyhow::Result<()>;
    /// Begins a transaction and runs `sql` (no parameters) in it; its rows. A connection a round
    /// trip away sends both at once.
    async fn begin_with(&mut self, sql: &str) -> anyhow::Result<Vec<ValueRow>> {
        self.begin().await?;
        self.query(sql, &[]).await
    }
    /// Runs `sql` (no parameters, values written in) as it is; its rows. PostgreSQL plans such
    /// a statement afresh each time.
    async fn query_text(&mut self, sql: &str) -> anyhow::Result<Vec<ValueRow>> {
        self.query(sql, &[]).await
    }
    async fn commit(&mut self) -> anyhow::Result<()>;
    async fn rollback(&mut self) -> anyhow::Result<()>;
    /// Runs a statement; how many rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<u64>;
    /// Runs a statement; the rows it returned.
    async fn query(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<ValueRow>>;
}

/// SQLite, directly: one connection, statements prepared once and kept.
pub struct SqliteConnection {
    connection: rusqlite::Connection,
}

impl SqliteConnection {
    /// Opens the file with the writer's settings (WAL, `synchronous = FULL`).
    pub fn open(path: &std::path::Path, pragmas: &str) -> anyhow::Result<SqliteConnection> {
        let connection = rusqlite::Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        connection.execute_batch(pragmas)?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(SqliteConnection { connection })
    }

    /// Prepares (or takes from the cache) `sql` and binds `$n` to `params[n - 1]`.
    fn bound<'c>(
        &'c self,
        sql: &str,
        params: &[Value],
    ) -> anyhow::Result<rusqlite::CachedStatement<'c>> {
        let mut statement = self.connection.prepare_cached(sql)?;
        for index in 1..=statement.parameter_count() {
            let position = statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|number| number.parse::<usize>().ok())
                .with_context(|| format!("parameter {index} is not $n"))?;
            let value = params
                .get(position - 1)
                .with_context(|| format!("no value for ${position}"))?;
            match value {
                Value::Null | Value::NullInt => {
                    statement.raw_bind_parameter(index, rusqlite::types::Null)?
                }
                Value::Int(number) => statement.raw_bind_parameter(index, number)?,
                Value::Text(text) => statement.raw_bind_parameter(index, text.as_str())?,
            }
        }
        Ok(statement)
    }
}

#[async_trait]
impl WriteConnection for SqliteConnection {
    async fn begin(&mut self) -> anyhow::Result<()> {
        Ok(self.connection.execute_batch("BEGIN IMMEDIATE")?)
    }

    async fn commit(&mut self) -> anyhow::Result<()> {
        Ok(self.connection.execute_batch("COMMIT")?)
    }

    async fn rollback(&mut self) -> anyhow::Result<()> {
        if self.connection.is_autocommit() {
            return Ok(());
        }
        Ok(self.connection.execute_batch("ROLLBACK")?)
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<u64> {
        let mut statement = self.bound(sql, params)?;
        Ok(statement.raw_execute()? as u64)
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<ValueRow>> {
        let mut statement = self.bound(sql, params)?;
        let columns: Arc<[String]> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut rows = statement.raw_query();
        let mut read = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns.len());
            for index in 0..columns.len() {
                values.push(match row.get_ref(index)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(number) => Value::Int(number),
                    rusqlite::types::ValueRef::Text(text) => {
                        Value::Text(String::from_utf8_lossy(text).into_owned())
                    }
                    other => anyhow::bail!("unexpected column type {:?}", other.data_type()),
                });
            }
            read.push(ValueRow {
                columns: columns.clone(),
                values,
            });
        }
        Ok(read)
    }
}

/// Any sqlx connection (PostgreSQL's, for the writer).
pub struct SqlxConnection {
    pub connection: AnyConnection,
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &'q [Value],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in params {
        query = match value {
            Value::Null => query.bind(Option::<String>::None),
            Value::NullInt => query.bind(Option::<i64>::None),
            Value::Int(number) => query.bind(*number),
            Value::Text(text) => query.bind(text.as_str()),
        };
    }
    query
}

#[async_trait]
impl WriteConnection for SqlxConnection {
    async fn begin(&mut self) -> anyhow::Result<()> {
        self.execute("BEGIN", &[]).await.map(drop)
    }

    async fn begin_with(&mut self, sql: &str) -> anyhow::Result<Vec<ValueRow>> {
        // One simple query of two statements: one round trip.
        let text = format!("BEGIN; {sql}");
        let rows = sqlx::Executor::fetch_all(&mut self.connection, sqlx::raw_sql(&text)).await?;
        rows.iter().map(ValueRow::of_any).collect()
    }

    async fn query_text(&mut self, sql: &str) -> anyhow::Result<Vec<ValueRow>> {
        let rows = sqlx::Executor::fetch_all(&mut self.connection, sqlx::raw_sql(sql)).await?;
        rows.iter().map(ValueRow::of_any).collect()
    }

    async fn commit(&mut self) -> anyhow::Result<()> {
        self.execute("COMMIT", &[]).await.map(drop)
    }

    async fn rollback(&mut self) -> anyhow::Result<()> {
        self.execute("ROLLBACK", &[]).await.map(drop)
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<u64> {
        let result = bind_all(sqlx::query(sql), params)
            .execute(&mut self.connection)
            .await?;
        Ok(result.rows_affected())
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<ValueRow>> {
        let rows = bind_all(sqlx::query(sql), params)
            .fetch_all(&mut self.connection)
            .await?;
        rows.iter().map(ValueRow::of_any).collect()
    }
}
