//! The fixture files: every mapped field, in reference tags and in short tags.

use std::fs::File;
use std::io::BufReader;

use bookstore_onix::{
    Contributor, ContributorRole, Format, Limits, OnixError, OnixReader, Price, Product, Published,
};
use chrono::NaiveDate;

fn read(name: &str) -> Vec<Result<Product, OnixError>> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let file = File::open(path).expect("fixture");
    OnixReader::new(BufReader::new(file), Limits::default()).collect()
}

fn person(role: ContributorRole, name: &str, sequence: Option<u32>) -> Contributor {
    Contributor {
        role,
        name: name.to_owned(),
        sequence,
    }
}

fn expected_first() -> Product {
    Product {
        index: 1,
        record_reference: Some("ref-001".into()),
        // ProductIDType 15 wins over the GTIN listed before it, and the related product's
        // ISBN is not the product's.
        isbn13: Some("9780140449136".into()),
        // Not the collection's title.
        title: Some("Crime & Punishment".into()),
        subtitle: Some("A Novel in Six Parts".into()),
        // In SequenceNumber order, whatever the file order; the unnamed one left out.
        contributors: vec![
            person(ContributorRole::Author, "Fyodor Dostoyevsky", Some(1)),
            person(ContributorRole::Translator, "David McDuff", Some(2)),
            person(ContributorRole::Illustrator, "Fritz Eichenberg", Some(3)),
            person(ContributorRole::Editor, "The Dostoevsky Society", Some(4)),
            person(
                ContributorRole::Other("E07".into()),
                "Reader Unknown",
                Some(5),
            ),
        ],
        language: Some("eng".into()),
        publisher: Some("Penguin Classics".into()),
        published: Some(Published::Date(
            NaiveDate::from_ymd_opt(2019, 3, 15).expect("date"),
        )),
        // ExtentType 00 in pages, over 11 and over 00 in another unit.
        page_count: Some(671),
        format: Some(Format::Hardcover),
        subjects: vec!["Literary fiction".into(), "FBC".into(), "Russia".into()],
        description: Some(
            "Raskolnikov\u{2019}s crime & its punishment.\nCaf\u{e9} edition\nwith notes.".into(),
        ),
        price: Some(Price {
            amount: "18.99".into(),
            currency: "GBP".into(),
        }),
        on_hand: Some(42),
    }
}

fn expected_second() -> Product {
    Product {
        index: 2,
        record_reference: Some("ref-002".into()),
        isbn13: Some("9781847941831".into()),
        title: Some("The Lean Startup".into()),
        published: Some(Published::Year(2011)),
        format: Some(Format::Ebook),
        description: Some("Build, measure, learn <fast>.".into()),
        ..Product::default()
    }
}

fn expected_third() -> Product {
    Product {
        index: 3,
        record_reference: Some("ref-003".into()),
        // A GTIN-13 that is no ISBN.
        isbn13: None,
        title: Some("Night Sounds".into()),
        contributors: vec![
            person(ContributorRole::Author, "Firstwriter", Some(1)),
            person(ContributorRole::Author, "Second Writer", None),
        ],
        format: Some(Format::Audiobook),
        price: Some(Price {
            amount: "9.5".into(),
            currency: "EUR".into(),
        }),
        on_hand: Some(0),
        ..Product::default()
    }
}

fn check(items: Vec<Result<Product, OnixError>>) {
    assert_eq!(items.len(), 6, "{items:#?}");
    let mut items = items.into_iter();
    let mut next = || items.next().expect("item");
    assert_eq!(next().expect("first"), expected_first());
    assert_eq!(next().expect("second"), expected_second());
    assert_eq!(next().expect("third"), expected_third());
    match next() {
        Err(OnixError::Product {
            index,
            record_reference,
            message,
        }) => {
            assert_eq!(index, 4);
            assert_eq!(record_reference.as_deref(), Some("ref-004"));
            assert!(message.contains("\"2019-03-15\""), "{message}");
            assert!(message.contains("\"many\""), "{message}");
        }
        other => panic!("expected a product error, got {other:?}"),
    }
    assert_eq!(
        next().expect("fifth"),
        Product {
            index: 5,
            record_reference: Some("ref-005".into()),
            title: Some("Plain Paper".into()),
            format: Some(Format::Paperback),
            ..Product::default()
        }
    );
    assert_eq!(
        next().expect("sixth"),
        Product {
            index: 6,
            record_reference: Some("ref-006".into()),
            format: Some(Format::Other("PC".into())),
            ..Product::default()
        }
    );
}

#[test]
fn reference_tags_map_every_field() {
    check(read("products.xml"));
}

#[test]
fn short_tags_give_the_same_products() {
    check(read("products_short.xml"));
}

#[test]
fn a_product_error_names_the_product() {
    let items = read("products.xml");
    let err = items[3].as_ref().expect_err("broken product");
    assert!(!err.is_fatal());
    let text = err.to_string();
    assert!(text.starts_with("product 4 (ref-004): "), "{text}");
}
