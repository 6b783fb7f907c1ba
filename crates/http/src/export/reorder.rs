//! The reorder report's encodings: CSV, and JSON grouped by publisher, over the total stock
//! or the stock at one location.

use super::{joined, number, CsvBuffer, EncodeError, Encoder};
use bookstore_core::{Location, ReorderCandidate};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The columns of the reorder report as CSV, in order; for one location,
/// [`LOCATION_QUANTITY_COLUMN`] follows `quantity`.
pub const REORDER_COLUMNS: [&str; 10] = [
    "publisher",
    "isbn",
    "title",
    "authors",
    "format",
    "quantity",
    "reorder_point",
    "reorder_quantity",
    "suggested_quantity",
    "location",
];

/// The column of the stock at the location a reorder report is for.
pub const LOCATION_QUANTITY_COLUMN: &str = "location_quantity";

/// A book to reorder, as the JSON report lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderItemDto {
    pub book_id: Uuid,
    /// Canonical ISBN-13.
    pub isbn: String,
    pub title: String,
    /// Contributor names in order.
    pub authors: Vec<String>,
    /// `hardcover`, `paperback`, `ebook`, `audiobook` or `other`.
    pub format: Option<String>,
    /// Copies on hand, over all locations.
    pub quantity: i64,
    /// Only in a report for one location (`?location=`): the copies at that location and
    /// the shelves inside it, which the suggestion is computed from instead of `quantity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_quantity: Option<i64>,
    pub reorder_point: i64,
    pub reorder_quantity: i64,
    /// Copies to order: enough to reach `reorder_point` + `reorder_quantity` from the stock
    /// on hand (`location_quantity` when present, else `quantity`), so never less than
    /// `reorder_quantity`.
    pub suggested_quantity: i64,
    /// The shelf label (the book's free-text `location` field, not a stock location).
    pub location: Option<String>,
}

/// The books of one publisher to reorder.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderGroupDto {
    /// The publisher as the books name it; `null` for the books without one.
    pub publisher: Option<String>,
    /// By title.
    pub items: Vec<ReorderItemDto>,
    /// The sum of the items' `suggested_quantity`.
    pub suggested_total: i64,
}

/// The stock location a reorder report is for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderLocationDto {
    pub id: Uuid,
    /// Lower case.
    pub code: String,
    pub name: String,
}

impl From<&Location> for ReorderLocationDto {
    fn from(location: &Location) -> Self {
        Self {
            id: location.id.as_uuid(),
            code: location.code.clone(),
            name: location.name.clone(),
        }
    }
}

/// The reorder report: books at or below their reorder point with something to order,
/// grouped by publisher (in bytewise order of the name; books without a publisher last).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderReportDto {
    /// Only in a report for one location (`?location=`): that location, whose stock (with
    /// the shelves inside it) each item's `location_quantity` counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_location: Option<ReorderLocationDto>,
    pub groups: Vec<ReorderGroupDto>,
}

fn reorder_item(candidate: &ReorderCandidate, suggested: i64) -> ReorderItemDto {
    let book = &candidate.book;
    ReorderItemDto {
        book_id: book.id.as_uuid(),
        isbn: book.isbn.to_string(),
        title: book.title.clone(),
        authors: book.authors.iter().map(|a| a.name.clone()).collect(),
        format: book.format.map(|f| f.as_str().to_owned()),
        quantity: book.quantity.get(),
        location_quantity: candidate.location_quantity,
        reorder_point: book.reorder_point.get(),
        reorder_quantity: book.reorder_quantity.get(),
        suggested_quantity: suggested,
        location: book.location.clone(),
    }
}

/// The reorder report as CSV: a header row of [`REORDER_COLUMNS`], then one row per book, by
/// publisher (books without one last, with an empty publisher). For one location, a
/// [`LOCATION_QUANTITY_COLUMN`] follows `quantity`.
pub struct ReorderCsv {
    out: CsvBuffer,
    at_location: bool,
}

impl ReorderCsv {
    /// The report over the books' total stock.
    pub fn new() -> Self {
        Self::at_location(false)
    }

    /// `at_location`: the report for one location, with its stock column.
    pub fn at_location(at_location: bool) -> Self {
        Self {
            out: CsvBuffer::new(),
            at_location,
        }
    }

    /// Where the location's column goes: after `quantity`.
    const LOCATION_COLUMN_AT: usize = 6;
}

impl Default for ReorderCsv {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder for ReorderCsv {
    type Item = ReorderCandidate;
    fn head(&mut self) -> Result<(), EncodeError> {
        let mut header = REORDER_COLUMNS.to_vec();
        if self.at_location {
            header.insert(Self::LOCATION_COLUMN_AT, LOCATION_QUANTITY_COLUMN);
        }
        Ok(self.out.0.write_record(header)?)
    }
    fn push(&mut self, candidate: &ReorderCandidate) -> Result<(), EncodeError> {
        let Some(suggested) = candidate.suggested_quantity() else {
            return Ok(());
        };
        let book = &candidate.book;
        let mut row = vec![
            book.publisher.clone().unwrap_or_default(),
            book.isbn.to_string(),
            book.title.clone(),
            joined(book.authors.iter().map(|a| a.name.as_str())),
            book.format
                .map(|f| f.as_str().to_owned())
                .unwrap_or_default(),
            book.quantity.get().to_string(),
            book.reorder_point.get().to_string(),
            book.reorder_quantity.get().to_string(),
            suggested.to_string(),
            book.location.clone().unwrap_or_default(),
        ];
        if self.at_location {
            row.insert(
                Self::LOCATION_COLUMN_AT,
                number(candidate.location_quantity),
            );
        }
        Ok(self.out.0.write_record(row)?)
    }
    fn end(&mut self) -> Result<(), EncodeError> {
        Ok(())
    }
    fn take(&mut self) -> Result<Vec<u8>, EncodeError> {
        self.out.take()
    }
}

/// The reorder report as JSON ([`ReorderReportDto`]), written a book at a time: the books
/// come ordered by publisher, so a group closes when the publisher changes.
#[derive(Default)]
pub struct ReorderJson {
    /// The location the report is for, if it is for one.
    location: Option<ReorderLocationDto>,
    out: Vec<u8>,
    /// The publisher of the open group, if one is open.
    group: Option<Option<String>>,
    total: i64,
    /// Whether a group was written: the next one needs a comma.
    grouped: bool,
}

impl ReorderJson {
    /// The report for one location (`None`: over the books' total stock).
    pub fn at_location(location: Option<&Location>) -> Self {
        Self {
            location: location.map(ReorderLocationDto::from),
            ..Self::default()
        }
    }

