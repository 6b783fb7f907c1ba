//! Collects the fields of one product while its elements stream past, then maps them.

use chrono::NaiveDate;

use crate::model::{Contributor, ContributorRole, Format, Price, Product, Published};
use crate::tags::Tag;

#[derive(Default)]
struct Identifier {
    id_type: Option<String>,
    value: Option<String>,
}

#[derive(Default)]
struct TitleElement {
    level: Option<String>,
    text: Option<String>,
    prefix: Option<String>,
    without_prefix: Option<String>,
    subtitle: Option<String>,
}

#[derive(Default)]
struct TitleDetail {
    title_type: Option<String>,
    elements: Vec<TitleElement>,
}

#[derive(Default)]
struct RawContributor {
    sequence: Option<String>,
    role: Option<String>,
    person_name: Option<String>,
    names_before_key: Option<String>,
    key_names: Option<String>,
    corporate_name: Option<String>,
}

#[derive(Default)]
struct Coded {
    code: Option<String>,
    value: Option<String>,
}

#[derive(Default)]
struct Extent {
    extent_type: Option<String>,
    value: Option<String>,
    unit: Option<String>,
}

#[derive(Default)]
struct RawPrice {
    amount: Option<String>,
    currency: Option<String>,
}

/// The product being read: the composite open at the moment, and the finished ones.
#[derive(Default)]
pub(crate) struct ProductBuilder {
    record_reference: Option<String>,
    identifier: Identifier,
    identifiers: Vec<Identifier>,
    product_form: Option<String>,
    title_element: TitleElement,
    title_detail: TitleDetail,
    titles: Vec<TitleDetail>,
    contributor: RawContributor,
    contributors: Vec<RawContributor>,
    language: Coded,
    languages: Vec<Coded>,
    extent: Extent,
    extents: Vec<Extent>,
    subject_code: Option<String>,
    subject_headings: Vec<String>,
    subjects: Vec<String>,
    text: Coded,
    texts: Vec<Coded>,
    publisher: Coded,
    publishers: Vec<Coded>,
    date: Coded,
    date_format: Option<String>,
    dates: Vec<(Coded, Option<String>)>,
    price: RawPrice,
    price_found: Option<Price>,
    on_hand: Option<String>,
}

impl ProductBuilder {
    pub(crate) fn record_reference(&self) -> Option<&str> {
        self.record_reference.as_deref()
    }

    /// Takes the text of an element that just closed. `path` holds the elements between
    /// `<Product>` and the closed one.
    pub(crate) fn close(&mut self, path: &[Tag], tag: Tag, text: &str) {
        use Tag::*;
        let value = || {
            let t = text.trim();
            (!t.is_empty()).then(|| t.to_owned())
        };
        match (path, tag) {
            ([], RecordReference) => self.record_reference = value(),

            ([ProductIdentifier], ProductIdType) => self.identifier.id_type = value(),
            ([ProductIdentifier], IdValue) => self.identifier.value = value(),
            ([], ProductIdentifier) => {
                let id = std::mem::take(&mut self.identifier);
                self.identifiers.push(id);
            }

            ([DescriptiveDetail], ProductForm) => self.product_form = value(),

            ([DescriptiveDetail, TitleDetail], TitleType) => self.title_detail.title_type = value(),
            ([DescriptiveDetail, TitleDetail, TitleElement], t) => {
                let e = &mut self.title_element;
                match t {
                    TitleElementLevel => e.level = value(),
                    TitleText => e.text = value(),
                    TitlePrefix => e.prefix = value(),
                    TitleWithoutPrefix => e.without_prefix = value(),
                    Subtitle => e.subtitle = value(),
                    _ => {}
                }
            }
            ([DescriptiveDetail, TitleDetail], TitleElement) => {
                let e = std::mem::take(&mut self.title_element);
                self.title_detail.elements.push(e);
            }
            ([DescriptiveDetail], TitleDetail) => {
                let d = std::mem::take(&mut self.title_detail);
                self.titles.push(d);
            }

            ([DescriptiveDetail, Contributor], t) => {
                let c = &mut self.contributor;
                match t {
                    SequenceNumber => c.sequence = value(),
                    // Repeated roles: the first one names the contributor's part.
                    ContributorRole if c.role.is_none() => c.role = value(),
                    PersonName => c.person_name = value(),
                    NamesBeforeKey => c.names_before_key = value(),
                    KeyNames => c.key_names = value(),
                    CorporateName => c.corporate_name = value(),
                    _ => {}
                }
            }
            ([DescriptiveDetail], Contributor) => {
                let c = std::mem::take(&mut self.contributor);
                self.contributors.push(c);
            }

            ([DescriptiveDetail, Language], LanguageRole) => self.language.code = value(),
            ([DescriptiveDetail, Language], LanguageCode) => self.language.value = value(),
            ([DescriptiveDetail], Language) => {
                let l = std::mem::take(&mut self.language);
                self.languages.push(l);
            }

            ([DescriptiveDetail, Extent], ExtentType) => self.extent.extent_type = value(),
            ([DescriptiveDetail, Extent], ExtentValue) => self.extent.value = value(),
            ([DescriptiveDetail, Extent], ExtentUnit) => self.extent.unit = value(),
            ([DescriptiveDetail], Extent) => {
                let e = std::mem::take(&mut self.extent);
                self.extents.push(e);
            }

            ([DescriptiveDetail, Subject], SubjectCode) => self.subject_code = value(),
            ([DescriptiveDetail, Subject], SubjectHeadingText) => {
                if let Some(h) = value() {
                    self.subject_headings.push(h);
                }
            }
            ([DescriptiveDetail], Subject) => {
                let headings = std::mem::take(&mut self.subject_headings);
                let code = self.subject_code.take();
                let names = if headings.is_empty() {
                    code.into_iter().collect()
                } else {
                    headings
                };
                for name in names {
                    if !self.subjects.contains(&name) {
                        self.subjects.push(name);
                    }
                }
            }

            ([CollateralDetail, TextContent], TextType) => self.text.code = value(),
            ([CollateralDetail, TextContent], Text) => self.text.value = value(),
            ([CollateralDetail], TextContent) => {
                let t = std::mem::take(&mut self.text);
                self.texts.push(t);
            }

            ([PublishingDetail, Publisher], PublishingRole) => self.publisher.code = value(),
            ([PublishingDetail, Publisher], PublisherName) => self.publisher.value = value(),
            ([PublishingDetail], Publisher) => {
                let p = std::mem::take(&mut self.publisher);
                self.publishers.push(p);
            }

            ([PublishingDetail, PublishingDate], PublishingDateRole) => self.date.code = value(),
            ([PublishingDetail, PublishingDate], DateFormat) => self.date_format = value(),
            ([PublishingDetail, PublishingDate], Date) => self.date.value = value(),
            ([PublishingDetail], PublishingDate) => {
                let d = std::mem::take(&mut self.date);
                let f = self.date_format.take();
                self.dates.push((d, f));
            }

            ([ProductSupply, SupplyDetail, Stock], OnHand) if self.on_hand.is_none() => {
                self.on_hand = value()
            }
            ([ProductSupply, SupplyDetail, Price], PriceAmount) => self.price.amount = value(),
            ([ProductSupply, SupplyDetail, Price], CurrencyCode) => self.price.currency = value(),
            ([ProductSupply, SupplyDetail], Price) => {
                let p = std::mem::take(&mut self.price);
                if self.price_found.is_none() {
                    if let (Some(amount), Some(currency)) = (p.amount, p.currency) {
                        self.price_found = Some(crate::model::Price { amount, currency });
                    }
                }
            }
            _ => {}
        }
    }

