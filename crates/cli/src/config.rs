//! Configuration: every setting has a flag, an environment variable and a config-file key, in
//! that order of precedence; secrets also take `NAME_FILE`, a path whose content is the value.

use anyhow::{bail, Context};
use bookstore_auth::TrustedIssuer;
use bookstore_core::ratelimit::{Quota, Rate};
use bookstore_http::client_ip::{ForwardedHeader, TrustedProxies};
use bookstore_http::gateway::CorsOrigins;
use bookstore_http::ratelimit::RateLimits;
use clap::{Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when stderr is not a terminal, readable text when it is.
    Auto,
    Json,
    Text,
}

/// Settings shared by every subcommand.
#[derive(Debug, Default, Args)]
pub struct SettingsArgs {
    /// TOML file with settings (keys as in the README's configuration table).
    #[arg(long, env = "BOOKSTORE_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to serve on [default: 127.0.0.1:8080].
    #[arg(long, env = "BOOKSTORE_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Where the embedded default keeps its files [default: ./data].
    #[arg(long, env = "BOOKSTORE_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… or sqlite://… [default: SQLite in the data directory].
    /// Prefer DATABASE_URL_FILE for URLs with passwords.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// File whose content is the database URL (Docker/Kubernetes secrets).
    #[arg(long, env = "DATABASE_URL_FILE", global = true, value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Largest connection pool to the database [default: 16].
    #[arg(
        long,
        env = "BOOKSTORE_DB_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub db_max_connections: Option<u32>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(
        long,
        env = "BOOKSTORE_BODY_LIMIT",
        global = true,
        value_name = "BYTES"
    )]
    pub body_limit: Option<usize>,
    /// Log filter, tracing EnvFilter syntax [default: info].
    #[arg(long, env = "BOOKSTORE_LOG", global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format [default: auto].
    #[arg(long, env = "BOOKSTORE_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Seconds that in-flight requests get to finish after SIGTERM or Ctrl-C [default: 30].
    #[arg(
        long,
        env = "BOOKSTORE_SHUTDOWN_GRACE",
        global = true,
        value_name = "SECONDS"
    )]
    pub shutdown_grace: Option<u64>,
    /// Password of the first admin, used only when the store has no users yet
    /// [default: random, printed once]. Prefer BOOKSTORE_ADMIN_PASSWORD_FILE.
    #[arg(
        long,
        env = "BOOKSTORE_ADMIN_PASSWORD",
        global = true,
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub admin_password: Option<String>,
    /// File holding the first admin's password.
    #[arg(
        long,
        env = "BOOKSTORE_ADMIN_PASSWORD_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub admin_password_file: Option<PathBuf>,
    /// Key-encryption key for signing keys: base64 of 32 random bytes
    /// [default: generated into the data directory]. Prefer BOOKSTORE_KEK_FILE.
    #[arg(
        long,
        env = "BOOKSTORE_KEK",
        global = true,
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub kek: Option<String>,
    /// File holding the key-encryption key.
    #[arg(long, env = "BOOKSTORE_KEK_FILE", global = true, value_name = "FILE")]
    pub kek_file: Option<PathBuf>,
    /// The URL clients reach this service at, for discovery documents
    /// [default: http://<listen address>].
    #[arg(long, env = "BOOKSTORE_PUBLIC_URL", global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// `iss` of the access tokens we issue [default: the public URL].
    #[arg(long, env = "BOOKSTORE_ISSUER", global = true, value_name = "ISSUER")]
    pub issuer: Option<String>,
    /// `aud` of the access tokens we issue and accept [default: bookstore-api].
    #[arg(
        long,
        env = "BOOKSTORE_AUDIENCE",
        global = true,
        value_name = "AUDIENCE"
    )]
    pub audience: Option<String>,
    /// Lifetime of access tokens in seconds [default: 900].
    #[arg(
        long,
        env = "BOOKSTORE_ACCESS_TOKEN_TTL",
        global = true,
        value_name = "SECONDS"
    )]
    pub access_token_ttl: Option<u64>,
    /// Seconds after which a sign-in ends, however often refreshed [default: 43200].
    #[arg(
        long,
        env = "BOOKSTORE_SESSION_LIFETIME",
        global = true,
        value_name = "SECONDS"
    )]
    pub session_lifetime: Option<u64>,
    /// Outside issuers whose tokens are accepted, as a JSON list of objects with issuer,
    /// jwks_url, audience, role_claim, admin_values, staff_values [default: none].
    #[arg(
        long,
        env = "BOOKSTORE_TRUSTED_ISSUERS",
        global = true,
        value_name = "JSON"
    )]
    pub trusted_issuers: Option<String>,
    /// Sustained rate for anonymous requests, per client address: 100/s, 30/min, 1000/h
    /// [default: 100/s].
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_ANONYMOUS",
        global = true,
        value_name = "RATE"
    )]
    pub rate_limit_anonymous: Option<String>,
    /// Requests an address may make at once before the anonymous rate applies [default: 200].
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST",
        global = true,
        value_name = "N"
    )]
    pub rate_limit_anonymous_burst: Option<u32>,
    /// Sustained rate for signed-in requests, per user [default: 100/s].
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_USER",
        global = true,
        value_name = "RATE"
    )]
    pub rate_limit_user: Option<String>,
    /// Requests a user may make at once before the user rate applies [default: 200].
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_USER_BURST",
        global = true,
        value_name = "N"
    )]
    pub rate_limit_user_burst: Option<u32>,
    /// Sustained rate of sign-ins and token refreshes, per client address [default: 30/min].
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_SIGN_IN",
        global = true,
        value_name = "RATE"
    )]
    pub rate_limit_sign_in: Option<String>,
    /// Sign-ins and refreshes an address may make at once [default: 20].
    #[arg(
        long,
        env = "BOOKSTORE_RATE_LIMIT_SIGN_IN_BURST",
        global = true,
        value_name = "N"
    )]
    pub rate_limit_sign_in_burst: Option<u32>,
    /// Proxies whose forwarding header names the client: comma-separated addresses or CIDR
    /// networks [default: none, the peer is the client].
    #[arg(
        long,
        env = "BOOKSTORE_TRUSTED_PROXIES",
        global = true,
        value_name = "CIDRS"
    )]
    pub trusted_proxies: Option<String>,
    /// The header the trusted proxies write: x-forwarded-for or forwarded
    /// [default: x-forwarded-for].
    #[arg(
        long,
        env = "BOOKSTORE_FORWARDED_HEADER",
        global = true,
        value_name = "HEADER"
    )]
    pub forwarded_header: Option<String>,
    /// Redis for rate-limit counters shared by every replica: redis://[user:pass@]host[:port][/db]
    /// [default: none, counters in memory]. Prefer REDIS_URL_FILE for URLs with passwords.
    #[arg(
        long,
        env = "REDIS_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis_url: Option<String>,
    /// File whose content is the Redis URL.
    #[arg(long, env = "REDIS_URL_FILE", global = true, value_name = "FILE")]
    pub redis_url_file: Option<PathBuf>,
    /// Prefix of every Redis key this service writes [default: bookstore:ratelimit:].
    #[arg(
        long,
        env = "BOOKSTORE_REDIS_PREFIX",
        global = true,
        value_name = "PREFIX"
    )]
    pub redis_prefix: Option<String>,
    /// Longest wait for Redis on a request, in milliseconds, before counting locally
    /// [default: 200].
    #[arg(
        long,
        env = "BOOKSTORE_REDIS_TIMEOUT_MS",
        global = true,
        value_name = "MS"
    )]
    pub redis_timeout_ms: Option<u64>,
    /// PEM certificate chain, leaf first; with --tls-key, serves HTTPS. Re-read when the file
    /// changes and on SIGHUP [default: none, plain HTTP].
    #[arg(long, env = "BOOKSTORE_TLS_CERT", global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "BOOKSTORE_TLS_KEY", global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made at start, for trying TLS out; its
    /// SHA-256 fingerprint is printed [default: false].
    #[arg(
        long,
        env = "BOOKSTORE_TLS_SELF_SIGNED",
        global = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub tls_self_signed: Option<bool>,
    /// Seconds between checks of the TLS files for changes; 0 reloads on SIGHUP only
    /// [default: 5].
    #[arg(
        long,
        env = "BOOKSTORE_TLS_RELOAD_INTERVAL",
        global = true,
        value_name = "SECONDS"
    )]
    pub tls_reload_interval: Option<u64>,
    /// Seconds a request may take before it is abandoned with 504 [default: 30].
    #[arg(
        long,
        env = "BOOKSTORE_REQUEST_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub request_timeout: Option<u64>,
    /// Seconds a connection may take to send a whole request header after it opens, or after
    /// the first byte of a later request (nginx's client_header_timeout) [default: 60].
    #[arg(
        long,
        env = "BOOKSTORE_CLIENT_HEADER_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub client_header_timeout: Option<u64>,
    /// Seconds a keep-alive connection may stay idle between requests (nginx's
    /// keepalive_timeout) [default: 75].
    #[arg(
        long,
        env = "BOOKSTORE_KEEPALIVE_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub keepalive_timeout: Option<u64>,
    /// Largest total size of a request's header names and values in bytes, 431 above
    /// [default: 16384].
    #[arg(
        long,
        env = "BOOKSTORE_HEADER_LIMIT",
        global = true,
        value_name = "BYTES"
    )]
    pub header_limit: Option<usize>,
    /// Browser origins allowed to call the API (CORS), comma-separated, or * for any
    /// [default: none].
    #[arg(
        long,
        env = "BOOKSTORE_CORS_ORIGINS",
        global = true,
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub cors_origins: Option<Vec<String>>,
}

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    db_max_connections: Option<u32>,
    body_limit: Option<usize>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    shutdown_grace: Option<u64>,
    admin_password: Option<String>,
    admin_password_file: Option<PathBuf>,
    kek: Option<String>,
    kek_file: Option<PathBuf>,
    public_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    access_token_ttl: Option<u64>,
    session_lifetime: Option<u64>,
    trusted_issuers: Option<Vec<TrustedIssuer>>,
    rate_limit_anonymous: Option<String>,
    rate_limit_anonymous_burst: Option<u32>,
    rate_limit_user: Option<String>,
    rate_limit_user_burst: Option<u32>,
    rate_limit_sign_in: Option<String>,
    rate_limit_sign_in_burst: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    forwarded_header: Option<String>,
    redis_url: Option<String>,
    redis_url_file: Option<PathBuf>,
    redis_prefix: Option<String>,
    redis_timeout_ms: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_self_signed: Option<bool>,
    tls_reload_interval: Option<u64>,
    request_timeout: Option<u64>,
    client_header_timeout: Option<u64>,
    keepalive_timeout: Option<u64>,
    header_limit: Option<usize>,
    cors_origins: Option<Vec<String>>,
}

