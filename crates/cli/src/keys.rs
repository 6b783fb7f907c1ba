//! Keeps the signing keys current while serving: re-read every little while (a rotation by
//! another process is seen here), rotated on schedule (`BOOKSTORE_KEY_ROTATION`), and the
//! key-encryption key taken over when its secret changes after `bookstore kek rotate`.

use bookstore_auth::{Kek, KeyRing};
use std::sync::Arc;
use std::time::Duration;

/// How often signing keys are re-read, so that a rotation elsewhere is seen here (a rotated
/// key is published long enough before it signs to allow for it).
const RELOAD_INTERVAL: Duration = bookstore_auth::keyring::RELOAD_INTERVAL;

/// Re-reads the keys, and when `schedule` (period, how often to look) is set, adds a key
/// whenever the newest is a period old. Each replica looks; the store lets one add.
pub fn maintain(
    keyring: Arc<KeyRing>,
    schedule: Option<(Duration, Duration)>,
) -> tokio::task::JoinHandle<()> {
    let schedule = match keyring.remote() {
        Some(remote) if schedule.is_some() => {
            tracing::info!(key = %remote, "BOOKSTORE_KEY_ROTATION does not apply: the transit key rotates in Vault");
            None
        }
        _ => schedule,
    };
    tokio::spawn(async move {
        let mut reload = tokio::time::interval(RELOAD_INTERVAL);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut check = schedule.map(|(_, every)| {
            let mut check = tokio::time::interval(every);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            check
        });
        loop {
            let due = async {
                match check.as_mut() {
                    Some(check) => {
                        check.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = reload.tick() => {
                    if let Err(err) = keyring.reload().await {
                        tracing::warn!(error = %err, "could not reload signing keys");
                    }
                }
                () = due => {
                    let Some((period, _)) = schedule else { continue };
                    rotate_if_due(&keyring, period).await;
                }
            }
        }
    })
}

async fn rotate_if_due(keyring: &KeyRing, period: Duration) {
    let Ok(period) = chrono::Duration::from_std(period) else {
        return;
    };
    match keyring.rotate_if_due(period).await {
        Ok(Some((kid, signs_from))) => tracing::info!(
            kid = %kid,
            signs_from = %signs_from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "scheduled rotation: added a signing key (published now, signs from then)"
        ),
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, "scheduled key rotation failed; trying again later")
        }
    }
}

/// A new BOOKSTORE_KEK seen while serving: taken over when it opens the stored keys (they
/// were re-sealed under it by `bookstore kek rotate`), else left for later with a warning.
pub async fn adopt_kek(keyring: &KeyRing, name: &str, text: &str) {
    let kek = match Kek::from_base64(text) {
        Ok(kek) => kek,
        Err(err) => {
            tracing::error!(secret = %name, error = %err, "the new key-encryption key is not usable; keeping the current one");
            return;
        }
    };
    match keyring.opens_with(&kek).await {
        Ok(true) => match keyring.adopt_kek(&kek) {
            Ok(()) => tracing::info!(
                secret = %name,
                "key-encryption key changed: signing keys and webhook secrets are opened with the new one"
            ),
            Err(err) => {
                tracing::error!(secret = %name, error = %err, "could not take the new key-encryption key")
            }
        },
        Ok(false) => tracing::warn!(
            secret = %name,
            "the new key-encryption key does not open the stored signing keys: run `bookstore kek rotate` \
             with it as BOOKSTORE_NEW_KEK first, then SIGHUP (keeping the current one meanwhile)"
        ),
        Err(err) => {
            tracing::warn!(secret = %name, error = %err, "could not check the new key-encryption key; keeping the current one")
        }
    }
}
