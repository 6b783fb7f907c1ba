//! Helpers for tests (of this crate and of others): fresh PostgreSQL databases and a look at
//! rows the port does not expose (outbox, counts). Enabled by the `testing` feature.
//!
//! These helpers panic on failure, as test code does.

use crate::catalog::Dialect;
use crate::{Inner, Store};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{Connection, FromRow, PgConnection};

/// The server on which test databases are created.
pub const TEST_DATABASE_URL_VAR: &str = "BOOKSTORE_TEST_DATABASE_URL";
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every database [`fresh_postgres_url`] creates has this prefix.
pub const TEST_DATABASE_PREFIX: &str = "bookstore_test_";

/// The tables the catalog writes.
pub const CATALOG_TABLES: [&str; 9] = [
    "books",
    "authors",
    "book_authors",
    "genres",
    "book_genres",
    "book_history",
    "outbox",
    "idempotency_keys",
    "stock_movements",
];

/// The tables sign-in writes.
pub const AUTH_TABLES: [&str; 5] = [
    "users",
    "refresh_tokens",
    "login_failures",
    "signing_keys",
    "trusted_devices",
];

/// The tables [`count_rows`] may count: [`CATALOG_TABLES`] and [`AUTH_TABLES`].
pub const TABLES: [&str; 14] = [
    "books",
    "authors",
    "book_authors",
    "genres",
    "book_genres",
    "book_history",
    "outbox",
    "idempotency_keys",
    "stock_movements",
    "users",
    "refresh_tokens",
    "login_failures",
    "signing_keys",
    "trusted_devices",
];

/// The tables of imports, which [`count_rows`] may count too.
pub const IMPORT_TABLES: [&str; 2] = ["imports", "import_errors"];

/// The tables of webhooks, which [`count_rows`] may count too.
pub const WEBHOOK_TABLES: [&str; 4] = [
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
    "webhook_fanout",
];

/// `BOOKSTORE_TEST_DATABASE_URL`, or the local default server's `postgres` database.
pub fn admin_url() -> String {
    std::env::var(TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// `url` with its database (path) replaced by `database`; the query string is kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{}", &base[..path], database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn database_of(url: &str) -> &str {
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    base.rsplit_once('/').map_or("", |(_, db)| db)
}

/// Creates an empty database `bookstore_test_<uuid>` on the test server and returns its URL.
pub async fn fresh_postgres_url() -> String {
    let admin = admin_url();
    let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL server (BOOKSTORE_TEST_DATABASE_URL)");
    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let _ = conn.close().await;
    with_database(&admin, &name)
}

/// Drops a database made by [`fresh_postgres_url`] (refuses any other name), disconnecting
/// whoever is still connected.
pub async fn drop_postgres_database(url: &str) {
    let name = database_of(url);
    assert!(
        name.starts_with(TEST_DATABASE_PREFIX)
            && name[TEST_DATABASE_PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_hexdigit()),
        "not a test database: {name}"
    );
    let mut conn = PgConnection::connect(&admin_url())
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop the test database");
    let _ = conn.close().await;
}

async fn fetch_all<T>(store: &Store, sql: &str) -> Vec<T>
where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let rows = match &store.inner {
        Inner::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.reader()).await,
        Inner::Postgres(s) => sqlx::query_as(sql).fetch_all(s.reader()).await,
    };
    rows.unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// The number of rows in `table`, one of [`TABLES`].
pub async fn count_rows(store: &Store, table: &str) -> i64 {
    assert!(
        TABLES.contains(&table)
            || WEBHOOK_TABLES.contains(&table)
            || INVENTORY_TABLES.contains(&table)
            || IMPORT_TABLES.contains(&table),
        "count_rows: unknown table {table}"
    );
    let rows: Vec<(i64,)> = fetch_all(store, &format!("SELECT count(*) FROM {table}")).await;
    rows.first().map_or(0, |row| row.0)
}

/// The `type` of every outbox event, in commit (sequence) order.
pub async fn outbox_event_types(store: &Store) -> Vec<String> {
    let rows: Vec<(String,)> = fetch_all(store, "SELECT event_type FROM outbox ORDER BY seq").await;
    rows.into_iter().map(|row| row.0).collect()
}