/// Where the TLS certificate comes from, when serving TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files, reloaded when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate made at start.
    SelfSigned,
}

/// Settings after precedence has been applied.
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<SecretString>,
    pub db_max_connections: u32,
    pub body_limit: usize,
    pub log: String,
    pub log_format: LogFormat,
    pub shutdown_grace: Duration,
    pub admin_password: Option<SecretString>,
    pub kek: Option<SecretString>,
    pub public_url: String,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub session_lifetime: Duration,
    pub trusted_issuers: Vec<TrustedIssuer>,
    pub rate_limits: RateLimits,
    pub trusted_proxies: TrustedProxies,
    pub redis_url: Option<SecretString>,
    pub redis_prefix: String,
    pub redis_timeout: Duration,
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<TlsSource>,
    /// How often the TLS files are checked for changes; zero: on SIGHUP only.
    pub tls_reload_interval: Duration,
    pub request_timeout: Duration,
    pub client_header_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub header_limit: usize,
    pub cors_origins: CorsOrigins,
    /// Where each secret came from, to log by name once logging is up.
    pub secret_sources: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "[redacted]"),
            )
            .field("db_max_connections", &self.db_max_connections)
            .field("body_limit", &self.body_limit)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("shutdown_grace", &self.shutdown_grace)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "[redacted]"),
            )
            .field("kek", &self.kek.as_ref().map(|_| "[redacted]"))
            .field("public_url", &self.public_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("session_lifetime", &self.session_lifetime)
            .field("trusted_issuers", &self.trusted_issuers)
            .field("rate_limits", &self.rate_limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "[redacted]"))
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_timeout", &self.redis_timeout)
            .field("tls", &self.tls)
            .field("tls_reload_interval", &self.tls_reload_interval)
            .field("request_timeout", &self.request_timeout)
            .field("client_header_timeout", &self.client_header_timeout)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("header_limit", &self.header_limit)
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

