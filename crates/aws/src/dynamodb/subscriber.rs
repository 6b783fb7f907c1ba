//! The subscriber that keeps the table from the events read off an SQS queue subscribed to the
//! topic. Created, updated and stock-adjusted events carry the whole book after the change
//! (`data`), so the item is written from the event alone; a deleted event carries the id and
//! the last version. Each write is conditional on the version (see the module above), which
//! makes a second delivery, an out-of-order one or a race with another consumer harmless; the
//! queue consumer drops a second delivery of a handled event id before that.
//!
//! A message that is not an event is left to the queue's redrive policy by the consumer; an
//! event of a book type that cannot be written (no version, no id) is handed back the same way,
//! so it ends in the dead-letter queue. A failing DynamoDB leaves the message unacknowledged:
//! it comes back after the visibility timeout, and the FIFO queue holds that book's later
//! events until then.

use super::{BooksTable, DynamoError, Written};
use crate::sqs::{Delivery, QueueConsumer, SqsError};
use bookstore_core::event::BookEventKind;
use serde_json::Value;
use std::time::Duration;

/// The longest pause after failures in a row.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Written(Written),
    /// Not a book event (e.g. a webhook ping): nothing to keep.
    Ignored,
}

/// Applies one CloudEvent to the table.
pub async fn apply(table: &BooksTable, event: &Value) -> Result<Outcome, DynamoError> {
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .and_then(BookEventKind::parse);
    let Some(kind) = kind else {
        return Ok(Outcome::Ignored);
    };
    let written = match kind {
        BookEventKind::Created | BookEventKind::Updated | BookEventKind::StockAdjusted => {
            let book = event
                .get("data")
                .ok_or_else(|| DynamoError::NotABook("an event without data".into()))?;
            table.put_book(book).await?
        }
        BookEventKind::Deleted => {
            let id = event
                .get("subject")
                .and_then(Value::as_str)
                .ok_or_else(|| DynamoError::NotABook("a deletion without subject".into()))?;
            let version = event
                .get("version")
                .and_then(Value::as_i64)
                .ok_or_else(|| DynamoError::NotABook("a deletion without version".into()))?;
            table.delete_book(id, version).await?
        }
    };
    Ok(Outcome::Written(written))
}

/// Counts of what the subscriber did, for its log lines and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub applied: u64,
    pub stale: u64,
    pub ignored: u64,
    /// Handed back to the queue (not writable: bound for the dead-letter queue).
    pub rejected: u64,
    /// Left for a later delivery (DynamoDB failed).
    pub failed: u64,
}

pub struct Subscriber {
    consumer: QueueConsumer,
    table: BooksTable,
    pub counts: Counts,
}

impl Subscriber {
    pub fn new(consumer: QueueConsumer, table: BooksTable) -> Self {
        Self {
            consumer,
            table,
            counts: Counts::default(),
        }
    }

    /// One receive (a long poll) and its events applied, each acknowledged once written.
    /// Returns how many events were received.
    pub async fn step(&mut self) -> Result<usize, SqsError> {
        let deliveries = self.consumer.receive().await?;
        // The events of one receive are written at once: their order does not matter to
        // writes conditional on the version.
        let table = &self.table;
        let results = futures_util::future::join_all(
            deliveries
                .iter()
                .map(|delivery| async move { apply(table, &delivery.event).await }),
        )
        .await;
        let mut handled = Vec::with_capacity(deliveries.len());
        for (delivery, result) in deliveries.iter().zip(results) {
            if self.settle(delivery, result).await? {
                handled.push(delivery);
            }
        }
        self.consumer.ack_all(&handled).await?;
        Ok(deliveries.len())
    }

    /// Counts the outcome; `true` when the delivery is handled (to be acknowledged).
    async fn settle(
        &mut self,
        delivery: &Delivery,
        result: Result<Outcome, DynamoError>,
    ) -> Result<bool, SqsError> {
        match result {
            Ok(outcome) => {
                match outcome {
                    Outcome::Written(Written::Applied) => self.counts.applied += 1,
                    Outcome::Written(Written::Stale) => self.counts.stale += 1,
                    Outcome::Ignored => self.counts.ignored += 1,
                }
                Ok(true)
            }
            Err(DynamoError::NotABook(reason)) => {
                self.counts.rejected += 1;
                tracing::warn!(
                    event_id = %delivery.event_id,
                    receive_count = delivery.receive_count,
                    %reason,
                    "an event the read model cannot write: left to the queue's redrive policy \
                     (dead-letter queue)"
                );
                self.consumer.release(delivery).await?;
                Ok(false)
            }
            Err(err @ DynamoError::Call(_)) => {
                self.counts.failed += 1;
                tracing::warn!(
                    event_id = %delivery.event_id,
                    table = %self.table.name(),
                    error = %err,
                    "writing the read model failed: the event comes back after the visibility \
                     timeout"
                );
                Ok(false)
            }
        }
    }

    /// Reads the queue until the task is aborted, pausing longer after each failure in a row.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            tracing::info!(
                queue = %self.consumer.queue_url(),
                table = %self.table.name(),
                "keeping the DynamoDB read model from the queue"
            );
            let mut pause = Duration::from_millis(500);
            loop {
                match self.step().await {
                    Ok(_) => pause = Duration::from_millis(500),
                    Err(err) => {
                        tracing::warn!(
                            error = %err,
                            retry_in_ms = pause.as_millis() as u64,
                            "reading the read model's queue failed"
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(MAX_PAUSE);
                    }
                }
            }
        })
    }
}
