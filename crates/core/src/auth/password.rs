//! Password rules, after NIST SP 800-63B: length, not composition; common and easily guessed
//! passwords refused (zxcvbn's dictionaries of leaked and common passwords, names and words).

use std::fmt;
use thiserror::Error;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// A new password that meets the policy. Compared exactly as typed: no trimming, no folding.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordError {
    #[error("must be at least {MIN_CHARS} characters")]
    TooShort,
    #[error("must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("is too common or too easy to guess{0}")]
    TooGuessable(String),
}

impl Password {
    /// Checks a password someone wants to set. `context` holds words an attacker would try
    /// first (the username).
    pub fn new(raw: String, context: &[&str]) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        let estimate = zxcvbn::zxcvbn(&raw, context);
        if u8::from(estimate.score()) < 3 {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            return Err(PasswordError::TooGuessable(hint));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert_eq!(
            Password::new("short".into(), &[]).err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            Password::new("x".repeat(129), &[]).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn common_passwords_are_refused() {
        for common in [
            "password1234",
            "qwertyuiop123",
            "iloveyou12345",
            "123456789012",
            "alicealice2024",
        ] {
            assert!(
                matches!(
                    Password::new(common.into(), &["alice"]),
                    Err(PasswordError::TooGuessable(_))
                ),
                "{common} was accepted"
            );
        }
    }

    #[test]
    fn long_unusual_passwords_pass_without_composition_rules() {
        assert!(Password::new("correct horse battery staple".into(), &[]).is_ok());
        assert!(Password::new("tram-orbit-velvet-quinoa".into(), &[]).is_ok());
        // Exactly as typed: surrounding spaces are part of it.
        let p = Password::new("  gleaming walrus ferry  ".into(), &[]).expect("ok");
        assert_eq!(p.expose(), "  gleaming walrus ferry  ");
        assert!(!format!("{p:?}").contains("walrus"));
    }
}
