use super::*;

fn rows(xml: &str) -> Vec<Result<SourceRow, ImportError>> {
    let mut source = OnixSource::new(xml.as_bytes());
    let mut out = Vec::new();
    while let Some(row) = source.next_row() {
        out.push(row);
    }
    out
}

const PRODUCT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ONIXMessage release="3.0" xmlns="http://ns.editeur.org/onix/3.0/reference">
  <Header><Sender><SenderName>Test</SenderName></Sender><SentDateTime>20261201</SentDateTime></Header>
  <Product>
    <RecordReference>ref-1</RecordReference>
    <NotificationType>03</NotificationType>
    <ProductIdentifier><ProductIDType>15</ProductIDType><IDValue>9780261103344</IDValue></ProductIdentifier>
    <DescriptiveDetail>
      <ProductComposition>00</ProductComposition>
      <ProductForm>BC</ProductForm>
      <TitleDetail><TitleType>01</TitleType><TitleElement><TitleElementLevel>01</TitleElementLevel>
        <TitleText>The Hobbit</TitleText><Subtitle>There and Back Again</Subtitle></TitleElement></TitleDetail>
      <Contributor><SequenceNumber>2</SequenceNumber><ContributorRole>A12</ContributorRole><PersonName>Alan Lee</PersonName></Contributor>
      <Contributor><SequenceNumber>1</SequenceNumber><ContributorRole>A01</ContributorRole><PersonName>J. R. R. Tolkien</PersonName></Contributor>
      <Contributor><SequenceNumber>3</SequenceNumber><ContributorRole>E07</ContributorRole><PersonName>A Reader</PersonName></Contributor>
      <Language><LanguageRole>01</LanguageRole><LanguageCode>eng</LanguageCode></Language>
      <Extent><ExtentType>00</ExtentType><ExtentValue>310</ExtentValue><ExtentUnit>03</ExtentUnit></Extent>
      <Subject><SubjectSchemeIdentifier>20</SubjectSchemeIdentifier><SubjectHeadingText>Fantasy</SubjectHeadingText></Subject>
    </DescriptiveDetail>
    <PublishingDetail>
      <Publisher><PublishingRole>01</PublishingRole><PublisherName>HarperCollins</PublisherName></Publisher>
      <PublishingDate><PublishingDateRole>01</PublishingDateRole><Date>19370921</Date></PublishingDate>
    </PublishingDetail>
    <ProductSupply><SupplyDetail>
      <Stock><OnHand>4</OnHand></Stock>
      <Price><PriceType>02</PriceType><PriceAmount>12.99</PriceAmount><CurrencyCode>EUR</CurrencyCode></Price>
    </SupplyDetail></ProductSupply>
  </Product>
  <Product>
    <RecordReference>ref-2</RecordReference>
    <NotificationType>03</NotificationType>
    <ProductIdentifier><ProductIDType>15</ProductIDType><IDValue>9780261102385</IDValue></ProductIdentifier>
    <DescriptiveDetail>
      <ProductComposition>00</ProductComposition>
      <ProductForm>BC</ProductForm>
      <TitleDetail><TitleType>01</TitleType><TitleElement><TitleElementLevel>01</TitleElementLevel>
        <TitleText>Klingon Tales</TitleText></TitleElement></TitleDetail>
      <Language><LanguageRole>01</LanguageRole><LanguageCode>tlh</LanguageCode></Language>
    </DescriptiveDetail>
  </Product>
</ONIXMessage>
"#;

#[test]
fn a_product_maps_to_the_book() {
    let rows = rows(PRODUCT);
    assert_eq!(rows.len(), 2);
    let first = rows[0].as_ref().expect("row");
    assert_eq!(first.line, 1);
    assert_eq!(first.record_reference.as_deref(), Some("ref-1"));
    assert_eq!(first.isbn.as_deref(), Some("9780261103344"));
    let book = first.book.as_ref().expect("valid");
    assert_eq!(book.title.as_deref(), Some("The Hobbit"));
    assert_eq!(book.subtitle.as_deref(), Some("There and Back Again"));
    let authors: Vec<(Option<String>, Option<String>)> = book
        .authors
        .iter()
        .map(|a| (a.name.clone(), a.role.clone()))
        .collect();
    // In sequence order; a role the catalog does not know (E07, reader) is left out.
    assert_eq!(
        authors,
        [
            (Some("J. R. R. Tolkien".into()), Some("author".into())),
            (Some("Alan Lee".into()), Some("illustrator".into())),
        ]
    );
    assert_eq!(book.language.as_deref(), Some("en"));
    assert_eq!(book.format.as_deref(), Some("paperback"));
    assert_eq!(book.page_count, Some(310));
    assert_eq!(book.genres, ["Fantasy"]);
    assert_eq!(book.publisher.as_deref(), Some("HarperCollins"));
    assert_eq!(book.published_year, Some(1937));
    assert_eq!(book.quantity, Some(4));
    assert_eq!(
        book.price,
        Some(RawPrice::Decimal {
            amount: "12.99".into(),
            currency: "EUR".into()
        })
    );
    let second = rows[1].as_ref().expect("row");
    let errors = second.book.as_ref().expect_err("unknown language");
    assert_eq!(errors.errors()[0].field, "language");
    assert_eq!(second.record_reference.as_deref(), Some("ref-2"));
}

#[test]
fn a_doctype_ends_the_import_at_once() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<ONIXMessage release="3.0"><Product><RecordReference>&lol2;</RecordReference></Product></ONIXMessage>"#;
    let rows = rows(xml);
    assert_eq!(rows.len(), 1);
    assert!(
        matches!(&rows[0], Err(ImportError::Malformed(m)) if m.contains("DOCTYPE")),
        "{:?}",
        rows[0]
    );
}

#[test]
fn truncated_xml_ends_the_import_after_the_products_before() {
    let cut = &PRODUCT[..PRODUCT
        .find("<Product>\n    <RecordReference>ref-2")
        .expect("second")
        + 40];
    let rows = rows(cut);
    assert!(rows[0].is_ok());
    assert!(
        matches!(rows.last(), Some(Err(ImportError::Malformed(_)))),
        "{rows:?}"
    );
}

#[test]
fn languages_become_two_letter_codes() {
    assert_eq!(two_letter_language("ger").as_deref(), Some("de"));
    assert_eq!(two_letter_language("FRA").as_deref(), Some("fr"));
    assert_eq!(two_letter_language("en").as_deref(), Some("en"));
    assert_eq!(two_letter_language("tlh"), None);
}
