//! The book cache every replica shares (see `bookstore_core::shared_cache`), in Redis.
//!
//! Keys, under the deployment's prefix: `book:{id}`, a hash of the entry (`v` version, `f`
//! floor, `g` generation, `b` the book as JSON), of `m`, the lowest version that may still
//! be stored (announced by writes and events), and of `d`, raised when the book is dropped; `isbn:{isbn13}`, the id of the book stored with
//! that ISBN; `books:generation`, raised by [`SharedBookCache::clear`]. Each operation is one
//! Lua script, so that its checks and its write are atomic.

use crate::link::{supervise, Link, Probed, Wording};
use crate::{InvalidUrl, RedisSettings};
use async_trait::async_trait;
use bookstore_core::shared_cache::{SharedBookCache, SharedEntry, SharedLookup, SharedStamp};
use bookstore_core::{Book, BookId, Isbn};
use std::sync::Arc;
use std::time::Duration;

/// The entry if it is current. KEYS: book, generation. Returns {generation, drops} or
/// {generation, drops, version, floor, book}.
const GET: &str = r"
local gen = redis.call('GET', KEYS[2]) or '0'
local e = redis.call('HMGET', KEYS[1], 'v', 'f', 'g', 'b', 'm', 'd')
local drops = e[6] or '0'
if e[1] and e[3] == gen and tonumber(e[1]) >= tonumber(e[5] or '0') then
  return {gen, drops, e[1], e[2], e[4]}
end
return {gen, drops}
";

/// Stores an entry unless it is stale. KEYS: book, generation, isbn. ARGV: version, floor,
/// generation and drops at lookup, book, time to live (ms), id. Returns 1 when stored.
const PUT: &str = r"
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[3] then return 0 end
if (redis.call('HGET', KEYS[1], 'd') or '0') ~= ARGV[4] then return 0 end
local v = tonumber(ARGV[1])
local m = tonumber(redis.call('HGET', KEYS[1], 'm') or '0')
if v < m then return 0 end
local have = redis.call('HGET', KEYS[1], 'v')
if have and tonumber(have) > v then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'f', ARGV[2], 'g', ARGV[3], 'b', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SET', KEYS[3], ARGV[7], 'PX', ARGV[6])
return 1
";

/// A version announced: older entries go and are not stored again. KEYS: book. ARGV:
/// version, time to live of the announcement (ms).
const SAW: &str = r"
local v = tonumber(ARGV[1])
local m = tonumber(redis.call('HGET', KEYS[1], 'm') or '0')
if v > m then
  redis.call('HSET', KEYS[1], 'm', ARGV[1])
  local have = redis.call('HGET', KEYS[1], 'v')
  if have and tonumber(have) < v then redis.call('HDEL', KEYS[1], 'v', 'f', 'g', 'b') end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
";

/// The book changed to a version the caller does not know. KEYS: book. ARGV: time to live
/// of the drop (ms).
const DROP: &str = r"
redis.call('HINCRBY', KEYS[1], 'd', 1)
redis.call('HDEL', KEYS[1], 'v', 'f', 'g', 'b')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Raises the generation: every entry stored so far is no longer served (ARGV[1] 'raise'),
/// or reads it ('peek'). KEYS: generation.
const CLEAR: &str = r"
if ARGV[1] == 'peek' then return tonumber(redis.call('GET', KEYS[1]) or '0') end
return redis.call('INCR', KEYS[1])
";

pub struct RedisBookCache {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    ttl: Duration,
    get: redis::Script,
    put: redis::Script,
    saw: redis::Script,
    drop: redis::Script,
    clear: redis::Script,
}

impl RedisBookCache {
    /// Connects as [`crate::RedisLimiter::connect`] does; entries live at most `ttl`.
    pub async fn connect(settings: RedisSettings, ttl: Duration) -> Result<Self, InvalidUrl> {
        let client = redis::Client::open(settings.url.as_str()).map_err(InvalidUrl)?;
        let wording = Wording {
            up: "the book cache is shared through Redis",
            back: "Redis is reachable again: the shared book cache is cleared and used again",
            down: "Redis is unreachable: books are read from the store until it is back",
        };
        let inner = Arc::new(Inner {
            link: Link::new(client, settings.prefix, settings.timeout, wording),
            ttl,
            get: redis::Script::new(GET),
            put: redis::Script::new(PUT),
            saw: redis::Script::new(SAW),
            drop: redis::Script::new(DROP),
            clear: redis::Script::new(CLEAR),
        });
        inner.probe().await;
        supervise(Arc::downgrade(&inner));
        Ok(Self { inner })
    }
}

