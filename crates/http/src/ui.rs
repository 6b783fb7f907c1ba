//! The staff web UI at `/`: hand-written ES modules and CSS from `crates/http/ui`, embedded in
//! the binary when it is compiled (see `build.rs`), so the UI served is always the one the
//! binary was built from; there is no separate build whose output could go stale.
//!
//! Caching by content: every asset is served under `/ui/{version}/…`, where `version` is a
//! hash of all the UI's files, with `Cache-Control: immutable` for a year; the page at `/`
//! names that version and is revalidated on every load (`no-cache`, `ETag`). A new binary thus
//! means new asset URLs, and an old page asking for an old version gets 404, never a mix. The
//! modules import each other by relative paths, which resolve under the same version.
//!
//! The validators are weak (`W/"…"`): the compression layer compresses only responses without
//! a strong `ETag` (a compressed body is another representation), and weak comparison is all
//! `If-None-Match` needs.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;

mod files {
    include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));
}

/// Where the versioned assets are served; the route is `/ui/{version}/{*file}`.
pub const ASSETS_ROUTE: &str = "/ui/{version}/{*file}";

const INDEX: &str = "index.html";
/// What `index.html` says where the asset version goes.
const VERSION_MARK: &str = "%VERSION%";

struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

struct Ui {
    version: String,
    index: Vec<u8>,
    index_etag: HeaderValue,
    assets: HashMap<&'static str, Asset>,
}

fn hex(bytes: &[u8], len: usize) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .take(len)
        .collect()
}

fn weak_etag(tag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{tag}\"")).unwrap_or(HeaderValue::from_static("W/\"0\""))
}

pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

static UI: LazyLock<Ui> = LazyLock::new(|| {
    let mut all = Sha256::new();
    for (name, body) in files::FILES {
        all.update(name.as_bytes());
        all.update([0]);
        all.update((body.len() as u64).to_le_bytes());
        all.update(body);
    }
    let version = hex(&all.finalize(), 16);
    let assets = files::FILES
        .iter()
        .filter(|(name, _)| *name != INDEX)
        .map(|(name, body)| {
            let asset = Asset {
                body,
                content_type: content_type(name),
                etag: weak_etag(&hex(&Sha256::digest(body), 24)),
            };
            (*name, asset)
        })
        .collect();
    let index = files::FILES
        .iter()
        .find(|(name, _)| *name == INDEX)
        .map(|(_, body)| String::from_utf8_lossy(body).replace(VERSION_MARK, &version))
        .unwrap_or_default()
        .into_bytes();
    Ui {
        index_etag: weak_etag(&version),
        version,
        index,
        assets,
    }
});

/// The hash of the UI's files that its asset URLs carry.
pub fn version() -> &'static str {
    &UI.version
}

fn not_modified(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(given) = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default().trim_start_matches("W/");
    given
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == ours)
}

fn answer(
    request: &HeaderMap,
    body: &'static [u8],
    content_type: &'static str,
    etag: &HeaderValue,
    cache: &'static str,
) -> Response {
    let headers = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if not_modified(request, etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mut response = (StatusCode::OK, headers, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `GET /`: the page, naming the current asset version. Revalidated on every load.
pub async fn index(request: HeaderMap) -> Response {
    let ui = &*UI;
    answer(
        &request,
        ui.index.as_slice(),
        "text/html; charset=utf-8",
        &ui.index_etag,
        "no-cache",
    )
}

/// `GET /ui/{version}/{*file}`: one asset of this version, cached for good.
pub async fn asset(Path((version, file)): Path<(String, String)>, request: HeaderMap) -> Response {
    let ui = &*UI;
    match ui.assets.get(file.as_str()) {
        Some(asset) if version == ui.version => answer(
            &request,
            asset.body,
            asset.content_type,
            &asset.etag,
            "public, max-age=31536000, immutable",
        ),
        _ => crate::error::ApiError::not_found("There is no such file of the web UI.")
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_the_versioned_assets_and_every_file_is_embedded() {
        let page = String::from_utf8_lossy(&UI.index).into_owned();
        assert!(!page.contains(VERSION_MARK));
        assert!(
            page.contains(&format!("/ui/{}/app.js", version())),
            "{page}"
        );
        assert!(
            page.contains(&format!("/ui/{}/app.css", version())),
            "{page}"
        );
        assert!(UI.assets.contains_key("app.js"));
        assert!(UI.assets.contains_key("app.css"));
        // No inline script or style for the policy to block.
        assert!(
            !page.contains("<script>") && !page.contains("style="),
            "{page}"
        );
    }

    #[test]
    fn content_types_and_validators() {
        assert_eq!(
            content_type("views/book.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        let etag = weak_etag("abc");
        let mut request = HeaderMap::new();
        request.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(not_modified(&request, &etag));
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abd\""));
        assert!(!not_modified(&request, &etag));
    }
}
