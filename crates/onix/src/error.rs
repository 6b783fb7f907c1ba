use std::fmt;

/// Which of the [`crate::Limits`] was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    MaxDepth,
    MaxElementBytes,
    MaxProductBytes,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MaxDepth => "max_depth",
            Self::MaxElementBytes => "max_element_bytes",
            Self::MaxProductBytes => "max_product_bytes",
        })
    }
}

/// Everything that can go wrong while reading. Only [`OnixError::Product`] lets the reader
/// go on with the next product; after any other error the iterator ends.
#[derive(Debug, thiserror::Error)]
pub enum OnixError {
    /// One product could not be mapped; the products around it are unaffected.
    #[error("product {index}{}: {message}", record_reference.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Product {
        index: u64,
        record_reference: Option<String>,
        message: String,
    },
    #[error("the document has a DOCTYPE declaration (byte {offset}); DTDs and entity declarations are refused")]
    Doctype { offset: u64 },
    #[error("limit {limit} ({value}) exceeded at byte {offset}")]
    LimitExceeded {
        limit: LimitKind,
        value: u64,
        offset: u64,
    },
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: u64 },
    #[error("the document declares encoding {encoding:?}; only UTF-8 is read")]
    UnsupportedEncoding { encoding: String },
    #[error("entity reference &{name}; at byte {offset} is refused: only the five predefined entities and character references are read")]
    Entity { name: String, offset: u64 },
    #[error("the root element is <{found}>, not <ONIXMessage>")]
    NotOnix { found: String },
    #[error("ONIX release {release:?} is not read; this reader reads ONIX for Books 3")]
    UnsupportedRelease { release: String },
    #[error("the document ends at byte {offset} before every element is closed")]
    Truncated { offset: u64 },
    #[error("malformed XML at byte {offset}: {message}")]
    Xml { offset: u64, message: String },
    #[error("reading the document failed")]
    Io(#[source] std::io::Error),
}

impl OnixError {
    /// Whether reading stopped with this error (anything but a per-product error).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::Product { .. })
    }
}
