//! Cross-origin requests from browsers: off unless origins are configured. Tokens travel in
//! the `Authorization` header, never in cookies, so no credentials mode is offered.

use axum::http::{header, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Which browser origins may call the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access (the default): browsers refuse to show responses to other sites.
    #[default]
    None,
    /// Any origin (`*`).
    Any,
    /// These origins exactly, as `scheme://host[:port]`.
    List(Vec<String>),
}

impl CorsOrigins {
    /// From configured values: none, `*`, or a list of origins.
    pub fn parse(values: &[String]) -> Result<Self, String> {
        let values: Vec<&str> = values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Ok(Self::None);
        }
        if values.contains(&"*") {
            if values.len() > 1 {
                return Err("`*` allows every origin; list no others beside it".to_owned());
            }
            return Ok(Self::Any);
        }
        values
            .iter()
            .map(|v| validate_origin(v).map(|()| (*v).to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::List)
    }
}

/// An origin is `http://` or `https://`, a host, an optional port, and nothing after.
fn validate_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("CORS origin `{origin}` must start with https:// or http://"))?;
    let valid = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !valid {
        return Err(format!(
            "CORS origin `{origin}` must be scheme://host[:port], without a path or trailing slash"
        ));
    }
    Ok(())
}

const ALLOWED_HEADERS: [HeaderName; 10] = [
    header::AUTHORIZATION,
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    HeaderName::from_static("idempotency-key"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    HeaderName::from_static("consistency-token"),
];

const EXPOSED_HEADERS: [HeaderName; 8] = [
    header::ETAG,
    header::LOCATION,
    header::LINK,
    header::RETRY_AFTER,
    header::WWW_AUTHENTICATE,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("consistency-token"),
];

pub fn layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::test_support::{get, send};
    use crate::HttpConfig;
    use axum::body::Body;
    use axum::routing::get as route_get;
    use axum::Router;

    fn app(origins: CorsOrigins) -> Router {
        let app = Router::new().route("/books", route_get(|| async { "[]" }));
        crate::gateway::layers(
            app,
            &HttpConfig {
                cors_origins: origins,
                ..HttpConfig::default()
            },
        )
    }

    fn preflight(origin: &str) -> axum::http::Request<Body> {
        get("/books")
            .method(Method::OPTIONS)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type",
            )
            .body(Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn off_by_default() {
        let app = app(CorsOrigins::default());
        let (response, _) = send(&app, preflight("https://shop.example")).await;
        assert!(!response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[tokio::test]
    async fn listed_origins_only() {
        let app = app(CorsOrigins::List(vec!["https://shop.example".into()]));
        let (response, _) = send(&app, preflight("https://shop.example")).await;
        assert!(response.status().is_success());
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example"
        );
        let methods = response.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(methods.contains("POST"), "{methods}");

        let (response, _) = send(&app, preflight("https://evil.example")).await;
        assert!(!response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

        let request = get("/books")
            .header(header::ORIGIN, "https://shop.example")
            .body(Body::empty())
            .expect("request");
        let (response, _) = send(&app, request).await;
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example"
        );
        let exposed = response.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(exposed.contains("etag"), "{exposed}");
    }

    #[test]
    fn origins_are_checked() {
        assert_eq!(CorsOrigins::parse(&[]), Ok(CorsOrigins::None));
        assert_eq!(CorsOrigins::parse(&["*".into()]), Ok(CorsOrigins::Any));
        assert!(CorsOrigins::parse(&["https://a.example:8443".into()]).is_ok());
        for bad in [
            "a.example",
            "https://a.example/",
            "ftp://a.example",
            "https://",
        ] {
            assert!(CorsOrigins::parse(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(CorsOrigins::parse(&["*".into(), "https://a.example".into()]).is_err());
    }
}
