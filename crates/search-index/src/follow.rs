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
        let (index, generation) = first_generation(&service, &*store, &*log).await;
        if let Err(error) = generations::remove_others(service.dir(), &generation) {
            tracing::warn!(%error, "cannot tidy the search index directory");
        }
        service.install(index, generation);
        follow(&service, &*log, &*signal).await;
    })
}

async fn follow(service: &IndexService, log: &dyn EventLog, signal: &dyn EventLogSignal) {
    let types = book_types();
    let mut next: Option<(Arc<SearchIndex>, PathBuf)> = None;
    let mut looked = Instant::now();
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
                None => service.caught_up(started),
            }
        }
        service.committed();
        if events.is_empty() {
            let _ = tokio::time::timeout(POLL, signal.grown_past(position)).await;
        }
    }
}
