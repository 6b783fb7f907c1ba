//! The one place the AWS SDK is configured: the standard variables and files (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_PROFILE`, the credentials chain:
//! environment, profile files, web identity, ECS and instance metadata) read by `aws-config`,
//! with the HTTPS client built here on rustls and ring. The SDK's default client would bring
//! aws-lc (a C library that needs cmake and clang to build); the crates are used without their
//! default features and get this client instead.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use std::time::Duration;

/// How long one call may take in all (retries included) before it counts as failed: the
/// callers (the relay, the secret watcher) try again on their own schedule.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared SDK configuration. Call once and clone the result into each service client.
pub async fn load() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// The region the configuration resolved, for log lines (`-` when none is set: every call
/// will then fail, which the first one reports).
pub fn region(config: &SdkConfig) -> String {
    config
        .region()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The text of an SDK error with its cause chain: the SDK's own `Display` is often only
/// "service error".
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
