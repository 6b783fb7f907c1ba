//! Book representations: v1 (author names, price in minor units) and v2 (author and genre
//! objects, decimal price), and the one input shape both versions accept.

use crate::version::ApiVersion;
use bookstore_core::{Book, RawBook, RawContributor, RawPrice, ValidationErrors};
use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceV1 {
    /// The price in minor units (cents): 1299 is 12.99.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceV2 {
    /// Decimal string with the currency's number of decimals: "12.99".
    pub amount: String,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContributorV2 {
    pub id: Uuid,
    pub name: String,
    /// `author`, `editor`, `translator` or `illustrator`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenreTagV2 {
    pub id: Uuid,
    pub name: String,
}

/// Fields every version shares, flattened into each representation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookCommon {
    pub id: Uuid,
    /// Canonical ISBN-13.
    pub isbn: String,
    /// ISBN-10 form, for 978-prefixed ISBNs.
    pub isbn10: Option<String>,
    pub title: String,
    pub subtitle: Option<String>,
    pub description: Option<String>,
    pub publisher: Option<String>,
    pub published_year: Option<i32>,
    pub language: Option<String>,
    pub format: Option<String>,
    pub page_count: Option<i32>,
    pub quantity: i64,
    pub reorder_point: i64,
    /// Copies to order once the stock falls to the reorder point (0: not set).
    pub reorder_quantity: i64,
    /// The shelf label: where on the shelves to find the book (free text). Not a stock
    /// location: stock per location is `GET /books/{id}/stock`.
    pub location: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A book, version 1.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookV1 {
    #[serde(flatten)]
    pub common: BookCommon,
    /// Contributor names in order.
    pub authors: Vec<String>,
    /// Genre names.
    pub genres: Vec<String>,
    pub price: Option<PriceV1>,
}

/// A book, version 2.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookV2 {
    #[serde(flatten)]
    pub common: BookCommon,
    pub authors: Vec<ContributorV2>,
    pub genres: Vec<GenreTagV2>,
    pub price: Option<PriceV2>,
}

fn common(b: &Book) -> BookCommon {
    BookCommon {
        id: b.id.as_uuid(),
        isbn: b.isbn.to_string(),
        isbn10: b.isbn.to_isbn10(),
        title: b.title.clone(),
        subtitle: b.subtitle.clone(),
        description: b.description.clone(),
        publisher: b.publisher.clone(),
        published_year: b.published_year,
        language: b.language.clone(),
        format: b.format.map(|f| f.as_str().to_owned()),
        page_count: b.page_count,
        quantity: b.quantity.get(),
        reorder_point: b.reorder_point.get(),
        reorder_quantity: b.reorder_quantity.get(),
        location: b.location.clone(),
        version: b.version,
        created_at: b.created_at,
        updated_at: b.updated_at,
    }
}

impl From<&Book> for BookV1 {
    fn from(b: &Book) -> Self {
        Self {
            common: common(b),
            authors: b.authors.iter().map(|a| a.name.clone()).collect(),
            genres: b.genres.iter().map(|g| g.name.clone()).collect(),
            price: b.price.map(|p| PriceV1 {
                amount_minor: p.amount_minor(),
                currency: p.currency().code().to_owned(),
            }),
        }
    }
}

impl From<&Book> for BookV2 {
    fn from(b: &Book) -> Self {
        Self {
            common: common(b),
            authors: b
                .authors
                .iter()
                .map(|a| ContributorV2 {
                    id: a.author_id.as_uuid(),
                    name: a.name.clone(),
                    role: a.role.as_str().to_owned(),
                })
                .collect(),
            genres: b
                .genres
                .iter()
                .map(|g| GenreTagV2 {
                    id: g.id.as_uuid(),
                    name: g.name.clone(),
                })
                .collect(),
            price: b.price.map(|p| PriceV2 {
                amount: p.to_decimal_string(),
                currency: p.currency().code().to_owned(),
            }),
        }
    }
}

/// A book in a list, version 1: with `score` when the list answers a text query `q`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedBookV1 {
    #[serde(flatten)]
    pub book: BookV1,
    /// Relevance to `q`, higher is better; only comparable within one result. Absent
    /// without `q`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// A book in a list, version 2: with `score` when the list answers a text query `q`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedBookV2 {
    #[serde(flatten)]
    pub book: BookV2,
    /// Relevance to `q`, higher is better; only comparable within one result. Absent
    /// without `q`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// A book in the negotiated version, ready to serialize.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum RenderedBook {
    V1(BookV1),
    V2(BookV2),
}

/// A listed book in the negotiated version, ready to serialize.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum RenderedListedBook {
    V1(ListedBookV1),
    V2(ListedBookV2),
}

/// A listed book in the negotiated version, with its score if it has one.
pub fn render_listed(book: &Book, score: Option<f64>, version: ApiVersion) -> RenderedListedBook {
    match version {
        ApiVersion::V1 => RenderedListedBook::V1(ListedBookV1 {
            book: BookV1::from(book),
            score,
        }),
        ApiVersion::V2 => RenderedListedBook::V2(ListedBookV2 {
            book: BookV2::from(book),
            score,
        }),
    }
}

/// The book in the negotiated version.
pub fn render(book: &Book, version: ApiVersion) -> RenderedBook {
    match version {
        ApiVersion::V1 => RenderedBook::V1(BookV1::from(book)),
        ApiVersion::V2 => RenderedBook::V2(BookV2::from(book)),
    }
}