    /// Records the `dateformat` attribute of a PublishingDate's `<Date>`.
    pub(crate) fn date_format_attribute(&mut self, format: String) {
        self.date_format = Some(format);
    }

    /// Maps the collected fields; the messages name every field that could not be read.
    pub(crate) fn finish(self, index: u64) -> Result<Product, Vec<String>> {
        let mut errors = Vec::new();

        let isbn13 = self
            .identifiers
            .iter()
            .find(|i| i.id_type.as_deref() == Some("15"))
            .or_else(|| {
                self.identifiers.iter().find(|i| {
                    i.id_type.as_deref() == Some("03")
                        && i.value.as_deref().is_some_and(|v| {
                            v.len() == 13 && (v.starts_with("978") || v.starts_with("979"))
                        })
                })
            })
            .and_then(|i| i.value.clone());

        let (title, subtitle) = self
            .titles
            .into_iter()
            .find(|t| t.title_type.as_deref() == Some("01"))
            .and_then(|t| {
                let mut elements = t.elements;
                // The product-level element (01) names the product; a collection-level one
                // only when there is nothing else.
                let pos = elements
                    .iter()
                    .position(|e| e.level.as_deref() == Some("01"))
                    .unwrap_or(0);
                (!elements.is_empty()).then(|| elements.swap_remove(pos))
            })
            .map(|e| {
                let title = e.text.or(match (e.prefix, e.without_prefix) {
                    (Some(p), Some(w)) => Some(format!("{p} {w}")),
                    (None, w) => w,
                    (p, None) => p,
                });
                (title, e.subtitle)
            })
            .unwrap_or_default();

        let mut contributors = Vec::new();
        for c in self.contributors {
            let sequence = match c.sequence.as_deref().map(str::parse::<u32>) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    errors.push(format!(
                        "Contributor SequenceNumber {:?} is not a whole number",
                        c.sequence.unwrap_or_default()
                    ));
                    continue;
                }
            };
            let name = c
                .person_name
                .or_else(|| match (c.names_before_key, c.key_names) {
                    (Some(before), Some(key)) => Some(format!("{before} {key}")),
                    (_, key) => key,
                });
            // A contributor without a name (UnnamedPersons, "Anonymous") adds nothing to a
            // catalogue entry.
            let Some(name) = name.or(c.corporate_name) else {
                continue;
            };
            let role = ContributorRole::from_code(c.role.as_deref().unwrap_or("A01"));
            contributors.push(Contributor {
                role,
                name,
                sequence,
            });
        }
        // Stable: without a SequenceNumber, file order.
        contributors.sort_by_key(|c| (c.sequence.is_none(), c.sequence));

        let language = self
            .languages
            .into_iter()
            .find(|l| l.code.as_deref() == Some("01"))
            .and_then(|l| l.value);

        let publisher = {
            let role01 = self
                .publishers
                .iter()
                .position(|p| p.code.as_deref() == Some("01") && p.value.is_some());
            let any = self.publishers.iter().position(|p| p.value.is_some());
            role01
                .or(any)
                .and_then(|i| self.publishers.into_iter().nth(i))
                .and_then(|p| p.value)
        };

        let published = match self
            .dates
            .into_iter()
            .find(|(d, _)| d.code.as_deref() == Some("01"))
        {
            Some((Coded { value: Some(v), .. }, format)) => {
                match parse_date(&v, format.as_deref()) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                }
            }
            _ => None,
        };

        let pages = |wanted: &str| {
            self.extents.iter().find(|e| {
                e.extent_type.as_deref() == Some(wanted) && e.unit.as_deref() == Some("03")
            })
        };
        let page_count = match pages("00")
            .or_else(|| pages("11"))
            .and_then(|e| e.value.as_deref())
        {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(format!("Extent page count {v:?} is not a whole number"));
                    None
                }
            },
        };

        let description = ["03", "02"].iter().find_map(|wanted| {
            self.texts
                .iter()
                .find(|t| t.code.as_deref() == Some(*wanted) && t.value.is_some())
                .and_then(|t| t.value.clone())
        });

        let price = match self.price_found {
            Some(p) if !is_decimal(&p.amount) => {
                errors.push(format!(
                    "PriceAmount {:?} is not a decimal number",
                    p.amount
                ));
                None
            }
            p => p,
        };

        let on_hand = match self.on_hand {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(format!("Stock OnHand {v:?} is not a whole number"));
                    None
                }
            },
        };

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Product {
            index,
            record_reference: self.record_reference,
            isbn13,
            title,
            subtitle,
            contributors,
            language,
            publisher,
            published,
            page_count,
            format: self.product_form.as_deref().map(Format::from_product_form),
            subjects: self.subjects,
            description,
            price,
            on_hand,
        })
    }
}

