use bookstore_core::Author;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorDto {
    pub id: Uuid,
    pub name: String,
    pub bio: Option<String>,
    /// Books that name this author.
    pub book_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Author> for AuthorDto {
    fn from(a: Author) -> Self {
        Self {
            id: a.id.as_uuid(),
            name: a.name,
            bio: a.bio,
            book_count: a.book_count,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorInput {
    pub name: Option<String>,
    pub bio: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuthorListParams {
    /// Matches any part of the name, ignoring case; at most 200 characters.
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}
