//! The JSON bodies of cached books, by book, version and API version: a hot book is rendered
//! once per version, not once per request. Rendering (the DTO's strings copied, the JSON
//! written) was the largest part of a cached read's own work after the socket's.
//!
//! A body is keyed by the exact version it shows, so it can never be served for another one:
//! what keeps the cache of books coherent keeps this one too, and old versions simply age out.

use crate::dto::book::render;
use crate::version::ApiVersion;
use axum::body::Bytes;
use axum::http::HeaderValue;
use bookstore_core::Book;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use uuid::Uuid;

type Key = (Uuid, i64, ApiVersion);

#[derive(Clone)]
struct BodyWeight;

impl Weighter<Key, Rendered> for BodyWeight {
    fn weight(&self, _: &Key, rendered: &Rendered) -> u64 {
        // The key, the entry's bookkeeping and the bytes.
        64 + rendered.body.len() as u64 + rendered.etag.len() as u64
    }
}

/// A body and the `ETag` of the version it shows, made once (the tag's text too).
#[derive(Clone)]
pub struct Rendered {
    pub body: Bytes,
    pub etag: HeaderValue,
}

pub struct RenderedBodies {
    bodies: Cache<Key, Rendered, BodyWeight>,
}

impl RenderedBodies {
    /// Room for about `bytes` of bodies.
    pub fn new(bytes: u64) -> Self {
        // Bodies average about 1 KiB; the estimate only sizes the tables.
        let items = usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16);
        Self {
            bodies: Cache::with_weighter(items, bytes.max(1), BodyWeight),
        }
    }

    /// `book` as JSON in `version`'s shape, rendered now or earlier; `None` when it cannot be
    /// serialized (the caller renders it the ordinary way and reports the error).
    pub fn body(&self, book: &Book, version: ApiVersion) -> Option<Rendered> {
        let key = (book.id.as_uuid(), book.version, version);
        if let Some(rendered) = self.bodies.get(&key) {
            return Some(rendered);
        }
        let rendered = Rendered {
            body: Bytes::from(serde_json::to_vec(&render(book, version)).ok()?),
            etag: HeaderValue::from_str(&crate::etag::format(book.version)).ok()?,
        };
        self.bodies.insert(key, rendered.clone());
        Some(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_rendered_once_per_version_and_shape() {
        let bodies = RenderedBodies::new(1 << 20);
        let mut book = super::super::tests::book(1);
        // A price, which the two versions show differently (a number of cents, a decimal).
        let euro = bookstore_core::Currency::parse("EUR").expect("EUR");
        book.price = Some(bookstore_core::Money::new(1999, euro).expect("price"));
        let v1 = bodies.body(&book, ApiVersion::V1).expect("v1");
        assert_eq!(v1.etag, "\"1\"", "the version's tag");
        let v1 = v1.body;
        assert_eq!(
            v1,
            serde_json::to_vec(&render(&book, ApiVersion::V1)).expect("json")
        );
        let v2 = bodies.body(&book, ApiVersion::V2).expect("v2").body;
        assert_ne!(v1, v2, "each version has its own shape");
        // The same version again is the same bytes (one allocation, shared).
        let again = bodies.body(&book, ApiVersion::V1).expect("again").body;
        assert_eq!(again.as_ptr(), v1.as_ptr());
        // A new version is rendered anew, never answered with the old body.
        book.version += 1;
        book.title = "Changed".into();
        let changed = bodies.body(&book, ApiVersion::V1).expect("changed");
        assert_eq!(changed.etag, "\"2\"", "the new version's tag");
        let changed = changed.body;
        assert_ne!(changed, v1);
        assert!(String::from_utf8_lossy(&changed).contains("Changed"));
    }
}
