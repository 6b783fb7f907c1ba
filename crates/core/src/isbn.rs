//! International Standard Book Numbers.
//!
//! Staff type ISBNs the way they appear on the book: ISBN-10 or ISBN-13, with hyphens, spaces,
//! typographic dashes or an "ISBN" label. We accept all of those, verify the check digit, and
//! keep the canonical 13-digit form so that the two editions of one number never diverge.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A valid ISBN, held in canonical ISBN-13 form (13 ASCII digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Isbn(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IsbnError {
    #[error("ISBN is empty")]
    Empty,
    #[error(
        "ISBN contains '{0}'; only digits, hyphens, spaces and a final X (ISBN-10) are allowed"
    )]
    InvalidCharacter(char),
    #[error("'X' can only be the check digit (last character) of an ISBN-10")]
    MisplacedX,
    #[error("ISBN has {0} digits; an ISBN-10 has 10 and an ISBN-13 has 13")]
    WrongLength(usize),
    #[error("ISBN-13 must start with 978 or 979")]
    BadPrefix,
    #[error("ISBN check digit is wrong: the digits before it call for {expected}, not {found}")]
    CheckDigit { expected: char, found: char },
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        '-' | ' ' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{00A0}'
    )
}

/// Drops a leading "ISBN", "ISBN-10", "ISBN-13" label and an optional colon.
fn strip_label(s: &str) -> &str {
    let Some(rest) = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("isbn"))
        .map(|_| &s[4..])
    else {
        return s;
    };
    let rest = rest
        .strip_prefix("-13")
        .or_else(|| rest.strip_prefix("-10"))
        .or_else(|| rest.strip_prefix("13"))
        .or_else(|| rest.strip_prefix("10"))
        .unwrap_or(rest);
    let rest = rest.trim_start();
    rest.strip_prefix(':').unwrap_or(rest).trim_start()
}

fn isbn13_check_digit(first12: &[u8]) -> u8 {
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn isbn10_check_digit(first9: &[u8]) -> u8 {
    let sum: u32 = first9
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * (10 - i as u32))
        .sum();
    ((11 - sum % 11) % 11) as u8
}

fn digit_char(d: u8) -> char {
    if d == 10 {
        'X'
    } else {
        char::from(b'0' + d)
    }
}

impl Isbn {
    /// The valid ISBN-13 `978` + `n` (nine digits) + its check digit: numbered books for
    /// tests, fixtures and benchmarks.
    pub fn numbered(n: u32) -> Self {
        let mut digits = [9, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut rest = n % 1_000_000_000;
        for d in digits[3..].iter_mut().rev() {
            *d = (rest % 10) as u8;
            rest /= 10;
        }
        let check = isbn13_check_digit(&digits);
        let mut text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        text.push(char::from(b'0' + check));
        Self(text)
    }

    /// Parses an ISBN-10 or ISBN-13 in any common notation.
    pub fn parse(input: &str) -> Result<Self, IsbnError> {
        let body = strip_label(input.trim());
        if body.is_empty() {
            return Err(IsbnError::Empty);
        }
        // Digits as values 0..=10, where 10 stands for an ISBN-10 'X'.
        let mut digits: Vec<u8> = Vec::with_capacity(13);
        let mut saw_x = false;
        for c in body.chars() {
            if is_separator(c) {
                continue;
            }
            if saw_x {
                return Err(IsbnError::MisplacedX);
            }
            match c {
                '0'..='9' => digits.push(c as u8 - b'0'),
                'x' | 'X' => {
                    saw_x = true;
                    digits.push(10);
                }
                other => return Err(IsbnError::InvalidCharacter(other)),
            }
            if digits.len() > 13 {
                // Stop early on absurdly long input, but report the real length.
                let extra = body.chars().filter(|c| c.is_ascii_digit()).count();
                return Err(IsbnError::WrongLength(extra.max(14)));
            }
        }
        match digits.len() {
            10 => Self::from_isbn10(&digits),
            13 if saw_x => Err(IsbnError::MisplacedX),
            13 => Self::from_isbn13(&digits),
            n => Err(IsbnError::WrongLength(n)),
        }
    }

    fn from_isbn10(digits: &[u8]) -> Result<Self, IsbnError> {
        let expected = isbn10_check_digit(&digits[..9]);
        if expected != digits[9] {
            return Err(IsbnError::CheckDigit {
                expected: digit_char(expected),
                found: digit_char(digits[9]),
            });
        }
        let mut thirteen: Vec<u8> = vec![9, 7, 8];
        thirteen.extend_from_slice(&digits[..9]);
        thirteen.push(isbn13_check_digit(&thirteen));
        Ok(Self(thirteen.into_iter().map(digit_char).collect()))
    }

    fn from_isbn13(digits: &[u8]) -> Result<Self, IsbnError> {
        if digits[..3] != [9, 7, 8] && digits[..3] != [9, 7, 9] {
            return Err(IsbnError::BadPrefix);
        }
        let expected = isbn13_check_digit(&digits[..12]);
        if expected != digits[12] {
            return Err(IsbnError::CheckDigit {
                expected: digit_char(expected),
                found: digit_char(digits[12]),
            });
        }
        Ok(Self(digits.iter().copied().map(digit_char).collect()))
    }

    /// The canonical 13-digit form, without separators.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISBN-10 form, for 978-prefixed numbers (979 numbers have none).
    pub fn to_isbn10(&self) -> Option<String> {
        let digits: Vec<u8> = self.0.bytes().map(|b| b - b'0').collect();
        if digits[..3] != [9, 7, 8] {
            return None;
        }
        let nine = &digits[3..12];
        let mut out: String = nine.iter().copied().map(digit_char).collect();
        out.push(digit_char(isbn10_check_digit(nine)));
        Some(out)
    }
}

impl fmt::Display for Isbn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Isbn {
    type Err = IsbnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for Isbn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_common_notations() {
        for input in [
            "9780261103344",
            "978-0-261-10334-4",
            "978 0 261 10334 4",
            "0261103342",
            "0-261-10334-2",
            "ISBN 0-261-10334-2",
            "ISBN-13: 978-0-261-10334-4",
            "isbn10:0261103342",
            "978\u{2011}0\u{2011}261\u{2011}10334\u{2011}4",
        ] {
            assert_eq!(
                Isbn::parse(input).map(|i| i.to_string()),
                Ok("9780261103344".to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn numbered_isbns_are_valid_and_distinct() {
        assert_eq!(Isbn::numbered(0).as_str(), "9780000000002");
        assert_eq!(Isbn::numbered(26_110_334).as_str(), "9780261103344");
        for n in [1, 42, 999_999_999] {
            let isbn = Isbn::numbered(n);
            assert_eq!(Isbn::parse(isbn.as_str()), Ok(isbn.clone()));
        }
        assert_ne!(Isbn::numbered(1), Isbn::numbered(2));
    }

    #[test]
    fn isbn10_with_x_check_digit() {
        let isbn = Isbn::parse("0-8044-2957-X").expect("valid");
        assert_eq!(isbn.as_str(), "9780804429573");
        assert_eq!(isbn.to_isbn10().as_deref(), Some("080442957X"));
    }

    #[test]
    fn explains_what_is_wrong() {
        assert_eq!(Isbn::parse(""), Err(IsbnError::Empty));
        assert_eq!(Isbn::parse("  "), Err(IsbnError::Empty));
        assert_eq!(Isbn::parse("12345"), Err(IsbnError::WrongLength(5)));
        assert_eq!(
            Isbn::parse("978-0-261-10334-5"),
            Err(IsbnError::CheckDigit {
                expected: '4',
                found: '5'
            })
        );
        assert_eq!(
            Isbn::parse("97802611O3344"),
            Err(IsbnError::InvalidCharacter('O'))
        );
        assert_eq!(Isbn::parse("X261103342"), Err(IsbnError::MisplacedX));
        assert_eq!(Isbn::parse("1234567890128"), Err(IsbnError::BadPrefix));
        assert!(matches!(
            Isbn::parse(&"9".repeat(10_000)),
            Err(IsbnError::WrongLength(_))
        ));
        let msg = Isbn::parse("978-0-261-10334-5").unwrap_err().to_string();
        assert!(msg.contains("check digit"), "{msg}");
    }

    #[test]
    fn nine_seven_nine_has_no_isbn10() {
        let isbn = Isbn::parse("979-10-90636-07-1").expect("valid");
        assert_eq!(isbn.to_isbn10(), None);
    }

    fn valid_isbn10() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, 9).prop_map(|nine| {
            let mut s: String = nine.iter().copied().map(digit_char).collect();
            s.push(digit_char(isbn10_check_digit(&nine)));
            s
        })
    }

    fn valid_isbn13() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just(8u8), Just(9u8)],
            proptest::collection::vec(0u8..10, 9),
        )
            .prop_map(|(third, nine)| {
                let mut twelve = vec![9, 7, third];
                twelve.extend(nine);
                let check = isbn13_check_digit(&twelve);
                twelve.push(check);
                twelve.into_iter().map(digit_char).collect()
            })
    }

