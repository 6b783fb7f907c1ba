//! Hostile and broken documents: refused at once, safely, with an error that says why.

use std::io::{BufReader, Read};

use bookstore_onix::{LimitKind, Limits, OnixError, OnixReader, Product};

fn read_with(xml: &[u8], limits: Limits) -> Vec<Result<Product, OnixError>> {
    OnixReader::new(xml, limits).collect()
}

fn read(xml: &[u8]) -> Vec<Result<Product, OnixError>> {
    read_with(xml, Limits::default())
}

/// The single fatal error a document ends with, after `ok` products.
fn fatal(items: Vec<Result<Product, OnixError>>, ok: usize) -> OnixError {
    assert_eq!(items.len(), ok + 1, "{items:#?}");
    let mut items = items.into_iter();
    for _ in 0..ok {
        items
            .next()
            .expect("item")
            .expect("a product before the error");
    }
    let err = items.next().expect("item").expect_err("the error");
    assert!(err.is_fatal(), "{err:?}");
    err
}

const PRODUCT: &str = "<Product><RecordReference>ok</RecordReference></Product>";

fn message(body: &str) -> String {
    format!("<ONIXMessage release=\"3.0\">{body}</ONIXMessage>")
}

#[test]
fn billion_laughs_is_refused_before_any_product() {
    let xml = format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE ONIXMessage [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
{}"#,
        message(&format!(
            "{PRODUCT}<Product><RecordReference>&lol9;</RecordReference></Product>"
        ))
    );
    let err = fatal(read(xml.as_bytes()), 0);
    assert!(matches!(err, OnixError::Doctype { offset: 22 }), "{err:?}");
}

#[test]
fn external_entities_are_refused_before_any_product() {
    let xml = format!(
        "<!DOCTYPE ONIXMessage [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
        message("<Product><RecordReference>&xxe;</RecordReference></Product>")
    );
    let err = fatal(read(xml.as_bytes()), 0);
    assert!(matches!(err, OnixError::Doctype { .. }), "{err:?}");

    let xml = format!(
        "<!DOCTYPE ONIXMessage SYSTEM \"http://www.editeur.org/onix/3.0/reference/onix.dtd\">{}",
        message(PRODUCT)
    );
    let err = fatal(read(xml.as_bytes()), 0);
    assert!(matches!(err, OnixError::Doctype { .. }), "{err:?}");
}

#[test]
fn a_doctype_bigger_than_any_budget_is_still_named_a_doctype() {
    let entities = "<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">\n".repeat(2000);
    let xml = format!("<!DOCTYPE ONIXMessage [{entities}]>{}", message(PRODUCT));
    let limits = Limits {
        max_element_bytes: 1024,
        ..Limits::default()
    };
    let err = fatal(read_with(xml.as_bytes(), limits), 0);
    assert!(matches!(err, OnixError::Doctype { offset: 0 }), "{err:?}");
}

