//! The retention janitor's deletions (issue 12, §7): published outbox events past their
//! retention, spent idempotency keys, expired refresh tokens and trusted devices, and failed
//! sign-ins older than the throttle's window, audit entries past theirs, and settled webhook
//! deliveries (delivered or given up) as old as the outbox's retention, with their attempts.
//! Each table is pruned in bounded batches (short transactions, whatever the backlog); on PostgreSQL one replica at a time sweeps, under a
//! session advisory lock on a connection of its own (closed afterwards, so the lock cannot
//! outlive the sweep, even if it fails halfway).

use crate::error::backend;
use crate::time::DbTime;
use crate::{Inner, Store};
use bookstore_core::auth::throttle::WINDOW as LOGIN_FAILURE_WINDOW;
use bookstore_core::{StoreError, IDEMPOTENCY_KEY_TTL_SECS};
use chrono::{DateTime, Duration, Utc};
use sqlx::{Connection, PgConnection};

/// Rows deleted per statement.
const BATCH: u64 = 1000;

/// The janitor's advisory lock key (a constant of this application, "bkjn").
const JANITOR_LOCK: i64 = 0x626b_6a6e;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JanitorReport {
    pub outbox_events: u64,
    pub idempotency_keys: u64,
    pub refresh_tokens: u64,
    pub trusted_devices: u64,
    pub login_failures: u64,
    pub audit_entries: u64,
    pub webhook_deliveries: u64,
}

impl JanitorReport {
    pub fn total(&self) -> u64 {
        self.outbox_events
            + self.idempotency_keys
            + self.refresh_tokens
            + self.trusted_devices
            + self.login_failures
            + self.audit_entries
            + self.webhook_deliveries
    }
}

/// How long what the janitor prunes by age is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Published outbox events (and so the event log), and settled webhook deliveries: the
    /// delivery log goes back as far as the events it delivered.
    pub outbox: Duration,
    /// Audit entries.
    pub audit: Duration,
}

impl Retention {
    /// `outbox` for the outbox, the default for the audit log.
    pub fn outbox(outbox: Duration) -> Self {
        Self {
            outbox,
            audit: Duration::days(i64::from(bookstore_core::audit::DEFAULT_RETENTION_DAYS)),
        }
    }
}

/// A table the janitor prunes: the rows matching `condition` (`$1` is the cut-off), found by
/// `key` on SQLite (some tables have no rowid there).
struct Pruned {
    table: &'static str,
    key: &'static str,
    condition: &'static str,
}

const OUTBOX: Pruned = Pruned {
    table: "outbox",
    key: "seq",
    condition: "published_at < $1",
};
const IDEMPOTENCY_KEYS: Pruned = Pruned {
    table: "idempotency_keys",
    key: "scope, key",
    condition: "created_at < $1",
};
const REFRESH_TOKENS: Pruned = Pruned {
    table: "refresh_tokens",
    key: "token_hash",
    condition: "expires_at <= $1",
};
const TRUSTED_DEVICES: Pruned = Pruned {
    table: "trusted_devices",
    key: "token_hash",
    condition: "expires_at <= $1",
};
const LOGIN_FAILURES: Pruned = Pruned {
    table: "login_failures",
    key: "rowid",
    condition: "at < $1",
};
/// Pending deliveries stay whatever their age: they are still being retried. Their attempts
/// go with them (ON DELETE CASCADE).
const WEBHOOK_DELIVERIES: Pruned = Pruned {
    table: "webhook_deliveries",
    key: "id",
    condition: "status <> 'pending' AND created_at < $1",
};
const AUDIT_LOG: Pruned = Pruned {
    table: "audit_log",
    key: "id",
    condition: "at < $1",
};

impl Pruned {
    /// Skips rows a concurrent deletion holds: no waiting, no deadlock.
    fn postgres(&self) -> String {
        format!(
            "DELETE FROM {t} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {t} WHERE {c} \
             LIMIT {BATCH} FOR UPDATE SKIP LOCKED))",
            t = self.table,
            c = self.condition
        )
    }

    fn sqlite(&self) -> String {
        format!(
            "DELETE FROM {t} WHERE ({k}) IN (SELECT {k} FROM {t} WHERE {c} LIMIT {BATCH})",
            t = self.table,
            k = self.key,
            c = self.condition
        )
    }
}

/// The cut-offs of one sweep at `now`.
fn cutoffs(now: DateTime<Utc>, retention: Retention) -> [(&'static Pruned, DbTime); 7] {
    [
        (&OUTBOX, DbTime(now - retention.outbox)),
        (
            &IDEMPOTENCY_KEYS,
            DbTime(now - Duration::seconds(IDEMPOTENCY_KEY_TTL_SECS)),
        ),
        (&REFRESH_TOKENS, DbTime(now)),
        (&TRUSTED_DEVICES, DbTime(now)),
        (&LOGIN_FAILURES, DbTime(now - LOGIN_FAILURE_WINDOW)),
        (&AUDIT_LOG, DbTime(now - retention.audit)),
        (&WEBHOOK_DELIVERIES, DbTime(now - retention.outbox)),
    ]
}

fn report_of(counts: [u64; 7]) -> JanitorReport {
    let [outbox_events, idempotency_keys, refresh_tokens, trusted_devices, login_failures, audit_entries, webhook_deliveries] =
        counts;
    JanitorReport {
        outbox_events,
        idempotency_keys,
        refresh_tokens,
        trusted_devices,
        login_failures,
        audit_entries,
        webhook_deliveries,
    }
}

/// Deletes batches of `sql` until one comes back short.
macro_rules! drain {
    ($pool:expr, $sql:expr, $cutoff:expr) => {{
        let mut total = 0;
        loop {
            let n = sqlx::query($sql)
                .bind($cutoff)
                .execute($pool)
                .await
                .map_err(backend)?
                .rows_affected();
            total += n;
            if n < BATCH {
                break total;
            }
        }
    }};
}

impl Store {
    /// Prunes what is past its retention (published outbox events and audit entries older
    /// than `retention` says). `None` when another replica is sweeping right now.
    pub async fn sweep(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<Option<JanitorReport>, StoreError> {
        let mut counts = [0; 7];
        match &self.inner {
            Inner::Sqlite(store) => {
                for (i, (pruned, cutoff)) in cutoffs(now, retention).iter().enumerate() {
                    counts[i] = drain!(&store.writer, &pruned.sqlite(), *cutoff);
                }
            }
            Inner::Postgres(store) => {
                let mut conn = PgConnection::connect_with(&store.writer.connect_options())
                    .await
                    .map_err(backend)?;
                let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(JANITOR_LOCK)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(backend)?;
                if !mine {
                    let _ = conn.close().await;
                    return Ok(None);
                }
                for (i, (pruned, cutoff)) in cutoffs(now, retention).iter().enumerate() {
                    counts[i] = drain!(&store.writer, &pruned.postgres(), *cutoff);
                }
                // Closing ends the session, and with it the lock.
                let _ = conn.close().await;
            }
        }
        Ok(Some(report_of(counts)))
    }
}