    /// Inserts separators at arbitrary positions.
    fn hyphenate(s: &str, cuts: &[usize], sep: char) -> String {
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && cuts.contains(&i) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #[test]
        fn isbn10_round_trips_through_isbn13(ten in valid_isbn10()) {
            let isbn = Isbn::parse(&ten).expect("generated ISBN-10 is valid");
            prop_assert_eq!(isbn.as_str().len(), 13);
            prop_assert!(isbn.as_str().starts_with("978"));
            prop_assert_eq!(isbn.to_isbn10(), Some(ten.clone()));
            // The 13-digit form parses to the same value.
            prop_assert_eq!(Isbn::parse(isbn.as_str()), Ok(isbn.clone()));
        }

        #[test]
        fn separators_never_change_the_value(
            thirteen in valid_isbn13(),
            cuts in proptest::collection::vec(1usize..13, 0..5),
            sep in prop_oneof![Just('-'), Just(' '), Just('\u{2010}')],
        ) {
            let plain = Isbn::parse(&thirteen).expect("generated ISBN-13 is valid");
            prop_assert_eq!(Isbn::parse(&hyphenate(&thirteen, &cuts, sep)), Ok(plain));
        }

        #[test]
        fn any_single_digit_error_is_caught_in_isbn13(
            thirteen in valid_isbn13(), pos in 3usize..13, delta in 1u8..10,
        ) {
            let mut bytes: Vec<u8> = thirteen.bytes().collect();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let corrupted = String::from_utf8(bytes).expect("ascii");
            prop_assert!(Isbn::parse(&corrupted).is_err());
        }

        #[test]
        fn adjacent_transposition_is_caught_in_isbn10(ten in valid_isbn10(), pos in 0usize..9) {
            let mut chars: Vec<char> = ten.chars().collect();
            prop_assume!(chars[pos] != chars[pos + 1]);
            chars.swap(pos, pos + 1);
            let swapped: String = chars.into_iter().collect();
            prop_assert!(Isbn::parse(&swapped).is_err());
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = Isbn::parse(&s);
        }

        #[test]
        fn parsed_value_is_always_13_digits(s in "[0-9Xx -]{0,20}") {
            if let Ok(isbn) = Isbn::parse(&s) {
                prop_assert!(isbn.as_str().len() == 13 && isbn.as_str().bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
