//! Re-reads secrets while serving: every `interval` those whose version changed (a file's
//! modification time, a Vault entry's version), and all of them on SIGHUP. Each re-read is
//! logged and audited, and handed to the `Applier`, which puts it to use (new database
//! credentials, a new key-encryption key) or says that it takes a restart.

use super::{reread, Clients, Loaded};
use bookstore_core::audit::AuditLog;
use secrecy::SecretString;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Puts a re-read secret to use: gets the setting's id, name and new value.
pub type Applier = Arc<
    dyn Fn(String, String, SecretString) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync,
>;

pub struct Watcher {
    pub loaded: Vec<Loaded>,
    pub clients: Clients,
    pub audit: Arc<dyn AuditLog>,
    pub interval: Duration,
    pub apply: Applier,
}

impl Watcher {
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                let tick = async {
                    if self.interval.is_zero() {
                        std::future::pending::<()>().await;
                    } else {
                        tokio::time::sleep(self.interval).await;
                    }
                };
                #[cfg(unix)]
                let forced = tokio::select! {
                    () = tick => false,
                    Some(()) = async {
                        match hangup.as_mut() {
                            Some(signal) => signal.recv().await,
                            None => std::future::pending().await,
                        }
                    } => true,
                };
                #[cfg(not(unix))]
                let forced = {
                    tick.await;
                    false
                };
                if forced {
                    tracing::info!("SIGHUP: re-reading every secret");
                }
                self.check(forced).await;
            }
        })
    }

    async fn check(&mut self, forced: bool) {
        for entry in &mut self.loaded {
            match reread(entry, &self.clients, forced).await {
                Ok(None) => {}
                Ok(Some((value, version))) => {
                    entry.version = version;
                    entry.log(true);
                    if let Err(err) = entry.record(&*self.audit, true).await {
                        tracing::warn!(secret = %entry.name, error = %err, "could not audit a secret load");
                    }
                    (self.apply)(entry.id.clone(), entry.name.clone(), value).await;
                }
                Err(err) => {
                    tracing::warn!(secret = %entry.name, source = %entry.source, error = %format!("{err:#}"), "could not re-read a secret; keeping the loaded one");
                }
            }
        }
    }
}
