//! Books by id and by ISBN kept in this process's memory (`BOOKSTORE_CACHE_MB`), for the
//! hot reads `GET /books/{id}` and `GET /books/isbn/{isbn}`.
//!
//! What keeps an entry from being older than a client may see:
//!
//! - **Events.** Every process follows the store's event log; an event of book `b` at
//!   version `v` drops a cached `b` older than `v` and keeps any read of an older `b` that is
//!   still in flight from being stored (each id keeps the lowest version it may still hold).
//! - **This process's writes.** A successful write request drops what it changed at once,
//!   before its answer leaves (the book of `/books/{id}...`; everything, for the rare writes
//!   that change books the route does not name: renames, stocktake commits); reads already in
//!   flight when it committed are not stored ([`Ticket`]).
//! - **Consistency tokens.** Each entry keeps a log position its read was sure to see; a
//!   request with a token beyond it is served from the store, never from the entry.
//! - **A time to live**, [`TTL`], for anything the above missed (a lost event).
//!
//! An entry is a whole version of a book, so its `ETag` (from the version) and its body
//! always agree.

mod bodies;
mod layers;

pub use bodies::RenderedBodies;
pub use layers::{Answered, CacheLevels};

use bookstore_core::consistency::ConsistencyToken;
use bookstore_core::{Book, BookId, Isbn};
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The longest an entry is served: the safety net should an event never arrive.
pub const TTL: Duration = Duration::from_secs(30);
/// Locks that make each id's check-then-store atomic (by id, so unrelated ids rarely wait).
const STRIPES: usize = 64;

#[derive(Clone)]
struct Slot {
    /// No version below this may be stored (an event or a write announced it).
    min_version: i64,
    /// The tick of the last local drop of this id: reads that started before it are not
    /// stored.
    dropped_at: u64,
    entry: Option<Arc<Entry>>,
}

struct Entry {
    book: Arc<Book>,
    /// A log position the read that fetched it was sure to see.
    floor: u64,
    /// The tick its read started at.
    tick: u64,
    stored: Instant,
}

/// What a read takes before it goes to the store, so that its result can be stored with
/// what it is sure to include.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    floor: ConsistencyToken,
    tick: u64,
}

impl Ticket {
    /// The same moment, with what a read from elsewhere (the shared cache) is sure to see.
    pub fn with_floor(self, floor: ConsistencyToken) -> Self {
        Self { floor, ..self }
    }
}

#[derive(Clone)]
struct BookWeight;

impl Weighter<Uuid, Slot> for BookWeight {
    fn weight(&self, _: &Uuid, slot: &Slot) -> u64 {
        const FIXED: u64 = 160;
        slot.entry
            .as_ref()
            .map_or(FIXED, |e| FIXED + book_bytes(&e.book))
    }
}

/// An estimate of the heap and inline bytes of a book.
fn book_bytes(book: &Book) -> u64 {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let strings = book.title.len()
        + text(&book.subtitle)
        + text(&book.description)
        + text(&book.publisher)
        + text(&book.language)
        + text(&book.location)
        + book
            .authors
            .iter()
            .map(|a| a.name.len() + 64)
            .sum::<usize>()
        + book.genres.iter().map(|g| g.name.len() + 48).sum::<usize>();
    u64::try_from(std::mem::size_of::<Book>() + std::mem::size_of::<Entry>() + strings)
        .unwrap_or(u64::MAX)
}

pub struct BookCache {
    by_id: Cache<Uuid, Slot, BookWeight>,
    by_isbn: Cache<Isbn, Uuid>,
    stripes: Vec<Mutex<()>>,
    /// Counts local drops.
    clock: AtomicU64,
    /// Entries read before this tick are not served (a local write changed books it did
    /// not name).
    cleared_at: AtomicU64,
    /// How long an entry is served ([`TTL`]; shorter in tests).
    ttl: Duration,
}

impl Entry {
    fn expired(&self, ttl: Duration) -> bool {
        self.stored.elapsed() >= ttl
    }
}

impl BookCache {
    /// A cache of about `bytes` of books; `None` for 0 (off).
    pub fn new(bytes: u64) -> Option<Self> {
        Self::with_ttl(bytes, TTL)
    }

    fn with_ttl(bytes: u64, ttl: Duration) -> Option<Self> {
        if bytes == 0 {
            return None;
        }
        // Books average about 1.5 KiB here; the item estimate only sizes the tables.
        let items = usize::try_from(bytes / 1536).unwrap_or(usize::MAX).max(16);
        Some(Self {
            by_id: Cache::with_weighter(items, bytes, BookWeight),
            by_isbn: Cache::new(items),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            clock: AtomicU64::new(0),
            cleared_at: AtomicU64::new(0),
            ttl,
        })
    }