/// Every outbox event (the whole CloudEvent), in commit (sequence) order.
pub async fn outbox_events(store: &Store) -> Vec<serde_json::Value> {
    let rows: Vec<(Json<serde_json::Value>,)> =
        fetch_all(store, "SELECT payload FROM outbox ORDER BY seq").await;
    rows.into_iter().map(|row| row.0 .0).collect()
}

/// `(aggregate id, partition, position)` of every outbox event, in commit (sequence) order.
pub async fn outbox_partitions(store: &Store) -> Vec<(uuid::Uuid, i64, Option<i64>)> {
    fetch_all(
        store,
        "SELECT aggregate_id, CAST(partition AS BIGINT), position FROM outbox ORDER BY seq",
    )
    .await
}

/// Makes every published outbox event published `hours` earlier than it was.
pub async fn age_published_events(store: &Store, hours: i64) {
    let rows: Vec<(uuid::Uuid, crate::time::DbTime)> = fetch_all(
        store,
        "SELECT id, published_at FROM outbox WHERE published_at IS NOT NULL",
    )
    .await;
    let sql = "UPDATE outbox SET published_at = $1 WHERE id = $2";
    for (id, at) in rows {
        let at = crate::time::DbTime(at.0 - chrono::Duration::hours(hours));
        let done = match &store.inner {
            Inner::Sqlite(s) => sqlx::query(sql)
                .bind(at)
                .bind(id)
                .execute(s.writer())
                .await
                .map(|_| ()),
            Inner::Postgres(s) => sqlx::query(sql)
                .bind(at)
                .bind(id)
                .execute(s.writer())
                .await
                .map(|_| ()),
        };
        done.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
}

/// Makes every idempotency record `hours` old, as if its key had been used that long ago.
pub async fn age_idempotency_keys(store: &Store, hours: i64) {
    set_every_timestamp(store, "UPDATE idempotency_keys SET created_at = $1", hours).await;
}

/// Makes every webhook delivery `hours` old, as if its event had been fanned out that long ago.
pub async fn age_webhook_deliveries(store: &Store, hours: i64) {
    set_every_timestamp(
        store,
        "UPDATE webhook_deliveries SET created_at = $1",
        hours,
    )
    .await;
}

/// Runs `sql` with `$1` bound to the time `hours` ago.
async fn set_every_timestamp(store: &Store, sql: &str, hours: i64) {
    let at = crate::time::DbTime(crate::time::now() - chrono::Duration::hours(hours));
    let done = match &store.inner {
        Inner::Sqlite(s) => sqlx::query(sql)
            .bind(at)
            .execute(s.writer())
            .await
            .map(|_| ()),
        Inner::Postgres(s) => sqlx::query(sql)
            .bind(at)
            .execute(s.writer())
            .await
            .map(|_| ()),
    };
    done.unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// The inventory tables (locations and stock per location): what [`count_rows`] also counts.
pub const INVENTORY_TABLES: [&str; 4] =
    ["locations", "stock_levels", "stocktakes", "stocktake_lines"];

/// Per book and location, the stock level and the sum of the movements' deltas there
/// (`None` where one of them is missing): the ledger explains every level when they agree.
pub async fn stock_ledger(
    store: &Store,
) -> Vec<(uuid::Uuid, uuid::Uuid, Option<i64>, Option<i64>)> {
    let rows: Vec<(uuid::Uuid, uuid::Uuid, Option<i64>, Option<i64>)> = fetch_all(
        store,
        "SELECT coalesce(s.book_id, m.book_id), coalesce(s.location_id, m.location_id), \
         s.quantity, m.total \
         FROM stock_levels s FULL OUTER JOIN \
         (SELECT book_id, location_id, CAST(sum(delta) AS BIGINT) AS total FROM stock_movements \
          GROUP BY book_id, location_id) m \
         ON m.book_id = s.book_id AND m.location_id = s.location_id \
         ORDER BY 1, 2",
    )
    .await;
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_the_catalog_and_auth_tables() {
        let union: Vec<&str> = CATALOG_TABLES.iter().chain(&AUTH_TABLES).copied().collect();
        assert_eq!(union, TABLES);
    }

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t3"), "postgres://h/t3");
        assert_eq!(database_of("postgres://h/t3?x=1"), "t3");
    }
}
