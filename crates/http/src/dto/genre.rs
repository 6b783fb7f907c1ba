use bookstore_core::Genre;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct GenreDto {
    pub id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub book_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Genre> for GenreDto {
    fn from(g: Genre) -> Self {
        Self {
            id: g.id.as_uuid(),
            name: g.name,
            parent_id: g.parent_id.map(|p| p.as_uuid()),
            book_count: g.book_count,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenreInput {
    pub name: Option<String>,
    /// The enclosing genre, for nesting.
    pub parent_id: Option<String>,
}
