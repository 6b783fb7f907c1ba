//! Fan-out: turns published events into deliveries, one per active webhook that wants the
//! event's type. It reads the event log after the fan-out position, woken when the log grows
//! and polling slowly in case a signal was missed; the store moves the position in the
//! transaction that writes the deliveries.

use super::deliverer::Deliverer;
use bookstore_core::outbox::{EventLog, EventLogSignal};
use std::sync::Arc;
use std::time::Duration;

const BATCH: u32 = 200;
/// The safety net under the signal.
const POLL: Duration = Duration::from_secs(5);
const BACKOFF: Duration = Duration::from_secs(2);
/// How long a fan-out woken by the log's growth waits for more: under load each pass then
/// takes many events (one read of the log, one transaction) rather than one or two, which a
/// webhook's delivery, seconds-scale by nature, does not notice.
const LINGER: Duration = Duration::from_millis(50);

pub async fn run(
    deliverer: Arc<Deliverer>,
    log: Arc<dyn EventLog>,
    signal: Arc<dyn EventLogSignal>,
) {
    let store = deliverer.store().clone();
    loop {
        let position = match store.fanout_position().await {
            Ok(position) => position,
            Err(err) => {
                tracing::warn!(error = %err, "webhook fan-out: cannot read its position");
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        let events = match log.read_after(position, BATCH, &[]).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(error = %err, "webhook fan-out: cannot read the event log");
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        let Some(last) = events.last().map(|e| e.position) else {
            tokio::select! {
                () = signal.grown_past(position) => tokio::time::sleep(LINGER).await,
                () = tokio::time::sleep(POLL) => {}
            }
            continue;
        };
        match store.fan_out(position, &events, last).await {
            Ok(true) => deliverer.wakeup().notify_one(),
            // Another replica fanned these out first.
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %err, "webhook fan-out failed; retrying");
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}
