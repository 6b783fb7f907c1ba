//! The book cache's series, recorded by the routes that read through it.

use super::catalog::BOOK_CACHE;

pub fn hit() {
    metrics::counter!(BOOK_CACHE, "result" => "hit").increment(1);
}

pub fn miss() {
    metrics::counter!(BOOK_CACHE, "result" => "miss").increment(1);
}
