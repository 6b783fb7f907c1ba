//! Money parsing: a decimal amount in any currency either parses or is refused with an error,
//! never a panic or an overflow; every valid amount formats and parses back to itself.
#![no_main]

use arbitrary::Arbitrary;
use bookstore_core::money::MAX_AMOUNT_MINOR;
use bookstore_core::{Currency, Money};
use libfuzzer_sys::fuzz_target;

/// Currencies of every exponent (0, 2, 3 and 4 decimals), so that the fuzzer need not find
/// their codes; any other code comes through `CurrencyInput::Code`.
const CODES: [&str; 10] = [
    "EUR", "USD", "JPY", "KRW", "BHD", "KWD", "TND", "CLF", "UYW", "GBP",
];

#[derive(Debug, Arbitrary)]
enum CurrencyInput {
    Known(u8),
    Code(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    currency: CurrencyInput,
    amount: String,
    minor: i64,
}

fuzz_target!(|input: Input| {
    let currency = match &input.currency {
        CurrencyInput::Known(i) => Currency::parse(CODES[usize::from(*i) % CODES.len()]),
        CurrencyInput::Code(code) => Currency::parse(code),
    };
    let Ok(currency) = currency else {
        return;
    };
    assert_eq!(Currency::parse(currency.code()), Ok(currency));
    assert!(currency.exponent() <= 4, "{currency}");

    // Decimal text -> money -> text -> the same money.
    if let Ok(money) = Money::from_decimal(&input.amount, currency) {
        assert!((0..=MAX_AMOUNT_MINOR).contains(&money.amount_minor()));
        let text = money.to_decimal_string();
        assert_eq!(
            Money::from_decimal(&text, currency),
            Ok(money),
            "{:?} -> {text}",
            input.amount
        );
    }

    // Any amount the constructor takes formats to a decimal that parses back to it.
    if let Ok(money) = Money::new(input.minor, currency) {
        let text = money.to_decimal_string();
        assert_eq!(Money::from_decimal(&text, currency), Ok(money), "{text}");
    }
});