    fn close_group(&mut self) -> Result<(), EncodeError> {
        if self.group.take().is_some() {
            self.out.extend_from_slice(b"],\"suggested_total\":");
            serde_json::to_writer(&mut self.out, &self.total)?;
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl Encoder for ReorderJson {
    type Item = ReorderCandidate;
    fn head(&mut self) -> Result<(), EncodeError> {
        self.out.push(b'{');
        if let Some(location) = &self.location {
            self.out.extend_from_slice(b"\"stock_location\":");
            serde_json::to_writer(&mut self.out, location)?;
            self.out.push(b',');
        }
        self.out.extend_from_slice(b"\"groups\":[");
        Ok(())
    }
    fn push(&mut self, candidate: &ReorderCandidate) -> Result<(), EncodeError> {
        let Some(suggested) = candidate.suggested_quantity() else {
            return Ok(());
        };
        let book = &candidate.book;
        match &self.group {
            Some(publisher) if *publisher == book.publisher => self.out.push(b','),
            _ => {
                self.close_group()?;
                if self.grouped {
                    self.out.push(b',');
                }
                self.grouped = true;
                self.out.extend_from_slice(b"{\"publisher\":");
                serde_json::to_writer(&mut self.out, &book.publisher)?;
                self.out.extend_from_slice(b",\"items\":[");
                self.group = Some(book.publisher.clone());
                self.total = 0;
            }
        }
        serde_json::to_writer(&mut self.out, &reorder_item(candidate, suggested))?;
        self.total += suggested;
        Ok(())
    }
    fn end(&mut self) -> Result<(), EncodeError> {
        self.close_group()?;
        self.out.extend_from_slice(b"]}");
        Ok(())
    }
    fn take(&mut self) -> Result<Vec<u8>, EncodeError> {
        Ok(std::mem::take(&mut self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::{book, run};

    #[test]
    fn reorder_json_groups_consecutive_publishers() {
        let books = [
            book("A", Some("Ace"), 0),
            book("B", Some("Ace"), 9),
            book("C", Some("Ace"), 2),
            book("D", Some("Tor"), 1),
            book("E", None, 0),
        ]
        .map(ReorderCandidate::total);
        let json: serde_json::Value =
            serde_json::from_slice(&run(ReorderJson::default(), &books)).expect("json");
        let groups = json["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 3, "{json}");
        assert_eq!(groups[0]["publisher"], "Ace");
        assert_eq!(groups[0]["items"].as_array().expect("items").len(), 2);
        assert_eq!(groups[0]["suggested_total"], 7 + 5);
        assert_eq!(groups[1]["items"][0]["suggested_quantity"], 6);
        assert!(groups[2]["publisher"].is_null());
        let empty: serde_json::Value =
            serde_json::from_slice(&run(ReorderJson::default(), &[])).expect("json");
        assert_eq!(empty, serde_json::json!({"groups": []}));
        assert!(!String::from_utf8(run(ReorderJson::default(), &books))
            .expect("utf-8")
            .contains("location_quantity"));
    }

    #[test]
    fn a_report_for_one_location_says_which_stock_counted() {
        let now = chrono::Utc::now();
        let store = Location {
            id: bookstore_core::LocationId::generate(),
            code: "north".into(),
            name: "North store".into(),
            kind: bookstore_core::LocationKind::Store,
            parent_id: None,
            created_at: now,
            updated_at: now,
        };
        // 9 in total, 1 at the store: ordered up to 2 + 5 from 1.
        let candidates = [ReorderCandidate {
            book: book("A", Some("Ace"), 9),
            location_quantity: Some(1),
        }];
        let json: serde_json::Value =
            serde_json::from_slice(&run(ReorderJson::at_location(Some(&store)), &candidates))
                .expect("json");
        assert_eq!(json["stock_location"]["code"], "north");
        let item = &json["groups"][0]["items"][0];
        assert_eq!(
            (
                &item["quantity"],
                &item["location_quantity"],
                &item["suggested_quantity"]
            ),
            (
                &serde_json::json!(9),
                &serde_json::json!(1),
                &serde_json::json!(6)
            )
        );
        let out = run(ReorderCsv::at_location(true), &candidates);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let headers: Vec<String> = reader
            .headers()
            .expect("headers")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            &headers[5..8],
            ["quantity", "location_quantity", "reorder_point"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!((&rows[0][5], &rows[0][6], &rows[0][9]), ("9", "1", "6"));
    }
}
