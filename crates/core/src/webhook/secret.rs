//! Webhook signing secrets as Standard Webhooks writes them: `whsec_` and the base64 of the
//! secret's bytes. The bytes are the HMAC key; the text is what an admin copies once.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

pub const SECRET_PREFIX: &str = "whsec_";
/// How many random bytes a new secret has (Standard Webhooks asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

/// A signing secret. Never printed: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        if (MIN_BYTES..=MAX_BYTES).contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(format!(
                "a webhook secret has {MIN_BYTES} to {MAX_BYTES} bytes, not {}",
                bytes.len()
            ))
        }
    }

    /// From its `whsec_…` text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("a webhook secret starts with {SECRET_PREFIX}"))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| "a webhook secret is base64 after its prefix".to_owned())?;
        Self::from_bytes(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `whsec_…` text: shown once, when the secret is made.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_bounds_hold() {
        let secret = WebhookSecret::from_bytes(vec![7; 32]).expect("32 bytes");
        let text = secret.to_text();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text), Ok(secret.clone()));
        assert!(WebhookSecret::from_bytes(vec![1; 16]).is_err());
        assert!(WebhookSecret::parse("whsec_!!").is_err());
        assert_eq!(format!("{secret:?}"), "WebhookSecret([redacted])");
    }
}
