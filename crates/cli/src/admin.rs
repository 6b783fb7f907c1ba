//! `bookstore user …` and `bookstore keys …`: what an operator does without the HTTP API.

use crate::config::Settings;
use crate::wiring;
use anyhow::{bail, Context};
use bookstore_core::audit::AuditContext;
use bookstore_core::auth::{Accounts, UserId, Username};
use bookstore_core::{PageRequest, Role};
use clap::{Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Staff,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Staff => Role::Staff,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is asked for (or read from stdin), never taken as an argument.
    Add {
        username: String,
        #[arg(long, value_enum, default_value = "staff")]
        role: RoleArg,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Change a user's role; their current tokens stop working at once.
    SetRole {
        username: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Disable a user; their current tokens stop working at once.
    Disable { username: String },
    /// Enable a disabled user (and lift any sign-in lock-out).
    Enable { username: String },
    /// Set a new password; the user's current sign-ins end.
    ResetPassword {
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lift a sign-in lock-out after too many failed attempts.
    Unlock { username: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key. It is published in the JWKS at once and signs once every cached
    /// JWKS has expired (6 minutes: the JWKS cache lifetime of 5 minutes, the servers' 30 s
    /// reload, and leeway); until then the current key goes on signing. The old key verifies
    /// until its last tokens expire.
    Rotate {
        /// Sign with the new key at once, for a key that must stop signing now (leaked):
        /// gateways that cached the JWKS refuse the new tokens until their cache expires.
        #[arg(long)]
        immediately: bool,
    },
    /// Show every key: published (signs from when), signing, or retired (verifies until when).
    List,
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(password);
    }
    let first = rpassword::prompt_password("New password: ")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}

async fn find(accounts: &Accounts, username: &str) -> anyhow::Result<UserId> {
    let name = Username::parse(username).map_err(|e| anyhow::anyhow!("username {e}"))?;
    let record = accounts
        .users()
        .find_user_by_username(&name)
        .await?
        .with_context(|| format!("no user named {name}"))?;
    Ok(record.user.id)
}

pub async fn user(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let services = wiring::build(&settings, &settings.public_url(settings.server.listen)).await?;
    let accounts = &services.accounts;
    match command {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            let name = Username::parse(&username).map_err(|e| anyhow::anyhow!("username {e}"))?;
            let raw = read_password(password_stdin)?;
            let password = bookstore_core::auth::Password::new(raw, &[name.as_str()])
                .map_err(|e| anyhow::anyhow!("password {e}"))?;
            let user = accounts
                .create_user_unchecked(name, password, role.into())
                .await?;
            println!(
                "created {} ({}) {}",
                user.username,
                user.role.as_str(),
                user.id
            );
        }
        UserCommand::List => {
            let mut page = PageRequest::default();
            loop {
                let result = accounts.users().list_users(&page).await?;
                for u in result.items {
                    let status = if u.disabled { "disabled" } else { "active" };
                    println!("{}\t{}\t{}\t{}", u.username, u.role.as_str(), status, u.id);
                }
                match result.next_cursor {
                    Some(cursor) => page.cursor = Some(cursor),
                    None => break,
                }
            }
        }
        UserCommand::SetRole { username, role } => {
            let id = find(accounts, &username).await?;
            accounts
                .update_user_unchecked(id, Some(role.into()), None, None, &AuditContext::system())
                .await?;
            println!("{username} is now {}", Role::from(role).as_str());
        }
        UserCommand::Disable { username } => {
            let id = find(accounts, &username).await?;
            accounts
                .update_user_unchecked(id, None, Some(true), None, &AuditContext::system())
                .await?;
            println!("{username} is disabled");
        }
        UserCommand::Enable { username } => {
            let id = find(accounts, &username).await?;
            accounts
                .update_user_unchecked(id, None, Some(false), None, &AuditContext::system())
                .await?;
            println!("{username} is enabled");
        }
        UserCommand::ResetPassword {
            username,
            password_stdin,
        } => {
            let id = find(accounts, &username).await?;
            let raw = read_password(password_stdin)?;
            accounts
                .update_user_unchecked(id, None, None, Some(raw), &AuditContext::system())
                .await?;
            println!("password of {username} changed; their sign-ins have ended");
        }
        UserCommand::Unlock { username } => {
            let id = find(accounts, &username).await?;
            accounts
                .update_user_unchecked(id, None, Some(false), None, &AuditContext::system())
                .await?;
            println!("{username} is unlocked");
        }
    }
    services.store.close().await;
    Ok(())
}

pub async fn keys(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let services = wiring::build(&settings, &settings.public_url(settings.server.listen)).await?;
    match command {
        KeysCommand::Rotate { immediately } => {
            let (kid, signs_from) = if immediately {
                services.keyring.rotate_now().await?
            } else {
                services.keyring.rotate().await?
            };
            if immediately {
                println!(
                    "new signing key {kid}: published and signing now; gateways that cached the \
                     JWKS refuse its tokens until their cache expires"
                );
            } else {
                println!(
                    "new signing key {kid}: published in the JWKS now, signs from {} (once every \
                     cached JWKS has expired); the current key signs until then",
                    signs_from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
        }
        KeysCommand::List => {
            let now = chrono::Utc::now();
            let time = |t: chrono::DateTime<chrono::Utc>| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            };
            println!("kid\tstate\tsigns from\tretires at\tverifies until");
            for key in services.keyring.list().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    key.kid,
                    key.state(now),
                    time(key.signs_from),
                    key.retires_at.map_or("-".into(), time),
                    key.verifies_until.map_or("-".into(), time),
                );
            }
        }
    }
    services.store.close().await;
    Ok(())
}
