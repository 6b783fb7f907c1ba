//! ONIX for Books 3.0 files (reference or short tags), read by `bookstore-onix`: one book per
//! `<Product>`, its position in the file as its "line".
//!
//! Mapping: ISBN-13 (ProductIDType 15, or a 978/979 GTIN-13), title and subtitle,
//! contributors with the roles the catalog knows (A01 author, B01 editor, B06 translator,
//! A12 illustrator; others are left out) in sequence order, language (ONIX's three-letter
//! ISO 639-2 code turned into the catalog's two-letter ISO 639-1 code), publisher, the year
//! of the publication date, page count, format from ProductForm (others: `other`), subjects
//! as genres, description, the first price with a currency, and stock on hand as the
//! quantity. A DOCTYPE or entity declaration, a bound exceeded, broken or truncated XML end
//! the import; a product that cannot be read is rejected and the next one read.

use crate::{ImportError, RowSource, SourceRow};
use bookstore_core::{RawBook, RawContributor, RawPrice, ValidationErrors};
use bookstore_onix::{ContributorRole, Format, Limits, OnixError, OnixReader, Product};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Reads books from an ONIX file, one product at a time.
pub struct OnixSource<R: Read> {
    products: OnixReader<BufReader<Shared<R>>>,
    read: Arc<AtomicU64>,
    ended: bool,
}

/// Counts the bytes handed to the XML reader.
struct Shared<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Shared<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Read + Send> OnixSource<R> {
    pub fn new(read: R) -> Self {
        let count = Arc::new(AtomicU64::new(0));
        let shared = Shared {
            inner: read,
            read: count.clone(),
        };
        Self {
            products: OnixReader::new(
                BufReader::with_capacity(64 * 1024, shared),
                Limits::default(),
            ),
            read: count,
            ended: false,
        }
    }
}

impl<R: Read + Send> RowSource for OnixSource<R>
where
    BufReader<Shared<R>>: BufRead,
{
    fn next_row(&mut self) -> Option<Result<SourceRow, ImportError>> {
        if self.ended {
            return None;
        }
        match self.products.next()? {
            Ok(product) => Some(Ok(row(product))),
            Err(OnixError::Product {
                index,
                record_reference,
                message,
            }) => Some(Ok(SourceRow {
                line: index,
                record_reference,
                isbn: None,
                book: Err(ValidationErrors::single("", message)),
            })),
            Err(OnixError::Io(err)) => {
                self.ended = true;
                Some(Err(ImportError::Io(err)))
            }
            Err(fatal) => {
                self.ended = true;
                Some(Err(ImportError::Malformed(fatal.to_string())))
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

fn row(product: Product) -> SourceRow {
    let mut errors = ValidationErrors::new();
    let language = product.language.as_deref().and_then(|code| {
        let two = two_letter_language(code);
        if two.is_none() {
            errors.add(
                "language",
                format!("'{code}' is not a language code the catalog knows (ISO 639-1)"),
            );
        }
        two
    });
    let raw = RawBook {
        isbn: product.isbn13.clone(),
        title: product.title,
        subtitle: product.subtitle,
        description: product.description,
        authors: product
            .contributors
            .into_iter()
            .filter_map(|c| {
                let role = match c.role {
                    ContributorRole::Author => "author",
                    ContributorRole::Editor => "editor",
                    ContributorRole::Translator => "translator",
                    ContributorRole::Illustrator => "illustrator",
                    ContributorRole::Other(_) => return None,
                };
                Some(RawContributor {
                    name: Some(c.name),
                    role: Some(role.to_owned()),
                    ..RawContributor::default()
                })
            })
            .collect(),
        genres: product.subjects,
        publisher: product.publisher,
        published_year: product.published.map(|p| i64::from(p.year())),
        language,
        format: product.format.map(|f| {
            match f {
                Format::Hardcover => "hardcover",
                Format::Paperback => "paperback",
                Format::Ebook => "ebook",
                Format::Audiobook => "audiobook",
                Format::Other(_) => "other",
            }
            .to_owned()
        }),
        page_count: product.page_count.map(i64::from),
        price: product.price.map(|p| RawPrice::Decimal {
            amount: p.amount,
            currency: p.currency,
        }),
        quantity: product.on_hand,
        ..RawBook::default()
    };
    SourceRow {
        line: product.index,
        record_reference: product.record_reference,
        isbn: product.isbn13,
        book: if errors.is_empty() {
            Ok(raw)
        } else {
            Err(errors)
        },
    }
}

/// The ISO 639-1 code of an ISO 639-2 (bibliographic or terminology) code; a two-letter code
/// as it is.
fn two_letter_language(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_lowercase();
    if code.len() == 2 {
        return Some(code);
    }
    let two = match code.as_str() {
        "eng" => "en",
        "fre" | "fra" => "fr",
        "ger" | "deu" => "de",
        "spa" => "es",
        "ita" => "it",
        "dut" | "nld" => "nl",
        "por" => "pt",
        "swe" => "sv",
        "nor" => "no",
        "nob" => "nb",
        "nno" => "nn",
        "dan" => "da",
        "fin" => "fi",
        "ice" | "isl" => "is",
        "pol" => "pl",
        "cze" | "ces" => "cs",
        "slo" | "slk" => "sk",
        "slv" => "sl",
        "hun" => "hu",
        "rum" | "ron" => "ro",
        "bul" => "bg",
        "hrv" => "hr",
        "srp" => "sr",
        "rus" => "ru",
        "ukr" => "uk",
        "gre" | "ell" => "el",
        "tur" => "tr",
        "ara" => "ar",
        "heb" => "he",
        "per" | "fas" => "fa",
        "hin" => "hi",
        "chi" | "zho" => "zh",
        "jpn" => "ja",
        "kor" => "ko",
        "vie" => "vi",
        "tha" => "th",
        "ind" => "id",
        "may" | "msa" => "ms",
        "lat" => "la",
        "wel" | "cym" => "cy",
        "gle" => "ga",
        "gla" => "gd",
        "cat" => "ca",
        "baq" | "eus" => "eu",
        "glg" => "gl",
        "est" => "et",
        "lav" => "lv",
        "lit" => "lt",
        "afr" => "af",
        "swa" => "sw",
        "epo" => "eo",
        _ => return None,
    };
    Some(two.to_owned())
}

#[cfg(test)]
mod tests;
