//! What a connection is doing, for the idle bounds: requests in flight, when it last fell
//! idle, when the first byte of its next request came. The transport is wrapped so that it
//! notices that first byte, and so that a connection closed with a client still sending is
//! closed the way nginx's lingering close does it: the sending side is shut down, and what
//! the client still sends is read and dropped for a moment, so that its kernel does not
//! answer our close with a reset that destroys the response it has not read yet.

use super::ConnectionTimeouts;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// A lingering close reads for at most this long in all (nginx's `lingering_time`)...
const LINGER_TOTAL: Duration = Duration::from_secs(30);
/// ...and gives up when the client has sent nothing for this long (`lingering_timeout`).
const LINGER_QUIET: Duration = Duration::from_secs(5);

const NONE: u64 = u64::MAX;

pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    served: AtomicBool,
    /// Milliseconds after `opened`.
    idle_since: AtomicU64,
    first_byte: AtomicU64,
    linger: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            first_byte: AtomicU64::new(NONE),
            linger: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    /// A request's header has been read; the returned guard ends it when dropped (after
    /// its response has been written, or when it is abandoned).
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.first_byte.store(NONE, Ordering::Release);
        RequestGuard(self.clone())
    }

    /// Close this connection the lingering way when it ends.
    pub fn linger(&self) {
        self.linger.store(true, Ordering::Release);
    }

    fn saw_bytes(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.first_byte.load(Ordering::Acquire) == NONE
        {
            let _ = self.first_byte.compare_exchange(
                NONE,
                self.now_ms(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// When the connection, idle as it is now, is to be closed; `None` while it serves.
    pub fn deadline(&self, timeouts: &ConnectionTimeouts) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let first_byte = self.first_byte.load(Ordering::Acquire);
        if first_byte != NONE {
            return Some(self.at(first_byte) + timeouts.client_header_timeout);
        }
        let idle_since = self.at(self.idle_since.load(Ordering::Acquire));
        Some(if self.served.load(Ordering::Acquire) {
            idle_since + timeouts.keepalive_timeout
        } else {
            idle_since + timeouts.client_header_timeout
        })
    }
}

pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .idle_since
            .store(activity.now_ms(), Ordering::Release);
        activity.served.store(true, Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The transport of one connection, watched for [`Activity`].
pub struct Watched<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    io: Option<S>,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Watched<S> {
    pub fn new(io: S, activity: Arc<Activity>) -> Self {
        Self {
            io: Some(io),
            activity,
        }
    }

    fn io(&mut self) -> io::Result<&mut S> {
        self.io
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let io = match self.io() {
            Ok(io) => io,
            Err(err) => return Poll::Ready(Err(err)),
        };
        let result = Pin::new(io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.saw_bytes();
        }
        result
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_write(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(|io| io.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_flush(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_shutdown(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for Watched<S> {
    fn drop(&mut self) {
        if !self.activity.linger.load(Ordering::Acquire) {
            return;
        }
        let (Some(io), Ok(runtime)) = (self.io.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(linger(io));
    }
}

/// Shuts the sending side down and reads what the client still sends until it closes, goes
/// quiet, or the time is up; then the socket closes with nothing unread.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) {
    let _ = tokio::time::timeout(LINGER_QUIET, io.shutdown()).await;
    let until = Instant::now() + LINGER_TOTAL;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let quiet = (Instant::now() + LINGER_QUIET).min(until);
        match tokio::time::timeout_at(quiet, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => break,
        }
    }
}
