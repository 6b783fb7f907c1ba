//! ISBN parsing: any text either parses to a canonical ISBN-13 or is refused, never a panic;
//! what parses round-trips through its display form and (978 numbers) its ISBN-10 form.
#![no_main]

use bookstore_core::Isbn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let Ok(isbn) = Isbn::parse(input) else {
        return;
    };
    let canonical = isbn.as_str();
    assert_eq!(canonical.len(), 13, "{input:?} -> {canonical}");
    assert!(canonical.bytes().all(|b| b.is_ascii_digit()), "{canonical}");
    assert!(
        canonical.starts_with("978") || canonical.starts_with("979"),
        "{canonical}"
    );
    // Display -> parse.
    assert_eq!(Isbn::parse(&isbn.to_string()).as_ref(), Ok(&isbn));
    // ISBN-13 -> ISBN-10 -> ISBN-13, for exactly the 978 numbers.
    match isbn.to_isbn10() {
        Some(ten) => {
            assert!(canonical.starts_with("978"), "{canonical} has an ISBN-10");
            assert_eq!(ten.len(), 10, "{ten}");
            assert_eq!(Isbn::parse(&ten).as_ref(), Ok(&isbn), "{ten}");
            // Hyphenated as printed on a book, with a label.
            let printed = format!("ISBN {}-{}-{}", &ten[..1], &ten[1..9], &ten[9..]);
            assert_eq!(Isbn::parse(&printed).as_ref(), Ok(&isbn), "{printed}");
        }
        None => assert!(canonical.starts_with("979"), "{canonical} lacks an ISBN-10"),
    }
});
