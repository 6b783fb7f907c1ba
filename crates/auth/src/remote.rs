//! The schedule of a remote signing key's versions (a Vault transit key, rotated there): like
//! our own keys, a new version is published (in the JWKS) for the publish lead before it
//! signs, so that no cached JWKS misses it; the version before it signs until then, and
//! verifies until its last tokens have expired.

use crate::keyring::thumbprint;
use bookstore_core::auth::RemoteKeyVersion;
use chrono::{DateTime, Duration, Utc};

/// A version with its key id and schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scheduled {
    pub kid: String,
    pub version: u64,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub signs_from: DateTime<Utc>,
    /// When the next version takes over; `None` for the newest.
    pub retires_at: Option<DateTime<Utc>>,
}

/// `versions` (any order) scheduled: the oldest signs from its creation (nothing was
/// published before it), each later one `lead` after its creation (and never before the one
/// before it).
pub(crate) fn schedule(versions: &[RemoteKeyVersion], lead: Duration) -> Vec<Scheduled> {
    let mut sorted: Vec<&RemoteKeyVersion> = versions.iter().collect();
    sorted.sort_by_key(|v| v.version);
    let mut scheduled: Vec<Scheduled> = Vec::with_capacity(sorted.len());
    for version in sorted {
        let signs_from = match scheduled.last() {
            None => version.created_at,
            Some(previous) => (version.created_at + lead).max(previous.signs_from),
        };
        if let Some(previous) = scheduled.last_mut() {
            previous.retires_at = Some(signs_from);
        }
        scheduled.push(Scheduled {
            kid: thumbprint(&version.public_key),
            version: version.version,
            public_key: version.public_key.clone(),
            created_at: version.created_at,
            signs_from,
            retires_at: None,
        });
    }
    scheduled
}

/// The version that signs at `now`: the newest whose time has come.
pub(crate) fn signer_at(scheduled: &[Scheduled], now: DateTime<Utc>) -> Option<&Scheduled> {
    scheduled.iter().rev().find(|v| v.signs_from <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u64, created_at: DateTime<Utc>) -> RemoteKeyVersion {
        RemoteKeyVersion {
            version: n,
            created_at,
            public_key: vec![n as u8; 32],
        }
    }

    #[test]
    fn a_new_version_signs_once_published_for_the_lead() {
        let t = Utc::now();
        let lead = Duration::seconds(360);
        let one = schedule(&[version(1, t)], lead);
        assert_eq!(signer_at(&one, t).map(|v| v.version), Some(1));
        let two = schedule(
            &[version(2, t + Duration::seconds(10)), version(1, t)],
            lead,
        );
        assert_eq!(two[0].retires_at, Some(t + Duration::seconds(370)));
        assert_eq!(two[1].retires_at, None);
        // Published, not signing yet: version 1 signs on.
        assert_eq!(
            signer_at(&two, t + Duration::seconds(60)).map(|v| v.version),
            Some(1)
        );
        assert_eq!(
            signer_at(&two, t + Duration::seconds(371)).map(|v| v.version),
            Some(2)
        );
        // Kids are the keys' thumbprints: distinct per version.
        assert_ne!(two[0].kid, two[1].kid);
    }
}
