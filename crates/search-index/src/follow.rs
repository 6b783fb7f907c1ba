//! The subscriber that keeps the index: it reads the store's event log after the position
//! the index committed last, applies each batch in one commit with the batch's last position
//! (so a restart, even after kill -9, resumes exactly there: a batch is in the index with its
//! position or not at all), and swaps in a rebuilt generation once it has caught up.

use crate::build::build;
use crate::generations;
use crate::service::IndexService;
use crate::{Change, SearchIndex};
use bookstore_core::event::BookEventKind;
use bookstore_core::outbox::{EventLog, EventLogSignal, LoggedEvent};
use bookstore_core::{Book, CatalogStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Events per commit: small, so that a write is searchable soon under load too.
const BATCH: u32 = 256;
/// The log is read this often without a wake-up (a notification can be missed).
const POLL: Duration = Duration::from_millis(500);
const RETRY: Duration = Duration::from_secs(1);
/// How often the follower looks for a generation published by `bookstore index rebuild`.
const LOOK_FOR_REBUILDS: Duration = Duration::from_secs(1);

/// The change an event makes to the index (`None` for events of other kinds).
pub fn change_of(event: &LoggedEvent) -> Option<Change> {
    let kind = BookEventKind::parse(&event.event_type)?;
    let version = event.payload.get("version")?.as_i64()?;
    match kind {
        BookEventKind::Deleted => Some(Change::Delete {
            id: event.aggregate_id,
            version,
        }),
        _ => {
            let data = event.payload.get("data")?;
            let book: Book = match serde_json::from_value(data.clone()) {
                Ok(book) => book,
                Err(error) => {
                    tracing::error!(%error, event = %event.id, "a book event the index cannot read; skipped");
                    return None;
                }
            };
            let json = serde_json::to_vec(data).ok()?;
            Some(Change::Upsert {
                book: Box::new(book),
                json,
            })
        }
    }
}

fn book_types() -> Vec<String> {
    BookEventKind::ALL
        .iter()
        .map(|k| k.event_type().to_owned())
        .collect()
}

/// Opens the current generation, or builds the first one from the store.
async fn first_generation(
    service: &IndexService,
    store: &dyn CatalogStore,
    log: &dyn EventLog,
) -> (Arc<SearchIndex>, PathBuf) {
    loop {
        let dir = service.dir().to_owned();
        let opened = match generations::current(&dir) {
            // Opening reads and may wait on the index's files: not on a runtime worker.
            Ok(Some(generation)) => {
                let path = generation.clone();
                match tokio::task::spawn_blocking(move || SearchIndex::open(&path)).await {
                    Ok(opened) => opened.map(|ix| Some((Arc::new(ix), generation))),
                    Err(e) => Err(crate::IndexError::Io(std::io::Error::other(e))),
                }
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.into()),
        };
        let opened = match opened {
            Err(crate::IndexError::Outdated) => {
                tracing::info!(
                    "the search index was built by another version of the service: \
                     building it again from the store"
                );
                Ok(None)
            }
            other => other,
        };
        match opened {
            Ok(Some(found)) => return found,
            Ok(None) => {
                tracing::info!("no search index yet: building one from the store");
                let started = Instant::now();
                match build(store, log, &dir, &|_| {}).await {
                    Ok(built) => {
                        tracing::info!(
                            books = built.books,
                            position = built.position,
                            seconds = started.elapsed().as_secs_f64(),
                            "search index built"
                        );
                        if let Err(error) = generations::publish(&dir, &built.generation) {
                            tracing::error!(%error, "cannot publish the search index");
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot build the search index; retrying");
                        tokio::time::sleep(RETRY * 5).await;
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot open the search index; retrying");
                tokio::time::sleep(RETRY * 5).await;
            }
        }
    }
}

pub fn start(
    service: Arc<IndexService>,
    store: Arc<dyn CatalogStore>,
    log: Arc<dyn EventLog>,
    signal: Arc<dyn EventLogSignal>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        service.set_log(log.clone());
        let (index, generation) = first_generation(&service, &*store, &*log).await;
        if let Err(error) = generations::remove_others(service.dir(), &generation) {
            tracing::warn!(%error, "cannot tidy the search index directory");
        }
        service.install(index, generation);
        follow(&service, &*store, &*log, &*signal).await;
    })
}

/// Whether the log pruned events after `position` (the index could not replay them).
async fn lost_events(log: &dyn EventLog, position: i64) -> bool {
    match log.pruned_through().await {
        Ok(pruned) => pruned > position,
        Err(error) => {
            tracing::warn!(%error, "the search index cannot tell whether the event log was pruned");
            false
        }
    }
}

/// Builds and publishes a fresh generation (the stale one stays installed, not answering).
async fn rebuild_beside(
    service: &IndexService,
    store: &dyn CatalogStore,
    log: &dyn EventLog,
) -> Option<(Arc<SearchIndex>, PathBuf)> {
    let started = Instant::now();
    let built = match build(store, log, service.dir(), &|_| {}).await {
        Ok(built) => built,
        Err(error) => {
            tracing::error!(%error, "cannot rebuild the search index; retrying");
            return None;
        }
    };
    tracing::info!(
        books = built.books,
        position = built.position,
        seconds = started.elapsed().as_secs_f64(),
        "search index rebuilt from the store"
    );
    if let Err(error) = generations::publish(service.dir(), &built.generation) {
        tracing::error!(%error, "cannot publish the rebuilt search index");
        return None;
    }
    let path = built.generation.clone();
    match tokio::task::spawn_blocking(move || SearchIndex::open(&path)).await {
        Ok(Ok(ix)) => Some((Arc::new(ix), built.generation)),
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot open the rebuilt search index");
            None
        }
        Err(error) => {
            tracing::error!(%error, "the search index's opening task failed");
            None
        }
    }
}

async fn follow(
    service: &IndexService,
    store: &dyn CatalogStore,
    log: &dyn EventLog,
    signal: &dyn EventLogSignal,
) {
    let types = book_types();
    let mut next: Option<(Arc<SearchIndex>, PathBuf)> = None;
    let mut looked = Instant::now();
    // At the start only: a running follower reads every event soon after it is published
    // (and its position stays at the last *book* event, so that later, when other events
    // before it are pruned, a check would rebuild for nothing).
    let mut check_pruned = true;
    loop {
        if looked.elapsed() >= LOOK_FOR_REBUILDS {
            looked = Instant::now();
            if let Ok(Some(published)) = generations::current(service.dir()) {
                let known = service.generation().as_ref() == Some(&published)
                    || next.as_ref().is_some_and(|(_, g)| *g == published);
                if !known {
                    match SearchIndex::open(&published) {
                        Ok(ix) => {
                            tracing::info!(generation = %published.display(), "a rebuilt search index was published; catching it up");
                            service.set_next_catching_up(true);
                            next = Some((Arc::new(ix), published));
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot open the published search index")
                        }
                    }
                }
            }
        }
        let target = match &next {
            Some((ix, _)) => ix.clone(),
            None => match service.current() {
                Some(ix) => ix,
                None => return,
            },
        };
        let started = Instant::now();
        let position = target.position();
        if next.is_none() && std::mem::take(&mut check_pruned) && lost_events(log, position).await {
            tracing::warn!(
                position,
                "the event log no longer holds the events after the search index's position \
                 (pruned past the outbox retention): rebuilding it from the store; the store \
                 answers searches meanwhile"
            );
            service.set_stale(true);
            metrics::counter!("bookstore_search_index_rebuilds_total", "reason" => "pruned")
                .increment(1);
            match rebuild_beside(service, store, log).await {
                Some(fresh) => next = Some(fresh),
                None => {
                    check_pruned = true;
                    tokio::time::sleep(RETRY * 5).await;
                }
            }
            continue;
        }
        // The head before the read: once the read reaches the end of the log, every event
        // up to it was read (positions become visible in order), books' or not.
        let head_before = match next {
            None => log.head().await.ok(),
            Some(_) => None,
        };
        let events = match log.read_after(position, BATCH, &types).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "the search index cannot read the event log; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let read_all = events.len() < BATCH as usize;
        if let Some(last) = events.last().map(|e| e.position) {
            let changes: Vec<Change> = events.iter().filter_map(change_of).collect();
            let applying = target.clone();
            let applied = tokio::task::spawn_blocking(move || applying.apply(&changes, last)).await;
            match applied {
                Ok(Ok(n)) => {
                    metrics::counter!("bookstore_search_index_events_total")
                        .increment(events.len() as u64);
                    metrics::counter!("bookstore_search_index_applied_total").increment(n as u64);
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "the search index cannot apply events; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, "the search index's writer stopped; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        if read_all {
            match next.take() {
                Some((ix, generation)) => {
                    tracing::info!(generation = %generation.display(), "the rebuilt search index caught up; it answers now");
                    service.install(ix, generation.clone());
                    if let Err(error) = generations::remove_others(service.dir(), &generation) {
                        tracing::warn!(%error, "cannot remove the old search index");
                    }
                }
                None => {
                    service.read_through(target.position().max(head_before.unwrap_or(0)));
                    service.caught_up(started);
                }
            }
        }
        service.committed();
        if events.is_empty() {
            // Past the head seen, not the index's position: after events of other kinds the
            // head is ahead of the last book event, and the wait would end at once.
            let seen = position.max(head_before.unwrap_or(0));
            let _ = tokio::time::timeout(POLL, signal.grown_past(seen)).await;
        }
    }
}
