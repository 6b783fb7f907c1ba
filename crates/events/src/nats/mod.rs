//! The NATS JetStream bus (ARCHITECTURE.md, "Events"): each event is a message on the subject
//! of its type (`bookstore.book.created`), its CloudEvent JSON the payload, with
//! `Nats-Msg-Id` = the event id so that JetStream's duplicate window drops the second copy a
//! relay sends after a crash or a lost acknowledgement.
//!
//! An event counts as published only once JetStream acknowledged storing it (an
//! acknowledgement that it was a duplicate counts too: JetStream has it). A wave is sent
//! whole before its acknowledgements are awaited, under one deadline.
//!
//! NATS being down never stops the service: the client connects and reconnects in the
//! background, [`EventBus::publish`] answers "unavailable" at once while it is away (the relay
//! keeps the events in the outbox and tries again), and `/readyz` reports the bus degraded.

mod config;
mod credentials;
pub mod stream;

pub use config::{ConfigError, NatsConfig, DEFAULT_STREAM, DEFAULT_SUBJECTS, EVENT_TYPES};

use crate::bus::{BusError, BusHealth, EventBus};
use async_nats::connection::State;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::{Client, ConnectOptions, Event};
use async_trait::async_trait;
use bookstore_core::outbox::PendingEvent;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How often the client pings the server: how soon a server that hangs without closing the
/// connection is noticed.
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// The CloudEvents structured mode's media type, for consumers that look at headers.
const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

#[derive(Debug, Error)]
pub enum NatsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the NATS CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("setting up the NATS client: {0}")]
    Client(String),
}

/// The bus. Cheap to share: clone the `Arc` it comes in.
pub struct NatsBus {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    js: async_nats::jetstream::Context,
    stream: String,
    subjects: Vec<String>,
    timeout: Duration,
    /// Set once the stream is known to exist with our subjects; cleared on every reconnect
    /// (the server may have come back without it) and when JetStream says it has no stream
    /// for a subject.
    stream_ready: AtomicBool,
    setup: tokio::sync::Mutex<()>,
    /// Why the last attempt failed, while NATS is connected but not taking events.
    problem: Mutex<Option<String>>,
    duplicates: AtomicU64,
}

impl NatsBus {
    /// The client, connecting in the background: this returns at once, NATS up or not, and
    /// fails only on a configuration that can never work.
    pub async fn connect(config: NatsConfig) -> Result<Arc<Self>, NatsError> {
        config.check()?;
        let target = credentials::split(&config.url).map_err(ConfigError::Url)?;
        let connected = Arc::new(Notify::new());
        let mut options = ConnectOptions::new()
            .name("bookstore")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(config.publish_timeout)
            .request_timeout(Some(config.publish_timeout))
            .ping_interval(PING_INTERVAL)
            .event_callback({
                let connected = connected.clone();
                move |event| {
                    let connected = connected.clone();
                    async move { on_event(event, &connected) }
                }
            });
        if let Some(ca) = &config.ca_file {
            // Read now so that a wrong path stops the start instead of every connection.
            std::fs::metadata(ca).map_err(|source| NatsError::CaFile {
                path: ca.display().to_string(),
                source,
            })?;
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        options = match target.auth {
            credentials::Auth::None => options,
            credentials::Auth::Token(token) => options.token(token),
            credentials::Auth::UserPassword(user, password) => {
                options.user_and_password(user, password)
            }
        };
        let client = options
            .connect(target.servers)
            .await
            .map_err(|err| NatsError::Client(err.to_string()))?;
        let js = async_nats::jetstream::context::ContextBuilder::new()
            .timeout(config.publish_timeout)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let inner = Arc::new(Inner {
            client,
            js,
            stream: config.stream,
            subjects: config.subjects,
            timeout: config.publish_timeout,
            stream_ready: AtomicBool::new(false),
            setup: tokio::sync::Mutex::new(()),
            problem: Mutex::new(None),
            duplicates: AtomicU64::new(0),
        });
        tokio::spawn(set_up_on_connect(Arc::downgrade(&inner), connected));
        tokio::spawn(warn_if_not_connected(Arc::downgrade(&inner)));
        Ok(Arc::new(Self { inner }))
    }

    /// The stream the events go to.
    pub fn stream(&self) -> &str {
        &self.inner.stream
    }

    /// How many events JetStream acknowledged as copies it already had, since start.
    pub fn duplicates_dropped(&self) -> u64 {
        self.inner.duplicates.load(Ordering::Relaxed)
    }

    /// Whether the client is connected to a server now.
    pub fn connected(&self) -> bool {
        self.inner.client.connection_state() == State::Connected
    }
}

fn on_event(event: Event, connected: &Notify) {
    match event {
        Event::Connected => {
            tracing::info!("connected to NATS");
            connected.notify_one();
        }
        Event::Disconnected => tracing::warn!(
            "NATS is unreachable: writes go on, their events wait in the outbox and are \
             published when it is back"
        ),
        Event::ServerError(err) => tracing::warn!(error = %err, "NATS server error"),
        Event::ClientError(err) => tracing::warn!(error = %err, "NATS client error"),
        _ => {}
    }
}

/// Makes sure of the stream on every (re)connection, so that the first wave after an outage
/// does not pay for it and a server that came back empty gets it again.
async fn set_up_on_connect(inner: Weak<Inner>, connected: Arc<Notify>) {
    loop {
        connected.notified().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.stream_ready.store(false, Ordering::Release);
        // A failure is noted and logged there; the next publish tries again.
        let _ = inner.set_up_stream().await;
    }
}

async fn warn_if_not_connected(inner: Weak<Inner>) {
    let Some(wait) = inner.upgrade().map(|inner| inner.timeout) else {
        return;
    };
    tokio::time::sleep(wait).await;
    if let Some(inner) = inner.upgrade() {
        if inner.client.connection_state() != State::Connected {
            tracing::warn!(
                "NATS is not reachable yet: serving anyway; events wait in the outbox and are \
                 published once it is"
            );
        }
    }
}

impl Inner {
    async fn set_up_stream(&self) -> Result<(), String> {
        if self.stream_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one_at_a_time = self.setup.lock().await;
        if self.stream_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        match stream::ensure(&self.js, &self.stream, &self.subjects).await {
            Ok(ensured) => {
                match ensured {
                    stream::Ensured::Existed => {
                        tracing::info!(stream = %self.stream, "JetStream stream found")
                    }
                    stream::Ensured::Created => tracing::info!(
                        stream = %self.stream,
                        subjects = ?self.subjects,
                        "created the JetStream stream"
                    ),
                    stream::Ensured::Updated { previous_subjects } => tracing::warn!(
                        stream = %self.stream,
                        subjects = ?self.subjects,
                        ?previous_subjects,
                        "changed the subjects of the JetStream stream to the configured ones"
                    ),
                }
                self.stream_ready.store(true, Ordering::Release);
                Ok(())
            }
            Err(problem) => {
                self.note(Some(problem.clone()));
                Err(problem)
            }
        }
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
                stream = %self.stream,
                %problem,
                "JetStream is not taking events; they wait in the outbox"
            ),
            None => tracing::info!(stream = %self.stream, "JetStream takes events again"),
        }
        *current = problem;
    }

    async fn send(
        &self,
        event: &PendingEvent,
        deadline: Instant,
    ) -> Result<PublishAckFuture, BusError> {
        let payload = serde_json::to_vec(&event.payload).map_err(|err| BusError::Rejected {
            id: event.id,
            reason: err.to_string(),
        })?;
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(event.id.to_string())
            .header("Content-Type", CLOUDEVENTS_JSON);
        match tokio::time::timeout_at(
            deadline,
            self.js.send_publish(event.event_type.clone(), message),
        )
        .await
        {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(err)) => Err(self.publish_error(event, err.kind(), &err.to_string())),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn publish_error(&self, event: &PendingEvent, kind: PublishErrorKind, text: &str) -> BusError {
        match kind {
            PublishErrorKind::StreamNotFound => {
                // Removed behind our back, or the server came back without it: set it up
                // again before the next wave.
                self.stream_ready.store(false, Ordering::Release);
                BusError::Unavailable(format!(
                    "no JetStream stream captures the subject {}",
                    event.event_type
                ))
            }
            PublishErrorKind::MaxPayloadExceeded
            | PublishErrorKind::WrongLastMessageId
            | PublishErrorKind::WrongLastSequence => BusError::Rejected {
                id: event.id,
                reason: text.to_owned(),
            },
            _ => BusError::Unavailable(text.to_owned()),
        }
    }

    fn timed_out(&self) -> BusError {
        BusError::Unavailable(format!(
            "JetStream did not acknowledge within {} ms",
            self.timeout.as_millis()
        ))
    }
}

