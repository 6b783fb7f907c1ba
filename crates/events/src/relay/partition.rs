//! One leased partition: its pending events go to the bus wave by wave, and the ones the bus
//! accepted are marked published, which gives them their positions in the event log.

use super::backoff::Backoff;
use super::waves::waves;
use super::{stopped, OutboxCommits, RelayConfig, Shared};
use bookstore_core::outbox::OutboxLease;
use bookstore_core::StoreError;
use tokio::sync::watch;
use uuid::Uuid;

/// The wake-up count of `partition`.
fn commits_of(commits: &OutboxCommits, partition: u16) -> u64 {
    commits.get(usize::from(partition)).copied().unwrap_or(0)
}

/// How a pass over a partition's pending events ended.
enum Pass {
    /// Everything pending when the pass began went out.
    Done,
    /// A full batch went out: there may be more.
    More,
    /// The bus did not take (all of) a wave: the rest waits.
    BusFailed,
}

/// Relays the partition of `lease` until told to stop, or until the store fails (the lease
/// may be lost with it: the relay leases the partition again later). Returns the partition.
pub(crate) async fn run(
    mut lease: Box<dyn OutboxLease>,
    shared: Shared,
    config: RelayConfig,
    mut wake: watch::Receiver<OutboxCommits>,
    mut stop: watch::Receiver<bool>,
) -> u16 {
    let partition = lease.partition();
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    loop {
        if stopped(&stop) {
            break;
        }
        // Seen now: a commit from here on wakes the wait below.
        let seen = commits_of(&wake.borrow_and_update(), partition);
        let pause = match pass(lease.as_mut(), &shared, &config).await {
            Ok(Pass::More) => {
                backoff.reset();
                continue;
            }
            Ok(Pass::Done) => {
                backoff.reset();
                None
            }
            Ok(Pass::BusFailed) => Some(backoff.next_pause()),
            Err(err) => {
                tracing::warn!(partition, error = %err, "the relay's store access failed; leaving the partition");
                break;
            }
        };
        match pause {
            // Only time ends a pause after a failure: new commits do not make the bus work.
            Some(pause) => {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
            }
            None => {
                let woken = async {
                    wake.wait_for(|commits| commits_of(commits, partition) != seen)
                        .await
                        .is_ok()
                };
                tokio::select! {
                    woken = woken => {
                        if !woken {
                            // No more wake-ups (the store is closing): poll.
                            tokio::time::sleep(config.poll_interval).await;
                        }
                    }
                    () = tokio::time::sleep(config.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
    // Dropping the lease hands the partition back.
    drop(lease);
    partition
}

/// Publishes one batch of the partition's pending events.
async fn pass(
    lease: &mut dyn OutboxLease,
    shared: &Shared,
    config: &RelayConfig,
) -> Result<Pass, StoreError> {
    let events = lease.pending(config.batch).await?;
    if events.is_empty() {
        return Ok(Pass::Done);
    }
    let full = events.len() >= config.batch as usize;
    for wave in waves(&events) {
        let results = shared.bus.publish(&wave).await;
        let mut accepted: Vec<Uuid> = Vec::with_capacity(wave.len());
        let mut failure = None;
        for (i, event) in wave.iter().enumerate() {
            match results.get(i) {
                Some(Ok(())) => accepted.push(event.id),
                Some(Err(err)) => {
                    failure.get_or_insert_with(|| err.to_string());
                }
                None => {
                    failure.get_or_insert_with(|| {
                        format!(
                            "the bus answered for {} of {} events",
                            results.len(),
                            wave.len()
                        )
                    });
                }
            }
        }
        if !accepted.is_empty() {
            let positions = lease.mark_published(&accepted).await?;
            if let Some(&head) = positions.last() {
                shared.signal.announce(head);
            }
        }
        if let Some(reason) = failure {
            shared.bus_failed(&reason);
            return Ok(Pass::BusFailed);
        }
        shared.bus_worked();
    }
    Ok(if full { Pass::More } else { Pass::Done })
}
