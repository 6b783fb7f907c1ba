//! The streaming reader: quick-xml events in, one [`Product`] out per `<Product>`.

use std::io::BufRead;

use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::builder::ProductBuilder;
use crate::error::{LimitKind, OnixError};
use crate::guard::{Guard, Trip};
use crate::model::{Limits, Product};
use crate::tags::{self, Tag};

/// Room for the markup around an element's text (`<`, the tag name, attributes) in the byte
/// budget of one event, so that the text itself may reach `max_element_bytes`.
const MARKUP_SLACK: u64 = 4096;

/// The product being read.
struct Open {
    index: u64,
    /// Depth of `<Product>` in the element stack.
    depth: usize,
    /// Offset of its `<`.
    start: u64,
    builder: ProductBuilder,
}

/// Reads ONIX for Books 3.0 products one at a time. See the crate documentation.
pub struct OnixReader<R: BufRead> {
    xml: quick_xml::Reader<Guard<R>>,
    limits: Limits,
    /// quick-xml's buffer for one event; bounded by the guard's budget.
    buf: Vec<u8>,
    /// Every open element, outside products too.
    stack: Vec<Tag>,
    /// Text of the innermost open element inside a product.
    text: String,
    /// Stack depth of a description `<Text>` whose XHTML children are flattened into `text`.
    rich: Option<usize>,
    /// The description `<Text>` has element children (XHTML) to flatten.
    rich_markup: bool,
    product: Option<Open>,
    count: u64,
    root_seen: bool,
    done: bool,
}

impl<R: BufRead> OnixReader<R> {
    pub fn new(reader: R, limits: Limits) -> Self {
        let mut xml = quick_xml::Reader::from_reader(Guard::new(reader));
        let config = xml.config_mut();
        config.trim_text(false);
        config.expand_empty_elements = false;
        config.check_end_names = true;
        config.check_comments = true;
        Self {
            xml,
            limits,
            buf: Vec::new(),
            stack: Vec::new(),
            text: String::new(),
            rich: None,
            rich_markup: false,
            product: None,
            count: 0,
            root_seen: false,
            done: false,
        }
    }

    fn offset(&self) -> u64 {
        self.xml.get_ref().offset()
    }

    fn limit(&self, limit: LimitKind, offset: u64) -> OnixError {
        let value = match limit {
            LimitKind::MaxDepth => self.limits.max_depth,
            LimitKind::MaxElementBytes => self.limits.max_element_bytes,
            LimitKind::MaxProductBytes => self.limits.max_product_bytes,
        };
        OnixError::LimitExceeded {
            limit,
            value: value as u64,
            offset,
        }
    }

    /// Gives the next event no more bytes than the element and product limits leave, and
    /// says which limit that budget stands for.
    fn budget(&mut self) -> LimitKind {
        let event = self.limits.max_element_bytes as u64 + MARKUP_SLACK;
        let (bytes, kind) = match &self.product {
            Some(p) => {
                let used = self.offset() - p.start;
                let left = (self.limits.max_product_bytes as u64).saturating_sub(used);
                if left + 1 < event {
                    // One byte past the limit is enough to tell that it was exceeded.
                    (left + 1, LimitKind::MaxProductBytes)
                } else {
                    (event, LimitKind::MaxElementBytes)
                }
            }
            None => (event, LimitKind::MaxElementBytes),
        };
        self.xml.get_mut().set_allowance(bytes);
        kind
    }

