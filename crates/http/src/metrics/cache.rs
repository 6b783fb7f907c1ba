//! The book cache's series, recorded by the routes that read through it.

use super::catalog::BOOK_CACHE;
use crate::cache::Answered;

pub fn answered(answered: Answered) {
    let result = match answered {
        Answered::Local => "hit",
        Answered::Shared => "shared_hit",
        Answered::Store => "miss",
    };
    metrics::counter!(BOOK_CACHE, "result" => result).increment(1);
}
