//! Where secrets may come from besides values and files: Vault or OpenBao, and how often
//! secrets are checked for changes.

use super::values;
use clap::Args;
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(next_help_heading = "Secrets (Vault / OpenBao)")]
pub struct SecretArgs {
    /// Vault or OpenBao that secret settings may name entries of, as
    /// DATABASE_URL=vault:kv/bookstore#database_url [default: none].
    #[arg(long, env = "BOOKSTORE_VAULT_ADDR", value_name = "URL")]
    pub vault_addr: Option<String>,
    /// Token for Vault [default: none; or AppRole]. Prefer VAULT_TOKEN_FILE.
    #[arg(long, env = "VAULT_TOKEN", hide_env_values = true, value_name = "TOKEN",
          value_parser = values::secret)]
    pub vault_token: Option<SecretString>,
    /// File holding the token for Vault.
    #[arg(long, env = "VAULT_TOKEN_FILE", value_name = "FILE")]
    pub(super) vault_token_file: Option<PathBuf>,
    /// File holding the AppRole role id (with --vault-secret-id-file, instead of a token).
    #[arg(long, env = "BOOKSTORE_VAULT_ROLE_ID_FILE", value_name = "FILE")]
    pub vault_role_id_file: Option<PathBuf>,
    /// File holding the AppRole secret id.
    #[arg(long, env = "BOOKSTORE_VAULT_SECRET_ID_FILE", value_name = "FILE")]
    pub vault_secret_id_file: Option<PathBuf>,
    /// PEM file of the CA that signed Vault's certificate [default: the system's roots].
    #[arg(long, env = "BOOKSTORE_VAULT_CACERT", value_name = "FILE")]
    pub vault_cacert: Option<PathBuf>,
    /// Seconds between checks of secret files and Vault entries for a new version; 0: on
    /// SIGHUP only.
    #[arg(long, env = "BOOKSTORE_SECRET_RELOAD_INTERVAL", value_name = "SECONDS",
          default_value = "30", value_parser = values::seconds_or_zero)]
    pub secret_reload_interval: Duration,
}

impl SecretArgs {
    pub fn check(&self) -> anyhow::Result<()> {
        let approle = self.vault_role_id_file.is_some() || self.vault_secret_id_file.is_some();
        if approle && (self.vault_role_id_file.is_none() || self.vault_secret_id_file.is_none()) {
            anyhow::bail!(
                "AppRole needs both BOOKSTORE_VAULT_ROLE_ID_FILE and BOOKSTORE_VAULT_SECRET_ID_FILE"
            );
        }
        if approle && self.vault_token.is_some() {
            anyhow::bail!("set either VAULT_TOKEN(_FILE) or the AppRole files, not both");
        }
        if self.vault_addr.is_none() && (approle || self.vault_token.is_some()) {
            anyhow::bail!("Vault credentials are set but BOOKSTORE_VAULT_ADDR is not");
        }
        if self.vault_addr.is_some() && !approle && self.vault_token.is_none() {
            anyhow::bail!(
                "BOOKSTORE_VAULT_ADDR is set without credentials: set VAULT_TOKEN_FILE (or \
                 VAULT_TOKEN), or BOOKSTORE_VAULT_ROLE_ID_FILE and BOOKSTORE_VAULT_SECRET_ID_FILE"
            );
        }
        Ok(())
    }
}
