//! The SNS bus: each event is a message on one FIFO topic, its CloudEvent JSON the body, with
//! `MessageGroupId` = the book id (SNS and the FIFO queues subscribed to it keep each book's
//! events in order) and `MessageDeduplicationId` = the event id (a copy a relay sends again
//! after a crash or a lost answer, within SNS's five-minute window, is dropped). The type is a
//! message attribute (`type`) as well, so that a subscription's filter policy can pick types.
//!
//! An event counts as published only once SNS answered that it accepted it; anything else
//! leaves it in the outbox for the relay's next round.

use crate::config::describe;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sns::Client;
use bookstore_core::outbox::PendingEvent;
use bookstore_events::{BusError, BusHealth, EventBus};
use std::sync::Mutex;

/// SNS takes at most ten messages per `PublishBatch`.
const BATCH: usize = 10;
/// The message attribute that carries the event type.
pub const TYPE_ATTRIBUTE: &str = "type";

#[derive(Debug, thiserror::Error)]
pub enum SnsConfigError {
    #[error(
        "BOOKSTORE_SNS_TOPIC_ARN must name a FIFO topic (its name ends in .fifo): per-book \
         order and deduplication by event id need one"
    )]
    NotFifo,
    #[error("BOOKSTORE_SNS_TOPIC_ARN is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME.fifo)")]
    NotAnArn,
}

pub struct SnsBus {
    client: Client,
    topic_arn: String,
    /// Why the last wave failed, until one succeeds.
    problem: Mutex<Option<String>>,
}

impl SnsBus {
    pub fn new(config: &SdkConfig, topic_arn: String) -> Result<Self, SnsConfigError> {
        check_topic_arn(&topic_arn)?;
        Ok(Self {
            client: Client::new(config),
            topic_arn,
            problem: Mutex::new(None),
        })
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// Records the current problem, logging when it changes (not on every retry).
    fn note(&self, problem: Option<String>) {
        let Ok(mut current) = self.problem.lock() else {
            return;
        };
        if *current == problem {
            return;
        }
        match &problem {
            Some(problem) => tracing::warn!(
                topic = %self.topic_arn,
                %problem,
                "SNS is not taking events; they wait in the outbox"
            ),
            None => tracing::info!(topic = %self.topic_arn, "SNS takes events again"),
        }
        *current = problem;
    }

    async fn publish_batch(&self, events: &[PendingEvent]) -> Vec<Result<(), BusError>> {
        let mut results: Vec<Option<Result<(), BusError>>> = events.iter().map(|_| None).collect();
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match entry(index, event) {
                Ok(entry) => entries.push(entry),
                Err(err) => results[index] = Some(Err(err)),
            }
        }
        if entries.is_empty() {
            return results.into_iter().flatten().collect();
        }
        let answer = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        match answer {
            Err(err) => {
                let reason = describe(&err);
                for slot in results.iter_mut().filter(|slot| slot.is_none()) {
                    *slot = Some(Err(BusError::Unavailable(reason.clone())));
                }
            }
            Ok(output) => {
                for ok in output.successful() {
                    if let Some(slot) = ok.id().and_then(|id| id.parse::<usize>().ok()) {
                        if let Some(slot) = results.get_mut(slot) {
                            *slot = Some(Ok(()));
                        }
                    }
                }
                for failed in output.failed() {
                    let Some(index) = failed.id().parse::<usize>().ok() else {
                        continue;
                    };
                    let reason = format!(
                        "{}: {}",
                        failed.code(),
                        failed.message().unwrap_or("no message")
                    );
                    let Some(event) = events.get(index) else {
                        continue;
                    };
                    // The sender's fault will not go away by sending again.
                    results[index] = Some(Err(if failed.sender_fault() {
                        BusError::Rejected {
                            id: event.id,
                            reason,
                        }
                    } else {
                        BusError::Unavailable(reason)
                    }));
                }
            }
        }
        // An entry SNS said nothing about was not accepted.
        results
            .into_iter()
            .map(|slot| {
                slot.unwrap_or_else(|| {
                    Err(BusError::Unavailable(
                        "SNS did not answer for this message".into(),
                    ))
                })
            })
            .collect()
    }
}

/// A topic ARN whose name ends in `.fifo`.
pub fn check_topic_arn(arn: &str) -> Result<(), SnsConfigError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
        return Err(SnsConfigError::NotAnArn);
    }
    if !parts[5].ends_with(".fifo") {
        return Err(SnsConfigError::NotFifo);
    }
    Ok(())
}

fn entry(index: usize, event: &PendingEvent) -> Result<PublishBatchRequestEntry, BusError> {
    let rejected = |reason: String| BusError::Rejected {
        id: event.id,
        reason,
    };
    let body = serde_json::to_string(&event.payload).map_err(|err| rejected(err.to_string()))?;
    let kind = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(&event.event_type)
        .build()
        .map_err(|err| rejected(err.to_string()))?;
    PublishBatchRequestEntry::builder()
        .id(index.to_string())
        .message(body)
        .message_group_id(event.aggregate_id.to_string())
        .message_deduplication_id(event.id.to_string())
        .message_attributes(TYPE_ATTRIBUTE, kind)
        .build()
        .map_err(|err| rejected(err.to_string()))
}

#[async_trait]
impl EventBus for SnsBus {
    fn name(&self) -> &'static str {
        "sns"
    }

    async fn publish(&self, events: &[PendingEvent]) -> Vec<Result<(), BusError>> {
        let mut results = Vec::with_capacity(events.len());
        for chunk in events.chunks(BATCH) {
            results.extend(self.publish_batch(chunk).await);
        }
        let failure = results.iter().find_map(|r| r.as_ref().err());
        self.note(failure.map(ToString::to_string));
        results
    }

    async fn health(&self) -> BusHealth {
        match self.problem.lock().ok().and_then(|p| p.clone()) {
            None => BusHealth::Up,
            Some(problem) => BusHealth::Degraded(problem),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_arns_are_checked() {
        assert!(check_topic_arn("arn:aws:sns:eu-west-1:123456789012:books.fifo").is_ok());
        assert!(matches!(
            check_topic_arn("arn:aws:sns:eu-west-1:123456789012:books"),
            Err(SnsConfigError::NotFifo)
        ));
        assert!(matches!(
            check_topic_arn("books.fifo"),
            Err(SnsConfigError::NotAnArn)
        ));
    }
}
