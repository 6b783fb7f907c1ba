//! Facet counts over the books a list selected.

use super::list::push_search_text;
use super::Dialect;
use crate::error::json_error;
use crate::search;
use bookstore_core::{BookSearch, Facet, FacetCount, FacetCounts, StoreError};
use sqlx::{Encode, QueryBuilder, Type};
use uuid::Uuid;

/// Which books a list selected, for counting its facets.
pub(crate) enum Matched {
    /// The filters, and the text query's words (or ISBN) when there is one.
    Query,
    /// The same, with no word read as a prefix (`TextQuery::as_typed`).
    QueryAsTyped,
    /// Exactly these books (every candidate of a search that no bound cut short,
    /// or the typo fallback's).
    Ids(Vec<Uuid>),
}

/// The statement counting `facets` over the books `matched`: their rows `(facet, value, n)`
/// packed into one JSON array ([`Dialect::PACK_FACET_ROWS`]).
pub(crate) fn facet_statement<D: Dialect>(
    facets: &[Facet],
    search: &BookSearch,
    matched: &Matched,
) -> QueryBuilder<'static, D::Db>
where
    Uuid: Encode<'static, D::Db> + Type<D::Db>,
    String: Encode<'static, D::Db> + Type<D::Db>,
    i64: Encode<'static, D::Db> + Type<D::Db>,
    i32: Encode<'static, D::Db> + Type<D::Db>,
{
    let mut select = QueryBuilder::<D::Db>::new(
        "WITH m AS MATERIALIZED (SELECT b.id, b.language, b.format FROM books b \
         WHERE 1 = 1",
    );
    match matched {
        Matched::Query => {
            search::push_filters(&mut select, &search.filters, D::uuid_literal);
            push_search_text::<D>(&mut select, search);
        }
        Matched::QueryAsTyped => {
            search::push_filters(&mut select, &search.filters, D::uuid_literal);
            let typed = BookSearch {
                text: search.text.as_ref().and_then(|t| t.as_typed()),
                ..search.clone()
            };
            push_search_text::<D>(&mut select, &typed);
        }
        Matched::Ids(ids) if ids.is_empty() => {
            select.push(" AND 1 = 0");
        }
        Matched::Ids(ids) => {
            select.push(" AND ");
            D::push_id_in(&mut select, "b.id", ids);
        }
    }
    select.push(") ");
    let (pack_open, pack_close) = D::PACK_FACET_ROWS;
    select.push(pack_open);
    for (i, facet) in facets.iter().enumerate() {
        if i > 0 {
            select.push(" UNION ALL ");
        }
        select.push(match facet {
            Facet::Genre => {
                "SELECT 'genre' AS facet, g.name AS value, count(*) AS n FROM m \
                 JOIN book_genres bg ON bg.book_id = m.id \
                 JOIN genres g ON g.id = bg.genre_id GROUP BY g.name"
            }
            Facet::Language => {
                "SELECT 'language' AS facet, m.language AS value, count(*) AS n \
                 FROM m WHERE m.language IS NOT NULL GROUP BY m.language"
            }
            Facet::Format => {
                "SELECT 'format' AS facet, m.format AS value, count(*) AS n \
                 FROM m WHERE m.format IS NOT NULL GROUP BY m.format"
            }
        });
    }
    select.push(pack_close);
    select
}

/// The counts of each of `facets` in the packed rows of [`facet_statement`]: the most frequent
/// values first, at most `MAX_FACET_VALUES` of each.
pub(crate) fn facet_counts_of(
    facets: &[Facet],
    packed: &str,
) -> Result<Vec<FacetCounts>, StoreError> {
    let rows: Vec<(String, String, i64)> = serde_json::from_str(packed).map_err(json_error)?;
    Ok(facets
        .iter()
        .map(|facet| {
            let mut values: Vec<FacetCount> = rows
                .iter()
                .filter(|(name, _, _)| name == facet.as_str())
                .map(|(_, value, count)| FacetCount {
                    value: value.clone(),
                    count: *count,
                })
                .collect();
            values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            values.truncate(bookstore_core::search::MAX_FACET_VALUES);
            FacetCounts {
                facet: *facet,
                values,
            }
        })
        .collect())
}

/// The facet counts of `$store`: the statement is [`facet_statement`]'s, run on the reader.
macro_rules! impl_facets {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The counts of the facets asked for over every book the list selected, in one
            /// statement: the selected books are read once.
            async fn facet_counts(
                &self,
                facets: &[Facet],
                search: &BookSearch,
                matched: &Matched,
            ) -> Result<Vec<FacetCounts>, StoreError> {
                if facets.is_empty() {
                    return Ok(Vec::new());
                }
                let mut select = facet_statement::<Self>(facets, search, matched);
                let packed: String = select
                    .build_query_scalar()
                    .fetch_one(self.reader())
                    .await
                    .map_err(backend)?;
                facet_counts_of(facets, &packed)
            }
        }
    };
}
pub(crate) use impl_facets;
