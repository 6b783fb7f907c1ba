//! Signing keys: Ed25519 pairs generated here, stored sealed, loaded on start and reloaded so
//! that a rotation by any process takes effect everywhere.
//!
//! A rotation publishes before it signs. Gateways cache our JWKS for [`JWKS_MAX_AGE`], and
//! every server re-reads the keys every [`RELOAD_INTERVAL`]: a token signed with a key that a
//! cached JWKS does not list would be refused there. So a new key goes into the JWKS at once,
//! and the previous key goes on signing until [`PUBLISH_LEAD`] has passed (its `retired_at` is
//! set that far ahead); only then does the new key sign. A retired key keeps verifying (and
//! stays in the JWKS) until every token it signed has expired. `rotate_now` skips the wait,
//! for a key that must stop signing at once (a leaked key).

use crate::kek::Kek;
use crate::remote;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::audit::{details, AuditAction, AuditContext};
use bookstore_core::auth::{AuthError, RemoteSigningKey, StoredSigningKey, UserStore};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub const ALGORITHM: &str = "EdDSA";
/// Tokens are accepted this long past `exp`; a retired key must outlive them too.
pub const LEEWAY_SECS: i64 = 30;
/// How long a client may cache `/.well-known/jwks.json` (its `Cache-Control: max-age`).
pub const JWKS_MAX_AGE: std::time::Duration =
    std::time::Duration::from_secs(bookstore_core::auth::JWKS_MAX_AGE_SECS);
/// How often a running server re-reads the keys, so that a rotation elsewhere is seen.
pub const RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a new key is published before it signs: a JWKS handed out just before another
/// server saw the key expires from every cache by then (with the leeway for clocks).
pub const PUBLISH_LEAD: Duration = Duration::seconds(
    JWKS_MAX_AGE.as_secs() as i64 + RELOAD_INTERVAL.as_secs() as i64 + LEEWAY_SECS,
);

/// A key as `bookstore keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    /// When it signs (or signed) its first token.
    pub signs_from: DateTime<Utc>,
    /// When it stops (or stopped) signing; `None` while it is the newest key.
    pub retires_at: Option<DateTime<Utc>>,
    /// When tokens it signed stop verifying and it leaves the JWKS.
    pub verifies_until: Option<DateTime<Utc>>,
}

impl KeyStatus {
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.signs_from > now {
            "published"
        } else if self.retires_at.is_none_or(|at| at > now) {
            "signing"
        } else {
            "retired"
        }
    }
}

/// Which of the signing keys (`retired_at` each, `None` for the newest) signs at `now`: of
/// those still to retire, the one that retires first (it was published longest ago); else the
/// newest.
fn signer_at(retirements: &[Option<DateTime<Utc>>], now: DateTime<Utc>) -> Option<usize> {
    let pending = retirements
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.filter(|at| *at > now).map(|at| (at, i)))
        .min();
    pending
        .map(|(_, i)| i)
        .or_else(|| retirements.iter().position(Option::is_none))
}

#[derive(Clone)]
struct Verifying {
    decoding: DecodingKey,
    public_key: Vec<u8>,
    valid_until: Option<DateTime<Utc>>,
}

impl Verifying {
    /// A retired key verifies until its last tokens have expired.
    fn still_valid(&self) -> bool {
        self.valid_until.is_none_or(|until| until > Utc::now())
    }
}

#[derive(Default)]
struct Keys {
    /// Keys that sign now or will: the newest, and those whose retirement is still ahead.
    signing: Vec<(String, EncodingKey, Option<DateTime<Utc>>)>,
    /// The remote key's versions, when the key is remote.
    remote: Vec<remote::Scheduled>,
    verifying: HashMap<String, Verifying>,
}

/// What signs the next token.
pub(crate) enum Signer {
    /// A key of ours, opened.
    Local { kid: String, key: EncodingKey },
    /// A version of the remote key, which signs there.
    Remote {
        kid: String,
        version: u64,
        key: Arc<dyn RemoteSigningKey>,
        public_key: Vec<u8>,
    },
}

pub struct KeyRing {
    users: Arc<dyn UserStore>,
    kek: Kek,
    access_ttl: Duration,
    /// How long a new key is published before it signs ([`PUBLISH_LEAD`] unless configured).
    lead: Duration,
    /// The signing key when it is kept elsewhere (a Vault transit key); then the store's keys
    /// are not used.
    remote: Option<Arc<dyn RemoteSigningKey>>,
    keys: RwLock<Keys>,
}

