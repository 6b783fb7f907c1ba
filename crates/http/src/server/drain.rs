//! Early answers that the client can read. A request refused before its body is read (415,
//! 401, 403, 404, 413, 429) leaves that body on the wire: hyper would then close the
//! connection with it unread, and the client's kernel would take our close for a reset and
//! throw the answer away. So the rest of an unread HTTP/1 body is read and dropped before
//! the answer goes out, up to a bound, and the connection stays usable; past the bound the
//! answer says `Connection: close` and the connection closes lingering (see
//! [`super::connection`]).

use super::connection::{Activity, RequestGuard};
use crate::state::Draining;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request, Response, Version};
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::ServiceExt;

/// At most this much of an unread body is read to keep the connection...
pub const DRAIN_LIMIT: u64 = 1024 * 1024;
/// ...within this time.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// What a request body left behind when whoever held it let go of it.
#[derive(Default)]
struct Leftover {
    unread: Mutex<Option<Incoming>>,
    polled: AtomicBool,
    read: AtomicU64,
}

/// The request body as the application sees it: hands the unread rest back when dropped.
struct Tracked {
    inner: Option<Incoming>,
    leftover: Arc<Leftover>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.leftover.polled.store(true, Ordering::Release);
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let result = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &result {
            if let Some(data) = frame.data_ref() {
                self.leftover
                    .read
                    .fetch_add(data.len() as u64, Ordering::AcqRel);
            }
        }
        if let Poll::Ready(None) = result {
            self.inner = None;
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(HttpBody::size_hint)
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            if !inner.is_end_stream() {
                *self
                    .leftover
                    .unread
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(inner);
            }
        }
    }
}

/// The response body, holding the request open until it has been written.
struct Guarded {
    body: Body,
    _request: RequestGuard,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves one request with `app`, then reads what is left of its body (see the module).
pub async fn serve(
    app: Router,
    fast: Option<Arc<crate::fast::FastPath>>,
    activity: Arc<Activity>,
    draining: Draining,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let guard = activity.begin_request();
    let http1 = request.version() <= Version::HTTP_11;
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let leftover = Arc::new(Leftover::default());
    let request = request.map(|incoming| {
        Body::new(Tracked {
            inner: Some(incoming),
            leftover: leftover.clone(),
        })
    });
    let request = match &fast {
        Some(fast) => fast.serve(request).await,
        None => Err(request),
    };
    let mut response = match request {
        Ok(response) => response,
        Err(request) => {
            let Ok(response) = app.oneshot(request).await;
            response
        }
    };
    let unread = leftover
        .unread
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let (true, Some(unread)) = (http1, unread) {
        // A client waiting for 100 Continue has not sent the body and will not: asking for
        // it now would only make it send what we are about to refuse.
        let untouched = !leftover.polled.load(Ordering::Acquire);
        let remaining =
            declared.map(|length| length.saturating_sub(leftover.read.load(Ordering::Acquire)));
        let drained = !(expects_continue && untouched)
            && remaining.is_none_or(|r| r <= DRAIN_LIMIT)
            && drain(unread).await;
        if !drained {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            activity.linger();
        }
    }
    if http1 && draining.is_draining() {
        // Read after the answer was made, so that a request that was being served when the
        // drain began is told too.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response.map(|body| {
        Body::new(Guarded {
            body,
            _request: guard,
        })
    }))
}

/// Reads `body` to its end within the bounds; `false` when it did not end within them.
async fn drain(mut body: Incoming) -> bool {
    let until = tokio::time::Instant::now() + DRAIN_TIME;
    let mut read: u64 = 0;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        match tokio::time::timeout_at(until, frame).await {
            Ok(None) => return true,
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    read = read.saturating_add(data.len() as u64);
                    if read > DRAIN_LIMIT {
                        return false;
                    }
                }
            }
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}