/// A contributor: a name, an author id, or an object with a role.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ContributorInput {
    /// An author's name (matched ignoring case, or created) or an author id.
    NameOrId(String),
    Detailed(ContributorObject),
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContributorObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `author` (default), `editor`, `translator` or `illustrator`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A price: `amount_minor` (integer minor units, as v1 shows it) or `amount` (decimal
/// string, as v2 shows it), with an ISO 4217 `currency`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    pub currency: Option<String>,
}

/// Book fields a client sends on create (`POST`) and full replace (`PUT`).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookInput {
    /// ISBN-10 or ISBN-13, any hyphenation. Required.
    pub isbn: Option<String>,
    /// Required.
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub description: Option<String>,
    /// Names or author ids, in order; or objects with a role.
    pub authors: Option<Vec<ContributorInput>>,
    /// Genre names or ids.
    pub genres: Option<Vec<String>>,
    pub publisher: Option<String>,
    pub published_year: Option<i64>,
    /// ISO 639-1 code.
    pub language: Option<String>,
    /// `hardcover`, `paperback`, `ebook`, `audiobook` or `other`.
    pub format: Option<String>,
    pub page_count: Option<i64>,
    pub price: Option<PriceInput>,
    /// Copies on hand (default 0, never negative).
    pub quantity: Option<i64>,
    pub reorder_point: Option<i64>,
    /// Copies to order once the stock falls to the reorder point (default 0: not set).
    pub reorder_quantity: Option<i64>,
    /// The shelf label: where on the shelves to find the book (free text). Not a stock
    /// location: stock per location is `GET /books/{id}/stock`.
    pub location: Option<String>,
    // Server-owned fields are named so that sending one gets a clear error, not "unknown field".
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub version: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub isbn10: Option<IgnoredAny>,
}

impl BookInput {
    /// Checks the input's shape; the domain rules are checked by `BookDraft::parse`.
    pub fn into_raw(self) -> Result<RawBook, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        for (field, present) in [
            ("id", self.id.is_some()),
            ("version", self.version.is_some()),
            ("created_at", self.created_at.is_some()),
            ("updated_at", self.updated_at.is_some()),
            ("isbn10", self.isbn10.is_some()),
        ] {
            if present {
                errors.add(field, "is set by the server and cannot be written");
            }
        }
        let price = match self.price {
            None => None,
            Some(p) => {
                let currency = p.currency.unwrap_or_default();
                match (p.amount_minor, p.amount) {
                    (Some(amount_minor), None) => Some(RawPrice::Minor {
                        amount_minor,
                        currency,
                    }),
                    (None, Some(serde_json::Value::String(amount))) => {
                        Some(RawPrice::Decimal { amount, currency })
                    }
                    (None, Some(_)) => {
                        errors.add(
                            "price.amount",
                            "must be a decimal string such as \"12.99\" (or use amount_minor)",
                        );
                        None
                    }
                    (Some(_), Some(_)) => {
                        errors.add("price", "give amount_minor or amount, not both");
                        None
                    }
                    (None, None) => {
                        errors.add("price", "needs amount_minor or amount");
                        None
                    }
                }
            }
        };
        errors.into_result()?;
        Ok(RawBook {
            isbn: self.isbn,
            title: self.title,
            subtitle: self.subtitle,
            description: self.description,
            authors: self
                .authors
                .unwrap_or_default()
                .into_iter()
                .map(|c| match c {
                    ContributorInput::NameOrId(s) => RawContributor::from_id_or_name(&s),
                    ContributorInput::Detailed(o) => RawContributor {
                        id: o.id,
                        name: o.name,
                        role: o.role,
                    },
                })
                .collect(),
            genres: self.genres.unwrap_or_default(),
            publisher: self.publisher,
            published_year: self.published_year,
            language: self.language,
            format: self.format,
            page_count: self.page_count,
            price,
            quantity: self.quantity,
            reorder_point: self.reorder_point,
            reorder_quantity: self.reorder_quantity,
            location: self.location,
        })
    }

    /// The stored book as an input document: the base that a merge patch applies to. The
    /// price takes the form of the client's version so that a patch can change it naturally.
    pub fn from_book(book: &Book, version: ApiVersion) -> Self {
        let raw = book.to_raw();
        Self {
            isbn: raw.isbn,
            title: raw.title,
            subtitle: raw.subtitle,
            description: raw.description,
            authors: Some(
                raw.authors
                    .into_iter()
                    .map(|c| {
                        ContributorInput::Detailed(ContributorObject {
                            id: c.id,
                            name: None,
                            role: c.role,
                        })
                    })
                    .collect(),
            ),
            genres: Some(raw.genres),
            publisher: raw.publisher,
            published_year: raw.published_year,
            language: raw.language,
            format: raw.format,
            page_count: raw.page_count,
            price: book.price.map(|p| match version {
                ApiVersion::V1 => PriceInput {
                    amount_minor: Some(p.amount_minor()),
                    amount: None,
                    currency: Some(p.currency().code().to_owned()),
                },
                ApiVersion::V2 => PriceInput {
                    amount_minor: None,
                    amount: Some(p.to_decimal_string().into()),
                    currency: Some(p.currency().code().to_owned()),
                },
            }),
            quantity: raw.quantity,
            reorder_point: raw.reorder_point,
            reorder_quantity: raw.reorder_quantity,
            location: raw.location,
            ..Self::default()
        }
    }
}
