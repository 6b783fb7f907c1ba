//! gzip and Brotli response compression by `Accept-Encoding`. Small bodies (under 1 KiB) are
//! sent as they are, and so are responses with a strong `ETag`: a compressed body is another
//! representation and would need another strong validator, while our ETags name the version
//! of a resource that `If-Match` compares. Lists, search results and the API docs, the large
//! responses, carry no ETag and are compressed.

use axum::http::{header, Response};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Bodies smaller than this are not worth compressing.
pub const MIN_SIZE: u16 = 1024;

#[derive(Debug, Clone, Copy)]
pub struct NoStrongEtag;

impl Predicate for NoStrongEtag {
    fn should_compress<B>(&self, response: &Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        response
            .headers()
            .get(header::ETAG)
            .is_none_or(|etag| etag.as_bytes().starts_with(b"W/"))
    }
}

pub type Policy = tower_http::compression::predicate::And<
    tower_http::compression::predicate::And<
        tower_http::compression::predicate::And<SizeAbove, NotForContentType>,
        NotForContentType,
    >,
    NoStrongEtag,
>;

pub fn layer() -> CompressionLayer<Policy> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        // Level 4: most of the gain at a small part of the CPU of the default (Brotli's
        // default, 11, is meant for static files compressed once).
        .quality(CompressionLevel::Precise(4))
        .compress_when(
            SizeAbove::new(MIN_SIZE)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE)
                .and(NoStrongEtag),
        )
}

#[cfg(test)]
mod tests {
    use crate::gateway::test_support::{get, send};
    use crate::HttpConfig;
    use axum::body::Body;
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::routing::get as route_get;
    use axum::Router;
    use std::io::Read;

    fn app() -> Router {
        let big = "bookstore ".repeat(500);
        let small = "tiny".to_owned();
        let tagged = big.clone();
        let app = Router::new()
            .route("/big", route_get(move || async move { big }))
            .route("/small", route_get(move || async move { small }))
            .route(
                "/tagged",
                route_get(
                    move || async move { ([(header::ETAG, "\"3\"")], tagged).into_response() },
                ),
            );
        crate::gateway::layers(app, &HttpConfig::default())
    }

    async fn fetch(path: &str, accept: &str) -> (axum::http::Response<()>, Vec<u8>) {
        send(
            &app(),
            get(path)
                .header(header::ACCEPT_ENCODING, accept)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    #[tokio::test]
    async fn large_bodies_are_compressed_by_accept_encoding() {
        let (response, body) = fetch("/big", "gzip").await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(response.headers()[header::VARY]
            .to_str()
            .expect("ascii")
            .contains("accept-encoding"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_string(&mut text)
            .expect("gzip");
        assert_eq!(text, "bookstore ".repeat(500));

        let (response, body) = fetch("/big", "br;q=1.0, gzip;q=0.5").await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        assert!(body.len() < 500);

        let (response, body) = fetch("/big", "identity").await;
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(body.len(), 5000);
    }

    #[tokio::test]
    async fn small_and_etagged_bodies_are_left_alone() {
        let (response, _) = fetch("/small", "gzip, br").await;
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        let (response, body) = fetch("/tagged", "gzip, br").await;
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(body.len(), 5000);
    }
}
