//! Genres, optionally nested (Fiction › Fantasy › High fantasy).

use crate::ids::GenreId;
use crate::text;
use crate::validation::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MAX_GENRE_NAME: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genre {
    pub id: GenreId,
    pub name: String,
    pub parent_id: Option<GenreId>,
    pub book_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A valid genre as a client asked for it. Only [`GenreDraft::parse`] and [`GenreDraft::new`]
/// make one, so every draft a store sees has been checked:
///
/// ```compile_fail,E0451
/// let draft = bookstore_core::GenreDraft { name: String::new(), parent_id: None };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenreDraft {
    name: String,
    parent_id: Option<GenreId>,
}

impl GenreDraft {
    /// A genre as a client wrote it: the parent is an id in text.
    pub fn parse(name: Option<&str>, parent_id: Option<&str>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = check_name(name, &mut errors);
        let parent_id = match parent_id {
            None => Some(None),
            Some(p) => match Uuid::parse_str(p.trim()) {
                Ok(id) => Some(Some(GenreId::from_uuid(id))),
                Err(_) => {
                    errors.add("parent_id", "must be a genre id (UUID)");
                    None
                }
            },
        };
        match (name, parent_id) {
            (Some(name), Some(parent_id)) => Ok(Self { name, parent_id }),
            _ => Err(errors),
        }
    }

    /// A genre under a parent whose id is known already; the name is checked as
    /// [`GenreDraft::parse`] checks it.
    pub fn new(name: &str, parent_id: Option<GenreId>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        match check_name(Some(name), &mut errors) {
            Some(name) => Ok(Self { name, parent_id }),
            None => Err(errors),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn parent_id(&self) -> Option<GenreId> {
        self.parent_id
    }
}

fn check_name(name: Option<&str>, errors: &mut ValidationErrors) -> Option<String> {
    match name {
        None => {
            errors.add("name", "is required");
            None
        }
        Some(n) => errors.check("name", text::required(n, MAX_GENRE_NAME, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_the_name_and_the_parent() {
        let errors = GenreDraft::parse(None, Some("fiction")).expect_err("invalid");
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "parent_id"]);

        let parent = GenreId::generate();
        let draft = GenreDraft::parse(Some(" Fantasy "), Some(&parent.to_string())).expect("valid");
        assert_eq!(draft.name(), "Fantasy");
        assert_eq!(draft.parent_id(), Some(parent));
    }

    #[test]
    fn new_checks_the_name_as_parse_does() {
        let long = "x".repeat(MAX_GENRE_NAME + 1);
        for bad in ["", "\u{202E}", long.as_str()] {
            let errors = GenreDraft::new(bad, None).expect_err("invalid");
            assert_eq!(
                errors,
                GenreDraft::parse(Some(bad), None).expect_err("invalid")
            );
            assert_eq!(errors.errors()[0].field, "name");
        }
        let parent = GenreId::generate();
        let draft = GenreDraft::new("High Fantasy", Some(parent)).expect("valid");
        assert_eq!(
            draft,
            GenreDraft::parse(Some("High Fantasy"), Some(&parent.to_string())).expect("valid")
        );
    }
}
