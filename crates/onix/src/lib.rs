//! Reads ONIX for Books 3.0 product records, one at a time, from a stream of any size.
//!
//! ```no_run
//! use bookstore_onix::{Limits, OnixReader};
//!
//! let file = std::io::BufReader::new(std::fs::File::open("feed.xml")?);
//! for item in OnixReader::new(file, Limits::default()) {
//!     match item {
//!         Ok(product) => println!("{:?} {:?}", product.isbn13, product.title),
//!         Err(e) if e.is_fatal() => return Err(e.into()),
//!         Err(e) => eprintln!("skipped: {e}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Streaming
//!
//! The reader never builds a tree of the document. It holds the current product's fields,
//! the text of the element being read, and a 64 KiB input buffer, whatever the size of the
//! file. quick-xml buffers one event (a text node, a start tag) at a time; the reader gives
//! every event a byte budget, so that one huge text node is refused before it is buffered.
//!
//! # What is mapped
//!
//! Both tag forms are read: reference tags (`<Product>`, `<RecordReference>`) and short tags
//! (`<product>`, `<a001>`), under any namespace (the ONIX 3.0 reference and short
//! namespaces included) or none; elements are matched by local name and by their place in
//! the product. The root must be `ONIXMessage` (either form); a `release` attribute, when
//! present, must be 3.x. Everything outside `<Product>`, such as the `<Header>`, is skipped.
//!
//! | [`Product`] field | ONIX 3.0 (reference name / short tag) |
//! | --- | --- |
//! | `record_reference` | RecordReference a001 |
//! | `isbn13` | ProductIdentifier: IDValue b244 of ProductIDType b221 `15`, else of `03` (GTIN-13) when it starts with 978 or 979; raw, not validated |
//! | `title`, `subtitle` | DescriptiveDetail/TitleDetail with TitleType b202 `01`, its TitleElement of TitleElementLevel x409 `01` (else the first): TitleText b203, else TitlePrefix b030 + TitleWithoutPrefix b031; Subtitle b029 |
//! | `contributors` | DescriptiveDetail/Contributor: ContributorRole b035 (A01 author, B01 editor, B06 translator, A12 illustrator, others kept as their code), PersonName b036, else NamesBeforeKey b039 + KeyNames b040, else CorporateName b047; SequenceNumber b034; sorted by sequence; contributors without any name are left out |
//! | `language` | DescriptiveDetail/Language with LanguageRole b253 `01`: LanguageCode b252 (ISO 639-2/B, as in the file) |
//! | `publisher` | PublishingDetail/Publisher: PublisherName b081, PublishingRole b291 `01` preferred |
//! | `published` | PublishingDetail/PublishingDate with PublishingDateRole x448 `01`: Date b306 as YYYYMMDD or YYYY (`dateformat` attribute or DateFormat j260 `00`/`05`, else by shape) |
//! | `page_count` | DescriptiveDetail/Extent with ExtentUnit b220 `03` (pages): ExtentValue b219 of ExtentType b218 `00`, else `11` |
//! | `format` | DescriptiveDetail/ProductForm b012 (code list 150): BB hardcover, BC paperback, EA/EB/EC/ED ebook, any A* audio form audiobook, others kept as their code |
//! | `subjects` | DescriptiveDetail/Subject: each SubjectHeadingText b070, or the SubjectCode b069 when there is no heading text (a code stays a code: the scheme is not looked up) |
//! | `description` | CollateralDetail/TextContent: Text d104 of TextType x426 `03`, else `02` |
//! | `price` | ProductSupply/SupplyDetail/Price: the first with both PriceAmount j151 and CurrencyCode j152 |
//! | `on_hand` | ProductSupply/SupplyDetail/Stock: the first OnHand j350 |
//!
//! # Errors
//!
//! A product whose mapped fields cannot be read (a date that is no date, a page count, stock
//! or sequence number that is no whole number, a price that is no decimal) yields
//! [`OnixError::Product`] with its index and record reference, and reading goes on with the
//! next product. Everything else ends the iteration after the error: a DOCTYPE (so no DTD,
//! no entity declaration, no external entity is ever read), an entity reference other than
//! the five predefined ones and character references (never expanded), a [`Limits`] bound,
//! invalid UTF-8 (with its byte offset) or a declared encoding other than UTF-8, malformed or
//! truncated XML, a root that is not an ONIX message.

mod builder;
mod error;
mod guard;
mod model;
mod reader;
mod tags;

pub use error::{LimitKind, OnixError};
pub use model::{Contributor, ContributorRole, Format, Limits, Price, Product, Published};
pub use reader::OnixReader;
