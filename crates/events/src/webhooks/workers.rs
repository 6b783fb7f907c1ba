//! The workers: claim due deliveries and attempt them, at most `concurrency` at once in this
//! process and at most `per_endpoint` for one webhook, so that a slow or dead endpoint holds
//! a few slots (each for at most the attempt timeout) and never the others' deliveries.

use super::deliverer::Deliverer;
use bookstore_core::webhook::ClaimRequest;
use bookstore_core::WebhookId;
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

const BACKOFF: Duration = Duration::from_secs(2);

type InFlight = Arc<Mutex<HashMap<WebhookId, u32>>>;

fn adjust(in_flight: &InFlight, webhook: WebhookId, up: bool) {
    let mut counts = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
    let count = counts.entry(webhook).or_default();
    if up {
        *count += 1;
    } else {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&webhook);
        }
    }
}

/// What this process may still take per webhook.
fn claim_request(
    in_flight: &InFlight,
    free: u32,
    per_endpoint: u32,
    lease: Duration,
) -> ClaimRequest {
    let counts = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
    let mut full = Vec::new();
    let mut room = HashMap::new();
    for (webhook, count) in counts.iter() {
        if *count >= per_endpoint {
            full.push(*webhook);
        } else {
            room.insert(*webhook, per_endpoint - count);
        }
    }
    let now = Utc::now();
    ClaimRequest {
        now,
        lease_until: now
            + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60)),
        limit: free,
        full,
        room,
        default_room: per_endpoint,
    }
}

/// Claims and attempts deliveries until `stop` turns true; then returns once the attempts in
/// flight have finished.
pub async fn run(deliverer: Arc<Deliverer>, mut stop: watch::Receiver<bool>) {
    let config = deliverer.config().clone();
    let slots = Arc::new(Semaphore::new(config.concurrency as usize));
    let in_flight: InFlight = Arc::default();
    let wake = deliverer.wakeup().clone();
    while !*stop.borrow() {
        let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
        let mut claimed_all = false;
        if free > 0 {
            let claim = claim_request(&in_flight, free, config.per_endpoint, config.lease);
            match deliverer.store().claim_due(&claim).await {
                Ok(batch) => {
                    claimed_all = !batch.is_empty() && batch.len() as u32 == free;
                    for due in batch {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let webhook = due.webhook_id;
                        adjust(&in_flight, webhook, true);
                        let deliverer = deliverer.clone();
                        let in_flight = in_flight.clone();
                        let wake = wake.clone();
                        tokio::spawn(async move {
                            if let Err(err) = deliverer.attempt(due).await {
                                tracing::warn!(error = %err, "could not record a webhook attempt");
                            }
                            adjust(&in_flight, webhook, false);
                            drop(permit);
                            // A slot is free: there may be deliveries waiting for it.
                            wake.notify_one();
                        });
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim webhook deliveries");
                    tokio::time::sleep(BACKOFF).await;
                }
            }
        }
        if claimed_all {
            continue;
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(config.poll) => {}
            _ = stop.changed() => {}
        }
    }
    // Every permit back: no attempt of this process is in flight.
    let _ = slots.acquire_many(config.concurrency).await;
}
