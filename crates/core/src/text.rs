//! Bounded, trimmed, NFC-normalised text fields.
//!
//! What a person cannot see must not decide what a field says: text is stored in
//! Unicode Normalization Form C (so that "é" typed either way is one spelling), a field
//! that holds nothing but invisible characters is empty, and the characters that make text
//! display other than it reads (bidirectional embeddings, overrides and isolates, the
//! "Trojan Source" characters) or that are not characters at all (noncharacters, controls)
//! are refused.

use std::borrow::Cow;
use thiserror::Error;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters (got {actual})")]
    TooLong { max: usize, actual: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must not contain bidirectional control characters (U+{0:04X})")]
    BidiControl(u32),
    #[error("must not contain Unicode noncharacters (U+{0:04X})")]
    Noncharacter(u32),
}

/// Characters that show nothing: white space, zero-width and joining characters, the soft
/// hyphen, fillers, variation selectors, tags, and the bidirectional marks (LRM, RLM, ALM),
/// which right-to-left text needs inside a field but which cannot make one by themselves.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Embeddings, overrides and isolates: they reorder how the text around them displays.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// U+FDD0..U+FDEF and the last two code points of every plane: reserved for a program's
/// internal use, never for interchange.
fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || (code & 0xFFFE) == 0xFFFE
}

/// Normalises `raw` to NFC, trims invisible characters at both ends and checks what is left
/// holds 1..=`max` characters with no control characters (newlines and tabs allowed only
/// when `multiline`), bidirectional controls or noncharacters.
pub fn required(raw: &str, max: usize, multiline: bool) -> Result<String, TextError> {
    let normalised = nfc(raw);
    let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    for c in normalised.chars() {
        if c.is_control() && !allowed(c) {
            return Err(TextError::ControlCharacter);
        }
        if is_bidi_control(c) {
            return Err(TextError::BidiControl(u32::from(c)));
        }
        if is_noncharacter(c) {
            return Err(TextError::Noncharacter(u32::from(c)));
        }
    }
    let trimmed = normalised.trim_matches(is_invisible);
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    let actual = trimmed.chars().count();
    if actual > max {
        return Err(TextError::TooLong { max, actual });
    }
    Ok(trimmed.to_owned())
}

/// Like [`required`], but an absent value, or one of only invisible characters, is `None`.
pub fn optional(
    raw: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, TextError> {
    match raw {
        None => Ok(None),
        Some(s) => match required(s, max, multiline) {
            Err(TextError::Empty) => Ok(None),
            other => other.map(Some),
        },
    }
}

/// The key titles and names are sorted and matched by: NFC, case-folded, inner whitespace
/// collapsed.
pub fn fold_key(s: &str) -> String {
    let mut collapsed = String::with_capacity(s.len());
    for word in nfc(s).split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed.to_lowercase()
}

/// `s` in NFC, borrowed when it is already (all ASCII text is, and most other text passes
/// the quick check): composing it anew was a sixth of an import's own CPU time.
fn nfc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
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
    fn normalises_to_nfc() {
        // "é" as e + combining acute is one character once composed.
        assert_eq!(
            required("Caf\u{65}\u{301}", 4, false),
            Ok("Caf\u{e9}".into())
        );
        assert_eq!(fold_key("Caf\u{65}\u{301}"), fold_key("CAF\u{c9}"));
        // Hangul jamo compose into a syllable; text already in NFC is kept as it is.
        assert_eq!(
            required("\u{1100}\u{1161}", 4, false),
            Ok("\u{AC00}".into())
        );
        assert_eq!(
            required("Ærø \u{e9}t\u{e9} 日本語", 40, false),
            Ok("Ærø \u{e9}t\u{e9} 日本語".into())
        );
        assert_eq!(fold_key("  \u{C9}T\u{C9}\t Ærø "), "\u{e9}t\u{e9} ærø");
    }

    #[test]
    fn invisible_only_is_empty() {
        for raw in [
            "\u{200B}",
            "\u{200B}\u{FEFF} \u{2060}",
            "\u{00AD}",
            "\u{200F}",
        ] {
            assert_eq!(required(raw, 10, false), Err(TextError::Empty), "{raw:?}");
            assert_eq!(optional(Some(raw), 10, false), Ok(None), "{raw:?}");
        }
        assert_eq!(
            required("\u{200B}Dune\u{200B}", 10, false),
            Ok("Dune".into())
        );
        // Joiners inside text are part of it (emoji sequences, Indic scripts).
        assert_eq!(required("a\u{200D}b", 10, false), Ok("a\u{200D}b".into()));
        // Right-to-left text keeps its marks.
        assert!(required("\u{5E9}\u{200F}1", 10, false).is_ok());
    }

    #[test]
    fn refuses_bidi_controls_and_noncharacters() {
        assert_eq!(
            required("abc\u{202E}def", 10, false),
            Err(TextError::BidiControl(0x202E))
        );
        assert_eq!(
            required("\u{2066}x", 10, false),
            Err(TextError::BidiControl(0x2066))
        );
        assert_eq!(
            required("\u{FFFF}", 10, false),
            Err(TextError::Noncharacter(0xFFFF))
        );
        assert_eq!(
            required("a\u{FDD0}", 10, false),
            Err(TextError::Noncharacter(0xFDD0))
        );
        assert_eq!(
            required("a\u{10FFFE}", 10, false),
            Err(TextError::Noncharacter(0x10FFFE))
        );
        assert!(optional(Some("\u{202E}"), 10, false).is_err());
    }

    #[test]
    fn fold_key_collapses_space_and_case() {
        assert_eq!(fold_key("  The   Hobbit "), "the hobbit");
    }
}