fn all_unavailable(count: usize, reason: &str) -> Vec<Result<(), BusError>> {
    (0..count)
        .map(|_| Err(BusError::Unavailable(reason.to_owned())))
        .collect()
}

#[async_trait]
impl EventBus for NatsBus {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn publish(&self, events: &[PendingEvent]) -> Vec<Result<(), BusError>> {
        let inner = &self.inner;
        if events.is_empty() {
            return Vec::new();
        }
        // Sent now, a message would wait in the client's buffer and reach JetStream whenever
        // the connection is back, long after the relay gave up on it: say so at once instead.
        if inner.client.connection_state() != State::Connected {
            return all_unavailable(events.len(), "not connected to NATS");
        }
        if let Err(problem) = inner.set_up_stream().await {
            return all_unavailable(events.len(), &problem);
        }
        let deadline = Instant::now() + inner.timeout;
        let mut sent = Vec::with_capacity(events.len());
        for event in events {
            sent.push(inner.send(event, deadline).await);
        }
        let mut results = Vec::with_capacity(events.len());
        let mut duplicates = 0_u64;
        for (event, ack) in events.iter().zip(sent) {
            let result = match ack {
                Err(err) => Err(err),
                Ok(ack) => match tokio::time::timeout_at(deadline, ack.into_future()).await {
                    Ok(Ok(ack)) => {
                        duplicates += u64::from(ack.duplicate);
                        Ok(())
                    }
                    Ok(Err(err)) => Err(inner.publish_error(event, err.kind(), &err.to_string())),
                    Err(_) => Err(inner.timed_out()),
                },
            };
            results.push(result);
        }
        if duplicates > 0 {
            inner.duplicates.fetch_add(duplicates, Ordering::Relaxed);
            tracing::info!(
                duplicates,
                "JetStream dropped events it already had (sent again after a crash or a lost \
                 acknowledgement)"
            );
        }
        let failure = results.iter().find_map(|r| r.as_ref().err());
        inner.note(failure.map(ToString::to_string));
        results
    }

    async fn health(&self) -> BusHealth {
        match self.inner.client.connection_state() {
            State::Connected => match self.inner.problem.lock().ok().and_then(|p| p.clone()) {
                None => BusHealth::Up,
                Some(problem) => BusHealth::Degraded(problem),
            },
            State::Pending => BusHealth::Degraded("not connected to NATS yet".into()),
            State::Disconnected => BusHealth::Degraded("NATS is unreachable".into()),
        }
    }
}
