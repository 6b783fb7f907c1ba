use serde::Serialize;
use utoipa::ToSchema;

/// One page of a keyset-paginated list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageDto<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Query parameters shared by plain lists.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One value of a facet and how many books of the whole result have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetValueDto {
    pub value: String,
    pub count: i64,
}

/// The facets asked for with `facets=`, each counted over the whole result (not only the
/// page), most frequent value first, at most 50 values each.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct FacetsDto {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genre: Option<Vec<FacetValueDto>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Vec<FacetValueDto>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Vec<FacetValueDto>>,
}

/// A page of a book list or search.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookListDto<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Present when `facets` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<FacetsDto>,
}
