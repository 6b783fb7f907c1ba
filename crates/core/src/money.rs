//! Prices: an integer number of minor units (cents, pence, yen) and an ISO 4217 currency.
//! Floating point never touches money.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// The largest price we accept, in minor units: far above any book, far below overflow.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("'{0}' is not an ISO 4217 currency code (such as EUR, USD, GBP)")]
    UnknownCurrency(String),
    #[error("'{0}' has no minor unit and cannot price a book")]
    NotACurrency(String),
    #[error("price must not be negative")]
    Negative,
    #[error("price must be at most {MAX_AMOUNT_MINOR} minor units")]
    TooLarge,
    #[error("'{0}' is not a decimal amount such as \"12.99\"")]
    NotDecimal(String),
    #[error("{currency} has {exponent} decimal places; '{amount}' has more")]
    TooManyDecimals {
        amount: String,
        currency: String,
        exponent: u16,
    },
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        let currency = iso_currency::Currency::from_code(&upper)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))?;
        // Funds and metals (XAU, XDR...) have no exponent and are no way to price a book.
        if currency.exponent().is_none() {
            return Err(MoneyError::NotACurrency(upper));
        }
        Ok(Self(currency))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Number of decimal places of the minor unit (2 for EUR, 0 for JPY, 3 for BHD).
    pub fn exponent(&self) -> u16 {
        self.0.exponent().unwrap_or(0)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A non-negative amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr")]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

#[derive(Deserialize)]
struct MoneyRepr {
    amount_minor: i64,
    currency: Currency,
}

impl TryFrom<MoneyRepr> for Money {
    type Error = MoneyError;
    fn try_from(repr: MoneyRepr) -> Result<Self, Self::Error> {
        Self::new(repr.amount_minor, repr.currency)
    }
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if amount_minor < 0 {
            return Err(MoneyError::Negative);
        }
        if amount_minor > MAX_AMOUNT_MINOR {
            return Err(MoneyError::TooLarge);
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// Parses a decimal string ("12.99", "1200", "0.5") in the currency's minor units.
    pub fn from_decimal(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let text = amount.trim();
        let not_decimal = || MoneyError::NotDecimal(amount.to_owned());
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || text.ends_with('.') {
            return Err(not_decimal());
        }
        let exponent = currency.exponent();
        if frac.len() > usize::from(exponent) {
            return Err(MoneyError::TooManyDecimals {
                amount: amount.to_owned(),
                currency: currency.code().to_owned(),
                exponent,
            });
        }
        // Bounded lengths keep the arithmetic far from overflow before the range check.
        if whole.trim_start_matches('0').len() > 15 {
            return Err(MoneyError::TooLarge);
        }
        let whole: i64 = whole.parse().map_err(|_| not_decimal())?;
        let padded = format!("{frac:0<width$}", width = usize::from(exponent));
        let frac: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| not_decimal())?
        };
        // Fifteen integer digits fit in i64, but not with four decimals (CLF, UYW) after them.
        let minor = 10i64
            .checked_pow(u32::from(exponent))
            .and_then(|scale| whole.checked_mul(scale))
            .and_then(|minor| minor.checked_add(frac))
            .ok_or(MoneyError::TooLarge)?;
        Self::new(minor, currency)
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount as a decimal string with exactly the currency's number of decimals.
    pub fn to_decimal_string(&self) -> String {
        let exponent = u32::from(self.currency.exponent());
        if exponent == 0 {
            return self.amount_minor.to_string();
        }
        let scale = 10i64.pow(exponent);
        format!(
            "{}.{:0width$}",
            self.amount_minor / scale,
            self.amount_minor % scale,
            width = exponent as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").expect("EUR")
    }

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::parse("eur").map(|c| c.code()), Ok("EUR"));
        assert!(matches!(
            Currency::parse("EUX"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::parse("XAU"),
            Err(MoneyError::NotACurrency(_))
        ));
        assert_eq!(Currency::parse("JPY").map(|c| c.exponent()), Ok(0));
        assert_eq!(Currency::parse("BHD").map(|c| c.exponent()), Ok(3));
    }

    #[test]
    fn decimal_round_trip() {
        let m = Money::from_decimal("12.99", eur()).expect("valid");
        assert_eq!(m.amount_minor(), 1299);
        assert_eq!(m.to_decimal_string(), "12.99");
        assert_eq!(
            Money::from_decimal("12.5", eur()).map(|m| m.amount_minor()),
            Ok(1250)
        );
        assert_eq!(
            Money::from_decimal("7", eur()).map(|m| m.to_decimal_string()),
            Ok("7.00".into())
        );
        let yen = Currency::parse("JPY").expect("JPY");
        assert_eq!(
            Money::from_decimal("1200", yen).map(|m| m.to_decimal_string()),
            Ok("1200".into())
        );
        assert!(matches!(
            Money::from_decimal("12.5", yen),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        let dinar = Currency::parse("BHD").expect("BHD");
        assert_eq!(
            Money::new(1005, dinar).map(|m| m.to_decimal_string()),
            Ok("1.005".into())
        );
    }

    #[test]
    fn rejects_bad_amounts() {
        assert_eq!(Money::new(-1, eur()), Err(MoneyError::Negative));
        assert_eq!(
            Money::new(MAX_AMOUNT_MINOR + 1, eur()),
            Err(MoneyError::TooLarge)
        );
        for bad in ["", ".5", "1.", "1,50", "1e3", "abc", "1.2.3", " 1 2"] {
            assert!(Money::from_decimal(bad, eur()).is_err(), "{bad:?}");
        }
        assert_eq!(
            Money::from_decimal("-1.00", eur()),
            Err(MoneyError::Negative)
        );
        assert_eq!(
            Money::from_decimal("99999999999999999999", eur()),
            Err(MoneyError::TooLarge)
        );
    }

    /// Fifteen integer digits in a currency with four decimals overflowed i64 (a panic in
    /// debug builds, a wrapped amount in release); the `money` fuzz target covers every
    /// currency and length.
    #[test]
    fn fifteen_digits_with_four_decimals_is_too_large_not_an_overflow() {
        for code in ["CLF", "UYW"] {
            let currency = Currency::parse(code).expect(code);
            assert_eq!(currency.exponent(), 4);
            assert_eq!(
                Money::from_decimal("999999999999999", currency),
                Err(MoneyError::TooLarge),
                "{code}"
            );
            assert_eq!(
                Money::from_decimal("922337203685477.5808", currency),
                Err(MoneyError::TooLarge),
                "{code}"
            );
            assert_eq!(
                Money::from_decimal("100000000.0000", currency).map(|m| m.amount_minor()),
                Ok(MAX_AMOUNT_MINOR),
                "{code}: the largest price still parses"
            );
        }
    }
}
