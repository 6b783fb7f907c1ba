//! The key-encryption key: seals signing keys at rest with AES-256-GCM.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bookstore_core::auth::AuthError;
use bookstore_core::webhook::{SealError, SecretSealer};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;
use std::sync::{Arc, RwLock};

/// Cheap to clone: signing keys and webhook secrets share one key, and a clone is the same
/// key, also after [`Kek::adopt`] (a running service taking the rotated key).
#[derive(Clone)]
pub struct Kek(Arc<RwLock<Arc<LessSafeKey>>>);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

fn crypto(what: &str) -> AuthError {
    AuthError::Crypto(what.to_owned())
}

impl Kek {
    /// From the base64 text of 32 random bytes (what `generate_text` writes).
    pub fn from_base64(text: &str) -> Result<Self, AuthError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| crypto("the key-encryption key is not base64"))?;
        if bytes.len() != 32 {
            return Err(crypto(
                "the key-encryption key must be 32 bytes (base64 of 32 random bytes)",
            ));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| crypto("bad key"))?;
        Ok(Self(Arc::new(RwLock::new(Arc::new(LessSafeKey::new(key))))))
    }

    fn key(&self) -> Result<Arc<LessSafeKey>, AuthError> {
        self.0
            .read()
            .map(|key| key.clone())
            .map_err(|_| crypto("the key-encryption key's lock is poisoned"))
    }

    /// From now on this key (and every clone of it) is `other`: for a running service whose
    /// key-encryption key was rotated.
    pub fn adopt(&self, other: &Kek) -> Result<(), AuthError> {
        let key = other.key()?;
        *self
            .0
            .write()
            .map_err(|_| crypto("the key-encryption key's lock is poisoned"))? = key;
        Ok(())
    }

    /// A value sealed under this key, sealed under `new` instead (for `bookstore kek rotate`).
    pub fn reseal(&self, new: &Kek, sealed: &[u8], context: &str) -> Result<Vec<u8>, AuthError> {
        new.seal(&self.open(sealed, context)?, context)
    }

    /// A new key, as base64 text.
    pub fn generate_text() -> Result<String, AuthError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| crypto("no randomness"))?;
        Ok(STANDARD.encode(bytes))
    }

    /// nonce || ciphertext || tag. `context` (the key id) is authenticated, so a sealed key
    /// cannot be moved to another row.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| crypto("no randomness"))?;
        let mut buffer = plaintext.to_vec();
        self.key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| crypto("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, AuthError> {
        if sealed.len() < NONCE_LEN {
            return Err(crypto("sealed key is truncated"));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| crypto("bad nonce"))?;
        let mut buffer = body.to_vec();
        let key = self.key()?;
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| {
                crypto(
                    "BOOKSTORE_KEK does not open what is sealed in the store: it is not the \
                     key-encryption key in use (a key replaced by `bookstore kek rotate` is \
                     refused from then on)",
                )
            })?;
        Ok(plain.to_vec())
    }
}

/// The store and the webhook engine seal webhook secrets through this port, so that they
/// need not know the key or the crypto library.
impl SecretSealer for Kek {
    fn random(&self, len: usize) -> Result<Vec<u8>, SealError> {
        let mut bytes = vec![0u8; len];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError("no randomness".into()))?;
        Ok(bytes)
    }

    fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
        Kek::seal(self, plaintext, context).map_err(|e| SealError(e.to_string()))
    }

    fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
        Kek::open(self, sealed, context).map_err(|e| SealError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let kek = Kek::from_base64(&Kek::generate_text().expect("gen")).expect("kek");
        let sealed = kek.seal(b"secret", "kid-1").expect("seal");
        assert_eq!(kek.open(&sealed, "kid-1").expect("open"), b"secret");
        assert!(kek.open(&sealed, "kid-2").is_err());
        let other = Kek::from_base64(&Kek::generate_text().expect("gen")).expect("kek");
        assert!(other.open(&sealed, "kid-1").is_err());
        assert!(Kek::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn a_rotated_key_opens_what_was_resealed_and_the_old_one_does_not() {
        let old = Kek::from_base64(&Kek::generate_text().expect("gen")).expect("kek");
        let new = Kek::from_base64(&Kek::generate_text().expect("gen")).expect("kek");
        let sealed = old.seal(b"secret", "kid-1").expect("seal");
        let again = old.reseal(&new, &sealed, "kid-1").expect("reseal");
        assert_eq!(new.open(&again, "kid-1").expect("open"), b"secret");
        assert!(old.open(&again, "kid-1").is_err());
        // A clone held elsewhere (the webhook engine's) follows an adoption.
        let held = old.clone();
        old.adopt(&new).expect("adopt");
        assert_eq!(held.open(&again, "kid-1").expect("open"), b"secret");
    }

    #[test]
    fn webhook_secrets_seal_through_the_port() {
        let kek = Kek::from_base64(&Kek::generate_text().expect("gen")).expect("kek");
        let sealer: &dyn SecretSealer = &kek;
        let secret = sealer.random(32).expect("random");
        assert_eq!(secret.len(), 32);
        assert_ne!(secret, sealer.random(32).expect("random"));
        let sealed = sealer.seal(&secret, "webhook-secret:a").expect("seal");
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
        assert_eq!(
            sealer.open(&sealed, "webhook-secret:a").expect("open"),
            secret
        );
        assert!(sealer.open(&sealed, "webhook-secret:b").is_err());
    }
}
