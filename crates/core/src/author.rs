//! Authors and other contributors (editors, translators, illustrators).

use crate::ids::AuthorId;
use crate::text;
use crate::validation::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_BIO: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub id: AuthorId,
    pub name: String,
    pub bio: Option<String>,
    /// How many books name this author; an author in use cannot be deleted.
    pub book_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A valid author as a client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorDraft {
    pub name: String,
    pub bio: Option<String>,
}

impl AuthorDraft {
    pub fn parse(name: Option<&str>, bio: Option<&str>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = match name {
            None => {
                errors.add("name", "is required");
                None
            }
            Some(n) => errors.check("name", text::required(n, crate::book::MAX_NAME, false)),
        };
        let bio = errors.check("bio", text::optional(bio, MAX_BIO, true));
        match (name, bio) {
            (Some(name), Some(bio)) => Ok(Self { name, bio }),
            _ => Err(errors),
        }
    }
}