fn read_secret_file(path: &Path, name: &str) -> anyhow::Result<SecretString> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("reading {name} from {}", path.display()))?;
    let value = content.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        bail!("{name} file {} is empty", path.display());
    }
    Ok(SecretString::from(value.to_owned()))
}

/// A secret from, in order: flag or environment, `NAME_FILE`, config key, config `_file` key.
fn secret(
    name: &str,
    sources: &mut Vec<String>,
    value: Option<String>,
    file: Option<PathBuf>,
    config_value: Option<String>,
    config_file: Option<PathBuf>,
) -> anyhow::Result<Option<SecretString>> {
    let resolved = if let Some(v) = value {
        sources.push(format!("{name} from flag or environment"));
        Some(SecretString::from(v))
    } else if let Some(path) = file {
        sources.push(format!("{name} from {name}_FILE ({})", path.display()));
        Some(read_secret_file(&path, name)?)
    } else if let Some(v) = config_value {
        sources.push(format!("{name} from config file"));
        Some(SecretString::from(v))
    } else if let Some(path) = config_file {
        sources.push(format!(
            "{name} from config file's _file key ({})",
            path.display()
        ));
        Some(read_secret_file(&path, name)?)
    } else {
        None
    };
    Ok(resolved.filter(|s| !s.expose_secret().trim().is_empty()))
}

