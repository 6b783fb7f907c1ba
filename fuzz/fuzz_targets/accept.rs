//! `Accept` negotiation: any header value chooses v1, v2 or nothing (406), never a panic; a
//! version is chosen only when the header names it (or a range that stands for the default),
//! and media types and the `q` name are read without regard to ASCII case.
#![no_main]

use bookstore_http::version::{negotiate, ApiVersion, V2_MEDIA_TYPE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|accept: &str| {
    let chosen = negotiate(Some(accept));
    let lower = accept.to_ascii_lowercase();
    match chosen {
        Some(ApiVersion::V2) => assert!(lower.contains(V2_MEDIA_TYPE), "{accept:?}"),
        Some(ApiVersion::V1) => assert!(
            accept.trim().is_empty()
                || [
                    "application/vnd.bookstore.v1+json",
                    "application/json",
                    "application/*",
                    "*/*"
                ]
                .iter()
                .any(|range| lower.contains(range)),
            "{accept:?}"
        ),
        None => assert!(!accept.trim().is_empty(), "a blank Accept is v1"),
    }
    assert_eq!(
        negotiate(Some(&accept.to_ascii_uppercase())),
        chosen,
        "{accept:?}"
    );
});
