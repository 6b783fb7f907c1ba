//! Headers that tell browsers to be strict: `X-Content-Type-Options: nosniff` on every
//! response, `Strict-Transport-Security` when served over TLS, and a `Content-Security-Policy`
//! on HTML. The policy allows only this origin's own scripts, styles and fonts (the API docs at
//! `/docs` load nothing else and have no inline script or style), images also from `data:`
//! URIs (Swagger UI draws its icons with them), and no framing. Checked in headless Chromium:
//! the docs render and work under it; the one thing it blocks is an inline style that the
//! bundled HTML sanitiser applies while parsing, with no visible effect.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One year, without `includeSubDomains`: the service cannot speak for sibling hosts.
pub const HSTS: &str = "max-age=31536000";

#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    hsts: bool,
}

impl SecurityHeaders {
    pub fn new(hsts: bool) -> Self {
        Self { hsts }
    }
}

fn is_html(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // Compared without lower-casing a copy: this runs for every response.
            v.trim_start()
                .get(..9)
                .is_some_and(|start| start.eq_ignore_ascii_case("text/html"))
        })
}

pub async fn layer(
    State(settings): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    add(&settings, next.run(request).await)
}

/// What [`layer`] does to a response.
pub fn add(settings: &SecurityHeaders, mut response: Response) -> Response {
    let html = is_html(&response);
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if settings.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    // Nothing here announces a server name or version; make sure nothing inside did either.
    headers.remove(header::SERVER);
    headers.remove("x-powered-by");
    response
}

#[cfg(test)]
mod tests {
    use crate::gateway::test_support::{get, send};
    use crate::HttpConfig;
    use axum::body::Body;
    use axum::response::Html;
    use axum::routing::get as route_get;
    use axum::Router;

    fn app(hsts: bool) -> Router {
        let app = Router::new()
            .route("/page", route_get(|| async { Html("<p>hi</p>") }))
            .route("/data", route_get(|| async { "{}" }));
        crate::gateway::layers(
            app,
            &HttpConfig {
                hsts,
                ..HttpConfig::default()
            },
        )
    }

    #[tokio::test]
    async fn every_response_is_nosniff_and_html_gets_a_policy() {
        let app = app(false);
        let (response, _) = send(&app, get("/data").body(Body::empty()).expect("request")).await;
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(!response.headers().contains_key("content-security-policy"));
        assert!(!response.headers().contains_key("strict-transport-security"));
        assert!(!response.headers().contains_key("server"));

        let (response, _) = send(&app, get("/page").body(Body::empty()).expect("request")).await;
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");

        // Errors too.
        let (response, _) = send(&app, get("/nothing").body(Body::empty()).expect("request")).await;
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    #[tokio::test]
    async fn hsts_only_when_serving_tls() {
        let (response, _) = send(
            &app(true),
            get("/data").body(Body::empty()).expect("request"),
        )
        .await;
        assert_eq!(response.headers()["strict-transport-security"], super::HSTS);
    }
}