#[test]
fn undeclared_entities_are_refused_and_never_expanded() {
    let xml = message(&format!(
        "{PRODUCT}<Product><RecordReference>&xxe;</RecordReference></Product>"
    ));
    let err = fatal(read(xml.as_bytes()), 1);
    match err {
        OnixError::Entity { name, .. } => assert_eq!(name, "xxe"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reference_to_nul_is_refused() {
    let xml = message("<Product><RecordReference>a&#0;b</RecordReference></Product>");
    let err = fatal(read(xml.as_bytes()), 0);
    assert!(matches!(err, OnixError::Entity { .. }), "{err:?}");
}

#[test]
fn predefined_entities_and_character_references_are_read() {
    let xml = message(
        "<Product><RecordReference>&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos; &#65;&#x42;</RecordReference></Product>",
    );
    let items = read(xml.as_bytes());
    let product = items[0].as_ref().expect("product");
    assert_eq!(
        product.record_reference.as_deref(),
        Some("<a> & \"b\" 'c' AB")
    );
}

fn fixture() -> Vec<u8> {
    let path = format!("{}/tests/fixtures/products.xml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).expect("fixture")
}

#[test]
fn truncated_documents_end_with_an_error_after_the_complete_products() {
    let full = fixture();
    let third = String::from_utf8_lossy(&full)
        .find("<RecordReference>ref-003")
        .expect("third product");
    // Cut between two elements, then in the middle of a tag.
    for cut in [
        third + "<RecordReference>ref-003</RecordReference>".len(),
        third + 5,
    ] {
        let err = fatal(read(&full[..cut]), 2);
        assert!(
            matches!(err, OnixError::Truncated { .. } | OnixError::Xml { .. }),
            "{err:?}"
        );
    }
    // Cut after the last product, before the root's end tag.
    let end = String::from_utf8_lossy(&full)
        .rfind("</ONIXMessage>")
        .expect("end");
    let items = read(&full[..end]);
    assert!(matches!(
        items.last(),
        Some(Err(OnixError::Truncated { .. }))
    ));
    assert_eq!(items.len(), 7);
}

#[test]
fn mismatched_tags_are_fatal() {
    let xml = message(&format!(
        "{PRODUCT}<Product><RecordReference>x</Record></Product>{PRODUCT}"
    ));
    let err = fatal(read(xml.as_bytes()), 1);
    assert!(matches!(err, OnixError::Xml { .. }), "{err:?}");
}

#[test]
fn nesting_deeper_than_max_depth_is_refused() {
    let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
    let xml = message(&format!("{PRODUCT}<Product>{deep}</Product>{PRODUCT}"));
    let err = fatal(read(xml.as_bytes()), 1);
    assert!(
        matches!(
            err,
            OnixError::LimitExceeded {
                limit: LimitKind::MaxDepth,
                value: 32,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_depth"), "{err}");

    // Outside products too.
    let xml = message(&format!("<Header>{deep}</Header>{PRODUCT}"));
    let err = fatal(read(xml.as_bytes()), 0);
    assert!(matches!(
        err,
        OnixError::LimitExceeded {
            limit: LimitKind::MaxDepth,
            ..
        }
    ));
}

#[test]
fn an_overlong_element_is_refused() {
    let limits = Limits {
        max_element_bytes: 1000,
        ..Limits::default()
    };
    let text = "x".repeat(1001);
    let xml = message(&format!(
        "{PRODUCT}<Product><RecordReference>{text}</RecordReference></Product>"
    ));
    let err = fatal(read_with(xml.as_bytes(), limits), 1);
    assert!(
        matches!(
            err,
            OnixError::LimitExceeded {
                limit: LimitKind::MaxElementBytes,
                value: 1000,
                ..
            }
        ),
        "{err:?}"
    );

    // Exactly at the limit is fine.
    let xml = message(&format!(
        "<Product><RecordReference>{}</RecordReference></Product>",
        "x".repeat(1000)
    ));
    assert!(read_with(xml.as_bytes(), limits)[0].is_ok());

    // Split by references into events that are each small.
    let xml = message(&format!(
        "<Product><RecordReference>{}</RecordReference></Product>",
        "ab&amp;".repeat(400)
    ));
    let err = fatal(read_with(xml.as_bytes(), limits), 0);
    assert!(matches!(
        err,
        OnixError::LimitExceeded {
            limit: LimitKind::MaxElementBytes,
            ..
        }
    ));
}

/// `<ONIXMessage><Product><RecordReference>` and then `x` for ever.
struct EndlessText {
    head: &'static [u8],
    produced: u64,
}

impl Read for EndlessText {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = if self.head.is_empty() {
            out.fill(b'x');
            out.len()
        } else {
            let n = self.head.len().min(out.len());
            out[..n].copy_from_slice(&self.head[..n]);
            self.head = &self.head[n..];
            n
        };
        self.produced += n as u64;
        Ok(n)
    }
}

#[test]
fn an_endless_text_node_is_refused_without_being_buffered() {
    let source = EndlessText {
        head: b"<ONIXMessage><Product><RecordReference>",
        produced: 0,
    };
    let mut reader = OnixReader::new(BufReader::new(source), Limits::default());
    let err = reader.next().expect("item").expect_err("refused");
    assert!(
        matches!(
            err,
            OnixError::LimitExceeded {
                limit: LimitKind::MaxElementBytes,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(reader.next().is_none());
}

#[test]
fn an_oversized_product_is_refused() {
    let limits = Limits {
        max_product_bytes: 10_000,
        ..Limits::default()
    };
    let subjects = "<Subject><SubjectHeadingText>s</SubjectHeadingText></Subject>".repeat(300);
    let xml = message(&format!(
        "{PRODUCT}<Product><DescriptiveDetail>{subjects}</DescriptiveDetail></Product>{PRODUCT}"
    ));
    let err = fatal(read_with(xml.as_bytes(), limits), 1);
    assert!(
        matches!(
            err,
            OnixError::LimitExceeded {
                limit: LimitKind::MaxProductBytes,
                value: 10_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_product_bytes"), "{err}");
}

#[test]
fn invalid_utf8_is_refused_with_its_offset() {
    let mut xml = message(&format!(
        "{PRODUCT}<Product><RecordReference>caf\u{e9}</RecordReference></Product>"
    ))
    .into_bytes();
    let at = xml
        .windows(2)
        .position(|w| w == "\u{e9}".as_bytes())
        .expect("é");
    // A Latin-1 é where UTF-8 was promised.
    xml.splice(at..at + 2, [0xE9]);
    let err = fatal(read(&xml), 1);
    match err {
        OnixError::InvalidUtf8 { offset } => assert_eq!(offset, at as u64),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_declared_encodings_are_refused() {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{}",
        message(PRODUCT)
    );
    let err = fatal(read(xml.as_bytes()), 0);
    assert!(
        matches!(err, OnixError::UnsupportedEncoding { .. }),
        "{err:?}"
    );
}

#[test]
fn only_onix_3_messages_are_read() {
    let err = fatal(read(b"<html><Product/></html>"), 0);
    assert!(matches!(err, OnixError::NotOnix { .. }), "{err:?}");

    let xml = format!("<ONIXMessage release=\"2.1\">{PRODUCT}</ONIXMessage>");
    let err = fatal(read(xml.as_bytes()), 0);
    assert!(
        matches!(err, OnixError::UnsupportedRelease { .. }),
        "{err:?}"
    );

    let err = fatal(read(b""), 0);
    assert!(matches!(err, OnixError::NotOnix { .. }), "{err:?}");
}

#[test]
fn namespace_prefixes_are_accepted() {
    let xml = "<o:ONIXmessage xmlns:o=\"http://ns.editeur.org/onix/3.0/short\" release=\"3.0\">\
               <o:product><o:a001>p</o:a001></o:product></o:ONIXmessage>";
    let items = read(xml.as_bytes());
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]
            .as_ref()
            .expect("product")
            .record_reference
            .as_deref(),
        Some("p")
    );
}