impl Inner {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.link.prefix)
    }

    fn book_key(&self, id: BookId) -> String {
        self.key(&format!("book:{}", id.as_uuid()))
    }

    fn isbn_key(&self, isbn: &Isbn) -> String {
        self.key(&format!("isbn:{}", isbn.as_str()))
    }

    fn generation_key(&self) -> String {
        self.key("books:generation")
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        if !self.link.is_up() {
            return None;
        }
        match self.link.invoke::<T>(invocation).await {
            Ok(value) => Some(value),
            Err(reason) => {
                self.link.mark_down(reason);
                None
            }
        }
    }
}

#[async_trait]
impl SharedBookCache for RedisBookCache {
    async fn get(&self, id: BookId) -> Option<SharedLookup> {
        let inner = &self.inner;
        let mut invocation = inner.get.prepare_invoke();
        invocation
            .key(inner.book_key(id))
            .key(inner.generation_key());
        let reply: Vec<String> = inner.run(&invocation).await?;
        let stamp = SharedStamp {
            generation: reply.first()?.parse().ok()?,
            drops: reply.get(1)?.parse().ok()?,
        };
        let entry = match reply.as_slice() {
            [_, _, version, floor, body] => {
                let book: Option<Book> = serde_json::from_str(body).ok();
                let floor = floor.parse().ok();
                match (book, floor) {
                    (Some(book), Some(floor))
                        if book.id == id && version.parse() == Ok(book.version) =>
                    {
                        Some(SharedEntry { book, floor })
                    }
                    // Written by another build of the service, or damaged: not served.
                    _ => None,
                }
            }
            _ => None,
        };
        Some(SharedLookup { entry, stamp })
    }

    async fn id_of(&self, isbn: &Isbn) -> Option<BookId> {
        let inner = &self.inner;
        if !inner.link.is_up() {
            return None;
        }
        let mut connection = match inner.link.connection().await {
            Ok(connection) => connection,
            Err(reason) => {
                inner.link.mark_down(reason);
                return None;
            }
        };
        let mut command = redis::cmd("GET");
        command.arg(inner.isbn_key(isbn));
        let call = command.query_async::<Option<String>>(&mut connection);
        match tokio::time::timeout(inner.link.timeout, call).await {
            Ok(Ok(id)) => id?.parse::<uuid::Uuid>().ok().map(BookId::from_uuid),
            Ok(Err(err)) => {
                inner.link.mark_down(err.to_string());
                None
            }
            Err(_) => None,
        }
    }

    async fn put(&self, book: &Book, floor: u64, stamp: SharedStamp) {
        let inner = &self.inner;
        let Ok(body) = serde_json::to_string(book) else {
            return;
        };
        let mut invocation = inner.put.prepare_invoke();
        invocation
            .key(inner.book_key(book.id))
            .key(inner.generation_key())
            .key(inner.isbn_key(&book.isbn))
            .arg(book.version)
            .arg(floor)
            .arg(stamp.generation)
            .arg(stamp.drops)
            .arg(body)
            .arg(inner.ttl_ms())
            .arg(book.id.as_uuid().to_string());
        let _: Option<i64> = inner.run(&invocation).await;
    }

    async fn saw_version(&self, id: BookId, version: i64) {
        let inner = &self.inner;
        let mut invocation = inner.saw.prepare_invoke();
        invocation
            .key(inner.book_key(id))
            .arg(version)
            .arg(inner.ttl_ms().saturating_mul(2));
        let _: Option<i64> = inner.run(&invocation).await;
    }

    async fn drop_book(&self, id: BookId) {
        let inner = &self.inner;
        let mut invocation = inner.drop.prepare_invoke();
        invocation
            .key(inner.book_key(id))
            .arg(inner.ttl_ms().saturating_mul(2));
        let _: Option<i64> = inner.run(&invocation).await;
    }

    async fn clear(&self) {
        let inner = &self.inner;
        let mut invocation = inner.clear.prepare_invoke();
        invocation.key(inner.generation_key()).arg("raise");
        let _: Option<i64> = inner.run(&invocation).await;
    }

    fn degraded(&self) -> Option<String> {
        let reason = self.inner.link.outage()?;
        Some(format!(
            "Redis is unreachable ({reason}); the shared book cache is not used"
        ))
    }
}

#[async_trait]
impl Probed for Inner {
    fn link(&self) -> &Link {
        &self.link
    }

    /// Checks that Redis answers. After an outage, what this process could not announce
    /// while Redis was away (a write, a clear) may have left stale entries: everything is
    /// cleared before anything is served from Redis again. (The other replicas announce
    /// every event too, so this only shortens the time a stale entry could live.)
    async fn probe(&self) {
        let how = if self.link.in_outage() {
            "raise"
        } else {
            "peek"
        };
        let mut invocation = self.clear.prepare_invoke();
        invocation.key(self.generation_key()).arg(how);
        match self.link.invoke::<i64>(&invocation).await {
            Ok(_) => self.link.mark_up(),
            Err(reason) => self.link.mark_down(reason),
        }
    }
}