/// YYYYMMDD or YYYY (ONIX date formats 00 and 05); the shape decides when the `dateformat`
/// attribute or `<DateFormat>` is absent.
fn parse_date(value: &str, format: Option<&str>) -> Result<Published, String> {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    let shape_ok = match format {
        None => digits && (value.len() == 8 || value.len() == 4),
        Some("00") => digits && value.len() == 8,
        Some("05") => digits && value.len() == 4,
        Some(other) => {
            return Err(format!(
                "PublishingDate format {other:?} is not read (only 00 YYYYMMDD and 05 YYYY)"
            ))
        }
    };
    let bad = || format!("PublishingDate {value:?} is not a date in the form YYYYMMDD or YYYY");
    if !shape_ok {
        return Err(bad());
    }
    let year: i32 = value[..4].parse().map_err(|_| bad())?;
    if value.len() == 4 {
        return Ok(Published::Year(year));
    }
    let month: u32 = value[4..6].parse().map_err(|_| bad())?;
    let day: u32 = value[6..8].parse().map_err(|_| bad())?;
    NaiveDate::from_ymd_opt(year, month, day)
        .map(Published::Date)
        .ok_or_else(bad)
}

/// Digits with at most one decimal point and a digit on each side of it.
fn is_decimal(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && frac.is_none_or(all_digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_by_shape_and_by_format() {
        let d = |y, m, dd| Published::Date(NaiveDate::from_ymd_opt(y, m, dd).expect("date"));
        assert_eq!(parse_date("20240229", None), Ok(d(2024, 2, 29)));
        assert_eq!(parse_date("2019", None), Ok(Published::Year(2019)));
        assert_eq!(parse_date("2019", Some("05")), Ok(Published::Year(2019)));
        assert!(parse_date("20230229", None).is_err());
        assert!(parse_date("2023-01-01", None).is_err());
        assert!(parse_date("201901", Some("01")).is_err());
        assert!(parse_date("2019", Some("00")).is_err());
        assert!(parse_date("２０１９", None).is_err());
    }

    #[test]
    fn decimals() {
        assert!(is_decimal("12.99"));
        assert!(is_decimal("7"));
        assert!(!is_decimal("12."));
        assert!(!is_decimal(".5"));
        assert!(!is_decimal("1,50"));
        assert!(!is_decimal("-3"));
        assert!(!is_decimal(""));
    }

    #[test]
    fn product_forms() {
        assert_eq!(Format::from_product_form("BB"), Format::Hardcover);
        assert_eq!(Format::from_product_form("BC"), Format::Paperback);
        for c in ["EA", "EB", "EC", "ED"] {
            assert_eq!(Format::from_product_form(c), Format::Ebook);
        }
        for c in ["AC", "AJ", "AN", "AO"] {
            assert_eq!(Format::from_product_form(c), Format::Audiobook);
        }
        assert_eq!(
            Format::from_product_form("BA"),
            Format::Other("BA".to_owned())
        );
    }
}
