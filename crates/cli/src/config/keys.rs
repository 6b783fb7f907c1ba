//! Token signing keys: their rotation schedule, the key-encryption key that replaces the
//! current one (`bookstore kek rotate`), and where access tokens are signed.

use super::values;
use clap::Args;
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// A rotation period, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule(pub Option<Duration>);

/// `off`, or a span (`90d`, `12h`).
pub fn schedule(text: &str) -> Result<Schedule, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Schedule(None));
    }
    values::span(text).map(|span| Schedule(Some(span)))
}

/// Where access tokens are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// With keys of ours, sealed in the store.
    Local,
    /// By an ed25519 key of Vault's transit engine at `mount`, named `key`.
    VaultTransit { mount: String, key: String },
}

/// The prefix of a transit key: `vault-transit:<mount>/<key>`.
pub const TRANSIT_PREFIX: &str = "vault-transit:";

/// `local`, or `vault-transit:<mount>/<key>` (the mount may have slashes of its own).
pub fn signing(text: &str) -> Result<Signing, String> {
    let text = text.trim();
    if text == "local" {
        return Ok(Signing::Local);
    }
    let Some(path) = text.strip_prefix(TRANSIT_PREFIX) else {
        return Err(format!(
            "{text:?}: use local, or {TRANSIT_PREFIX}<mount>/<key> (as in {TRANSIT_PREFIX}transit/bookstore)"
        ));
    };
    match path.trim_matches('/').rsplit_once('/') {
        Some((mount, key)) if !mount.is_empty() && !key.is_empty() => Ok(Signing::VaultTransit {
            mount: mount.to_owned(),
            key: key.to_owned(),
        }),
        _ => Err(format!(
            "{text:?} names no key: {TRANSIT_PREFIX}<mount>/<key> (as in {TRANSIT_PREFIX}transit/bookstore)"
        )),
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Signing keys")]
pub struct KeyArgs {
    /// Where access tokens are signed: local (keys of ours, sealed in the store), or
    /// vault-transit:MOUNT/KEY (an ed25519 key of Vault's transit engine, which signs: the
    /// private key never enters this process).
    #[arg(long, env = "BOOKSTORE_SIGNING", value_name = "WHERE", default_value = "local",
          value_parser = signing)]
    pub signing: Signing,
    /// How long a new signing key (or transit key version) is in the JWKS before it signs:
    /// gateways cache the JWKS for 5 minutes, servers re-read keys every 30 s.
    #[arg(long, env = "BOOKSTORE_KEY_PUBLISH_LEAD", value_name = "SPAN", default_value = "6m",
          value_parser = values::span)]
    pub key_publish_lead: Duration,
    /// How old the newest signing key may get before the service adds a new one (published
    /// at once, signing 6 minutes later): a span (90d, 12h), or off.
    #[arg(long, env = "BOOKSTORE_KEY_ROTATION", value_name = "SPAN", default_value = "90d",
          value_parser = schedule)]
    pub key_rotation: Schedule,
    /// For `bookstore kek rotate`: the key-encryption key that replaces BOOKSTORE_KEK (base64
    /// of 32 random bytes) [default: generated, when the current one is the data
    /// directory's]. Prefer BOOKSTORE_NEW_KEK_FILE.
    #[arg(long, env = "BOOKSTORE_NEW_KEK", hide_env_values = true, value_name = "BASE64",
          value_parser = values::secret)]
    pub new_kek: Option<SecretString>,
    /// File holding the new key-encryption key.
    #[arg(long, env = "BOOKSTORE_NEW_KEK_FILE", value_name = "FILE")]
    pub(super) new_kek_file: Option<PathBuf>,
}

impl KeyArgs {
    /// Transit signing needs a Vault.
    pub fn check(&self, vault_addr: Option<&str>) -> anyhow::Result<()> {
        if matches!(self.signing, Signing::VaultTransit { .. }) && vault_addr.is_none() {
            anyhow::bail!(
                "BOOKSTORE_SIGNING names a Vault transit key but BOOKSTORE_VAULT_ADDR is not set"
            );
        }
        Ok(())
    }

    /// How often the service looks whether a scheduled rotation is due: a tenth of the
    /// period, between a second and an hour.
    pub fn rotation_check(&self) -> Option<(Duration, Duration)> {
        self.key_rotation.0.map(|period| {
            let check = (period / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
            (period, check)
        })
    }
}
