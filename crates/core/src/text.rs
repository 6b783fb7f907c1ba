//! Bounded, trimmed text fields.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters (got {actual})")]
    TooLong { max: usize, actual: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// Trims `raw` and checks it holds 1..=`max` characters with no control characters
/// (newlines and tabs allowed only when `multiline`).
pub fn required(raw: &str, max: usize, multiline: bool) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    let actual = trimmed.chars().count();
    if actual > max {
        return Err(TextError::TooLong { max, actual });
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    if trimmed.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

/// Like [`required`], but an absent or blank value is `None`.
pub fn optional(
    raw: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, TextError> {
    match raw {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => required(s, max, multiline).map(Some),
    }
}

/// The key titles and names are sorted and matched by: case-folded, inner whitespace collapsed.
pub fn fold_key(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(required("  Dune ", 10, false), Ok("Dune".into()));
        assert_eq!(required("   ", 10, false), Err(TextError::Empty));
        assert_eq!(
            required("abcdef", 5, false),
            Err(TextError::TooLong { max: 5, actual: 6 })
        );
        assert_eq!(
            required("a\u{0}b", 5, false),
            Err(TextError::ControlCharacter)
        );
        assert_eq!(required("a\nb", 5, true), Ok("a\nb".into()));
        assert_eq!(optional(Some(" "), 5, false), Ok(None));
    }

    #[test]
    fn fold_key_collapses_space_and_case() {
        assert_eq!(fold_key("  The   Hobbit "), "the hobbit");
    }
}
