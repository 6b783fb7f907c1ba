//! Reading events from an SQS queue subscribed to the topic (a FIFO queue keeps each book's
//! events in order): long polling, a visibility timeout that hides a message while it is
//! handled, deletion once handled, and idempotence by event id (SQS delivers at least once;
//! a relay's second send within SNS's window is dropped there, a later one here).
//!
//! A message that is not an event (a "poison" message) is never deleted here: it is made
//! visible again at once, and the queue's redrive policy moves it to the dead-letter queue
//! after `maxReceiveCount` receives, so it neither blocks its group for ever nor is lost.

use crate::config::describe;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use uuid::Uuid;

/// SQS's longest long poll.
const LONG_POLL: Duration = Duration::from_secs(20);
/// SQS returns at most ten messages per receive.
const MAX_MESSAGES: i32 = 10;
/// How many event ids are remembered for idempotence: far more than can be in flight.
const REMEMBERED: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("SQS: {0}")]
    Call(String),
}

/// An event received, not yet acknowledged.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The CloudEvent.
    pub event: serde_json::Value,
    pub event_id: Uuid,
    /// How many times SQS has handed this message out (1 the first time).
    pub receive_count: u32,
    receipt: String,
}

pub struct QueueConsumer {
    client: Client,
    queue_url: String,
    visibility: Duration,
    wait: Duration,
    seen: Seen,
    /// Poison messages seen (each receive counts).
    pub poison: u64,
    /// Events received again after they were handled, and dropped.
    pub duplicates: u64,
}

impl QueueConsumer {
    /// `visibility`: how long a received message stays hidden from other consumers while it
    /// is handled (it comes back if not deleted by then).
    pub fn new(config: &SdkConfig, queue_url: String, visibility: Duration) -> Self {
        Self {
            client: Client::new(config),
            queue_url,
            visibility,
            wait: LONG_POLL,
            seen: Seen::default(),
            poison: 0,
            duplicates: 0,
        }
    }

    /// A shorter long poll (tests that want to notice an empty queue sooner).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(LONG_POLL);
        self
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The next events, in the queue's order (waits up to the long poll for some). Events
    /// already handled are deleted and left out; poison messages are handed back to SQS.
    pub async fn receive(&mut self) -> Result<Vec<Delivery>, SqsError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(secs(self.wait))
            .visibility_timeout(secs(self.visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|err| SqsError::Call(describe(&err)))?;
        let mut deliveries = Vec::new();
        for message in output.messages() {
            let Some(receipt) = message.receipt_handle().map(str::to_owned) else {
                continue;
            };
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            match parse_event(message.body().unwrap_or_default()) {
                Err(reason) => {
                    self.poison += 1;
                    tracing::warn!(
                        queue = %self.queue_url,
                        message_id = message.message_id().unwrap_or("-"),
                        receive_count,
                        %reason,
                        "not an event: left to the queue's redrive policy (dead-letter queue)"
                    );
                    // Visible again at once, so that the redrive count is reached soon.
                    self.client
                        .change_message_visibility()
                        .queue_url(&self.queue_url)
                        .receipt_handle(&receipt)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(|err| SqsError::Call(describe(&err)))?;
                }
                Ok((event, event_id)) => {
                    if self.seen.contains(&event_id) {
                        self.duplicates += 1;
                        self.delete(&receipt).await?;
                        continue;
                    }
                    deliveries.push(Delivery {
                        event,
                        event_id,
                        receive_count,
                        receipt,
                    });
                }
            }
        }
        Ok(deliveries)
    }

    /// The delivery is handled: delete it, and drop any later copy of its event.
    pub async fn ack(&mut self, delivery: &Delivery) -> Result<(), SqsError> {
        self.delete(&delivery.receipt).await?;
        self.seen.insert(delivery.event_id);
        Ok(())
    }

    /// The deliveries are handled: deleted in batches of ten (one call each instead of one
    /// per message), and any later copy of their events dropped. A message SQS did not delete
    /// comes back after the visibility timeout, and is then dropped as a copy.
    pub async fn ack_all(&mut self, deliveries: &[&Delivery]) -> Result<(), SqsError> {
        use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
        for chunk in deliveries.chunks(MAX_MESSAGES as usize) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(n, delivery)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(&delivery.receipt)
                        .build()
                        .map_err(|err| SqsError::Call(err.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| SqsError::Call(describe(&err)))?;
            for failed in output.failed() {
                tracing::warn!(
                    queue = %self.queue_url,
                    code = failed.code(),
                    message = failed.message().unwrap_or("-"),
                    "SQS did not delete a handled message: it comes back and is dropped then"
                );
            }
            for delivery in chunk {
                self.seen.insert(delivery.event_id);
            }
        }
        Ok(())
    }

    /// The delivery cannot be handled (an event the consumer cannot use): visible again at
    /// once, so that the queue's redrive policy moves it to the dead-letter queue soon.
    pub async fn release(&mut self, delivery: &Delivery) -> Result<(), SqsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&delivery.receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|err| SqsError::Call(describe(&err)))?;
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), SqsError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|err| SqsError::Call(describe(&err)))?;
        Ok(())
    }
}

fn secs(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// The CloudEvent in a message's body: the body itself (raw message delivery) or the
/// `Message` of SNS's notification envelope.
pub fn parse_event(body: &str) -> Result<(serde_json::Value, Uuid), String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|err| format!("not JSON: {err}"))?;
    let event = match (value.get("Type"), value.get("Message")) {
        (Some(kind), Some(serde_json::Value::String(message))) if kind == "Notification" => {
            serde_json::from_str(message).map_err(|err| format!("SNS message not JSON: {err}"))?
        }
        _ => value,
    };
    let id = event
        .get("id")
        .and_then(|id| id.as_str())
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or("no event id")?;
    if !event
        .get("type")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t.starts_with("bookstore."))
    {
        return Err("no bookstore event type".into());
    }
    Ok((event, id))
}

/// The ids of events handled lately, forgetting the oldest beyond [`REMEMBERED`].
#[derive(Default)]
struct Seen {
    ids: HashSet<Uuid>,
    order: VecDeque<Uuid>,
}

impl Seen {
    fn contains(&self, id: &Uuid) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: Uuid) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            if self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_raw_or_in_the_sns_envelope() {
        let id = Uuid::now_v7();
        let event = serde_json::json!({"id": id, "type": "bookstore.book.created"});
        let (raw, raw_id) = parse_event(&event.to_string()).expect("raw");
        assert_eq!((raw, raw_id), (event.clone(), id));
        let envelope = serde_json::json!({"Type": "Notification", "Message": event.to_string()});
        assert_eq!(parse_event(&envelope.to_string()).expect("wrapped").1, id);
        for poison in ["", "not json", "{}", r#"{"id":"x","type":"bookstore.a"}"#] {
            assert!(parse_event(poison).is_err(), "{poison}");
        }
    }
}
