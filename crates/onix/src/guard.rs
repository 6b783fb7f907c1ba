//! The byte layer under the XML parser: it checks that the input is UTF-8 as it streams past,
//! counts the absolute byte offset, and hands the parser no more bytes than the current
//! budget allows. quick-xml buffers a whole event (a text node, a start tag) before returning
//! it, so without a budget here one 1 GB text node would be buffered before any limit could
//! be checked.

use std::io::{self, BufRead, Read};

/// Bytes read from the source at a time; the only buffer besides quick-xml's event buffer.
const CHUNK: usize = 64 * 1024;

/// Which limit a refused read ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trip {
    /// The budget of the current event or product was spent.
    Budget,
    /// The byte at this absolute offset does not continue valid UTF-8.
    InvalidUtf8 { offset: u64 },
}

pub(crate) struct Guard<R> {
    inner: R,
    buf: Box<[u8]>,
    /// `buf[start..valid_end]` is validated UTF-8 not yet consumed.
    start: usize,
    valid_end: usize,
    /// `buf[valid_end..end]` is an incomplete UTF-8 sequence (at most 3 bytes) waiting for
    /// the rest of its bytes, or the invalid bytes when `bad` is set.
    end: usize,
    /// Absolute offset of `buf[start]`.
    offset: u64,
    /// The input holds invalid UTF-8 at `valid_end`.
    bad: bool,
    eof: bool,
    at_start: bool,
    /// How many more bytes the parser may consume.
    allowance: u64,
    tripped: Option<Trip>,
}

impl<R: Read> Guard<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; CHUNK].into_boxed_slice(),
            start: 0,
            valid_end: 0,
            end: 0,
            offset: 0,
            bad: false,
            eof: false,
            at_start: true,
            allowance: u64::MAX,
            tripped: None,
        }
    }

    /// Absolute offset of the next byte the parser will see.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn set_allowance(&mut self, bytes: u64) {
        self.allowance = bytes;
    }

    /// Why the last read failed, when it was refused here rather than by the source.
    pub(crate) fn tripped(&self) -> Option<Trip> {
        self.tripped
    }

    /// Reads more of the source until at least one validated byte is available, the source
    /// ends, or invalid UTF-8 is found.
    fn refill(&mut self) -> io::Result<()> {
        while self.start == self.valid_end && !self.bad && !self.eof {
            // Keep the incomplete tail, drop what was consumed.
            let tail = self.end - self.valid_end;
            self.buf.copy_within(self.valid_end..self.end, 0);
            self.start = 0;
            self.valid_end = 0;
            self.end = tail;
            let n = loop {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
                if tail > 0 {
                    // The input ends inside a multi-byte sequence.
                    self.bad = true;
                }
                break;
            }
            self.end += n;
            if self.at_start {
                if self.end < 3 && self.buf[..self.end] == b"\xEF\xBB\xBF"[..self.end] {
                    // Too few bytes to tell a byte-order mark yet.
                    self.valid_end = 0;
                    continue;
                }
                self.at_start = false;
                if self.buf[..self.end].starts_with(b"\xEF\xBB\xBF") {
                    // The UTF-8 byte-order mark is not part of the document.
                    self.start = 3;
                    self.valid_end = 3;
                    self.offset += 3;
                }
            }
            match std::str::from_utf8(&self.buf[self.valid_end..self.end]) {
                Ok(_) => self.valid_end = self.end,
                Err(e) => {
                    self.valid_end += e.valid_up_to();
                    if e.error_len().is_some() {
                        self.bad = true;
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Guard<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.refill()?;
        if self.start == self.valid_end && self.bad {
            let trip = Trip::InvalidUtf8 {
                offset: self.offset,
            };
            self.tripped = Some(trip);
            return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid UTF-8"));
        }
        let available = (self.valid_end - self.start) as u64;
        if available > 0 && self.allowance == 0 {
            self.tripped = Some(Trip::Budget);
            return Err(io::Error::other("input budget spent"));
        }
        let n = available.min(self.allowance) as usize;
        Ok(&self.buf[self.start..self.start + n])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.valid_end - self.start);
        self.start += amt;
        self.offset += amt as u64;
        self.allowance = self.allowance.saturating_sub(amt as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out one byte per read, so that every multi-byte character is
    /// split across reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn drain<R: Read>(g: &mut Guard<R>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        g.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn passes_split_multibyte_characters_through() {
        let text = "Grüße, 書籍 🦀";
        let mut g = Guard::new(Trickle(text.as_bytes()));
        assert_eq!(drain(&mut g).expect("valid"), text.as_bytes());
        assert_eq!(g.offset(), text.len() as u64);
    }

    #[test]
    fn strips_a_byte_order_mark_and_counts_it() {
        let mut g = Guard::new(&b"\xEF\xBB\xBF<a/>"[..]);
        assert_eq!(drain(&mut g).expect("valid"), b"<a/>");
        assert_eq!(g.offset(), 7);
    }

    #[test]
    fn refuses_invalid_utf8_at_its_offset() {
        let mut g = Guard::new(Trickle(b"<a>ok\xFFno</a>"));
        assert!(drain(&mut g).is_err());
        assert_eq!(g.tripped(), Some(Trip::InvalidUtf8 { offset: 5 }));
    }

    #[test]
    fn refuses_a_truncated_multibyte_sequence_at_the_end() {
        let mut g = Guard::new(&b"ab\xE6\x9B"[..]);
        assert!(drain(&mut g).is_err());
        assert_eq!(g.tripped(), Some(Trip::InvalidUtf8 { offset: 2 }));
    }

    #[test]
    fn stops_at_the_allowance() {
        let mut g = Guard::new(&b"0123456789"[..]);
        g.set_allowance(4);
        assert!(drain(&mut g).is_err());
        assert_eq!(g.tripped(), Some(Trip::Budget));
        assert_eq!(g.offset(), 4);
    }
}
