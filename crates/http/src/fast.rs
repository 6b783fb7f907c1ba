//! The fast path of cached reads: `GET /books/{id}` and `GET /books/isbn/{isbn}` answered from
//! this process's book cache without the router and its layers, when nothing about the request
//! needs them.
//!
//! A cached read is cheap; what it cost was the way to it (the router, a dozen layers, each
//! boxing and moving the request and the response). The fast path takes the requests that the
//! whole stack would answer from the cache and answers them with the same functions, in the
//! same order: the gateway's steps ([`crate::gateway::around`]: metrics, request id and trace
//! context, header limit, timeout, security headers), the client's address, the token check's
//! series, the user's rate limit ([`crate::ratelimit::count_user`]: its headers, or its 429),
//! the handler's answer ([`crate::routes::books::cached_get`]: the body, `ETag`, 304) and the
//! version's stamp ([`crate::version::stamp`]). So the answers are the same, byte for byte but
//! for the per-request ids, and so are the series recorded.
//!
//! Everything else goes the whole way, undecided and untouched (nothing is recorded or counted
//! before the fast path is sure to answer): any other method, path or query; a header the
//! fast path does not know (`Origin`, `Forwarded`, `If-Match`, a body...); an `Accept` that
//! negotiates no version (406); a consistency token that does not parse (400) or that the
//! cached entry cannot satisfy; no token, or one that does not verify (401) or may not read;
//! a book not in this process's cache; exported traces (the server span names the route the
//! router matched); CORS (configured CORS answers with its own headers) — the fast path is
//! then off altogether, and so it is without the book cache or with `BOOKSTORE_FAST_PATH=off`.

use crate::cache::{Answered, CacheLevels};
use crate::client_ip::TrustedProxies;
use crate::gateway::{self, header_limit, Steps};
use crate::ratelimit::{self, Limits};
use crate::state::AppState;
use crate::version::{self, ApiVersion};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, Method, Uri};
use axum::response::Response;
use bookstore_core::auth::VerifiedToken;
use bookstore_core::{Book, BookId, Isbn};
use std::sync::Arc;

/// What the fast path needs: the same settings and state as the layers it stands in for.
pub struct FastPath {
    steps: Arc<Steps>,
    state: AppState,
    cache: Arc<CacheLevels>,
    limits: Arc<Limits>,
    proxies: Arc<TrustedProxies>,
    /// Its answers (looked up once: a look-up by name costs a hash of the key).
    answers: metrics::Counter,
}

/// A request that the fast path answers: everything it decided before answering.
struct Hit {
    route: &'static str,
    verified: VerifiedToken,
    book: Arc<Book>,
    version: ApiVersion,
}

/// What the path names.
enum Target {
    Id(BookId),
    Isbn(Isbn),
}

const BY_ID: &str = "/books/{id}";
const BY_ISBN: &str = "/books/isbn/{isbn}";

impl FastPath {
    /// `None` without the book cache: there is nothing to answer from.
    pub(crate) fn new(
        steps: Arc<Steps>,
        state: AppState,
        limits: Arc<Limits>,
        proxies: Arc<TrustedProxies>,
    ) -> Option<Self> {
        Some(Self {
            cache: state.book_cache.clone()?,
            steps,
            state,
            limits,
            proxies,
            answers: metrics::counter!(crate::metrics::catalog::FAST_PATH),
        })
    }

    /// The answer to `request` when it is a cached read that the fast path may answer;
    /// otherwise the request back, untouched, for the whole stack.
    pub async fn serve(&self, request: Request) -> Result<Response, Request> {
        let hit = self
            .hit(request.method(), request.uri(), request.headers())
            .await;
        match hit {
            Some(hit) => {
                self.answers.increment(1);
                Ok(self.answer(request, hit).await)
            }
            None => Err(request),
        }
    }

