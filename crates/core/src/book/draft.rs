//! The parsing of client input into a valid [`BookDraft`]: the only way to make one.

use super::{
    Book, BookFormat, ContributorRole, Quantity, MAX_AUTHORS, MAX_DESCRIPTION, MAX_GENRES,
    MAX_LOCATION, MAX_NAME, MAX_PAGE_COUNT, MAX_PUBLISHER, MAX_TITLE,
};
use crate::ids::{AuthorId, BookId, GenreId};
use crate::isbn::Isbn;
use crate::money::{Currency, Money};
use crate::text;
use crate::validation::ValidationErrors;
use std::collections::HashSet;
use uuid::Uuid;

/// How a draft names an author: an existing id, or a name that is matched (case-insensitively)
/// or created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorRef {
    Id(AuthorId),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContributorRef {
    pub author: AuthorRef,
    pub role: ContributorRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenreRef {
    Id(GenreId),
    Name(String),
}

/// A valid book as a client asked for it (create or full replace). Only [`BookDraft::parse`]
/// makes one, so every draft a store sees has been checked; nor can a valid one be changed
/// into an invalid one:
///
/// ```compile_fail,E0616
/// # use bookstore_core::{BookDraft, RawBook};
/// let raw = RawBook {
///     isbn: Some("9780261103344".into()),
///     title: Some("The Hobbit".into()),
///     ..RawBook::default()
/// };
/// let mut draft = BookDraft::parse(&raw).expect("valid");
/// draft.title = String::new();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookDraft {
    isbn: Isbn,
    title: String,
    subtitle: Option<String>,
    description: Option<String>,
    authors: Vec<ContributorRef>,
    genres: Vec<GenreRef>,
    publisher: Option<String>,
    published_year: Option<i32>,
    language: Option<String>,
    format: Option<BookFormat>,
    page_count: Option<i32>,
    price: Option<Money>,
    quantity: Option<Quantity>,
    reorder_point: Quantity,
    reorder_quantity: Quantity,
    location: Option<String>,
    /// The id a book created from the draft gets; `None`: one made when it is written.
    new_id: Option<BookId>,
}

/// A contributor as a client wrote it: an id, or a name, and optionally a role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawContributor {
    pub id: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
}

impl RawContributor {
    /// A bare string: an author id when it is a UUID, otherwise a name.
    pub fn from_id_or_name(value: &str) -> Self {
        match Uuid::parse_str(value.trim()) {
            Ok(_) => Self {
                id: Some(value.trim().to_owned()),
                ..Self::default()
            },
            Err(_) => Self {
                name: Some(value.to_owned()),
                ..Self::default()
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawPrice {
    /// `{"amount_minor": 1299, "currency": "EUR"}`
    Minor { amount_minor: i64, currency: String },
    /// `{"amount": "12.99", "currency": "EUR"}`
    Decimal { amount: String, currency: String },
}

/// Book fields as a client sent them, before any rule has been checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBook {
    pub isbn: Option<String>,
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<RawContributor>,
    pub genres: Vec<String>,
    pub publisher: Option<String>,
    pub published_year: Option<i64>,
    pub language: Option<String>,
    pub format: Option<String>,
    pub page_count: Option<i64>,
    pub price: Option<RawPrice>,
    pub quantity: Option<i64>,
    pub reorder_point: Option<i64>,
    pub reorder_quantity: Option<i64>,
    pub location: Option<String>,
}

fn parse_language(code: &str) -> Result<String, &'static str> {
    let code = code.trim();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_lowercase())
    } else {
        Err("must be a two-letter ISO 639-1 code such as \"en\" or \"fr\"")
    }
}

fn parse_price(raw: &RawPrice) -> Result<Money, crate::money::MoneyError> {
    match raw {
        RawPrice::Minor {
            amount_minor,
            currency,
        } => Money::new(*amount_minor, Currency::parse(currency)?),
        RawPrice::Decimal { amount, currency } => {
            Money::from_decimal(amount, Currency::parse(currency)?)
        }
    }
}

