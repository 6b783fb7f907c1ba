//! The PostgreSQL store's side of the consistency port: scopes, tokens and read floors from
//! its read router, and the replicas' state for `/readyz`.

use crate::postgres::PgStore;
use crate::read_router::ReadRouter;
use crate::Store;
use async_trait::async_trait;
use bookstore_core::consistency::{ConsistencyToken, ReadRouting, ReadScope, ScopedFuture};
use bookstore_core::health::Dependency;
use bookstore_core::StoreError;
use std::sync::Arc;

pub(crate) struct PgReadRouting(pub(crate) Arc<PgStore>);

#[async_trait]
impl ReadRouting for PgReadRouting {
    fn issues_tokens(&self) -> bool {
        self.0.issues_tokens()
    }

    fn scoped<'a>(&self, scope: ReadScope, request: ScopedFuture<'a>) -> ScopedFuture<'a> {
        ReadRouter::scoped(scope, request)
    }

    async fn token_now(&self) -> Result<Option<ConsistencyToken>, StoreError> {
        if !self.0.issues_tokens() {
            return Ok(None);
        }
        Ok(Some(ConsistencyToken::from_lsn(self.0.token_now().await?)))
    }

    fn read_floor(&self) -> ConsistencyToken {
        ConsistencyToken::from_lsn(self.0.router().read_floor())
    }
}

/// The read replicas in `/readyz`: the service stays ready while the primary serves, and
/// says which replicas are out of rotation.
pub struct ReplicaReadiness(pub Store);

#[async_trait]
impl Dependency for ReplicaReadiness {
    fn name(&self) -> &'static str {
        "replicas"
    }

    async fn degraded(&self) -> Option<String> {
        let replicas = self.0.replicas();
        let out: Vec<String> = replicas
            .iter()
            .filter(|r| !r.in_rotation)
            .map(|r| {
                let why = if r.reachable {
                    "lags behind"
                } else {
                    "is unreachable"
                };
                format!("read replica {} {why}", r.number)
            })
            .collect();
        if out.is_empty() {
            return None;
        }
        Some(format!(
            "{} of {} read replicas out of rotation ({}); their reads go to the other replicas or the primary.",
            out.len(),
            replicas.len(),
            out.join(", ")
        ))
    }
}