    /// Whether the fast path answers `request`, and with what. Nothing here is recorded or
    /// counted: a request that goes the whole way is seen there once.
    /// (Given the request's parts: what is held across the token's check must be `Send`,
    /// and a request, whose body is not `Sync`, cannot be shared.)
    async fn hit(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Hit> {
        if method != Method::GET || uri.query().is_some() || bookstore_telemetry::on() {
            return None;
        }
        let (route, target) = target(uri.path())?;
        if !headers.keys().all(known)
            || header_limit::header_bytes(headers) > self.steps.header_limit()
        {
            return None;
        }
        let version = version::of_headers(headers)?;
        let required = crate::consistency::required(headers).ok()?;
        let token = crate::auth::bearer(headers).ok()??;
        let verified = self.state.verifier.verify(token).await.ok()?;
        self.state
            .catalog
            .authorize_read(&verified.principal)
            .ok()?;
        let book = match target {
            Target::Id(id) => self.cache.local.get(id, required)?,
            Target::Isbn(isbn) => self.cache.local.get_by_isbn(&isbn, required)?,
        };
        Some(Hit {
            route,
            verified,
            book,
            version,
        })
    }

    /// The answer the whole stack would give: the same steps, in the same order, of the
    /// layers that act on such a request (see [`crate::router`] and [`crate::gateway`]).
    async fn answer(&self, request: Request, hit: Hit) -> Response {
        let Hit {
            route,
            verified,
            book,
            version,
        } = hit;
        let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
        gateway::around(&self.steps, route, request, |mut request| async move {
            // The edge steps: the client's address (the user's budget counts this request,
            // so the address's is not asked).
            crate::client_ip::resolve(&self.proxies, &mut request);
            // The route steps: the token's check (done in `hit`), the user's budget.
            crate::metrics::auth::token_valid();
            crate::auth::note_user(&verified.principal);
            let response = ratelimit::count_user(&self.limits, &verified.principal.subject, || {
                std::future::ready(self.handler(if_none_match.as_ref(), &book, version))
            })
            .await;
            crate::problem_for_bare_error(response)
        })
        .await
    }

    /// The handler's part and the version layer's, for a book the cache held.
    fn handler(
        &self,
        if_none_match: Option<&axum::http::HeaderValue>,
        book: &Book,
        version: ApiVersion,
    ) -> Response {
        crate::metrics::cache::answered(Answered::Local);
        let mut response =
            crate::routes::books::cached_get(if_none_match, book, version, &self.cache.bodies);
        version::stamp(response.headers_mut(), version);
        response
    }
}

/// The request headers that the fast path knows to change nothing but what it does itself;
/// any other makes the request go the whole way. `Accept-Encoding` is among them because a
/// cached book is never compressed (its `ETag` is strong, see `gateway::compression`), nor
/// are a 304 or a 429 (below the minimum size).
fn known(name: &HeaderName) -> bool {
    name == header::HOST
        || name == header::AUTHORIZATION
        || name == header::ACCEPT
        || name == header::ACCEPT_ENCODING
        || name == header::IF_NONE_MATCH
        || name == header::USER_AGENT
        || name == header::CONNECTION
        || name == crate::request_id::X_REQUEST_ID
        || name == crate::trace_context::TRACEPARENT
        || name == crate::consistency::CONSISTENCY_TOKEN
}

/// The route and the book that `path` names, when it is one of the two reads and its text is
/// exactly what the router would decode (no percent signs: only hex digits and hyphens in an
/// id, digits, `X` and hyphens in an ISBN).
fn target(path: &str) -> Option<(&'static str, Target)> {
    let rest = path.strip_prefix("/books/")?;
    if let Some(isbn) = rest.strip_prefix("isbn/") {
        let plain = !isbn.is_empty()
            && isbn
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'X' | b'x'));
        // One that does not parse is the handler's 400.
        let isbn = Isbn::parse(isbn).ok().filter(|_| plain)?;
        return Some((BY_ISBN, Target::Isbn(isbn)));
    }
    let plain = rest.len() == 36 && rest.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let id = uuid::Uuid::parse_str(rest).ok().filter(|_| plain)?;
    Some((BY_ID, Target::Id(BookId::from_uuid(id))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_reads_in_their_plain_form() {
        let id = "0190b6a4-5f1e-7c3a-9d2b-3e4f5a6b7c8d";
        assert!(matches!(
            target(&format!("/books/{id}")),
            Some((BY_ID, Target::Id(_)))
        ));
        assert!(matches!(
            target("/books/isbn/978-0-261-10334-4"),
            Some((BY_ISBN, Target::Isbn(_)))
        ));
        for other in [
            format!("/books/{id}/"),
            format!("/books/{id}/history"),
            format!("/books/{}", id.replace('-', "")),
            format!("/books/%30{}", &id[1..]),
            "/books".to_owned(),
            "/books/".to_owned(),
            "/books/export".to_owned(),
            "/books/isbn/".to_owned(),
            "/books/isbn/9780261103345".to_owned(),
            "/books/isbn/978%2D0261103344".to_owned(),
            format!("/authors/{id}"),
        ] {
            assert!(target(&other).is_none(), "{other}");
        }
    }
}
