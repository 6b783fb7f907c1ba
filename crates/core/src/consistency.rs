//! Read-your-writes across read replicas and caches: the consistency token.
//!
//! A write answers with a token, the position of the primary's write-ahead log after its
//! commit; a client that sends the token back on a read is served only from a copy of the
//! data that has caught up with that position (a replica that has replayed it, a cache entry
//! read at or after it, or the primary). Without a token, a read may see data a little older
//! than the newest write (a replica within its lag bound).

use async_trait::async_trait;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A position in the primary's write-ahead log (PostgreSQL's `pg_lsn`), written as
/// PostgreSQL writes it: two hexadecimal numbers, `16/B374D848`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ConsistencyToken(u64);

/// A token that is not two hexadecimal numbers of at most 8 digits around a `/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a log position as a write returned it: two hexadecimal numbers of 1 to 8 digits around a '/' (as in 16/B374D848)")]
pub struct InvalidToken;

impl ConsistencyToken {
    pub const fn from_lsn(lsn: u64) -> Self {
        Self(lsn)
    }

    pub const fn lsn(self) -> u64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, InvalidToken> {
        let (high, low) = text.trim().split_once('/').ok_or(InvalidToken)?;
        let half = |part: &str| {
            let valid =
                (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit());
            if valid {
                u32::from_str_radix(part, 16).map_err(|_| InvalidToken)
            } else {
                Err(InvalidToken)
            }
        };
        Ok(Self((u64::from(half(high)?) << 32) | u64::from(half(low)?)))
    }
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Where the reads of one request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadScope {
    /// A write, or anything that must see the newest data: the primary only.
    Primary,
    /// A read: a replica that has replayed `at_least` (when given) or that is within the lag
    /// bound, else the primary.
    Replica { at_least: Option<ConsistencyToken> },
}

pub type ScopedFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The store's routing of reads between the primary and its replicas.
#[async_trait]
pub trait ReadRouting: Send + Sync + 'static {
    /// Whether writes should hand out tokens: where a read could otherwise see data older
    /// than the client's own write (read replicas, or a cache shared by several processes).
    fn issues_tokens(&self) -> bool;

    /// Runs `request` with its reads routed as `scope` says (reads made outside any scope go
    /// to the primary).
    fn scoped<'a>(&self, scope: ReadScope, request: ScopedFuture<'a>) -> ScopedFuture<'a>;

    /// The token of everything committed so far: the primary's log position now. `None` where
    /// there is nothing to tell apart (no replicas, or a store without a log position).
    async fn token_now(&self) -> Result<Option<ConsistencyToken>, crate::StoreError>;

    /// A position that every read starting now, in the current scope, is sure to see: what a
    /// cache records beside what it reads, to know later whether an entry is new enough for a
    /// token.
    fn read_floor(&self) -> ConsistencyToken;
}

/// The routing of a store without replicas: every read sees every committed write.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirectReads;

#[async_trait]
impl ReadRouting for DirectReads {
    fn issues_tokens(&self) -> bool {
        false
    }

    fn scoped<'a>(&self, _: ReadScope, request: ScopedFuture<'a>) -> ScopedFuture<'a> {
        request
    }

    async fn token_now(&self) -> Result<Option<ConsistencyToken>, crate::StoreError> {
        Ok(None)
    }

    fn read_floor(&self) -> ConsistencyToken {
        ConsistencyToken::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_and_print_as_postgresql_writes_log_positions() {
        let token = ConsistencyToken::parse("16/B374D848").expect("valid");
        assert_eq!(token.lsn(), 0x16_B374_D848);
        assert_eq!(token.to_string(), "16/B374D848");
        assert_eq!(ConsistencyToken::parse("0/0").expect("valid").lsn(), 0);
        assert_eq!(
            ConsistencyToken::parse("ffffffff/ffffffff")
                .expect("valid")
                .lsn(),
            u64::MAX
        );
        assert!(
            ConsistencyToken::from_lsn(0x16_B374_D848) > ConsistencyToken::from_lsn(0x16_B374_D847)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "/",
            "16",
            "16/",
            "/1",
            "1/2/3",
            "g/1",
            "123456789/1",
            "-1/2",
            "1 /2",
        ] {
            assert_eq!(ConsistencyToken::parse(text), Err(InvalidToken), "{text:?}");
        }
    }
}
