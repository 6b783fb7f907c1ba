//! The settings, each declared once: its field's name is its config-file key; the attribute
//! gives its flag, environment variable and default; the doc comment is its help. Groups map
//! onto the configurations of the adapters they feed.

use super::values::{self, Networks, TrustedIssuers};
use bookstore_core::ratelimit::{Quota, Rate};
use bookstore_http::client_ip::{ForwardedHeader, TrustedProxies};
use bookstore_http::gateway::CorsOrigins;
use bookstore_http::ratelimit::RateLimits;
use bookstore_http::HttpConfig;
use bookstore_store::StoreConfig;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The listening socket and the process.
#[derive(Debug, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// Address to serve on; port 0 picks a free port (see --address-file).
    #[arg(
        long,
        env = "BOOKSTORE_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// The URL clients reach this service at, for discovery documents
    /// [default: http://<address served on>].
    #[arg(long, env = "BOOKSTORE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Once listening, write the address served on (as `127.0.0.1:43117`) to this file, for
    /// whoever started the server on port 0 [default: none].
    #[arg(long, env = "BOOKSTORE_ADDRESS_FILE", value_name = "FILE")]
    pub address_file: Option<PathBuf>,
    /// Seconds that in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "BOOKSTORE_SHUTDOWN_GRACE", value_name = "SECONDS", default_value = "30",
          value_parser = values::seconds_or_zero)]
    pub shutdown_grace: Duration,
    /// Seconds between SIGTERM and the listener closing: `/readyz` answers 503 at once while
    /// requests are still served, so that load balancers take this replica out first.
    #[arg(long, env = "BOOKSTORE_SHUTDOWN_DRAIN", value_name = "SECONDS", default_value = "5",
          value_parser = values::seconds_or_zero)]
    pub shutdown_drain: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON when stderr is not a terminal, readable text when it is.
    Auto,
    Json,
    Text,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Logs")]
pub struct LogArgs {
    /// Log filter, tracing EnvFilter syntax.
    #[arg(
        long,
        env = "BOOKSTORE_LOG",
        value_name = "FILTER",
        default_value = "info"
    )]
    pub log: String,
    /// Log format.
    #[arg(long, env = "BOOKSTORE_LOG_FORMAT", value_enum, default_value = "auto")]
    pub log_format: LogFormat,
}

/// Where the store lives: `bookstore_store::StoreConfig`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Store")]
pub struct StoreArgs {
    /// Where the embedded default keeps its files.
    #[arg(
        long,
        env = "BOOKSTORE_DATA_DIR",
        value_name = "DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// postgres://… or sqlite://… [default: SQLite in the data directory].
    /// Prefer DATABASE_URL_FILE for URLs with passwords.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL",
          value_parser = values::secret)]
    pub database_url: Option<SecretString>,
    /// File whose content is the database URL (Docker/Kubernetes secrets).
    #[arg(long, env = "DATABASE_URL_FILE", value_name = "FILE")]
    pub(super) database_url_file: Option<PathBuf>,
    /// URL of the role that owns the schema, for migrations only (`bookstore migrate`, and
    /// `serve` before it starts): the service's DATABASE_URL role then needs row rights only
    /// [default: DATABASE_URL].
    #[arg(long, env = "DATABASE_MIGRATION_URL", hide_env_values = true, value_name = "URL",
          value_parser = values::secret)]
    pub database_migration_url: Option<SecretString>,
    /// File whose content is the migration URL.
    #[arg(long, env = "DATABASE_MIGRATION_URL_FILE", value_name = "FILE")]
    pub(super) database_migration_url_file: Option<PathBuf>,
    /// Largest connection pool to the database.
    #[arg(long, env = "BOOKSTORE_DB_MAX_CONNECTIONS", value_name = "N", default_value = "16",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,
    /// PostgreSQL read replicas of the database, comma-separated postgres:// URLs: reads go
    /// there when they are caught up enough [default: none, reads go to the primary].
    /// Prefer DATABASE_READ_URL_FILE for URLs with passwords.
    #[arg(long, env = "DATABASE_READ_URL", hide_env_values = true, value_name = "URLS",
          value_parser = values::secret)]
    pub database_read_url: Option<SecretString>,
    /// File whose content is the read replicas' URLs, comma-separated.
    #[arg(long, env = "DATABASE_READ_URL_FILE", value_name = "FILE")]
    pub(super) database_read_url_file: Option<PathBuf>,
    /// A read replica that has not replayed what the primary had written this long ago
    /// leaves the rotation until it catches up: a number and a unit (1s, 500ms).
    #[arg(long, env = "BOOKSTORE_READ_MAX_LAG", value_name = "SPAN", default_value = "1s",
          value_parser = values::span)]
    pub read_max_lag: Duration,
}