fn crypto(what: impl std::fmt::Display) -> AuthError {
    AuthError::Crypto(what.to_string())
}

/// RFC 7638 thumbprint of an Ed25519 public key: a stable, collision-free key id.
pub fn thumbprint(public_key: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public_key);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl KeyRing {
    /// Loads the stored keys, creating the first one on an empty store.
    pub async fn load(
        users: Arc<dyn UserStore>,
        kek: Kek,
        access_ttl: Duration,
    ) -> Result<Self, AuthError> {
        Self::load_with(users, kek, access_ttl, PUBLISH_LEAD, None).await
    }

    /// [`KeyRing::load`] with a publish lead of its own, and the remote key that signs instead
    /// of the stored ones, if any (then nothing is created in the store).
    pub async fn load_with(
        users: Arc<dyn UserStore>,
        kek: Kek,
        access_ttl: Duration,
        lead: Duration,
        remote: Option<Arc<dyn RemoteSigningKey>>,
    ) -> Result<Self, AuthError> {
        let ring = Self {
            users,
            kek,
            access_ttl,
            lead,
            remote,
            keys: RwLock::new(Keys::default()),
        };
        ring.reload().await?;
        if let Some(remote) = &ring.remote {
            if ring.current_kid().is_none() {
                return Err(crypto(format!(
                    "{} has no version to sign with",
                    remote.describe()
                )));
            }
            return Ok(ring);
        }
        if ring.current_kid().is_none() {
            // Nobody can have cached a JWKS of a store without keys: sign at once.
            ring.rotate_now().await?;
        }
        Ok(ring)
    }

    /// Where the signing key is kept, when it is not ours.
    pub fn remote(&self) -> Option<String> {
        self.remote.as_ref().map(|remote| remote.describe())
    }

    fn valid_until(&self, retired: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        retired.map(|retired| retired + self.access_ttl + Duration::seconds(LEEWAY_SECS))
    }

    /// The remote key's versions, scheduled; those whose tokens have all expired left out.
    async fn reload_remote(&self, remote: &dyn RemoteSigningKey) -> Result<(), AuthError> {
        let scheduled = remote::schedule(&remote.versions().await?, self.lead);
        let now = Utc::now();
        let mut keys = Keys::default();
        for version in &scheduled {
            let valid_until = self.valid_until(version.retires_at);
            if valid_until.is_some_and(|until| until <= now) {
                continue;
            }
            keys.verifying.insert(
                version.kid.clone(),
                Verifying {
                    decoding: DecodingKey::from_ed_der(&version.public_key),
                    public_key: version.public_key.clone(),
                    valid_until,
                },
            );
        }
        keys.remote = scheduled;
        *self.keys.write().map_err(crypto)? = keys;
        Ok(())
    }

    pub async fn reload(&self) -> Result<(), AuthError> {
        if let Some(remote) = &self.remote {
            return self.reload_remote(&**remote).await;
        }
        let stored = self.users.signing_keys().await?;
        let now = Utc::now();
        let mut keys = Keys::default();
        for key in stored {
            if key.algorithm != ALGORITHM {
                continue;
            }
            let valid_until = key
                .retired_at
                .map(|retired| retired + self.access_ttl + Duration::seconds(LEEWAY_SECS));
            if valid_until.is_some_and(|until| until <= now) {
                continue;
            }
            if key.retired_at.is_none_or(|at| at > now) {
                let private = self.kek.open(&key.sealed_private_key, &key.kid)?;
                keys.signing.push((
                    key.kid.clone(),
                    EncodingKey::from_ed_der(&private),
                    key.retired_at,
                ));
            }
            keys.verifying.insert(
                key.kid.clone(),
                Verifying {
                    decoding: DecodingKey::from_ed_der(&key.public_key),
                    public_key: key.public_key,
                    valid_until,
                },
            );
        }
        *self.keys.write().map_err(crypto)? = keys;
        Ok(())
    }

    /// Adds a new key: published at once, signing once [`PUBLISH_LEAD`] has passed. Returns
    /// its key id and when it starts signing.
    pub async fn rotate(&self) -> Result<(String, DateTime<Utc>), AuthError> {
        self.add_key(self.lead, None)
            .await?
            .ok_or_else(|| crypto("the new signing key was not stored"))
    }

    /// Adds a new key that signs at once: gateways holding a cached JWKS refuse its tokens
    /// until their cache expires. For a key that must stop signing now.
    pub async fn rotate_now(&self) -> Result<(String, DateTime<Utc>), AuthError> {
        self.add_key(Duration::zero(), None)
            .await?
            .ok_or_else(|| crypto("the new signing key was not stored"))
    }

    /// The scheduled rotation (`BOOKSTORE_KEY_ROTATION`): adds a key as [`KeyRing::rotate`]
    /// does when the newest key is `period` old or older, and none when a younger one exists.
    /// Every replica may ask at any time: the check and the addition are one transaction,
    /// so each period gets one new key however many ask. The new key, if one was added.
    pub async fn rotate_if_due(
        &self,
        period: Duration,
    ) -> Result<Option<(String, DateTime<Utc>)>, AuthError> {
        // A remote key rotates where it is kept.
        if self.remote.is_some() {
            return Ok(None);
        }
        let newest = self
            .users
            .signing_keys()
            .await?
            .into_iter()
            .filter(|key| key.algorithm == ALGORITHM)
            .max_by_key(|key| key.created_at);
        // Cheap first look, without a write transaction: most checks find nothing to do. A
        // newest key that another replica added is loaded now rather than at the next reload.
        if let Some(key) = newest.filter(|key| key.created_at > Utc::now() - period) {
            if !self.accepts(&key.kid) {
                self.reload().await?;
            }
            return Ok(None);
        }
        self.add_key(self.lead, Some(period)).await
    }

    async fn add_key(
        &self,
        lead: Duration,
        schedule: Option<Duration>,
    ) -> Result<Option<(String, DateTime<Utc>)>, AuthError> {
        if let Some(remote) = &self.remote {
            return Err(crypto(format!(
                "tokens are signed by {}: rotate that key where it is kept (Vault: \
                 `bao write -f <mount>/keys/<name>/rotate`)",
                remote.describe()
            )));
        }
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(crypto)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(crypto)?;
        let public_key = pair.public_key().as_ref().to_vec();
        let kid = thumbprint(&public_key);
        let sealed_private_key = self.kek.seal(pkcs8.as_ref(), &kid)?;
        let now = Utc::now();
        let signs_from = now + lead;
        let key = StoredSigningKey {
            kid: kid.clone(),
            algorithm: ALGORITHM.into(),
            public_key,
            sealed_private_key,
            created_at: now,
            retired_at: None,
        };
        match schedule {
            None => self.users.add_signing_key(&key, signs_from).await?,
            Some(period) => {
                let added = self
                    .users
                    .add_signing_key_unless_newer(&key, signs_from, now - period)
                    .await?;
                if !added {
                    // Another process rotated first.
                    self.reload().await?;
                    return Ok(None);
                }
            }
        }
        // Rotations happen at start (the first key), on schedule and at the command line:
        // the service's own doing. The key id is public (it is in the JWKS); nothing of the
        // key is written.
        let entry = AuditContext::system().entry(
            AuditAction::KeysRotated,
            Some(kid.clone()),
            details([
                ("algorithm", ALGORITHM.into()),
                ("signs_from", signs_from.to_rfc3339().into()),
                ("immediately", lead.is_zero().into()),
                ("scheduled", schedule.is_some().into()),
            ]),
        );
        self.users.record_audit(&entry).await?;
        self.reload().await?;
        Ok(Some((kid, signs_from)))
    }

    /// Whether `kek` opens every stored key this ring would open (the newest and those still
    /// signing): a rotated key-encryption key, before a running service adopts it.
    pub async fn opens_with(&self, kek: &Kek) -> Result<bool, AuthError> {
        let now = Utc::now();
        for key in self.users.signing_keys().await? {
            if key.algorithm != ALGORITHM || key.retired_at.is_some_and(|at| at <= now) {
                continue;
            }
            if kek.open(&key.sealed_private_key, &key.kid).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Seals with `kek` from now on, and opens with it (what a rotation re-sealed); the
    /// webhook engine's clone of the key follows.
    pub fn adopt_kek(&self, kek: &Kek) -> Result<(), AuthError> {
        self.kek.adopt(kek)
    }

    /// Every stored key of ours (or version of the remote key) with its schedule, newest
    /// first.
    pub async fn list(&self) -> Result<Vec<KeyStatus>, AuthError> {
        if let Some(remote) = &self.remote {
            let mut statuses: Vec<KeyStatus> =
                remote::schedule(&remote.versions().await?, self.lead)
                    .into_iter()
                    .map(|version| KeyStatus {
                        kid: version.kid,
                        created_at: version.created_at,
                        signs_from: version.signs_from,
                        retires_at: version.retires_at,
                        verifies_until: self.valid_until(version.retires_at),
                    })
                    .collect();
            statuses.reverse();
            return Ok(statuses);
        }
        let stored = self.users.signing_keys().await?;
        let mut statuses: Vec<KeyStatus> = stored
            .iter()
            .filter(|key| key.algorithm == ALGORITHM)
            .map(|key| {
                // A key signs once every key before it has retired.
                let signs_from = stored
                    .iter()
                    .filter(|other| other.created_at < key.created_at)
                    .filter_map(|other| other.retired_at)
                    .fold(key.created_at, DateTime::max);
                KeyStatus {
                    kid: key.kid.clone(),
                    created_at: key.created_at,
                    signs_from,
                    retires_at: key.retired_at,
                    verifies_until: key
                        .retired_at
                        .map(|retired| retired + self.access_ttl + Duration::seconds(LEEWAY_SECS)),
                }
            })
            .collect();
        statuses.sort_by_key(|key| std::cmp::Reverse(key.created_at));
        Ok(statuses)
    }

    /// The key that signs now.
    pub fn current_kid(&self) -> Option<String> {
        self.signer().map(|signer| match signer {
            Signer::Local { kid, .. } | Signer::Remote { kid, .. } => kid,
        })
    }

    pub(crate) fn signer(&self) -> Option<Signer> {
        let keys = self.keys.read().ok()?;
        if let Some(remote) = &self.remote {
            let version = remote::signer_at(&keys.remote, Utc::now())?;
            return Some(Signer::Remote {
                kid: version.kid.clone(),
                version: version.version,
                key: remote.clone(),
                public_key: version.public_key.clone(),
            });
        }
        let retirements: Vec<Option<DateTime<Utc>>> =
            keys.signing.iter().map(|(_, _, r)| *r).collect();
        let index = signer_at(&retirements, Utc::now())?;
        keys.signing.get(index).map(|(kid, key, _)| Signer::Local {
            kid: kid.clone(),
            key: key.clone(),
        })
    }

    /// Whether tokens signed with `kid` are still accepted, without copying the key.
    pub(crate) fn accepts(&self, kid: &str) -> bool {
        self.keys
            .read()
            .ok()
            .is_some_and(|keys| keys.verifying.get(kid).is_some_and(Verifying::still_valid))
    }

    /// The key for `kid`, if it still verifies; no lookup anywhere for unknown ids.
    pub(crate) fn verifying_key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().ok()?;
        let key = keys.verifying.get(kid).filter(|key| key.still_valid())?;
        Some(key.decoding.clone())
    }

    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .read()
            .map(|k| {
                let mut entries: Vec<(&String, &Verifying)> = k
                    .verifying
                    .iter()
                    .filter(|(_, v)| v.still_valid())
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                entries
                    .into_iter()
                    .map(|(kid, v)| {
                        serde_json::json!({
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": URL_SAFE_NO_PAD.encode(&v.public_key),
                            "kid": kid,
                            "alg": ALGORITHM,
                            "use": "sig",
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_key_signs_until_it_retires() {
        let now = Utc::now();
        let later = |secs| Some(now + Duration::seconds(secs));
        // One key: it signs.
        assert_eq!(signer_at(&[None], now), Some(0));
        // Just rotated: the old key (retiring in 360 s) signs, the new one is only published.
        assert_eq!(signer_at(&[None, later(360)], now), Some(1));
        // Its retirement passed: the new key signs.
        assert_eq!(signer_at(&[None, later(-1)], now), Some(0));
        // Rotated twice within the lead: each signs in turn, the oldest first.
        assert_eq!(signer_at(&[None, later(500), later(200)], now), Some(2));
        assert_eq!(
            signer_at(
                &[None, later(500), later(200)],
                now + Duration::seconds(300)
            ),
            Some(1)
        );
        assert_eq!(signer_at(&[], now), None);
    }
}