fn parse_contributors(
    raw: &[RawContributor],
    errors: &mut ValidationErrors,
) -> Vec<ContributorRef> {
    if raw.len() > MAX_AUTHORS {
        errors.add("authors", format!("at most {MAX_AUTHORS} contributors"));
        return Vec::new();
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, c) in raw.iter().enumerate() {
        let field = format!("authors[{i}]");
        let role = match c.role.as_deref() {
            None => Some(ContributorRole::Author),
            Some(r) => errors.check(format!("{field}.role"), r.parse()),
        };
        let author = match (c.id.as_deref(), c.name.as_deref()) {
            (Some(id), None) => match Uuid::parse_str(id.trim()) {
                Ok(uuid) => Some(AuthorRef::Id(AuthorId::from_uuid(uuid))),
                Err(_) => {
                    errors.add(format!("{field}.id"), "must be an author id (UUID)");
                    None
                }
            },
            (None, Some(name)) => errors
                .check(field.clone(), text::required(name, MAX_NAME, false))
                .map(AuthorRef::Name),
            (Some(_), Some(_)) => {
                errors.add(field.clone(), "give either an id or a name, not both");
                None
            }
            (None, None) => {
                errors.add(field.clone(), "needs an author id or a name");
                None
            }
        };
        if let (Some(author), Some(role)) = (author, role) {
            let key = match &author {
                AuthorRef::Id(id) => id.to_string(),
                AuthorRef::Name(name) => text::fold_key(name),
            };
            if !seen.insert((key, role)) {
                errors.add(field, "is listed twice with the same role");
                continue;
            }
            out.push(ContributorRef { author, role });
        }
    }
    out
}

fn parse_genres(raw: &[String], errors: &mut ValidationErrors) -> Vec<GenreRef> {
    if raw.len() > MAX_GENRES {
        errors.add("genres", format!("at most {MAX_GENRES} genres"));
        return Vec::new();
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, g) in raw.iter().enumerate() {
        let field = format!("genres[{i}]");
        let genre = match Uuid::parse_str(g.trim()) {
            Ok(uuid) => Some(GenreRef::Id(GenreId::from_uuid(uuid))),
            Err(_) => errors
                .check(
                    field.clone(),
                    text::required(g, crate::genre::MAX_GENRE_NAME, false),
                )
                .map(GenreRef::Name),
        };
        if let Some(genre) = genre {
            let key = match &genre {
                GenreRef::Id(id) => id.to_string(),
                GenreRef::Name(name) => text::fold_key(name),
            };
            if !seen.insert(key) {
                errors.add(field, "is listed twice");
                continue;
            }
            out.push(genre);
        }
    }
    out
}

fn bounded_int(value: Option<i64>, min: i64, max: i64) -> Result<Option<i32>, String> {
    match value {
        None => Ok(None),
        Some(v) if (min..=max).contains(&v) => Ok(Some(v as i32)),
        Some(_) => Err(format!("must be between {min} and {max}")),
    }
}

