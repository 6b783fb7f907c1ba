//! Helpers for tests (of this crate and the black-box tests): a moto server (`moto_server`,
//! PyPI `moto[server]`, pinned in `./scripts/test`) of the test's own on a free loopback port,
//! and an SDK configuration pointing at it. Moto keeps everything in memory, per process, so
//! each test starts with no topics, queues, tables, secrets or keys; `create_books_table` makes
//! the read model's table as the Terraform does.
//!
//! These helpers panic on failure, as test code does.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned version `./scripts/test` installs into `~/.cache/bookstore/moto-<version>`.
pub const MOTO_VERSION: &str = "5.2.6";
/// The region the tests use; any works with moto.
pub const REGION: &str = "eu-west-1";
/// Moto's fixed account.
pub const ACCOUNT: &str = "123456789012";

/// Whether a missing tool fails the test (`CI` set) or skips it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// `BOOKSTORE_MOTO` when set, else the pinned venv's `moto_server`, else one on the PATH.
pub fn moto_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BOOKSTORE_MOTO") {
        return Some(PathBuf::from(path));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(candidate) = cache
        .map(|c| {
            c.join("bookstore")
                .join(format!("moto-{MOTO_VERSION}"))
                .join("bin")
                .join("moto_server")
        })
        .filter(|p| p.is_file())
    {
        return Some(candidate);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
}

/// A moto server, killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// A fresh server; `None` (the test skips, saying so) when `moto_server` is missing
    /// outside CI, a failure under CI.
    pub fn start(test: &str) -> Option<Self> {
        let Some(binary) = moto_binary() else {
            assert!(
                !under_ci(),
                "moto_server is not installed, and CI is set: {test} must run (./scripts/test \
                 installs it: PyPI moto[server]=={MOTO_VERSION} in ~/.cache/bookstore)"
            );
            eprintln!(
                "SKIPPED {test}: moto_server is not installed (./scripts/test installs it). \
                 Under CI=true this is a failure."
            );
            return None;
        };
        // A port bound and released, then taken by moto; another process grabbing it in
        // between makes moto exit, which is seen below and retried on another port.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            // Python's start is slow on a loaded machine: be generous.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if child.try_wait().expect("wait").is_some() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Self { child, port });
                }
                assert!(Instant::now() < deadline, "moto_server did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("moto_server exited at start five times");
    }

    /// `http://127.0.0.1:PORT`: the value of `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables a process needs to use this server through the standard chain.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            // No profile files or instance metadata: the environment's keys only.
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ]
    }

    /// An SDK configuration for the test's own clients.
    pub fn sdk_config(&self) -> SdkConfig {
        let credentials =
            aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "moto");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
                credentials,
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build()
    }
}

/// The books table as `deploy/aws/data.tf` makes it: key `id`, global secondary index `isbn`
/// (all attributes projected), on-demand capacity, TTL on `expires_at`.
pub async fn create_books_table(config: &SdkConfig, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let client = aws_sdk_dynamodb::Client::new(config);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .expect("key")
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(crate::dynamodb::ISBN_INDEX)
        .key_schema(key("isbn"))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("index");
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("id"))
        .attribute_definitions(attribute("isbn"))
        .key_schema(key("id"))
        .global_secondary_indexes(index)
        .send()
        .await
        .expect("create table");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("table ttl");
}
