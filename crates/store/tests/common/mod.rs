//! The harness every store test file shares: a migrated store on SQLite (a temporary
//! directory) or PostgreSQL (a fresh database), and the macro that runs each case on both.

#![allow(dead_code, unused_macros, clippy::unwrap_used)]

use bookstore_core::{Principal, Role, WriteContext};
use bookstore_store::testing;
use bookstore_store::{Backend, Store, StoreConfig};

/// An admin's change, without a request id.
pub fn ctx() -> WriteContext {
    WriteContext {
        principal: Principal {
            subject: "u-1".into(),
            username: "alice".into(),
            role: Role::Admin,
        },
        request_id: None,
        traceparent: None,
    }
}

pub struct Harness {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg_url: Option<String>,
}

impl Harness {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig {
            database_url: None,
            data_dir: dir.path().join("data"),
            max_connections: 4,
            ..Default::default()
        })
        .await
        .unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        Self {
            store,
            _dir: Some(dir),
            pg_url: None,
        }
    }

    pub async fn postgres() -> Self {
        let url = testing::fresh_postgres_url().await;
        let store = Store::open(&StoreConfig {
            database_url: Some(url.clone()),
            data_dir: "unused".into(),
            max_connections: 8,
            ..Default::default()
        })
        .await
        .unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        Self {
            store,
            _dir: None,
            pg_url: Some(url),
        }
    }

    /// A SQLite store whose catalog searches through a search index fed by its events.
    pub async fn indexed() -> Self {
        let mut harness = Self::sqlite().await;
        let indexed = bookstore_search_index::testing::IndexedCatalog::new(
            harness.store.catalog(),
            harness.store.outbox(),
            harness.store.event_log(),
        )
        .unwrap();
        harness.store = harness
            .store
            .clone()
            .with_catalog(std::sync::Arc::new(indexed));
        harness
    }

    /// The PostgreSQL database's URL (`None` on SQLite).
    pub fn pg_url(&self) -> Option<&str> {
        self.pg_url.as_deref()
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some(url) = self.pg_url {
            testing::drop_postgres_database(&url).await;
        }
    }
}

/// Generates `sqlite::<case>` and `postgres::<case>` tests of every `async fn <case>(&Store)`;
/// `multi_thread;` first runs them on a multi-threaded runtime, for cases about concurrency.
macro_rules! contract {
    // Also `index::<case>`: the catalog's searches answered by the search index.
    (with_index; $($case:ident),* $(,)?) => {
        contract!(@on (); $($case),*);
        mod index {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = $crate::common::Harness::indexed().await;
                    super::$case(&harness.store).await;
                    harness.finish().await;
                }
            )*
        }
    };
    (multi_thread; $($case:ident),* $(,)?) => {
        contract!(@on (flavor = "multi_thread", worker_threads = 4); $($case),*);
    };
    (@on $runtime:tt; $($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test $runtime]
                async fn $case() {
                    let harness = $crate::common::Harness::sqlite().await;
                    super::$case(&harness.store).await;
                    harness.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test $runtime]
                async fn $case() {
                    let harness = $crate::common::Harness::postgres().await;
                    super::$case(&harness.store).await;
                    harness.finish().await;
                }
            )*
        }
    };
    ($($case:ident),* $(,)?) => {
        contract!(@on (); $($case),*);
    };
}

/// A valid ISBN-13 (978 prefix) numbered `n`.
pub fn isbn(n: u32) -> String {
    bookstore_core::Isbn::numbered(n).as_str().to_owned()
}