impl SettingsArgs {
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file: FileSettings = match &self.config {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("config file {} is not valid", path.display()))?
            }
        };
        let mut secret_sources = Vec::new();
        let database_url = secret(
            "DATABASE_URL",
            &mut secret_sources,
            self.database_url,
            self.database_url_file,
            file.database_url,
            file.database_url_file,
        )?;
        let admin_password = secret(
            "BOOKSTORE_ADMIN_PASSWORD",
            &mut secret_sources,
            self.admin_password,
            self.admin_password_file,
            file.admin_password,
            file.admin_password_file,
        )?;
        let kek = secret(
            "BOOKSTORE_KEK",
            &mut secret_sources,
            self.kek,
            self.kek_file,
            file.kek,
            file.kek_file,
        )?;
        let redis_url = secret(
            "REDIS_URL",
            &mut secret_sources,
            self.redis_url,
            self.redis_url_file,
            file.redis_url,
            file.redis_url_file,
        )?;
        let defaults = RateLimits::default();
        let rate_limits = RateLimits {
            anonymous: quota(
                "rate_limit_anonymous",
                self.rate_limit_anonymous.or(file.rate_limit_anonymous),
                self.rate_limit_anonymous_burst
                    .or(file.rate_limit_anonymous_burst),
                defaults.anonymous,
            )?,
            user: quota(
                "rate_limit_user",
                self.rate_limit_user.or(file.rate_limit_user),
                self.rate_limit_user_burst.or(file.rate_limit_user_burst),
                defaults.user,
            )?,
            sign_in: quota(
                "rate_limit_sign_in",
                self.rate_limit_sign_in.or(file.rate_limit_sign_in),
                self.rate_limit_sign_in_burst
                    .or(file.rate_limit_sign_in_burst),
                defaults.sign_in,
            )?,
        };
        let networks = match self.trusted_proxies {
            Some(list) => TrustedProxies::parse_networks(&[list]),
            None => TrustedProxies::parse_networks(&file.trusted_proxies.unwrap_or_default()),
        }
        .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        let forwarded_header: ForwardedHeader =
            match self.forwarded_header.or(file.forwarded_header) {
                Some(text) => text
                    .parse()
                    .map_err(|e| anyhow::anyhow!("forwarded_header: {e}"))?,
                None => ForwardedHeader::default(),
            };
        let redis_timeout_ms = self
            .redis_timeout_ms
            .or(file.redis_timeout_ms)
            .unwrap_or(200);
        if redis_timeout_ms == 0 {
            bail!("redis_timeout_ms must be at least 1");
        }
        let db_max_connections = self
            .db_max_connections
            .or(file.db_max_connections)
            .unwrap_or(16);
        if db_max_connections == 0 {
            bail!("db_max_connections must be at least 1");
        }
        let body_limit = self.body_limit.or(file.body_limit).unwrap_or(1024 * 1024);
        if body_limit == 0 {
            bail!("body_limit must be at least 1 byte");
        }
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let tls = tls_source(
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
            self.tls_self_signed
                .or(file.tls_self_signed)
                .unwrap_or(false),
        )?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = self
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("{scheme}://{listen}"));
        let header_limit = self.header_limit.or(file.header_limit).unwrap_or(16 * 1024);
        if header_limit < 1024 {
            bail!("header_limit must be at least 1024 bytes");
        }
        let cors_origins =
            CorsOrigins::parse(&self.cors_origins.or(file.cors_origins).unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("cors_origins: {e}"))?;
        let seconds = |value: Option<u64>, default: u64, name: &str| -> anyhow::Result<Duration> {
            match value.unwrap_or(default) {
                0 => bail!("{name} must be at least 1 second"),
                n => Ok(Duration::from_secs(n)),
            }
        };
        Ok(Settings {
            listen,
            issuer: self
                .issuer
                .or(file.issuer)
                .unwrap_or_else(|| public_url.clone()),
            public_url,
            audience: self
                .audience
                .or(file.audience)
                .unwrap_or_else(|| "bookstore-api".to_owned()),
            access_token_ttl: seconds(
                self.access_token_ttl.or(file.access_token_ttl),
                900,
                "access_token_ttl",
            )?,
            session_lifetime: seconds(
                self.session_lifetime.or(file.session_lifetime),
                43_200,
                "session_lifetime",
            )?,
            trusted_issuers: match self.trusted_issuers {
                Some(json) => serde_json::from_str(&json)
                    .context("BOOKSTORE_TRUSTED_ISSUERS must be a JSON list of issuers")?,
                None => file.trusted_issuers.unwrap_or_default(),
            },
            admin_password,
            kek,
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            database_url,
            db_max_connections,
            body_limit,
            log: self.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Auto),
            shutdown_grace: Duration::from_secs(
                self.shutdown_grace.or(file.shutdown_grace).unwrap_or(30),
            ),
            rate_limits,
            trusted_proxies: TrustedProxies::new(networks, forwarded_header),
            redis_url,
            redis_prefix: self
                .redis_prefix
                .or(file.redis_prefix)
                .unwrap_or_else(|| "bookstore:ratelimit:".to_owned()),
            redis_timeout: Duration::from_millis(redis_timeout_ms),
            tls,
            tls_reload_interval: Duration::from_secs(
                self.tls_reload_interval
                    .or(file.tls_reload_interval)
                    .unwrap_or(5),
            ),
            request_timeout: seconds(
                self.request_timeout.or(file.request_timeout),
                30,
                "request_timeout",
            )?,
            client_header_timeout: seconds(
                self.client_header_timeout.or(file.client_header_timeout),
                60,
                "client_header_timeout",
            )?,
            keepalive_timeout: seconds(
                self.keepalive_timeout.or(file.keepalive_timeout),
                75,
                "keepalive_timeout",
            )?,
            header_limit,
            cors_origins,
            secret_sources,
        })
    }
}