    fn stripe(&self, id: Uuid) -> std::sync::MutexGuard<'_, ()> {
        let n = (id.as_u128() as usize) % STRIPES;
        // A poisoned stripe only means a panic elsewhere held it: the slot data is in the
        // cache, not behind the lock.
        self.stripes[n]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Taken before reading a book from the store, to [`BookCache::store`] it after.
    pub fn ticket(&self, floor: ConsistencyToken) -> Ticket {
        Ticket {
            floor,
            tick: self.clock.load(Ordering::Acquire),
        }
    }

    /// The cached book `id`, if there is one that `required` (a client's token) allows.
    pub fn get(&self, id: BookId, required: Option<ConsistencyToken>) -> Option<Arc<Book>> {
        let slot = self.by_id.get(&id.as_uuid())?;
        let entry = slot.entry?;
        let fresh = !entry.expired(self.ttl)
            && entry.tick >= self.cleared_at.load(Ordering::Acquire)
            && required.is_none_or(|t| entry.floor >= t.lsn());
        fresh.then(|| entry.book.clone())
    }

    /// The cached book with `isbn`, as [`BookCache::get`].
    pub fn get_by_isbn(
        &self,
        isbn: &Isbn,
        required: Option<ConsistencyToken>,
    ) -> Option<Arc<Book>> {
        let id = self.by_isbn.get(isbn)?;
        // The id's entry is kept current; if it still has this ISBN, no other book can.
        self.get(BookId::from_uuid(id), required)
            .filter(|book| &book.isbn == isbn)
    }

    /// Stores `book`, read from the store after `ticket` was taken, unless something newer
    /// is known of it.
    pub fn store(&self, book: &Book, ticket: Ticket) {
        let id = book.id.as_uuid();
        let cleared_at = self.cleared_at.load(Ordering::Acquire);
        if ticket.tick < cleared_at {
            return;
        }
        let _guard = self.stripe(id);
        let slot = self.by_id.get(&id);
        if let Some(slot) = &slot {
            let older = book.version < slot.min_version || ticket.tick < slot.dropped_at;
            // An expired entry is no reason to keep a fresh read out: it is never served
            // again, and keeping it would send every later read of the book to the store.
            let newer_cached = slot.entry.as_ref().is_some_and(|e| {
                !e.expired(self.ttl)
                    && e.tick >= cleared_at
                    && (e.book.version > book.version
                        || (e.book.version == book.version && e.floor >= ticket.floor.lsn()))
            });
            if older || newer_cached {
                return;
            }
        }
        let (min_version, dropped_at) =
            slot.map_or((book.version, 0), |s| (s.min_version, s.dropped_at));
        self.by_id.insert(
            id,
            Slot {
                min_version: min_version.max(book.version),
                dropped_at,
                entry: Some(Arc::new(Entry {
                    book: Arc::new(book.clone()),
                    floor: ticket.floor.lsn(),
                    tick: ticket.tick,
                    stored: Instant::now(),
                })),
            },
        );
        self.by_isbn.insert(book.isbn.clone(), id);
    }

    /// An event: book `id` is at `version` now (for a deletion, one past its last version).
    pub fn saw_version(&self, id: Uuid, version: i64) {
        let _guard = self.stripe(id);
        let slot = self.by_id.get(&id).unwrap_or(Slot {
            min_version: version,
            dropped_at: 0,
            entry: None,
        });
        let entry = slot.entry.filter(|e| e.book.version >= version);
        self.by_id.insert(
            id,
            Slot {
                min_version: slot.min_version.max(version),
                dropped_at: slot.dropped_at,
                entry,
            },
        );
    }

    /// A local write changed book `id` (to `version`, when known): drops it at once, and
    /// keeps reads that started before from storing it.
    pub fn drop_book(&self, id: Uuid, version: Option<i64>) {
        let _guard = self.stripe(id);
        let tick = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        let slot = self.by_id.get(&id);
        let min_version = slot.as_ref().map_or(0, |s| s.min_version);
        self.by_id.insert(
            id,
            Slot {
                min_version: version.map_or(min_version, |v| min_version.max(v)),
                dropped_at: tick,
                entry: None,
            },
        );
    }

    /// A local write changed books it does not name: nothing cached so far is served again.
    pub fn drop_all(&self) {
        let tick = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        self.cleared_at.fetch_max(tick, Ordering::AcqRel);
    }

    /// Forgets book `id` (an event this process could not read a version from).
    pub fn forget(&self, id: Uuid) {
        let _guard = self.stripe(id);
        self.by_id.remove(&id);
    }

