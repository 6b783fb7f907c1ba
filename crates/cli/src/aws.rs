//! Wiring of the AWS adapters (the `aws` feature): the SDK configuration, shared by every
//! client, and the SNS bus.

use crate::config::{Role, Settings};
use anyhow::Context;
use aws_config::SdkConfig;
use bookstore_aws::SnsBus;
use bookstore_events::EventBus;
use std::sync::Arc;

/// The SDK's configuration from the standard AWS variables and files.
pub async fn sdk_config() -> SdkConfig {
    let config = bookstore_aws::config::load().await;
    tracing::info!(region = %bookstore_aws::config::region(&config), "AWS SDK configured");
    config
}

/// The SNS bus, when a topic is configured and this process runs the relay (the only role
/// that publishes).
pub fn sns_bus(
    settings: &Settings,
    config: Option<&SdkConfig>,
) -> anyhow::Result<Option<Arc<dyn EventBus>>> {
    let (Some(arn), Some(config)) = (&settings.aws.sns_topic_arn, config) else {
        return Ok(None);
    };
    if !settings.roles.roles.has(Role::Relay) {
        return Ok(None);
    }
    let bus = SnsBus::new(config, arn.clone()).context("BOOKSTORE_SNS_TOPIC_ARN")?;
    tracing::info!(topic = %arn, "events go to SNS");
    Ok(Some(Arc::new(bus)))
}

/// `bookstore events tail --sqs QUEUE_URL`: the queue's events as JSON lines, each once
/// (deleted after it is written), until Ctrl-C; without `follow`, until a long poll finds
/// the queue empty.
pub async fn tail(
    queue_url: String,
    visibility: std::time::Duration,
    types: &[String],
    follow: bool,
) -> anyhow::Result<()> {
    use std::io::Write;
    let config = sdk_config().await;
    let mut consumer = bookstore_aws::QueueConsumer::new(&config, queue_url, visibility);
    if !follow {
        consumer = consumer.with_wait(std::time::Duration::from_secs(2));
    }
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let mut out = std::io::stdout().lock();
    loop {
        let deliveries = tokio::select! {
            received = consumer.receive() => received.context("reading the queue")?,
            _ = &mut stop => return Ok(()),
        };
        if deliveries.is_empty() && !follow {
            return Ok(());
        }
        for delivery in &deliveries {
            let kind = delivery.event.get("type").and_then(|t| t.as_str());
            if types.is_empty() || kind.is_some_and(|k| types.iter().any(|t| t == k)) {
                let line = serde_json::json!({
                    "event": delivery.event,
                    "receive_count": delivery.receive_count,
                });
                match writeln!(out, "{line}").and_then(|()| out.flush()) {
                    Ok(()) => {}
                    // The reader went away (`| head`): done; this message is not deleted.
                    Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(err) => return Err(err).context("writing to standard output"),
                }
            }
            // Deleted only once written: a crash in between prints it again, never loses it.
            consumer
                .ack(delivery)
                .await
                .context("deleting from the queue")?;
        }
    }
}

/// The wrapped data key's file in the data directory when `BOOKSTORE_KEK` names only the KMS
/// key: ciphertext that only KMS can open, so not key material.
const WRAPPED_KEK_FILE: &str = "kek.kms";

/// `BOOKSTORE_KEK=kms:KEY[#WRAPPED]`: the key-encryption key is a data key wrapped under the
/// KMS key `KEY` (an id, ARN or `alias/NAME`). `WRAPPED` is its wrapped copy in base64; without
/// it the wrapped copy is kept in the data directory, made on the first start.
pub async fn kms_kek(settings: &Settings, reference: &str) -> anyhow::Result<bookstore_auth::Kek> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use secrecy::ExposeSecret;
    let (key_id, wrapped) = match reference.split_once('#') {
        Some((key, wrapped)) => (key, Some(wrapped.trim().to_owned())),
        None => (reference, None),
    };
    if key_id.is_empty() {
        anyhow::bail!("BOOKSTORE_KEK=kms: names no KMS key (kms:alias/NAME)");
    }
    let kms = bookstore_aws::KmsKek::new(&sdk_config().await, key_id);
    let path = settings.store.data_dir.join(WRAPPED_KEK_FILE);
    let wrapped = match wrapped {
        Some(wrapped) => Some(wrapped),
        None if path.exists() => Some(
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading the wrapped key {}", path.display()))?,
        ),
        None => None,
    };
    let plaintext = match wrapped {
        Some(wrapped) => {
            let wrapped = STANDARD
                .decode(wrapped.trim())
                .context("the wrapped key-encryption key is not base64")?;
            kms.unwrap(&wrapped)
                .await
                .context("unwrapping the key-encryption key")?
        }
        None => {
            let key = kms
                .generate()
                .await
                .context("making the key-encryption key")?;
            let text = STANDARD.encode(&key.wrapped);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, &text)
                .with_context(|| format!("writing the wrapped key {}", path.display()))?;
            tracing::info!(
                path = %path.display(),
                "made a key-encryption key under KMS; only its wrapped copy is kept. Replicas \
                 sharing this database need the same one: set BOOKSTORE_KEK=kms:{key_id}#<the \
                 file's content> on each"
            );
            key.plaintext
        }
    };
    tracing::info!(key = key_id, "key-encryption key unwrapped by KMS");
    bookstore_auth::Kek::from_base64(&STANDARD.encode(plaintext.expose_secret()))
        .context("the key-encryption key from KMS")
}

/// The DynamoDB read model's subscriber, when this process runs the `subscribers` role and
/// `BOOKSTORE_SQS_QUEUE_URL` and `BOOKSTORE_DYNAMODB_TABLE` are set: a task reading the queue
/// until aborted (a message in hand then comes back after the visibility timeout).
pub async fn read_model(
    settings: &Settings,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if !settings.roles.roles.has(Role::Subscribers) {
        return Ok(None);
    }
    let Some((queue, table)) = settings.aws.read_model()? else {
        return Ok(None);
    };
    let config = sdk_config().await;
    let consumer = bookstore_aws::QueueConsumer::new(
        &config,
        queue.to_owned(),
        settings.aws.sqs_visibility_timeout,
    );
    let table = bookstore_aws::BooksTable::new(&config, table.to_owned());
    Ok(Some(
        bookstore_aws::dynamodb::subscriber::Subscriber::new(consumer, table).spawn(),
    ))
}

/// `bookstore index rebuild --target dynamodb`.
pub async fn rebuild_read_model(
    settings: &Settings,
    store: &bookstore_store::Store,
) -> anyhow::Result<()> {
    let Some(table) = &settings.aws.dynamodb_table else {
        anyhow::bail!(
            "--target dynamodb rebuilds the table named by BOOKSTORE_DYNAMODB_TABLE: set it"
        );
    };
    let started = std::time::Instant::now();
    let table = bookstore_aws::BooksTable::new(&sdk_config().await, table.clone());
    let progress = |n: u64| {
        if n.is_multiple_of(100_000) {
            eprintln!("  {n} books");
        }
    };
    let done = bookstore_aws::dynamodb::rebuild::rebuild(&table, &*store.catalog(), &progress)
        .await
        .with_context(|| format!("rebuilding the DynamoDB table {}", table.name()))?;
    println!(
        "rebuilt the DynamoDB table {}: {} books in the store, {} items written (the others \
         were current or newer), {} items of deleted books removed, {} books created meanwhile \
         kept, in {:.1} s",
        table.name(),
        done.books,
        done.written,
        done.removed,
        done.kept,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