impl StoreArgs {
    /// The store as its migrator opens it, when a migration URL is configured.
    pub fn migration_config(&self) -> Option<StoreConfig> {
        let url = self.database_migration_url.as_ref()?;
        Some(StoreConfig {
            database_url: Some(url.expose_secret().to_owned()),
            data_dir: self.data_dir.clone(),
            max_connections: 1,
            ..StoreConfig::default()
        })
    }

    pub fn config(&self) -> StoreConfig {
        StoreConfig {
            database_url: self
                .database_url
                .as_ref()
                .map(|url| url.expose_secret().to_owned()),
            data_dir: self.data_dir.clone(),
            max_connections: self.db_max_connections,
            read_urls: self.read_urls(),
            read_max_lag: self.read_max_lag,
            consistency_tokens: false,
        }
    }

    /// The read replicas' URLs, in order.
    pub fn read_urls(&self) -> Vec<String> {
        self.database_read_url
            .as_ref()
            .map(|urls| {
                urls.expose_secret()
                    .split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Sign-in, our tokens and the outside issuers we accept.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sign-in and tokens")]
pub struct AuthArgs {
    /// Password of the first admin, used only when the store has no users yet
    /// [default: random, printed once]. Prefer BOOKSTORE_ADMIN_PASSWORD_FILE.
    #[arg(long, env = "BOOKSTORE_ADMIN_PASSWORD", hide_env_values = true,
          value_name = "PASSWORD", value_parser = values::secret)]
    pub admin_password: Option<SecretString>,
    /// File holding the first admin's password.
    #[arg(long, env = "BOOKSTORE_ADMIN_PASSWORD_FILE", value_name = "FILE")]
    pub(super) admin_password_file: Option<PathBuf>,
    /// Key-encryption key for signing keys: base64 of 32 random bytes
    /// [default: generated into the data directory]. Prefer BOOKSTORE_KEK_FILE.
    #[arg(long, env = "BOOKSTORE_KEK", hide_env_values = true, value_name = "BASE64",
          value_parser = values::secret)]
    pub kek: Option<SecretString>,
    /// File holding the key-encryption key.
    #[arg(long, env = "BOOKSTORE_KEK_FILE", value_name = "FILE")]
    pub(super) kek_file: Option<PathBuf>,
    /// `iss` of the access tokens we issue [default: the public URL].
    #[arg(long, env = "BOOKSTORE_ISSUER", value_name = "ISSUER")]
    pub issuer: Option<String>,
    /// `aud` of the access tokens we issue and accept.
    #[arg(
        long,
        env = "BOOKSTORE_AUDIENCE",
        value_name = "AUDIENCE",
        default_value = "bookstore-api"
    )]
    pub audience: String,
    /// Lifetime of access tokens in seconds.
    #[arg(long, env = "BOOKSTORE_ACCESS_TOKEN_TTL", value_name = "SECONDS", default_value = "900",
          value_parser = values::seconds)]
    pub access_token_ttl: Duration,
    /// Seconds after which a sign-in ends, however often refreshed.
    #[arg(long, env = "BOOKSTORE_SESSION_LIFETIME", value_name = "SECONDS",
          default_value = "43200", value_parser = values::seconds)]
    pub session_lifetime: Duration,
    /// Outside issuers whose tokens are accepted, as a JSON list of objects with issuer,
    /// jwks_url, audience, role_claim, admin_values, staff_values [default: none].
    #[arg(long, env = "BOOKSTORE_TRUSTED_ISSUERS", value_name = "JSON", default_value = "",
          hide_default_value = true, value_parser = values::trusted_issuers)]
    pub trusted_issuers: TrustedIssuers,
}

