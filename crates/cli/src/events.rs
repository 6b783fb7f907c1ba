//! `bookstore events tail`: the published events as JSON lines, read from the store's event
//! log (what the relays published, never an uncommitted change), following until Ctrl-C.

use crate::config::Settings;
use crate::wiring;
use anyhow::{bail, Context};
use bookstore_core::event::BookEventKind;
use bookstore_core::outbox::{EventLog, LoggedEvent};
use clap::Subcommand;
use std::io::Write;
use std::time::Duration;

/// Events read from the log at a time.
const PAGE: u32 = 500;
/// The log is read this often without a wake-up: on SQLite the server that publishes is
/// another process, and on PostgreSQL a notification can be missed while reconnecting.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print published events as JSON lines, `{"position", "published_at", "event"}` (the
    /// event is the CloudEvent), and follow new ones until Ctrl-C.
    Tail {
        /// Start after this position: the last one you saw, or 0 for every event still kept.
        /// Default: from now (only events published from here on).
        #[arg(long, value_name = "POSITION")]
        from: Option<i64>,
        /// Only these event types, comma-separated (e.g. bookstore.book.created).
        #[arg(long, value_name = "TYPES", value_delimiter = ',')]
        types: Vec<String>,
        /// Print the events published so far and exit instead of following.
        #[arg(long)]
        no_follow: bool,
        /// Read the events from this SQS queue (subscribed to the SNS topic) instead of the
        /// store's event log: each is printed once, `{"event", "receive_count"}`, then
        /// deleted from the queue. Messages that are not events are left to the queue's
        /// dead-letter queue.
        #[cfg(feature = "aws")]
        #[arg(long, value_name = "QUEUE_URL", conflicts_with = "from")]
        sqs: Option<String>,
    },
}

pub async fn run(settings: Settings, command: EventsCommand) -> anyhow::Result<()> {
    let EventsCommand::Tail {
        from,
        types,
        no_follow,
        #[cfg(feature = "aws")]
        sqs,
    } = command;
    let types = checked_types(types)?;
    #[cfg(feature = "aws")]
    if let Some(queue_url) = sqs {
        let visibility = settings.aws.sqs_visibility_timeout;
        return crate::aws::tail(queue_url, visibility, &types, !no_follow).await;
    }
    if from.is_some_and(|from| from < 0) {
        bail!("--from must be a position: 0 or more");
    }
    let store = wiring::open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    let log = store.event_log();
    let mut wakeups = store.wakeups();
    let result = tail(log.as_ref(), &mut wakeups.head, from, &types, !no_follow).await;
    store.close().await;
    result
}

pub fn checked_types(types: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut checked: Vec<String> = Vec::new();
    for name in types.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if BookEventKind::parse(name).is_none() {
            let known: Vec<&str> = BookEventKind::ALL.iter().map(|k| k.event_type()).collect();
            bail!(
                "--types: '{name}' is not an event type; the types are {}",
                known.join(", ")
            );
        }
        if !checked.iter().any(|t| t == name) {
            checked.push(name.to_owned());
        }
    }
    Ok(checked)
}

/// One output line: the position (the resume point for `--from`) and the event as published.
fn line(event: &LoggedEvent) -> serde_json::Value {
    serde_json::json!({
        "position": event.position,
        "published_at": event.published_at,
        "event": event.payload,
    })
}

async fn tail(
    log: &dyn EventLog,
    grown: &mut tokio::sync::watch::Receiver<i64>,
    from: Option<i64>,
    types: &[String],
    follow: bool,
) -> anyhow::Result<()> {
    let mut seen = match from {
        Some(from) => from,
        None => log.head().await.context("reading the event log")?,
    };
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let mut out = std::io::stdout().lock();
    loop {
        // The head first: every position up to it has committed, so a page that is not full
        // has shown every event up to it.
        let head = log.head().await.context("reading the event log")?;
        let page = log
            .read_after(seen, PAGE, types)
            .await
            .context("reading the event log")?;
        let full = page.len() >= PAGE as usize;
        for event in &page {
            seen = seen.max(event.position);
            let written = writeln!(out, "{}", line(event)).and_then(|()| out.flush());
            match written {
                Ok(()) => {}
                // The reader went away (`| head`): done, not failed.
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(err) => return Err(err).context("writing to standard output"),
            }
        }
        if full {
            continue;
        }
        seen = seen.max(head);
        if !follow {
            return Ok(());
        }
        tokio::select! {
            changed = grown.changed() => {
                if changed.is_err() {
                    // The store stopped announcing: polling alone from here.
                    tokio::time::sleep(POLL).await;
                }
            }
            () = tokio::time::sleep(POLL) => {}
            _ = &mut stop => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked() {
        assert_eq!(
            checked_types(vec![
                "bookstore.book.created".into(),
                " bookstore.book.created".into()
            ])
            .expect("valid"),
            ["bookstore.book.created"]
        );
        assert!(checked_types(vec!["book.eaten".into()]).is_err());
    }
}
