//! What one `<Product>` becomes.

use chrono::NaiveDate;

/// Bounds on what one file may make the reader hold or walk through. Every one of them, when
/// exceeded, stops the reading with [`crate::OnixError::LimitExceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Elements open at once, the root included.
    pub max_depth: usize,
    /// Text of one element (and, with a little slack for the markup, any single start tag,
    /// comment or declaration), in bytes as in the file.
    pub max_element_bytes: usize,
    /// One `<Product>` from its start tag to its end tag, in bytes as in the file.
    pub max_product_bytes: usize,
}

impl Default for Limits {
    /// ONIX nests about ten levels deep; a long description with an excerpt fits in 256 KiB;
    /// a product with all of its texts, prices and markets fits in 1 MiB.
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_element_bytes: 256 * 1024,
            max_product_bytes: 1024 * 1024,
        }
    }
}

/// One product record, with the fields a bookshop's catalogue keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Product {
    /// 1-based position of the product in the file.
    pub index: u64,
    pub record_reference: Option<String>,
    /// The ISBN-13 as written in the file, not validated: ProductIDType 15, else a
    /// ProductIDType 03 GTIN-13 that starts with 978 or 979.
    pub isbn13: Option<String>,
    /// The distinctive title (TitleType 01): TitleText, else TitlePrefix and
    /// TitleWithoutPrefix joined by a space.
    pub title: Option<String>,
    /// The Subtitle of that same title element.
    pub subtitle: Option<String>,
    /// Named contributors in SequenceNumber order (those without one last, in file order).
    pub contributors: Vec<Contributor>,
    /// LanguageCode of the Language with LanguageRole 01, as in the file (ONIX uses ISO
    /// 639-2/B three-letter codes such as `eng`).
    pub language: Option<String>,
    /// PublisherName of the Publisher with PublishingRole 01, else of the first Publisher.
    pub publisher: Option<String>,
    /// PublishingDate with PublishingDateRole 01.
    pub published: Option<Published>,
    /// ExtentValue of an Extent in pages (ExtentUnit 03), ExtentType 00 (main content)
    /// preferred over 11 (content page count).
    pub page_count: Option<u32>,
    pub format: Option<Format>,
    /// Each Subject's SubjectHeadingText, or its SubjectCode when it has no heading text;
    /// duplicates removed, file order kept.
    pub subjects: Vec<String>,
    /// TextContent with TextType 03 (description), else 02 (short description). XHTML
    /// markup inside `<Text>` is flattened to its text; escaped HTML stays as written.
    pub description: Option<String>,
    /// The first Price that has both PriceAmount and CurrencyCode.
    pub price: Option<Price>,
    /// OnHand of the first Stock of a SupplyDetail.
    pub on_hand: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributor {
    /// The first ContributorRole of the contributor; A01 (author) when it has none.
    pub role: ContributorRole,
    /// PersonName, else NamesBeforeKey and KeyNames, else KeyNames, else CorporateName.
    pub name: String,
    pub sequence: Option<u32>,
}

/// ONIX code list 17, as far as a catalogue tells roles apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContributorRole {
    /// A01
    Author,
    /// B01
    Editor,
    /// B06
    Translator,
    /// A12
    Illustrator,
    /// Any other code, as in the file.
    Other(String),
}

impl ContributorRole {
    pub fn from_code(code: &str) -> Self {
        match code {
            "A01" => Self::Author,
            "B01" => Self::Editor,
            "B06" => Self::Translator,
            "A12" => Self::Illustrator,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// ProductForm (ONIX code list 150) reduced to the formats a catalogue knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// BB
    Hardcover,
    /// BC
    Paperback,
    /// EA, EB, EC, ED: digital content delivered electronically.
    Ebook,
    /// Any audio form, A*: CD-Audio (AC), downloadable audio (AJ, AN), online audio (AO),
    /// cassettes and the rest.
    Audiobook,
    /// Any other code, as in the file.
    Other(String),
}

impl Format {
    pub fn from_product_form(code: &str) -> Self {
        match code {
            "BB" => Self::Hardcover,
            "BC" => Self::Paperback,
            "EA" | "EB" | "EC" | "ED" => Self::Ebook,
            c if c.len() == 2 && c.starts_with('A') => Self::Audiobook,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A publication date as precise as the file gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// YYYYMMDD
    Date(NaiveDate),
    /// YYYY
    Year(i32),
}

impl Published {
    pub fn year(&self) -> i32 {
        use chrono::Datelike;
        match self {
            Self::Date(d) => d.year(),
            Self::Year(y) => *y,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// The PriceAmount as written: digits with at most one decimal point.
    pub amount: String,
    /// The CurrencyCode as written (ISO 4217).
    pub currency: String,
}
