//! [`ResolveNamed`]'s statements for each store.
//!
//! PostgreSQL binds one array per column: the text of each statement, and so its prepared
//! statement, is the same for any number of names. Listing them (as SQLite does) made a
//! statement of its own for every count of names an import's batch had, each prepared, cached
//! by every pooled connection (up to 100 each, the largest with some 5,000 parameters) and
//! planned again by the server: memory that grew with the file, and time.

use super::named::ResolveNamed;
use crate::error::backend;
use crate::postgres::PgStore;
use crate::sql;
use crate::sqlite::SqliteStore;
use crate::time::DbTime;
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

impl ResolveNamed for PgStore {
    async fn names_by_ids(
        conn: &mut PgConnection,
        kind: &sql::Named,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let statement = format!("SELECT id, name FROM {} WHERE id = ANY($1)", kind.table);
        sqlx::query_as(&statement)
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
    }

    async fn insert_names(
        conn: &mut PgConnection,
        kind: &sql::Named,
        rows: &[(String, &str, Uuid)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        // `UNNEST` gives the rows in array order: the keys are inserted (and locked) in the
        // order of `rows`.
        let statement = format!(
            "INSERT INTO {} (id, name, name_key, created_at, updated_at) \
             SELECT u.id, u.name, u.key, $4, $4 \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS u (id, name, key){} \
             RETURNING id",
            kind.table,
            sql::ON_NAME_CONFLICT_DO_NOTHING
        );
        sqlx::query_scalar(&statement)
            .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
    }

    async fn by_keys(
        conn: &mut PgConnection,
        kind: &sql::Named,
        keys: &[&str],
    ) -> Result<Vec<(String, Uuid, String)>, StoreError> {
        let statement = format!(
            "SELECT name_key, id, name FROM {} WHERE name_key = ANY($1) FOR KEY SHARE",
            kind.table
        );
        sqlx::query_as(&statement)
            .bind(keys)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
    }
}

impl ResolveNamed for SqliteStore {
    async fn names_by_ids(
        conn: &mut SqliteConnection,
        kind: &sql::Named,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new(kind.names_by_id);
        let mut list = select.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        list.push_unseparated(")");
        select
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
    }

    async fn insert_names(
        conn: &mut SqliteConnection,
        kind: &sql::Named,
        rows: &[(String, &str, Uuid)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut insert = QueryBuilder::<Sqlite>::new(kind.insert);
        insert.push_values(rows, |mut row, (key, name, id)| {
            row.push_bind(*id)
                .push_bind(*name)
                .push_bind(key.as_str())
                .push_bind(DbTime(now))
                .push_bind(DbTime(now));
        });
        insert.push(sql::ON_NAME_CONFLICT_DO_NOTHING);
        insert.push(" RETURNING id");
        insert
            .build_query_scalar()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
    }

    /// Writers are serialised: nothing to lock.
    async fn by_keys(
        conn: &mut SqliteConnection,
        kind: &sql::Named,
        keys: &[&str],
    ) -> Result<Vec<(String, Uuid, String)>, StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new(kind.by_keys);
        let mut list = select.separated(", ");
        for key in keys {
            list.push_bind(*key);
        }
        list.push_unseparated(")");
        select
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
    }
}