impl BookDraft {
    /// Checks every rule and reports every broken one, each under its field name.
    pub fn parse(raw: &RawBook) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let isbn = match raw.isbn.as_deref() {
            None => {
                errors.add("isbn", "is required");
                None
            }
            Some(s) => errors.check("isbn", Isbn::parse(s)),
        };
        let title = match raw.title.as_deref() {
            None => {
                errors.add("title", "is required");
                None
            }
            Some(s) => errors.check("title", text::required(s, MAX_TITLE, false)),
        };
        let subtitle = errors.check(
            "subtitle",
            text::optional(raw.subtitle.as_deref(), MAX_TITLE, false),
        );
        let description = errors.check(
            "description",
            text::optional(raw.description.as_deref(), MAX_DESCRIPTION, true),
        );
        let publisher = errors.check(
            "publisher",
            text::optional(raw.publisher.as_deref(), MAX_PUBLISHER, false),
        );
        let location = errors.check(
            "location",
            text::optional(raw.location.as_deref(), MAX_LOCATION, false),
        );
        let authors = parse_contributors(&raw.authors, &mut errors);
        let genres = parse_genres(&raw.genres, &mut errors);
        let published_year =
            errors.check("published_year", bounded_int(raw.published_year, 1, 9999));
        let page_count = errors.check("page_count", bounded_int(raw.page_count, 1, MAX_PAGE_COUNT));
        let language = match raw.language.as_deref().filter(|l| !l.trim().is_empty()) {
            None => Some(None),
            Some(l) => errors.check("language", parse_language(l)).map(Some),
        };
        let format = match raw.format.as_deref().filter(|f| !f.trim().is_empty()) {
            None => Some(None),
            Some(f) => errors.check("format", f.parse::<BookFormat>()).map(Some),
        };
        let price = match &raw.price {
            None => Some(None),
            Some(p) => errors.check("price", parse_price(p)).map(Some),
        };
        let quantity = match raw.quantity {
            None => Some(None),
            Some(q) => errors.check("quantity", Quantity::new(q)).map(Some),
        };
        let reorder_point = errors.check(
            "reorder_point",
            Quantity::new(raw.reorder_point.unwrap_or(0)),
        );
        let reorder_quantity = errors.check(
            "reorder_quantity",
            Quantity::new(raw.reorder_quantity.unwrap_or(0)),
        );

