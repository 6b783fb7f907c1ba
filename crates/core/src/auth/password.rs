//! Password rules, after NIST SP 800-63B: length, not composition; common and easily guessed
//! passwords refused (zxcvbn's dictionaries of leaked and common passwords, names and words).

use std::fmt;
use thiserror::Error;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// The most bytes (UTF-8) of any password the server takes, to set or to check: argon2 hashes
/// every byte it is given, and the body limit alone would let it be fed a megabyte. A password
/// that can be set ([`MAX_CHARS`] characters of at most 4 bytes) is always shorter.
pub const MAX_BYTES: usize = 1024;

// Every password that can be set can be checked.
const _: () = assert!(MAX_CHARS * 4 <= MAX_BYTES);

/// Why a password to check is refused unchecked.
pub const TOO_MANY_BYTES: &str = "must be at most 1024 bytes (UTF-8)";

/// Whether a password someone typed to prove who they are (the current one, or on sign-in) is
/// short enough to be hashed: a longer one cannot be anyone's.
pub fn checkable(raw: &str) -> bool {
    raw.len() <= MAX_BYTES
}

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
        // Over MAX_BYTES is over MAX_CHARS too: said without counting a megabyte.
        if raw.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
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
        assert_eq!(
            Password::new("x".repeat(1024 * 1024), &[]).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn passwords_to_check_are_bounded_in_bytes() {
        assert!(checkable(&"x".repeat(MAX_BYTES)));
        assert!(!checkable(&"x".repeat(MAX_BYTES + 1)));
        // 256 four-byte characters are 1024 bytes; one more is over, in bytes not characters.
        assert!(checkable(&"\u{1F511}".repeat(256)));
        assert!(!checkable(&"\u{1F511}".repeat(257)));
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
