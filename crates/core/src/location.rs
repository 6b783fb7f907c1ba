//! Stock locations: the stores and warehouses of a chain, and the shelves inside them. A
//! book's stock on hand is kept per location; its `quantity` is the total over them. One
//! default location exists from the start, so that a shop with one location never names it.

use crate::ids::LocationId;
use crate::text;
use crate::validation::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The location every store starts with (created by the migration, code [`DEFAULT_CODE`]).
/// Stock nobody placed elsewhere is here; it cannot be deleted.
pub const DEFAULT_LOCATION: LocationId =
    LocationId::from_uuid(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001));
/// The code the default location starts with (it may be renamed).
pub const DEFAULT_CODE: &str = "main";

pub const MAX_CODE: usize = 32;
pub const MAX_LOCATION_NAME: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Store,
    Warehouse,
    Shelf,
}

impl LocationKind {
    pub const ALL: [LocationKind; 3] = [Self::Store, Self::Warehouse, Self::Shelf];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Warehouse => "warehouse",
            Self::Shelf => "shelf",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub id: LocationId,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub parent_id: Option<LocationId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Location {
    pub fn is_default(&self) -> bool {
        self.id == DEFAULT_LOCATION
    }
}

/// A location as a request names it: by id, or by its code (any case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LocationRef {
    Id(LocationId),
    Code(String),
}

impl LocationRef {
    /// A UUID (in its hyphenated form) is an id; anything else a code. Codes are at most
    /// [`MAX_CODE`] characters, shorter than a hyphenated UUID, so the two never collide.
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationErrors> {
        let value = value.trim();
        if value.len() == 36 {
            if let Ok(id) = Uuid::parse_str(value) {
                return Ok(Self::Id(LocationId::from_uuid(id)));
            }
        }
        parse_code(value)
            .map(Self::Code)
            .map_err(|message| ValidationErrors::single(field, message))
    }

    pub fn default_location() -> Self {
        Self::Id(DEFAULT_LOCATION)
    }
}

impl std::fmt::Display for LocationRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Code(code) => f.write_str(code),
        }
    }
}

/// A code: 1 to [`MAX_CODE`] ASCII letters, digits, `.`, `_` or `-`, starting with a letter
/// or digit; stored in lower case (codes are matched ignoring case).
fn parse_code(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= MAX_CODE
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!(
            "must be a location code (1 to {MAX_CODE} letters, digits, '.', '_' or '-', \
             starting with a letter or digit) or a location id"
        ))
    }
}

/// A valid location as a client asked for it. A shelf sits inside another location (its
/// parent); stores and warehouses are at the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationDraft {
    code: String,
    name: String,
    kind: LocationKind,
    parent_id: Option<LocationId>,
}

impl LocationDraft {
    pub fn parse(
        code: Option<&str>,
        name: Option<&str>,
        kind: Option<&str>,
        parent_id: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let code = match code {
            None => {
                errors.add("code", "is required");
                None
            }
            Some(c) => match parse_code(c.trim()) {
                Ok(c) => Some(c),
                Err(_) => {
                    errors.add(
                        "code",
                        format!(
                            "must be 1 to {MAX_CODE} letters, digits, '.', '_' or '-', \
                             starting with a letter or digit"
                        ),
                    );
                    None
                }
            },
        };
        let name = match name {
            None => {
                errors.add("name", "is required");
                None
            }
            Some(n) => errors.check("name", text::required(n, MAX_LOCATION_NAME, false)),
        };
        let kind = match kind {
            None => {
                errors.add("kind", "is required");
                None
            }
            Some(k) => {
                let kind = LocationKind::parse(k);
                if kind.is_none() {
                    errors.add("kind", "must be one of: store, warehouse, shelf");
                }
                kind
            }
        };
        let parent_id = match parent_id {
            None => Some(None),
            Some(p) => match Uuid::parse_str(p.trim()) {
                Ok(id) => Some(Some(LocationId::from_uuid(id))),
                Err(_) => {
                    errors.add("parent_id", "must be a location id (UUID)");
                    None
                }
            },
        };
        match (kind, parent_id) {
            (Some(LocationKind::Shelf), Some(None)) => errors.add(
                "parent_id",
                "is required for a shelf: the location it is in",
            ),
            (Some(LocationKind::Store | LocationKind::Warehouse), Some(Some(_))) => errors.add(
                "parent_id",
                "must be absent for a store or a warehouse: only shelves sit inside another \
                 location",
            ),
            _ => {}
        }
        errors.into_result()?;
        match (code, name, kind, parent_id) {
            (Some(code), Some(name), Some(kind), Some(parent_id)) => Ok(Self {
                code,
                name,
                kind,
                parent_id,
            }),
            _ => Err(ValidationErrors::single("code", "is required")),
        }
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> LocationKind {
        self.kind
    }

    pub fn parent_id(&self) -> Option<LocationId> {
        self.parent_id
    }
}

/// A book's stock at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub location_id: LocationId,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub quantity: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_ids_or_codes() {
        let id = DEFAULT_LOCATION.to_string();
        assert_eq!(
            LocationRef::parse("location", &id).expect("id"),
            LocationRef::Id(DEFAULT_LOCATION)
        );
        assert_eq!(
            LocationRef::parse("location", " Main ").expect("code"),
            LocationRef::Code("main".into())
        );
        assert!(LocationRef::parse("location", "").is_err());
        assert!(LocationRef::parse("location", "a b").is_err());
        assert!(LocationRef::parse("location", &"x".repeat(33)).is_err());
    }

    #[test]
    fn shelves_need_a_parent_and_stores_none() {
        let parent = Uuid::now_v7().to_string();
        assert!(LocationDraft::parse(Some("s1"), Some("Shelf"), Some("shelf"), None).is_err());
        assert!(
            LocationDraft::parse(Some("s1"), Some("Shelf"), Some("shelf"), Some(&parent)).is_ok()
        );
        assert!(
            LocationDraft::parse(Some("w"), Some("W"), Some("warehouse"), Some(&parent)).is_err()
        );
        let errors = LocationDraft::parse(None, None, Some("cellar"), Some("x")).expect_err("bad");
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["code", "name", "kind", "parent_id"]);
        let draft = LocationDraft::parse(Some("North-1"), Some(" North "), Some("store"), None)
            .expect("valid");
        assert_eq!((draft.code(), draft.name()), ("north-1", "North"));
    }
}