/// What the HTTP adapter enforces in front of every route: `bookstore_http::HttpConfig`.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpArgs {
    /// Largest request body in bytes.
    #[arg(long, env = "BOOKSTORE_BODY_LIMIT", value_name = "BYTES", default_value = "1048576",
          value_parser = values::at_least::<1>)]
    pub body_limit: usize,
    /// Largest import upload (POST /imports): bytes, or a number with KiB, MiB or GiB.
    #[arg(long, env = "BOOKSTORE_IMPORT_LIMIT", value_name = "SIZE", default_value = "1GiB",
          value_parser = values::size)]
    pub import_limit: u64,
    /// Seconds a request may take before it is abandoned with 504.
    #[arg(long, env = "BOOKSTORE_REQUEST_TIMEOUT", value_name = "SECONDS", default_value = "30",
          value_parser = values::seconds)]
    pub request_timeout: Duration,
    /// Seconds a connection may take to send a whole request header, from when it opens or
    /// from the first byte of a later request (nginx's client_header_timeout).
    #[arg(long, env = "BOOKSTORE_CLIENT_HEADER_TIMEOUT", value_name = "SECONDS",
          default_value = "60", value_parser = values::seconds)]
    pub client_header_timeout: Duration,
    /// Seconds a keep-alive connection may stay idle between requests (nginx's
    /// keepalive_timeout).
    #[arg(long, env = "BOOKSTORE_KEEPALIVE_TIMEOUT", value_name = "SECONDS",
          default_value = "75", value_parser = values::seconds)]
    pub keepalive_timeout: Duration,
    /// Largest total size of a request's header names and values in bytes, 431 above.
    #[arg(long, env = "BOOKSTORE_HEADER_LIMIT", value_name = "BYTES", default_value = "16384",
          value_parser = values::at_least::<1024>)]
    pub header_limit: usize,
    /// Browser origins allowed to call the API (CORS), comma-separated, or * for any
    /// [default: none].
    #[arg(long, env = "BOOKSTORE_CORS_ORIGINS", value_name = "ORIGINS", default_value = "",
          hide_default_value = true, value_parser = values::cors_origins)]
    pub cors_origins: CorsOrigins,
    /// Proxies whose forwarding header names the client: comma-separated addresses or CIDR
    /// networks [default: none, the peer is the client].
    #[arg(long, env = "BOOKSTORE_TRUSTED_PROXIES", value_name = "CIDRS", default_value = "",
          hide_default_value = true, value_parser = values::networks)]
    pub trusted_proxies: Networks,
    /// The header the trusted proxies write: x-forwarded-for or forwarded.
    #[arg(
        long,
        env = "BOOKSTORE_FORWARDED_HEADER",
        value_name = "HEADER",
        default_value = "x-forwarded-for"
    )]
    pub forwarded_header: ForwardedHeader,
    /// Memory for the cache of hot reads (GET /books/{id}, by ISBN), in MiB; 0 turns it off.
    #[arg(
        long,
        env = "BOOKSTORE_CACHE_MB",
        value_name = "MIB",
        default_value = "64"
    )]
    pub cache_mb: u64,
    /// Answer cached reads (GET /books/{id}, by ISBN) that need nothing else without the
    /// router and its layers, with the same answer (on/off; off sends every request through
    /// them).
    #[arg(long, env = "BOOKSTORE_FAST_PATH", value_name = "BOOL",
          action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "on", default_missing_value = "on",
          value_parser = BoolishValueParser::new())]
    pub fast_path: bool,
    /// Event streams (GET /events) this process serves at once; one more gets 503.
    #[arg(long, env = "BOOKSTORE_EVENT_STREAMS", value_name = "N", default_value = "256",
          value_parser = values::at_least::<1>)]
    pub event_streams: usize,
    #[command(flatten)]
    pub rate_limits: RateLimitArgs,
}

impl HttpArgs {
    /// The HTTP adapter's configuration; `hsts` when serving TLS.
    pub fn config(&self, hsts: bool) -> anyhow::Result<HttpConfig> {
        Ok(HttpConfig {
            body_limit: self.body_limit,
            rate_limits: self.rate_limits.quotas()?,
            trusted_proxies: TrustedProxies::new(
                self.trusted_proxies.0.clone(),
                self.forwarded_header,
            ),
            request_timeout: self.request_timeout,
            header_limit: self.header_limit,
            cors_origins: self.cors_origins.clone(),
            hsts,
            // The metrics group's to say (`serve` sets it).
            metrics: false,
            fast_path: self.fast_path,
        })
    }
}

/// The rate-limit budgets: a sustained rate (100/s, 30/min, 1000/h) and a burst each.
#[derive(Debug, Args)]
#[command(next_help_heading = "Rate limits")]
pub struct RateLimitArgs {
    /// Sustained rate for anonymous requests, per client address.
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_ANONYMOUS",
        value_name = "RATE",
        default_value = "100/s"
    )]
    pub rate_limit_anonymous: Rate,
    /// Requests an address may make at once before the anonymous rate applies.
    #[arg(long, env = "BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", value_name = "N",
          default_value = "200", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_anonymous_burst: u32,
    /// Sustained rate for signed-in requests, per user.
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_USER",
        value_name = "RATE",
        default_value = "100/s"
    )]
    pub rate_limit_user: Rate,
    /// Requests a user may make at once before the user rate applies.
    #[arg(long, env = "BOOKSTORE_RATE_LIMIT_USER_BURST", value_name = "N", default_value = "200",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_user_burst: u32,
    /// Sustained rate of sign-ins and token refreshes, per client address.
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_SIGN_IN",
        value_name = "RATE",
        default_value = "30/min"
    )]
    pub rate_limit_sign_in: Rate,
    /// Sign-ins and refreshes an address may make at once.
    #[arg(long, env = "BOOKSTORE_RATE_LIMIT_SIGN_IN_BURST", value_name = "N",
          default_value = "20", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_sign_in_burst: u32,
}

