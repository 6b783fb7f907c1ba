//! The in-process announcement of the event log's growth, which readers wait on.

use async_trait::async_trait;
use bookstore_core::outbox::EventLogSignal;
use std::sync::Arc;
use tokio::sync::watch;

/// The highest event-log position this process knows of. The relay announces what it
/// published; on PostgreSQL, a listener announces what other replicas published.
#[derive(Clone)]
pub struct LogSignal {
    head: Arc<watch::Sender<i64>>,
}

impl LogSignal {
    pub fn new(head: i64) -> Self {
        Self {
            head: Arc::new(watch::Sender::new(head)),
        }
    }

    pub fn announce(&self, position: i64) {
        self.head.send_if_modified(|head| {
            let grew = position > *head;
            if grew {
                *head = position;
            }
            grew
        });
    }

    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }
}

#[async_trait]
impl EventLogSignal for LogSignal {
    async fn grown_past(&self, position: i64) {
        let mut head = self.head.subscribe();
        // The sender lives as long as `self`, so this only ends when the log grew.
        let _ = head.wait_for(|head| *head > position).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_reader_wakes_when_the_log_grows_past_its_position() {
        let signal = LogSignal::new(3);
        let waiter = {
            let signal = signal.clone();
            tokio::spawn(async move { signal.grown_past(5).await })
        };
        signal.announce(5);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "5 is not past 5");
        signal.announce(4);
        assert_eq!(signal.head(), 5, "the head never goes back");
        signal.announce(6);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
