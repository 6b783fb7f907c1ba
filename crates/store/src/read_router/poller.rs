//! The background task that keeps the primary's and each replica's log positions.

use super::*;

/// The background task that keeps the positions: one connection of its own per server, so
/// that a busy read pool never delays a poll.
pub(super) struct Poller {
    shared: Arc<Shared>,
    primary: Option<PgConnection>,
    primary_generation: u64,
    replicas: Vec<Option<PgConnection>>,
}

impl Poller {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let replicas = shared.replicas.iter().map(|_| None).collect();
        Self {
            shared,
            primary: None,
            primary_generation: 0,
            replicas,
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = self.shared.wanted.notified() => {}
            }
            self.poll().await;
        }
    }

    pub(super) async fn poll(&mut self) {
        let now = Instant::now();
        // Rotated credentials: the old ones' connection is let go (generation read first).
        let generation = self.shared.options_generation.load(Ordering::Acquire);
        let options = match self.shared.primary_options.read() {
            Ok(options) => options.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if generation != self.primary_generation {
            self.primary = None;
            self.primary_generation = generation;
        }
        match position(&mut self.primary, &options, PRIMARY_LSN).await {
            Ok(Some(lsn)) => {
                self.shared.primary_lsn.fetch_max(lsn, Ordering::Relaxed);
                if let Ok(mut samples) = self.shared.samples.lock() {
                    samples.push_back((now, lsn));
                    // Keep the newest sample at least `max_lag` old, and nothing older.
                    if let Some(horizon) = now.checked_sub(self.shared.max_lag) {
                        while samples.get(1).is_some_and(|(at, _)| *at <= horizon) {
                            samples.pop_front();
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "could not read the primary's log position"),
        }
        let bound = self.lag_bound(now);
        for (i, replica) in self.shared.replicas.iter().enumerate() {
            let connection = &mut self.replicas[i];
            let polled = position(connection, &replica.options, REPLAY_LSN).await;
            let was = replica.in_rotation.load(Ordering::Relaxed);
            let now_in = match polled {
                Ok(Some(replay)) => {
                    replica.replay.fetch_max(replay, Ordering::Relaxed);
                    replica.reachable.store(true, Ordering::Relaxed);
                    replay >= bound
                }
                Ok(None) => {
                    replica.reachable.store(true, Ordering::Relaxed);
                    if was {
                        tracing::warn!(
                            replica = i + 1,
                            "a read replica is not in recovery (promoted?); leaving it out"
                        );
                    }
                    false
                }
                Err(error) => {
                    replica.reachable.store(false, Ordering::Relaxed);
                    if was {
                        tracing::warn!(replica = i + 1, %error, "a read replica is unreachable; reading from the others or the primary");
                    }
                    false
                }
            };
            replica.in_rotation.store(now_in, Ordering::Relaxed);
            if now_in && !was {
                tracing::info!(replica = i + 1, "a read replica is in rotation");
            } else if !now_in && was && replica.reachable.load(Ordering::Relaxed) {
                tracing::warn!(
                    replica = i + 1,
                    "a read replica lags behind the bound; reading from the others or the primary"
                );
            }
        }
        self.shared.polls.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The position a replica must have replayed to be in rotation: the primary's, as of
    /// `max_lag` ago (0 until the poller has been running that long).
    fn lag_bound(&self, now: Instant) -> u64 {
        let Some(horizon) = now.checked_sub(self.shared.max_lag) else {
            return 0;
        };
        self.shared
            .samples
            .lock()
            .ok()
            .and_then(|samples| {
                samples
                    .iter()
                    .rev()
                    .find(|(at, _)| *at <= horizon)
                    .map(|(_, lsn)| *lsn)
            })
            .unwrap_or(0)
    }
}

/// One log position read on the poller's own connection to a server (opened when needed,
/// dropped when it fails); `None` where the function gives NULL.
async fn position(
    connection: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    sql: &'static str,
) -> Result<Option<u64>, sqlx::Error> {
    let attempt = async {
        if connection.is_none() {
            *connection = Some(PgConnection::connect_with(options).await?);
        }
        let Some(conn) = connection.as_mut() else {
            return Err(sqlx::Error::PoolClosed);
        };
        let lsn: Option<i64> = sqlx::query_scalar(sql).fetch_one(conn).await?;
        Ok(lsn.and_then(|n| u64::try_from(n).ok()))
    };
    let result = match tokio::time::timeout(POLL_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    };
    if result.is_err() {
        *connection = None;
    }
    result
}
