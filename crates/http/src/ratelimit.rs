//! Rate limits at the edge (GCRA; the counters live behind the `RateLimiter` port: in memory,
//! or in Redis for every replica at once).
//!
//! Each request is counted against exactly one budget:
//!
//! - `sign-in` (`POST /auth/login`, `POST /auth/refresh`): per client address, much stricter;
//! - `user`: per signed-in user (the subject of a token the authentication layer verified);
//! - `anonymous`: per client address, for everything else (IPv6 addresses by their /64).
//!
//! [`after_auth`] sits between the authentication layer and the routes, so it sees only
//! principals whose tokens were verified: a forged or expired token cannot spend someone
//! else's budget. Requests that never get that far (refused by authentication, or for no
//! route) are counted by [`not_counted_yet`], outside, against their address — so a flood of
//! bad tokens runs into the anonymous limit (429) like any other flood.
//!
//! Every counted response carries the `RateLimit-Policy` and `RateLimit` fields of
//! draft-ietf-httpapi-ratelimit-headers; a refused one is a 429 problem with `Retry-After`.
//! Health probes (`/healthz`, `/readyz`) are not limited.

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bookstore_core::ratelimit::{Decision, Quota, Rate, RateLimiter};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The budgets, one per class of request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub anonymous: Quota,
    pub user: Quota,
    pub sign_in: Quota,
}

impl RateLimits {
    fn try_default() -> Result<Self, bookstore_core::ratelimit::RateError> {
        Ok(Self {
            anonymous: Quota::new(Rate::per_second(100)?, 200)?,
            user: Quota::new(Rate::per_second(100)?, 200)?,
            sign_in: Quota::new(Rate::per_minute(30)?, 20)?,
        })
    }
}

impl Default for RateLimits {
    /// 100 requests a second with bursts of 200 per address or user; 30 sign-ins (and
    /// refreshes) a minute with bursts of 20 per address.
    fn default() -> Self {
        Self::try_default().expect("the default rates are valid")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Anonymous,
    User,
    SignIn,
}

impl Class {
    pub fn policy(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::User => "user",
            Self::SignIn => "sign-in",
        }
    }
}

/// What the rate-limit layers share.
pub struct Limits {
    limiter: Arc<dyn RateLimiter>,
    quotas: RateLimits,
}

impl Limits {
    pub fn new(limiter: Arc<dyn RateLimiter>, quotas: RateLimits) -> Self {
        Self { limiter, quotas }
    }

    fn quota(&self, class: Class) -> &Quota {
        match class {
            Class::Anonymous => &self.quotas.anonymous,
            Class::User => &self.quotas.user,
            Class::SignIn => &self.quotas.sign_in,
        }
    }

    async fn check(&self, class: Class, id: &str) -> Counted {
        let policy = class.policy();
        let mut key = String::with_capacity(policy.len() + 1 + id.len());
        key.push_str(policy);
        key.push(':');
        key.push_str(id);
        let quota = *self.quota(class);
        let decision = self.limiter.check(&key, &quota).await;
        Counted {
            class,
            quota,
            decision,
        }
    }
}

/// Marks a response whose request has been counted (or is exempt).
#[derive(Debug, Clone, Copy)]
struct Counted {
    class: Class,
    quota: Quota,
    decision: Decision,
}

#[derive(Debug, Clone, Copy)]
struct Exempt;

/// Appends `number` in decimal.
fn push_number(text: &mut String, number: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = number;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for digit in &digits[at..] {
        text.push(char::from(*digit));
    }
}

fn seconds_up(duration: Duration) -> u64 {
    duration.as_micros().div_ceil(1_000_000) as u64
}

impl Counted {
    fn headers(&self, headers: &mut HeaderMap) {
        let (quota, window) = self.quota.window();
        let policy = self.class.policy();
        // Written piece by piece: `format!` for these two was a few percent of a cached read.
        let field = |pairs: [(&str, u64); 2]| {
            let mut text = String::with_capacity(48);
            text.push('"');
            text.push_str(policy);
            text.push('"');
            for (name, number) in pairs {
                text.push(';');
                text.push_str(name);
                text.push('=');
                push_number(&mut text, number);
            }
            text
        };
        let values = [
            (&RATELIMIT_POLICY, field([("q", quota), ("w", window)])),
            (
                &RATELIMIT,
                field([
                    ("r", u64::from(self.decision.remaining)),
                    ("t", seconds_up(self.decision.refill_in)),
                ]),
            ),
        ];
        for (name, value) in values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name.clone(), value);
            }
        }
    }

    fn refused(&self) -> Response {
        let retry_after = seconds_up(self.decision.refill_in).max(1);
        tracing::debug!(policy = self.class.policy(), retry_after, "rate limited");
        metrics::counter!(
            crate::metrics::catalog::RATE_LIMITED,
            "policy" => self.class.policy()
        )
        .increment(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("Too many requests; try again in {retry_after} s (see Retry-After)."),
        )
        .with_extension(
            "violated-policies",
            serde_json::json!([self.class.policy()]),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after))
        .into_response();
        self.headers(response.headers_mut());
        response.extensions_mut().insert(*self);
        response
    }

    fn passed(&self, mut response: Response) -> Response {
        self.headers(response.headers_mut());
        response.extensions_mut().insert(*self);
        response
    }
}

fn route(request: &Request) -> Option<&str> {
    request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
}