impl RateLimitArgs {
    pub fn quotas(&self) -> anyhow::Result<RateLimits> {
        let quota = |name: &str, rate, burst| {
            Quota::new(rate, burst).map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        Ok(RateLimits {
            anonymous: quota(
                "rate_limit_anonymous",
                self.rate_limit_anonymous,
                self.rate_limit_anonymous_burst,
            )?,
            user: quota(
                "rate_limit_user",
                self.rate_limit_user,
                self.rate_limit_user_burst,
            )?,
            sign_in: quota(
                "rate_limit_sign_in",
                self.rate_limit_sign_in,
                self.rate_limit_sign_in_burst,
            )?,
        })
    }
}

/// Redis for rate-limit counters shared by every replica: `bookstore_redis::RedisSettings`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Redis")]
pub struct RedisArgs {
    /// Redis for rate-limit counters shared by every replica: redis://[user:pass@]host[:port][/db]
    /// [default: none, counters in memory]. Prefer REDIS_URL_FILE for URLs with passwords.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_name = "URL",
          value_parser = values::secret)]
    pub redis_url: Option<SecretString>,
    /// File whose content is the Redis URL.
    #[arg(long, env = "REDIS_URL_FILE", value_name = "FILE")]
    pub(super) redis_url_file: Option<PathBuf>,
    /// Prefix of every Redis key this service writes.
    #[arg(
        long,
        env = "BOOKSTORE_REDIS_PREFIX",
        value_name = "PREFIX",
        default_value = "bookstore:ratelimit:"
    )]
    pub redis_prefix: String,
    /// Longest wait for Redis on a request, in milliseconds, before counting locally.
    #[arg(long, env = "BOOKSTORE_REDIS_TIMEOUT_MS", value_name = "MS",
          default_value = "200", value_parser = values::millis)]
    pub redis_timeout_ms: Duration,
}

impl RedisArgs {
    /// The Redis adapter's settings, when Redis is configured.
    pub fn settings(&self) -> Option<bookstore_redis::RedisSettings> {
        let url = self.redis_url.as_ref()?;
        Some(bookstore_redis::RedisSettings {
            url: url.expose_secret().to_owned(),
            prefix: self.redis_prefix.clone(),
            timeout: self.redis_timeout_ms,
        })
    }
}

/// Where the TLS certificate comes from, when serving TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files, reloaded when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate made at start.
    SelfSigned,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// PEM certificate chain, leaf first; with --tls-key, serves HTTPS. Re-read when the file
    /// changes and on SIGHUP [default: none, plain HTTP].
    #[arg(long, env = "BOOKSTORE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "BOOKSTORE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made at start, for trying TLS out; its
    /// SHA-256 fingerprint is printed.
    #[arg(long, env = "BOOKSTORE_TLS_SELF_SIGNED", value_name = "BOOL", action = ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub tls_self_signed: bool,
    /// Seconds between checks of the TLS files for changes; 0 reloads on SIGHUP only.
    #[arg(long, env = "BOOKSTORE_TLS_RELOAD_INTERVAL", value_name = "SECONDS",
          default_value = "5", value_parser = values::seconds_or_zero)]
    pub tls_reload_interval: Duration,
}

impl TlsArgs {
    /// TLS, or plain HTTP when `None`.
    pub fn source(&self) -> anyhow::Result<Option<TlsSource>> {
        match (&self.tls_cert, &self.tls_key, self.tls_self_signed) {
            (None, None, false) => Ok(None),
            (None, None, true) => Ok(Some(TlsSource::SelfSigned)),
            (_, _, true) => {
                anyhow::bail!("tls_self_signed cannot be combined with tls_cert and tls_key")
            }
            (Some(cert), Some(key), false) => Ok(Some(TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (Some(_), None, false) => {
                anyhow::bail!("tls_cert is set but tls_key is not; TLS needs both")
            }
            (None, Some(_), false) => {
                anyhow::bail!("tls_key is set but tls_cert is not; TLS needs both")
            }
        }
    }

    pub fn enabled(&self) -> bool {
        self.tls_self_signed || self.tls_cert.is_some() || self.tls_key.is_some()
    }
}
