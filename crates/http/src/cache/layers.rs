//! Reads of one book through both cache levels: this process's [`BookCache`], then the cache
//! every replica shares (Redis, when configured), then the store; and what a local write
//! tells both levels before its answer leaves.

use super::{BookCache, RenderedBodies, Ticket};
use bookstore_core::consistency::ConsistencyToken;
use bookstore_core::shared_cache::{SharedBookCache, SharedLookup, SharedStamp};
use bookstore_core::{Book, BookId, Isbn};
use std::future::Future;
use std::sync::Arc;

/// Both levels; the shared one is optional. And the rendered bodies of what they hold.
pub struct CacheLevels {
    pub local: BookCache,
    pub shared: Option<Arc<dyn SharedBookCache>>,
    pub bodies: RenderedBodies,
}

/// Where a read was answered from (the `result` label of the cache's counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    Local,
    Shared,
    Store,
}

impl CacheLevels {
    pub fn new(
        local: BookCache,
        shared: Option<Arc<dyn SharedBookCache>>,
        bodies: RenderedBodies,
    ) -> Self {
        Self {
            local,
            shared,
            bodies,
        }
    }

    /// Book `id`, from the first level that may answer a client that requires `required`;
    /// `floor` is what a read of the store now is sure to see.
    pub async fn book<E, Fut>(
        &self,
        id: BookId,
        required: Option<ConsistencyToken>,
        floor: ConsistencyToken,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<(Arc<Book>, Answered), E>
    where
        Fut: Future<Output = Result<Book, E>>,
    {
        if let Some(book) = self.local.get(id, required) {
            return Ok((book, Answered::Local));
        }
        let ticket = self.local.ticket(floor);
        let lookup = match &self.shared {
            Some(shared) => shared.get(id).await,
            None => None,
        };
        self.finish(required, ticket, Some(id), lookup, fetch).await
    }

    /// The book with `isbn`, as [`CacheLevels::book`].
    pub async fn book_by_isbn<E, Fut>(
        &self,
        isbn: &Isbn,
        required: Option<ConsistencyToken>,
        floor: ConsistencyToken,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<(Arc<Book>, Answered), E>
    where
        Fut: Future<Output = Result<Book, E>>,
    {
        if let Some(book) = self.local.get_by_isbn(isbn, required) {
            return Ok((book, Answered::Local));
        }
        let ticket = self.local.ticket(floor);
        let shared_id = match &self.shared {
            Some(shared) => shared.id_of(isbn).await,
            None => None,
        };
        let lookup = match (&self.shared, shared_id) {
            (Some(shared), Some(id)) => shared.get(id).await.map(|mut lookup| {
                // The ISBN may have moved to another book since it was stored.
                lookup.entry = lookup.entry.filter(|e| &e.book.isbn == isbn);
                lookup
            }),
            _ => None,
        };
        self.finish(required, ticket, shared_id, lookup, fetch)
            .await
    }

    /// After a local miss: the shared entry if this process's rules let it through, else the
    /// store (whose answer both levels then keep).
    async fn finish<E, Fut>(
        &self,
        required: Option<ConsistencyToken>,
        ticket: Ticket,
        id: Option<BookId>,
        lookup: Option<SharedLookup>,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<(Arc<Book>, Answered), E>
    where
        Fut: Future<Output = Result<Book, E>>,
    {
        let stamp = lookup.as_ref().map(|l| l.stamp);
        if let (Some(entry), Some(id)) = (lookup.and_then(|l| l.entry), id) {
            // Kept locally under this process's rules (a newer version it has seen from an
            // event or a write wins), then served only if those rules let it through.
            self.local.store(
                &entry.book,
                ticket.with_floor(ConsistencyToken::from_lsn(entry.floor)),
            );
            if let Some(book) = self.local.get(id, required) {
                if book.version >= entry.book.version {
                    return Ok((book, Answered::Shared));
                }
            }
        }
        let book = fetch().await?;
        self.local.store(&book, ticket);
        if let (Some(shared), Some(stamp)) = (&self.shared, stamp) {
            spawn_put(shared.clone(), book.clone(), ticket, stamp);
        }
        Ok((Arc::new(book), Answered::Store))
    }

    /// A local write changed book `id` to `version` (when the answer says which): both levels
    /// drop what is older, before the answer leaves.
    pub async fn changed(&self, id: uuid::Uuid, version: Option<i64>) {
        self.local.drop_book(id, version);
        if let Some(shared) = &self.shared {
            let id = BookId::from_uuid(id);
            match version {
                Some(version) => shared.saw_version(id, version).await,
                None => shared.drop_book(id).await,
            }
        }
    }

    /// A local write changed books it does not name: nothing cached so far is served again.
    pub async fn changed_unnamed(&self) {
        self.local.drop_all();
        if let Some(shared) = &self.shared {
            shared.clear().await;
        }
    }

    /// An event: book `id` is at `version` now (`i64::MAX`: deleted; `None`: unknown).
    pub async fn saw(&self, id: uuid::Uuid, version: Option<i64>) {
        match version {
            Some(version) => self.local.saw_version(id, version),
            None => self.local.forget(id),
        }
        if let Some(shared) = &self.shared {
            let id = BookId::from_uuid(id);
            match version {
                Some(version) => shared.saw_version(id, version).await,
                None => shared.drop_book(id).await,
            }
        }
    }

    /// Why the shared level is not used now, while it is not.
    pub fn degraded(&self) -> Option<String> {
        self.shared.as_ref().and_then(|s| s.degraded())
    }
}

/// Stores a fresh read in the shared level without holding up the answer.
fn spawn_put(shared: Arc<dyn SharedBookCache>, book: Book, ticket: Ticket, stamp: SharedStamp) {
    tokio::spawn(async move {
        shared.put(&book, ticket.floor.lsn(), stamp).await;
    });
}