/// A rate and a burst, each from its setting or the default.
fn quota(
    name: &str,
    rate: Option<String>,
    burst: Option<u32>,
    default: Quota,
) -> anyhow::Result<Quota> {
    let rate = match rate {
        Some(text) => text
            .parse::<Rate>()
            .map_err(|e| anyhow::anyhow!("{name} {text:?}: {e}"))?,
        None => default.rate(),
    };
    Quota::new(rate, burst.unwrap_or(default.burst()))
        .map_err(|e| anyhow::anyhow!("{name}_burst: {e}"))
}

fn tls_source(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    self_signed: bool,
) -> anyhow::Result<Option<TlsSource>> {
    match (cert, key, self_signed) {
        (None, None, false) => Ok(None),
        (None, None, true) => Ok(Some(TlsSource::SelfSigned)),
        (Some(_), Some(_), true) | (Some(_), None, true) | (None, Some(_), true) => {
            bail!("tls_self_signed cannot be combined with tls_cert and tls_key")
        }
        (Some(cert), Some(key), false) => Ok(Some(TlsSource::Files { cert, key })),
        (Some(_), None, false) => bail!("tls_cert is set but tls_key is not; TLS needs both"),
        (None, Some(_), false) => bail!("tls_key is set but tls_cert is not; TLS needs both"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn config_file(content: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(content.as_bytes()).expect("write");
        file
    }

    #[test]
    fn defaults_without_any_setting() {
        let settings = SettingsArgs::default().resolve().expect("valid");
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert!(settings.database_url.is_none());
        assert_eq!(settings.body_limit, 1024 * 1024);
        assert_eq!(settings.log, "info");
    }

    #[test]
    fn flags_and_environment_beat_the_config_file() {
        let file = config_file("listen = \"0.0.0.0:9000\"\nlog = \"debug\"\nbody_limit = 10\n");
        let settings = SettingsArgs {
            config: Some(file.path().to_path_buf()),
            log: Some("warn".into()),
            ..SettingsArgs::default()
        }
        .resolve()
        .expect("valid");
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.log, "warn");
        assert_eq!(settings.body_limit, 10);
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let secret = config_file("postgres://u:hunter2@db/books\n");
        let settings = SettingsArgs {
            database_url_file: Some(secret.path().to_path_buf()),
            ..SettingsArgs::default()
        }
        .resolve()
        .expect("valid");
        let url = settings.database_url.as_ref().expect("url");
        assert_eq!(url.expose_secret(), "postgres://u:hunter2@db/books");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(settings
            .secret_sources
            .iter()
            .all(|s| !s.contains("hunter2")));
    }

    #[test]
    fn tls_and_gateway_settings() {
        let file = config_file(
            "tls_cert = \"/etc/bookstore/cert.pem\"\ntls_key = \"/etc/bookstore/key.pem\"\n\
             request_timeout = 10\nheader_limit = 4096\nkeepalive_timeout = 5\n\
             cors_origins = [\"https://shop.example\"]\n",
        );
        let settings = SettingsArgs {
            config: Some(file.path().to_path_buf()),
            listen: Some("127.0.0.1:8443".parse().expect("addr")),
            ..SettingsArgs::default()
        }
        .resolve()
        .expect("valid");
        assert_eq!(
            settings.tls,
            Some(TlsSource::Files {
                cert: "/etc/bookstore/cert.pem".into(),
                key: "/etc/bookstore/key.pem".into()
            })
        );
        assert_eq!(settings.public_url, "https://127.0.0.1:8443");
        assert_eq!(settings.request_timeout, Duration::from_secs(10));
        assert_eq!(settings.keepalive_timeout, Duration::from_secs(5));
        assert_eq!(settings.client_header_timeout, Duration::from_secs(60));
        assert_eq!(settings.header_limit, 4096);
        assert_eq!(settings.tls_reload_interval, Duration::from_secs(5));
        assert_eq!(
            settings.cors_origins,
            CorsOrigins::List(vec!["https://shop.example".into()])
        );

        let defaults = SettingsArgs::default().resolve().expect("valid");
        assert_eq!(defaults.tls, None);
        assert_eq!(defaults.public_url, "http://127.0.0.1:8080");
        assert_eq!(defaults.request_timeout, Duration::from_secs(30));
        assert_eq!(defaults.keepalive_timeout, Duration::from_secs(75));
        assert_eq!(defaults.cors_origins, CorsOrigins::None);

        for (args, needle) in [
            (
                SettingsArgs {
                    tls_cert: Some("c.pem".into()),
                    ..SettingsArgs::default()
                },
                "tls_key",
            ),
            (
                SettingsArgs {
                    tls_cert: Some("c.pem".into()),
                    tls_key: Some("k.pem".into()),
                    tls_self_signed: Some(true),
                    ..SettingsArgs::default()
                },
                "tls_self_signed",
            ),
            (
                SettingsArgs {
                    cors_origins: Some(vec!["shop.example".into()]),
                    ..SettingsArgs::default()
                },
                "cors_origins",
            ),
            (
                SettingsArgs {
                    header_limit: Some(10),
                    ..SettingsArgs::default()
                },
                "header_limit",
            ),
        ] {
            let err = args.resolve().expect_err(needle);
            assert!(format!("{err:#}").contains(needle), "{err:#}");
        }
    }

    #[test]
    fn bad_settings_are_explained() {
        let file = config_file("colour = \"red\"\n");
        let err = SettingsArgs {
            config: Some(file.path().to_path_buf()),
            ..SettingsArgs::default()
        }
        .resolve()
        .expect_err("unknown key");
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
        let empty = config_file("");
        let err = SettingsArgs {
            database_url_file: Some(empty.path().to_path_buf()),
            ..SettingsArgs::default()
        }
        .resolve()
        .expect_err("empty secret");
        assert!(err.to_string().contains("empty"));
    }

    #[test]
    fn rate_limits_and_proxies() {
        let settings = SettingsArgs::default().resolve().expect("valid");
        assert_eq!(settings.rate_limits, RateLimits::default());
        assert!(settings.trusted_proxies.is_empty());
        assert!(settings.redis_url.is_none());
        assert_eq!(settings.redis_prefix, "bookstore:ratelimit:");

        let file = config_file(
            "rate_limit_sign_in = \"5/min\"\nrate_limit_sign_in_burst = 3\n\
             rate_limit_user = \"10/s\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n\
             redis_url = \"redis://:hunter2@cache:6379/2\"\n",
        );
        let settings = SettingsArgs {
            config: Some(file.path().to_path_buf()),
            rate_limit_user: Some("20/s".into()),
            ..SettingsArgs::default()
        }
        .resolve()
        .expect("valid");
        assert_eq!(settings.rate_limits.sign_in.rate().to_string(), "5/min");
        assert_eq!(settings.rate_limits.sign_in.burst(), 3);
        assert_eq!(settings.rate_limits.user.rate().to_string(), "20/s");
        assert_eq!(settings.rate_limits.user.burst(), 200);
        assert!(!settings.trusted_proxies.is_empty());
        assert!(!format!("{settings:?}").contains("hunter2"));

        for (args, needle) in [
            (
                SettingsArgs {
                    rate_limit_anonymous: Some("lots".into()),
                    ..SettingsArgs::default()
                },
                "rate_limit_anonymous",
            ),
            (
                SettingsArgs {
                    rate_limit_user_burst: Some(0),
                    ..SettingsArgs::default()
                },
                "rate_limit_user_burst",
            ),
            (
                SettingsArgs {
                    trusted_proxies: Some("10.0.0.0/8, proxy".into()),
                    ..SettingsArgs::default()
                },
                "trusted_proxies",
            ),
            (
                SettingsArgs {
                    forwarded_header: Some("x-real-ip".into()),
                    ..SettingsArgs::default()
                },
                "forwarded_header",
            ),
        ] {
            let err = args.resolve().expect_err(needle);
            assert!(format!("{err:#}").contains(needle), "{err:#}");
        }
    }
}
