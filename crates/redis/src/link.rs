//! One Redis connection with its health, shared by the adapters of this crate: made on first
//! success (it reconnects by itself after that), every call bounded by a short timeout, and an
//! outage logged once when it starts and once when it ends.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// What the adapter using the link tells its operators.
pub struct Wording {
    /// Logged when Redis is first reachable.
    pub up: &'static str,
    /// Logged when Redis is reachable again after an outage.
    pub back: &'static str,
    /// Logged when Redis becomes unreachable.
    pub down: &'static str,
}

pub struct Link {
    client: redis::Client,
    pub prefix: String,
    pub timeout: Duration,
    connection: OnceLock<ConnectionManager>,
    /// Whether calls go to Redis; false from the first failure until a probe succeeds.
    up: AtomicBool,
    /// Why Redis is not used, while it is not.
    outage: Mutex<Option<String>>,
    wording: Wording,
}

impl Link {
    pub fn new(client: redis::Client, prefix: String, timeout: Duration, wording: Wording) -> Self {
        Self {
            client,
            prefix,
            timeout,
            connection: OnceLock::new(),
            up: AtomicBool::new(false),
            outage: Mutex::new(None),
            wording,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn connection_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout.max(Duration::from_millis(500)))
            .set_response_timeout(self.timeout)
            .set_number_of_retries(2)
            .set_max_delay(1000)
    }

    /// The connection, made on first success (it reconnects by itself after that).
    pub async fn connection(&self) -> Result<ConnectionManager, String> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let attempt =
            ConnectionManager::new_with_config(self.client.clone(), self.connection_config());
        let deadline = self.timeout.max(Duration::from_millis(500)) * 2;
        match tokio::time::timeout(deadline, attempt).await {
            Ok(Ok(connection)) => Ok(self.connection.get_or_init(|| connection).clone()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no connection within {} ms", deadline.as_millis())),
        }
    }

    /// Runs `invocation` of a script within the timeout.
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, String> {
        let mut connection = self.connection().await?;
        let call = invocation.invoke_async::<T>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    /// Whether Redis failed since this process first reached it (or tried to), and is not
    /// marked up again yet.
    pub fn in_outage(&self) -> bool {
        !self.is_up()
            && self
                .outage
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some()
    }

    /// Marks Redis reachable.
    pub fn mark_up(&self) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        if self.up.swap(true, Ordering::AcqRel) {
            return;
        }
        match outage.take() {
            Some(_) => tracing::info!("{}", self.wording.back),
            None => tracing::info!("{}", self.wording.up),
        }
    }

    pub fn mark_down(&self, reason: String) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        let was_up = self.up.swap(false, Ordering::AcqRel);
        if was_up || outage.is_none() {
            tracing::warn!(error = %reason, "{}", self.wording.down);
        }
        *outage = Some(reason);
    }

    /// Why Redis is not used, while it is not.
    pub fn outage(&self) -> Option<String> {
        if self.is_up() {
            return None;
        }
        let outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        Some(outage.as_deref().unwrap_or("not connected yet").to_owned())
    }
}

/// An adapter whose link a background task probes while Redis is down.
#[async_trait::async_trait]
pub trait Probed: Send + Sync + 'static {
    fn link(&self) -> &Link;
    /// One attempt that marks the link up or down.
    async fn probe(&self);
}

/// Probes `adapter`'s Redis every [`crate::PROBE_EVERY`] while it is down, for as long as
/// the adapter exists.
pub fn supervise<T: Probed>(adapter: std::sync::Weak<T>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(crate::PROBE_EVERY).await;
            let Some(adapter) = adapter.upgrade() else {
                return;
            };
            if !adapter.link().is_up() {
                adapter.probe().await;
            }
        }
    });
}
