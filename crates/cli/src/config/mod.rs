//! Configuration. Every setting has a flag, an environment variable and a config-file key, in
//! that order of precedence over its built-in default; secrets also take `NAME_FILE`, a path
//! whose content is the value, at every layer.
//!
//! Each setting is declared once, as a field of a group in `groups` (its name is the config
//! key; its attribute the flag, variable and default). Clap applies flag > environment >
//! default; the config file's values become clap's defaults (`file`), which puts the file
//! between the environment and the built-in default without a merge step of our own.
//! Adding a setting is adding a field (and its row in the README's table, which a test holds
//! to the fields).

#[cfg(feature = "aws")]
mod aws;
mod file;
mod groups;
pub mod keys;
mod metrics;
mod nats;
mod roles;
mod search;
pub mod secret;
#[cfg(test)]
mod tests;
mod values;
mod vault;
mod webhooks;

use groups::{AuthArgs, HttpArgs, LogArgs, RedisArgs, ServerArgs, StoreArgs, TlsArgs};
pub use groups::{LogFormat, TlsSource};
use keys::KeyArgs;
pub use keys::Signing;
use metrics::MetricsArgs;
use nats::NatsArgs;
pub use roles::{Role, RoleArgs};
pub use search::{SearchArgs, SearchMode};
pub use vault::SecretArgs;
use webhooks::WebhookArgs;

#[cfg(feature = "aws")]
pub use aws::AwsArgs;
use clap::{ArgMatches, Args, Command, Parser};
use secret::{SecretSource, Secrets};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings shared by every subcommand.
#[derive(Debug, Args)]
pub struct Settings {
    /// TOML file with settings (keys as in the README's configuration table).
    #[arg(long, env = "BOOKSTORE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[cfg(feature = "aws")]
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub roles: RoleArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// Where each secret came from, to log by name once logging is up.
    #[arg(skip)]
    pub secret_sources: Vec<SecretSource>,
    /// The secrets as loaded (Vault entries read), once `secrets::load` has run.
    #[arg(skip)]
    pub loaded: crate::secrets::LoadedSecrets,
}

/// Parses `args` into `P`, whose [`Settings`] `settings` picks out, with the environment and
/// the config file. A clap error (including `--help`) comes back as a `clap::Error` for the
/// caller to `exit()` with.
pub fn parse<P, I>(args: I, settings: impl FnOnce(&mut P) -> &mut Settings) -> anyhow::Result<P>
where
    P: Parser,
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Settings may follow the subcommand: `bookstore serve --listen …`.
    let command = P::command().mut_args(|arg| arg.global(true));
    // The first pass finds the config file, which the second pass reads below the flags and
    // the environment.
    let first = command.clone().try_get_matches_from(&args)?;
    let command = match first.get_one::<PathBuf>("config") {
        Some(path) => file::apply(command, path)?,
        None => command,
    };
    let matches = command.clone().try_get_matches_from(&args)?;
    let mut parsed = P::from_arg_matches(&matches)?;
    settings(&mut parsed).resolve(&matches, &command)?;
    Ok(parsed)
}

impl Settings {
    /// Picks each secret from its layers, and checks the settings that combine others.
    fn resolve(&mut self, matches: &ArgMatches, command: &Command) -> anyhow::Result<()> {
        let mut secrets = Secrets::new(matches, command);
        self.store.database_url = secrets.pick(
            "database_url",
            self.store.database_url.take(),
            self.store.database_url_file.take(),
        )?;
        self.store.database_migration_url = secrets.pick(
            "database_migration_url",
            self.store.database_migration_url.take(),
            self.store.database_migration_url_file.take(),
        )?;
        self.store.database_read_url = secrets.pick(
            "database_read_url",
            self.store.database_read_url.take(),
            self.store.database_read_url_file.take(),
        )?;
        self.auth.admin_password = secrets.pick(
            "admin_password",
            self.auth.admin_password.take(),
            self.auth.admin_password_file.take(),
        )?;
        self.auth.kek = secrets.pick("kek", self.auth.kek.take(), self.auth.kek_file.take())?;
        self.keys.new_kek = secrets.pick(
            "new_kek",
            self.keys.new_kek.take(),
            self.keys.new_kek_file.take(),
        )?;
        self.redis.redis_url = secrets.pick(
            "redis_url",
            self.redis.redis_url.take(),
            self.redis.redis_url_file.take(),
        )?;
        self.nats.nats_url = secrets.pick(
            "nats_url",
            self.nats.nats_url.take(),
            self.nats.nats_url_file.take(),
        )?;
        self.secrets.vault_token = secrets.pick(
            "vault_token",
            self.secrets.vault_token.take(),
            self.secrets.vault_token_file.take(),
        )?;
        self.secret_sources = secrets.sources;
        self.secrets.check()?;
        self.keys.check(self.secrets.vault_addr.as_deref())?;
        self.tls.source()?;
        self.http.config(false)?;
        if self.metrics.metrics_listen.is_some() && !self.metrics.metrics {
            anyhow::bail!("BOOKSTORE_METRICS_LISTEN is set but BOOKSTORE_METRICS is off");
        }
        self.nats.check()?;
        #[cfg(feature = "aws")]
        {
            self.aws.check()?;
            if self.aws.sns_topic_arn.is_some() && self.nats.nats_url.is_some() {
                anyhow::bail!("set one event bus: BOOKSTORE_NATS_URL or BOOKSTORE_SNS_TOPIC_ARN");
            }
        }
        Ok(())
    }

    /// The value slot of the secret setting `id`, for the values resolved after parsing
    /// (Vault entries) and re-read while running.
    pub fn secret_mut(&mut self, id: &str) -> Option<&mut Option<secrecy::SecretString>> {
        match id {
            "database_url" => Some(&mut self.store.database_url),
            "database_migration_url" => Some(&mut self.store.database_migration_url),
            "admin_password" => Some(&mut self.auth.admin_password),
            "kek" => Some(&mut self.auth.kek),
            "new_kek" => Some(&mut self.keys.new_kek),
            "redis_url" => Some(&mut self.redis.redis_url),
            "nats_url" => Some(&mut self.nats.nats_url),
            "vault_token" => Some(&mut self.secrets.vault_token),
            _ => None,
        }
    }

    /// The URL clients use: configured, or this server's own when it serves on `address`.
    pub fn public_url(&self, address: SocketAddr) -> String {
        self.server.public_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls.enabled() { "https" } else { "http" };
            format!("{scheme}://{address}")
        })
    }

    /// The `iss` of our tokens: configured, or the public URL.
    pub fn issuer(&self, public_url: &str) -> String {
        self.auth
            .issuer
            .clone()
            .unwrap_or_else(|| public_url.to_owned())
    }
}