fn is_exempt(method: &Method, route: Option<&str>) -> bool {
    method == Method::GET && matches!(route, Some("/healthz" | "/readyz"))
}

fn is_sign_in(method: &Method, route: Option<&str>) -> bool {
    method == Method::POST && matches!(route, Some("/auth/login" | "/auth/refresh"))
}

/// The budget key of an address: IPv4 addresses one by one, IPv6 by /64 (what one
/// subscriber usually gets, all of it theirs to pick from).
fn address_key(request: &Request) -> String {
    key_of_address(request.extensions().get::<ClientIp>())
}

fn key_of_address(client: Option<&ClientIp>) -> String {
    match client {
        Some(ClientIp(IpAddr::V4(ip))) => ip.to_string(),
        Some(ClientIp(IpAddr::V6(ip))) => {
            let segments = ip.segments();
            format!(
                "{:x}:{:x}:{:x}:{:x}::/64",
                segments[0], segments[1], segments[2], segments[3]
            )
        }
        None => "unknown".to_owned(),
    }
}

/// Counts requests that reached the routes: after authentication, before the handler.
pub async fn after_auth(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    count(&limits, request, |request| next.run(request)).await
}

/// [`after_auth`] around `next`, for a layer that runs several steps in one.
pub async fn count<N, F>(limits: &Limits, request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    let method = request.method().clone();
    let route = route(&request);
    if is_exempt(&method, route) {
        let mut response = next(request).await;
        response.extensions_mut().insert(Exempt);
        return response;
    }
    let counted = if is_sign_in(&method, route) {
        limits.check(Class::SignIn, &address_key(&request)).await
    } else if let Some(principal) = crate::auth::principal(request.extensions()) {
        let subject = principal.subject.clone();
        return count_user(limits, &subject, || next(request)).await;
    } else {
        limits.check(Class::Anonymous, &address_key(&request)).await
    };
    if !counted.decision.allowed {
        return counted.refused();
    }
    counted.passed(next(request).await)
}

/// [`count`] of a request by a signed-in user (`subject`, of a verified token): the `user`
/// budget, a 429 once it is spent.
pub async fn count_user<N, F>(limits: &Limits, subject: &str, next: N) -> Response
where
    N: FnOnce() -> F,
    F: Future<Output = Response>,
{
    let counted = limits.check(Class::User, subject).await;
    if !counted.decision.allowed {
        return counted.refused();
    }
    counted.passed(next().await)
}

/// Counts, against the client's address, requests that [`after_auth`] never saw: those the
/// authentication layer refused and those for no route. Nothing was done for them, so once
/// the address is over its budget the answer becomes a 429.
pub async fn not_counted_yet(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    count_if_not_yet(&limits, request, |request| next.run(request)).await
}

/// [`not_counted_yet`] around `next`, for a layer that runs several steps in one.
pub async fn count_if_not_yet<N, F>(limits: &Limits, request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    // The address is taken now and made into a key only for the few requests that need it.
    let client = request.extensions().get::<ClientIp>().copied();
    let response = next(request).await;
    if response.extensions().get::<Counted>().is_some()
        || response.extensions().get::<Exempt>().is_some()
    {
        return response;
    }
    let counted = limits
        .check(Class::Anonymous, &key_of_address(client.as_ref()))
        .await;
    if !counted.decision.allowed {
        return counted.refused();
    }
    counted.passed(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_from(ip: &str) -> Request {
        let mut request = Request::new(axum::body::Body::empty());
        request
            .extensions_mut()
            .insert(ClientIp(ip.parse().expect("ip")));
        request
    }

    #[test]
    fn addresses_and_their_keys() {
        assert_eq!(address_key(&request_from("203.0.113.9")), "203.0.113.9");
        assert_eq!(
            address_key(&request_from("2001:db8:1:2:3:4:5:6")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key(&request_from("2001:db8:1:2:ffff::1")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key(&Request::new(axum::body::Body::empty())),
            "unknown"
        );
    }

    #[test]
    fn header_fields() {
        let quota = Quota::new(Rate::per_second(100).expect("rate"), 200).expect("quota");
        let counted = Counted {
            class: Class::User,
            quota,
            decision: Decision {
                allowed: true,
                remaining: 150,
                refill_in: Duration::from_millis(4),
            },
        };
        let mut headers = HeaderMap::new();
        counted.headers(&mut headers);
        assert_eq!(headers[&RATELIMIT_POLICY], "\"user\";q=200;w=2");
        assert_eq!(headers[&RATELIMIT], "\"user\";r=150;t=1");
        let refused = Counted {
            decision: Decision {
                allowed: false,
                remaining: 0,
                refill_in: Duration::from_millis(2500),
            },
            ..counted
        }
        .refused();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "3");
        assert_eq!(refused.headers()[&RATELIMIT], "\"user\";r=0;t=3");
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for number in [0, 7, 10, 150, 1_000_000, u64::MAX] {
            let mut text = String::from("x=");
            push_number(&mut text, number);
            assert_eq!(text, format!("x={number}"));
        }
    }

    #[test]
    fn defaults_are_valid_and_sign_in_is_stricter() {
        let limits = RateLimits::default();
        assert!(limits.sign_in.interval_micros() > limits.anonymous.interval_micros() * 100);
        assert!(limits.sign_in.burst() < limits.anonymous.burst());
    }
}
