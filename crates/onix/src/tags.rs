//! The elements this crate reads, under their reference names and their ONIX 3.0 short tags.
//! Every other element is [`Tag::Other`] and only counts towards depth and size.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Product,
    RecordReference,
    ProductIdentifier,
    ProductIdType,
    IdValue,
    DescriptiveDetail,
    ProductForm,
    TitleDetail,
    TitleType,
    TitleElement,
    TitleElementLevel,
    TitleText,
    TitlePrefix,
    TitleWithoutPrefix,
    Subtitle,
    Contributor,
    SequenceNumber,
    ContributorRole,
    PersonName,
    NamesBeforeKey,
    KeyNames,
    CorporateName,
    Language,
    LanguageRole,
    LanguageCode,
    Extent,
    ExtentType,
    ExtentValue,
    ExtentUnit,
    Subject,
    SubjectCode,
    SubjectHeadingText,
    CollateralDetail,
    TextContent,
    TextType,
    Text,
    PublishingDetail,
    Publisher,
    PublishingRole,
    PublisherName,
    PublishingDate,
    PublishingDateRole,
    DateFormat,
    Date,
    ProductSupply,
    SupplyDetail,
    Stock,
    OnHand,
    Price,
    PriceAmount,
    CurrencyCode,
    Other,
}

impl Tag {
    /// Maps an element's local name (any namespace prefix removed) to the tag. Composite
    /// elements' short tags are their reference names in lower case; data elements have
    /// coded short tags.
    pub(crate) fn from_local_name(name: &[u8]) -> Tag {
        match name {
            b"Product" | b"product" => Tag::Product,
            b"RecordReference" | b"a001" => Tag::RecordReference,
            b"ProductIdentifier" | b"productidentifier" => Tag::ProductIdentifier,
            b"ProductIDType" | b"b221" => Tag::ProductIdType,
            b"IDValue" | b"b244" => Tag::IdValue,
            b"DescriptiveDetail" | b"descriptivedetail" => Tag::DescriptiveDetail,
            b"ProductForm" | b"b012" => Tag::ProductForm,
            b"TitleDetail" | b"titledetail" => Tag::TitleDetail,
            b"TitleType" | b"b202" => Tag::TitleType,
            b"TitleElement" | b"titleelement" => Tag::TitleElement,
            b"TitleElementLevel" | b"x409" => Tag::TitleElementLevel,
            b"TitleText" | b"b203" => Tag::TitleText,
            b"TitlePrefix" | b"b030" => Tag::TitlePrefix,
            b"TitleWithoutPrefix" | b"b031" => Tag::TitleWithoutPrefix,
            b"Subtitle" | b"b029" => Tag::Subtitle,
            b"Contributor" | b"contributor" => Tag::Contributor,
            b"SequenceNumber" | b"b034" => Tag::SequenceNumber,
            b"ContributorRole" | b"b035" => Tag::ContributorRole,
            b"PersonName" | b"b036" => Tag::PersonName,
            b"NamesBeforeKey" | b"b039" => Tag::NamesBeforeKey,
            b"KeyNames" | b"b040" => Tag::KeyNames,
            b"CorporateName" | b"b047" => Tag::CorporateName,
            b"Language" | b"language" => Tag::Language,
            b"LanguageRole" | b"b253" => Tag::LanguageRole,
            b"LanguageCode" | b"b252" => Tag::LanguageCode,
            b"Extent" | b"extent" => Tag::Extent,
            b"ExtentType" | b"b218" => Tag::ExtentType,
            b"ExtentValue" | b"b219" => Tag::ExtentValue,
            b"ExtentUnit" | b"b220" => Tag::ExtentUnit,
            b"Subject" | b"subject" => Tag::Subject,
            b"SubjectCode" | b"b069" => Tag::SubjectCode,
            b"SubjectHeadingText" | b"b070" => Tag::SubjectHeadingText,
            b"CollateralDetail" | b"collateraldetail" => Tag::CollateralDetail,
            b"TextContent" | b"textcontent" => Tag::TextContent,
            b"TextType" | b"x426" => Tag::TextType,
            b"Text" | b"d104" => Tag::Text,
            b"PublishingDetail" | b"publishingdetail" => Tag::PublishingDetail,
            b"Publisher" | b"publisher" => Tag::Publisher,
            b"PublishingRole" | b"b291" => Tag::PublishingRole,
            b"PublisherName" | b"b081" => Tag::PublisherName,
            b"PublishingDate" | b"publishingdate" => Tag::PublishingDate,
            b"PublishingDateRole" | b"x448" => Tag::PublishingDateRole,
            b"DateFormat" | b"j260" => Tag::DateFormat,
            b"Date" | b"b306" => Tag::Date,
            b"ProductSupply" | b"productsupply" => Tag::ProductSupply,
            b"SupplyDetail" | b"supplydetail" => Tag::SupplyDetail,
            b"Stock" | b"stock" => Tag::Stock,
            b"OnHand" | b"j350" => Tag::OnHand,
            b"Price" | b"price" => Tag::Price,
            b"PriceAmount" | b"j151" => Tag::PriceAmount,
            b"CurrencyCode" | b"j152" => Tag::CurrencyCode,
            _ => Tag::Other,
        }
    }
}

/// Whether a local name is the message's root element in either tag form.
pub(crate) fn is_root(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"ONIXMessage")
}

/// XHTML elements inside a `<Text>` after which a line break keeps paragraphs apart once
/// the markup is flattened to plain text.
pub(crate) fn is_block(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"br"
            | b"div"
            | b"li"
            | b"ul"
            | b"ol"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"blockquote"
            | b"dd"
            | b"dt"
    )
}