    /// Bytes held, by the cache's estimate.
    pub fn weight(&self) -> u64 {
        self.by_id.weight()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use bookstore_core::{BookId, Quantity};
    use chrono::Utc;

    pub(in crate::cache) fn book(version: i64) -> Book {
        Book {
            id: BookId::from_uuid(Uuid::from_u128(7)),
            isbn: Isbn::parse("9780306406157").expect("valid"),
            title: "Cached".into(),
            subtitle: None,
            description: None,
            authors: Vec::new(),
            genres: Vec::new(),
            publisher: None,
            published_year: None,
            language: None,
            format: None,
            page_count: None,
            price: None,
            quantity: Quantity::ZERO,
            reorder_point: Quantity::ZERO,
            reorder_quantity: Quantity::ZERO,
            location: None,
            version,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn lsn(n: u64) -> ConsistencyToken {
        ConsistencyToken::from_lsn(n)
    }

    fn cache() -> BookCache {
        BookCache::new(1 << 20).expect("on")
    }

    #[test]
    fn zero_megabytes_is_off() {
        assert!(BookCache::new(0).is_none());
    }

    #[test]
    fn a_stored_book_is_served_by_id_and_isbn() {
        let cache = cache();
        let b = book(1);
        cache.store(&b, cache.ticket(lsn(10)));
        assert_eq!(cache.get(b.id, None).map(|b| b.version), Some(1));
        assert_eq!(cache.get_by_isbn(&b.isbn, None).map(|b| b.version), Some(1));
    }

    #[test]
    fn an_entry_older_than_the_token_is_not_served() {
        let cache = cache();
        let b = book(1);
        cache.store(&b, cache.ticket(lsn(10)));
        assert!(cache.get(b.id, Some(lsn(10))).is_some());
        assert!(cache.get(b.id, Some(lsn(11))).is_none());
        assert!(cache.get_by_isbn(&b.isbn, Some(lsn(11))).is_none());
    }

    #[test]
    fn an_event_drops_older_versions_and_keeps_late_reads_of_them_out() {
        let cache = cache();
        let ticket = cache.ticket(lsn(1));
        cache.store(&book(1), ticket);
        cache.saw_version(book(1).id.as_uuid(), 2);
        assert!(cache.get(book(1).id, None).is_none(), "dropped");
        // A read of version 1 that was in flight (a lagging replica) is not stored.
        cache.store(&book(1), cache.ticket(lsn(1)));
        assert!(cache.get(book(1).id, None).is_none());
        cache.store(&book(2), cache.ticket(lsn(2)));
        assert_eq!(cache.get(book(1).id, None).map(|b| b.version), Some(2));
        // An event of an older version changes nothing.
        cache.saw_version(book(1).id.as_uuid(), 1);
        assert_eq!(cache.get(book(1).id, None).map(|b| b.version), Some(2));
    }

    #[test]
    fn a_local_write_drops_the_book_and_reads_that_started_before_it() {
        let cache = cache();
        cache.store(&book(1), cache.ticket(lsn(1)));
        let before = cache.ticket(lsn(1));
        cache.drop_book(book(1).id.as_uuid(), None);
        assert!(cache.get(book(1).id, None).is_none());
        cache.store(&book(1), before);
        assert!(
            cache.get(book(1).id, None).is_none(),
            "a read from before the write"
        );
        cache.store(&book(2), cache.ticket(lsn(2)));
        assert!(
            cache.get(book(1).id, None).is_some(),
            "a read from after it"
        );
    }

    #[test]
    fn dropping_everything_keeps_reads_from_before_out() {
        let cache = cache();
        cache.store(&book(1), cache.ticket(lsn(1)));
        let before = cache.ticket(lsn(1));
        cache.drop_all();
        assert!(cache.get(book(1).id, None).is_none());
        cache.store(&book(1), before);
        assert!(cache.get(book(1).id, None).is_none());
        cache.store(&book(1), cache.ticket(lsn(1)));
        assert!(cache.get(book(1).id, None).is_some());
    }

    #[test]
    fn an_expired_entry_is_replaced_by_a_fresh_read_of_the_same_version() {
        // The bug: with no write in between, the read after the TTL found the expired entry
        // "as new" (same version, same log position) and did not store itself, so every
        // later read of the book went to the store.
        let cache = BookCache::with_ttl(1 << 20, Duration::from_millis(20)).expect("on");
        cache.store(&book(1), cache.ticket(lsn(5)));
        assert!(cache.get(book(1).id, None).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get(book(1).id, None).is_none(), "expired");
        cache.store(&book(1), cache.ticket(lsn(5)));
        assert_eq!(
            cache.get(book(1).id, None).map(|b| b.version),
            Some(1),
            "the fresh read is stored and served"
        );
        // An expired entry still keeps what an event announced: no older version comes back.
        cache.saw_version(book(1).id.as_uuid(), 2);
        std::thread::sleep(Duration::from_millis(30));
        cache.store(&book(1), cache.ticket(lsn(6)));
        assert!(cache.get(book(1).id, None).is_none());
    }

    #[test]
    fn an_isbn_given_to_another_book_is_not_served_from_the_old_one() {
        let cache = cache();
        let mut b = book(1);
        cache.store(&b, cache.ticket(lsn(1)));
        b.version = 2;
        b.isbn = Isbn::parse("9781861972712").expect("valid");
        cache.store(&b, cache.ticket(lsn(2)));
        assert!(cache
            .get_by_isbn(&Isbn::parse("9780306406157").expect("valid"), None)
            .is_none());
    }
}
