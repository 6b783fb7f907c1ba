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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenreDraft {
    pub name: String,
    pub parent_id: Option<GenreId>,
}

impl GenreDraft {
    pub fn parse(name: Option<&str>, parent_id: Option<&str>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = match name {
            None => {
                errors.add("name", "is required");
                None
            }
            Some(n) => errors.check("name", text::required(n, MAX_GENRE_NAME, false)),
        };
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
}