    /// Reads events until a product is complete or the document ends.
    fn step(&mut self) -> Option<Result<Product, OnixError>> {
        loop {
            let kind = self.budget();
            let before = self.offset();
            self.buf.clear();
            let event = match self.xml.read_event_into(&mut self.buf) {
                Ok(e) => e.into_owned(),
                Err(e) => return Some(Err(self.xml_error(e, kind, before))),
            };
            if let Some(p) = &self.product {
                if self.offset() - p.start > self.limits.max_product_bytes as u64 {
                    return Some(Err(self.limit(LimitKind::MaxProductBytes, self.offset())));
                }
            }
            match event {
                Event::Start(e) => {
                    if let Err(err) = self.open(&e, before) {
                        return Some(Err(err));
                    }
                }
                Event::Empty(e) => {
                    if let Err(err) = self.open(&e, before) {
                        return Some(Err(err));
                    }
                    if let Some(done) = self.close() {
                        return Some(done);
                    }
                }
                Event::End(_) => {
                    if let Some(done) = self.close() {
                        return Some(done);
                    }
                }
                Event::Text(t) => {
                    if self.product.is_some() {
                        if let Err(e) = self.push_text(&t.xml10_content()) {
                            return Some(Err(e));
                        }
                    }
                }
                Event::CData(c) => {
                    if self.product.is_some() {
                        if let Err(e) = self.push_text(&c.xml10_content()) {
                            return Some(Err(e));
                        }
                    }
                }
                Event::GeneralRef(r) => match resolve(&r) {
                    Some(c) => {
                        if self.product.is_some() {
                            let mut utf8 = [0; 4];
                            if let Err(e) = self.push_text(c.encode_utf8(&mut utf8)) {
                                return Some(Err(e));
                            }
                        }
                    }
                    None => {
                        let name = r.to_string();
                        return Some(Err(OnixError::Entity {
                            name,
                            offset: before,
                        }));
                    }
                },
                Event::DocType(_) => return Some(Err(OnixError::Doctype { offset: before })),
                Event::Decl(d) => {
                    if let Some(Ok(enc)) = d.encoding() {
                        if !enc.eq_ignore_ascii_case("utf-8") && !enc.eq_ignore_ascii_case("utf8") {
                            return Some(Err(OnixError::UnsupportedEncoding {
                                encoding: enc.into_owned(),
                            }));
                        }
                    }
                }
                Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    if !self.stack.is_empty() {
                        return Some(Err(OnixError::Truncated {
                            offset: self.offset(),
                        }));
                    }
                    if !self.root_seen {
                        return Some(Err(OnixError::NotOnix {
                            found: "nothing".to_owned(),
                        }));
                    }
                    return None;
                }
            }
        }
    }

    fn xml_error(&self, e: quick_xml::Error, kind: LimitKind, before: u64) -> OnixError {
        if let quick_xml::Error::Io(_) = &e {
            match self.xml.get_ref().tripped() {
                Some(Trip::InvalidUtf8 { offset }) => return OnixError::InvalidUtf8 { offset },
                Some(Trip::Budget) => {
                    // A DTD bigger than the budget is still refused as a DTD.
                    let head = self.buf.get(..9).unwrap_or(&self.buf);
                    if head.eq_ignore_ascii_case(b"<!DOCTYPE") {
                        return OnixError::Doctype { offset: before };
                    }
                    return self.limit(kind, self.offset());
                }
                None => {}
            }
        }
        match e {
            quick_xml::Error::Io(io) => {
                OnixError::Io(std::io::Error::new(io.kind(), io.to_string()))
            }
            other => OnixError::Xml {
                offset: before,
                message: other.to_string(),
            },
        }
    }

    fn push_text(&mut self, s: &str) -> Result<(), OnixError> {
        self.text.push_str(s);
        if self.text.len() > self.limits.max_element_bytes {
            return Err(self.limit(LimitKind::MaxElementBytes, self.offset()));
        }
        Ok(())
    }

    fn open(&mut self, e: &BytesStart<'_>, before: u64) -> Result<(), OnixError> {
        if self.stack.len() + 1 > self.limits.max_depth {
            return Err(self.limit(LimitKind::MaxDepth, before));
        }
        let local = e.local_name();
        let local: &str = local.as_ref();
        let local = local.as_bytes();
        if self.stack.is_empty() {
            if self.root_seen || !tags::is_root(local) {
                return Err(OnixError::NotOnix {
                    found: String::from_utf8_lossy(local).into_owned(),
                });
            }
            self.root_seen = true;
            if let Ok(Some(release)) = e.try_get_attribute("release") {
                let release = release.value.into_owned();
                if !release.starts_with('3') {
                    return Err(OnixError::UnsupportedRelease { release });
                }
            }
        }
        let tag = Tag::from_local_name(local);
        if self.rich.is_some() {
            // Inside a description: keep collecting, one line per block element.
            self.rich_markup = true;
            if tags::is_block(local) {
                self.text.push(BLOCK_BREAK);
            }
            self.stack.push(Tag::Other);
            return Ok(());
        }
        self.text.clear();
        match &mut self.product {
            None if tag == Tag::Product => {
                self.count += 1;
                self.product = Some(Open {
                    index: self.count,
                    depth: self.stack.len() + 1,
                    start: before,
                    builder: ProductBuilder::default(),
                });
            }
            Some(p) => {
                let path = &self.stack[p.depth..];
                if tag == Tag::Text && path == [Tag::CollateralDetail, Tag::TextContent] {
                    self.rich = Some(self.stack.len() + 1);
                    self.rich_markup = false;
                }
                if tag == Tag::Date && path == [Tag::PublishingDetail, Tag::PublishingDate] {
                    if let Ok(Some(f)) = e.try_get_attribute("dateformat") {
                        p.builder.date_format_attribute(f.value.into_owned());
                    }
                }
            }
            None => {}
        }
        self.stack.push(tag);
        Ok(())
    }

    /// Closes the innermost element; returns the product when it was a `<Product>`.
    fn close(&mut self) -> Option<Result<Product, OnixError>> {
        let depth = self.stack.len();
        let tag = self.stack.pop()?;
        if let Some(rich) = self.rich {
            if depth > rich {
                return None;
            }
            self.rich = None;
            if self.rich_markup {
                self.text = flatten(&self.text);
            }
        }
        let p = self.product.as_mut()?;
        if depth == p.depth {
            let p = self.product.take()?;
            let reference = p.builder.record_reference().map(str::to_owned);
            self.text.clear();
            return Some(
                p.builder
                    .finish(p.index)
                    .map_err(|messages| OnixError::Product {
                        index: p.index,
                        record_reference: reference,
                        message: messages.join("; "),
                    }),
            );
        }
        let path = &self.stack[p.depth..];
        p.builder.close(path, tag, &self.text);
        self.text.clear();
        None
    }
}

/// Marks where a block element began inside a description. XML forbids NUL and `&#0;` is
/// refused; a raw NUL a file carries anyway only breaks a line.
const BLOCK_BREAK: char = '\0';

/// Flattens XHTML as a browser would show it: whitespace, newlines included, collapses into
/// single spaces, and each block element starts a new line.
fn flatten(text: &str) -> String {
    text.split(BLOCK_BREAK)
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The five predefined entities and character references; `None` for anything else.
fn resolve(r: &BytesRef<'_>) -> Option<char> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten();
    }
    match &**r {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

impl<R: BufRead> std::iter::FusedIterator for OnixReader<R> {}

impl<R: BufRead> Iterator for OnixReader<R> {
    type Item = Result<Product, OnixError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step();
        match &item {
            None => self.done = true,
            Some(Err(e)) if e.is_fatal() => self.done = true,
            Some(_) => {}
        }
        item
    }
}