        match (
            isbn,
            title,
            subtitle,
            description,
            publisher,
            location,
            published_year,
            page_count,
            language,
            format,
            price,
            quantity,
            reorder_point,
            reorder_quantity,
        ) {
            (
                Some(isbn),
                Some(title),
                Some(subtitle),
                Some(description),
                Some(publisher),
                Some(location),
                Some(published_year),
                Some(page_count),
                Some(language),
                Some(format),
                Some(price),
                Some(quantity),
                Some(reorder_point),
                Some(reorder_quantity),
            ) if errors.is_empty() => Ok(Self {
                isbn,
                title,
                subtitle,
                description,
                authors,
                genres,
                publisher,
                published_year,
                language,
                format,
                page_count,
                price,
                quantity,
                reorder_point,
                reorder_quantity,
                location,
                new_id: None,
            }),
            _ => Err(errors),
        }
    }

    pub fn isbn(&self) -> &Isbn {
        &self.isbn
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn subtitle(&self) -> Option<&str> {
        self.subtitle.as_deref()
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The contributors in the order given, none listed twice with the same role.
    pub fn authors(&self) -> &[ContributorRef] {
        &self.authors
    }

    /// The genres in the order given, none listed twice.
    pub fn genres(&self) -> &[GenreRef] {
        &self.genres
    }

    pub fn publisher(&self) -> Option<&str> {
        self.publisher.as_deref()
    }

    pub fn published_year(&self) -> Option<i32> {
        self.published_year
    }

    /// A lower-case two-letter ISO 639-1 code.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    pub fn format(&self) -> Option<BookFormat> {
        self.format
    }

    pub fn page_count(&self) -> Option<i32> {
        self.page_count
    }

    pub fn price(&self) -> Option<Money> {
        self.price
    }

    /// The stock on hand; `None` when not given: zero for a new book, unchanged on a replace
    /// (stock moves through the ledger, and a replace that sets it records an adjustment).
    pub fn quantity(&self) -> Option<Quantity> {
        self.quantity
    }

    pub fn reorder_point(&self) -> Quantity {
        self.reorder_point
    }

    /// How many copies to order at the reorder point (0 when not given).
    pub fn reorder_quantity(&self) -> Quantity {
        self.reorder_quantity
    }

    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The draft, with the id a book created from it gets (a row that replaces a book keeps
    /// that book's). An import numbers its rows as it reads them: ids are time-ordered, so
    /// its new books keep the file's order (an export's) whichever of its writers commits
    /// first.
    pub fn with_new_id(mut self, id: BookId) -> Self {
        self.new_id = Some(id);
        self
    }

    /// The id given by [`Self::with_new_id`], if any.
    pub fn new_id(&self) -> Option<BookId> {
        self.new_id
    }
}

impl Book {
    /// The book as a client would send it back: the starting point of a merge patch.
    pub fn to_raw(&self) -> RawBook {
        RawBook {
            isbn: Some(self.isbn.to_string()),
            title: Some(self.title.clone()),
            subtitle: self.subtitle.clone(),
            description: self.description.clone(),
            authors: self
                .authors
                .iter()
                .map(|c| RawContributor {
                    id: Some(c.author_id.to_string()),
                    name: None,
                    role: Some(c.role.as_str().to_owned()),
                })
                .collect(),
            genres: self.genres.iter().map(|g| g.id.to_string()).collect(),
            publisher: self.publisher.clone(),
            published_year: self.published_year.map(i64::from),
            language: self.language.clone(),
            format: self.format.map(|f| f.as_str().to_owned()),
            page_count: self.page_count.map(i64::from),
            price: self.price.map(|p| RawPrice::Minor {
                amount_minor: p.amount_minor(),
                currency: p.currency().code().to_owned(),
            }),
            quantity: Some(self.quantity.get()),
            reorder_point: Some(self.reorder_point.get()),
            reorder_quantity: Some(self.reorder_quantity.get()),
            location: self.location.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> RawBook {
        RawBook {
            isbn: Some("978-0-261-10334-4".into()),
            title: Some("The Hobbit".into()),
            ..RawBook::default()
        }
    }

    #[test]
    fn minimal_book_is_valid() {
        let draft = BookDraft::parse(&minimal()).expect("valid");
        assert_eq!(draft.isbn().as_str(), "9780261103344");
        assert_eq!(draft.quantity(), None);
    }

    #[test]
    fn reports_every_broken_field() {
        let raw = RawBook {
            isbn: Some("123".into()),
            title: Some("x".repeat(100_000)),
            quantity: Some(-1),
            reorder_quantity: Some(-3),
            page_count: Some(0),
            language: Some("english".into()),
            format: Some("scroll".into()),
            price: Some(RawPrice::Minor {
                amount_minor: -5,
                currency: "EUR".into(),
            }),
            authors: vec![RawContributor::default()],
            ..RawBook::default()
        };
        let errors = BookDraft::parse(&raw).expect_err("invalid");
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        for f in [
            "isbn",
            "title",
            "quantity",
            "reorder_quantity",
            "page_count",
            "language",
            "format",
            "price",
            "authors[0]",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn required_fields() {
        let errors = BookDraft::parse(&RawBook::default()).expect_err("invalid");
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["isbn", "title"]);
    }

    #[test]
    fn contributors_by_name_or_id_with_roles() {
        let id = AuthorId::generate();
        let raw = RawBook {
            authors: vec![
                RawContributor::from_id_or_name("J. R. R. Tolkien"),
                RawContributor::from_id_or_name(&id.to_string()),
                RawContributor {
                    name: Some("Alan Lee".into()),
                    role: Some("illustrator".into()),
                    ..Default::default()
                },
            ],
            genres: vec!["Fantasy".into(), "fantasy ".into()],
            ..minimal()
        };
        let errors = BookDraft::parse(&raw).expect_err("duplicate genre");
        assert_eq!(errors.errors()[0].field, "genres[1]");

        let draft = BookDraft::parse(&RawBook {
            genres: vec!["Fantasy".into()],
            ..raw
        })
        .expect("valid");
        assert_eq!(draft.authors().len(), 3);
        assert_eq!(draft.authors()[1].author, AuthorRef::Id(id));
        assert_eq!(draft.authors()[2].role, ContributorRole::Illustrator);
    }

    #[test]
    fn blank_optional_text_becomes_none() {
        let draft = BookDraft::parse(&RawBook {
            subtitle: Some("   ".into()),
            language: Some("EN".into()),
            ..minimal()
        })
        .expect("valid");
        assert_eq!(draft.subtitle(), None);
        assert_eq!(draft.language(), Some("en"));
    }
}
