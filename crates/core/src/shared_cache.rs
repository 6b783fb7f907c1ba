//! A book cache shared by every replica (Redis when `REDIS_URL` is set): the second level
//! under each process's own, so that a replica that has not read a book yet does not have to
//! ask the database for it either.
//!
//! What keeps a shared entry from being older than a client may see is the same as for the
//! process's own cache, made to hold across processes:
//!
//! - every write announces the version it made ([`SharedBookCache::saw_version`]) before its
//!   answer leaves, and every replica announces the versions of the events it follows; an
//!   entry older than an announced version is gone, and a read of an older version that was
//!   still in flight is not stored afterwards;
//! - writes that change books they do not name clear everything ([`SharedBookCache::clear`]):
//!   a read that started before the clear is not stored;
//! - each entry keeps the log position its read was sure to see (consistency tokens);
//! - a time to live, for anything the above missed.

use crate::{Book, BookId, Isbn};
use async_trait::async_trait;

/// A book found in the shared cache.
#[derive(Debug, Clone)]
pub struct SharedEntry {
    pub book: Book,
    /// A log position its read was sure to see.
    pub floor: u64,
}

/// What a lookup found, with what a later [`SharedBookCache::put`] of a fresh read needs.
#[derive(Debug, Clone)]
pub struct SharedLookup {
    pub entry: Option<SharedEntry>,
    /// The state of the cache and of the book's key when the lookup was made: a read of the
    /// store that starts after the lookup is stored under it, and not at all if the book was
    /// dropped or everything cleared meanwhile.
    pub stamp: SharedStamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedStamp {
    pub generation: u64,
    pub drops: u64,
}

#[async_trait]
pub trait SharedBookCache: Send + Sync + 'static {
    /// Book `id`'s entry, if there is a current one. `None` when the cache cannot be asked
    /// (then nothing is stored either).
    async fn get(&self, id: BookId) -> Option<SharedLookup>;

    /// The id of the book that had `isbn` when it was stored (check the book's ISBN).
    async fn id_of(&self, isbn: &Isbn) -> Option<BookId>;

    /// Stores `book`, read from the store after a lookup that returned `stamp`, unless a
    /// newer version was announced, the book dropped or everything cleared since.
    async fn put(&self, book: &Book, floor: u64, stamp: SharedStamp);

    /// Book `id` is at `version` now (`i64::MAX`: deleted): older entries go, and are not
    /// stored again. Errors are the cache's own business (it stops serving until it is sure
    /// again), so this never fails.
    async fn saw_version(&self, id: BookId, version: i64);

    /// Book `id` changed to a version the caller does not know: its entry goes, and reads
    /// that looked it up before are not stored.
    async fn drop_book(&self, id: BookId);

    /// Everything stored so far goes.
    async fn clear(&self);

    /// Why the shared cache is not used now, while it is not (for `/readyz`).
    fn degraded(&self) -> Option<String>;
}
