//! A reader that counts the bytes it hands over, and refuses to hand over more than a bound
//! between two calls of [`Counting::mark`]: a CSV record (or XML element) that never ends
//! must not grow a buffer to the size of the file.

use std::io::{self, Read};

pub(crate) struct Counting<R> {
    inner: R,
    total: u64,
    since_mark: u64,
    bound: u64,
}

impl<R: Read> Counting<R> {
    pub(crate) fn new(inner: R, bound: u64) -> Self {
        Self {
            inner,
            total: 0,
            since_mark: 0,
            bound,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// A record ended: the bound applies afresh.
    pub(crate) fn mark(&mut self) {
        self.since_mark = 0;
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.since_mark > self.bound {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                RecordTooLong(self.bound),
            ));
        }
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        self.since_mark += n as u64;
        Ok(n)
    }
}

/// The error a too long record reads as.
#[derive(Debug, thiserror::Error)]
#[error("a record is longer than {0} bytes")]
pub(crate) struct RecordTooLong(pub(crate) u64);
