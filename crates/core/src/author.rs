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

/// A valid author as a client asked for it. Only [`AuthorDraft::parse`] makes one, so every
/// draft a store sees has been checked:
///
/// ```compile_fail,E0451
/// let draft = bookstore_core::AuthorDraft { name: String::new(), bio: None };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorDraft {
    name: String,
    bio: Option<String>,
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

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn bio(&self) -> Option<&str> {
        self.bio.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_required_and_checked() {
        let errors =
            AuthorDraft::parse(None, Some("x".repeat(MAX_BIO + 1).as_str())).expect_err("invalid");
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "bio"]);
        let errors = AuthorDraft::parse(Some("\u{200B}"), None).expect_err("invisible only");
        assert_eq!(errors.errors()[0].field, "name");
    }

    #[test]
    fn a_valid_author_reads_back_normalised() {
        let draft = AuthorDraft::parse(Some("  Ursula K. Le Guin "), Some("   ")).expect("valid");
        assert_eq!(draft.name(), "Ursula K. Le Guin");
        assert_eq!(draft.bio(), None);
    }
}
