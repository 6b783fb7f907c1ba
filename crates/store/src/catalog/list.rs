//! Book lists in a column order, filtered and searched; the entry of every book list.

use super::limit_plus_one;
use super::Dialect;
use crate::cursor::BookKey;
use crate::search;
use crate::sql;
use crate::time::DbTime;
use bookstore_core::{BookListQuery, BookSearch};
use sqlx::{Encode, QueryBuilder, Type};
use uuid::Uuid;

/// Appends the text predicate of `search` (words or ISBN), if it has a query.
pub(crate) fn push_search_text<D: Dialect>(
    qb: &mut QueryBuilder<'static, D::Db>,
    search: &BookSearch,
) where
    String: Encode<'static, D::Db> + Type<D::Db>,
{
    let Some(text) = &search.text else {
        return;
    };
    qb.push(" AND (");
    if text.has_text() {
        D::push_text_match(qb, text);
    } else {
        qb.push("1 = 0");
    }
    if let Some(isbn) = &text.isbn {
        qb.push(" OR b.isbn = ").push_bind(isbn.as_str().to_owned());
    }
    qb.push(")");
}

/// The score of a listed book in a list that is not ordered by relevance.
pub(crate) fn push_search_score<D: Dialect>(
    qb: &mut QueryBuilder<'static, D::Db>,
    search: &BookSearch,
) where
    String: Encode<'static, D::Db> + Type<D::Db>,
{
    match &search.text {
        None => {
            qb.push("NULL");
        }
        Some(text) => {
            qb.push("(");
            if text.has_text() {
                qb.push("coalesce(");
                D::push_text_score(qb, text);
                qb.push(", 0.0)");
            } else {
                qb.push("0.0");
            }
            if let Some(isbn) = &text.isbn {
                qb.push(" + CASE WHEN b.isbn = ")
                    .push_bind(isbn.as_str().to_owned())
                    .push(format_args!(" THEN {:.1} ELSE 0.0 END", search::ISBN_SCORE));
            }
            qb.push(")");
        }
    }
}

/// The statement of a page of a list in one of the column orders (`query.sort`), after the
/// book `after` of the cursor: its books with their scores, `limit + 1` of them.
pub(crate) fn sorted_statement<D: Dialect>(
    query: &BookListQuery,
    after: Option<(BookKey, Uuid)>,
) -> QueryBuilder<'static, D::Db>
where
    Uuid: Encode<'static, D::Db> + Type<D::Db>,
    String: Encode<'static, D::Db> + Type<D::Db>,
    i64: Encode<'static, D::Db> + Type<D::Db>,
    i32: Encode<'static, D::Db> + Type<D::Db>,
    DbTime: Encode<'static, D::Db> + Type<D::Db>,
{
    let sort = query.sort;
    let search = &query.search;
    let (column, descending) = sql::book_order(sort);
    let (cmp, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let mut select = QueryBuilder::<D::Db>::new("SELECT ");
    select.push(D::book_sql().columns.as_str());
    select.push(", ");
    push_search_score::<D>(&mut select, search);
    select.push(" AS score FROM books b WHERE ");
    if D::IDS_BEFORE_BOOKS {
        select.push("b.id IN (SELECT b.id FROM books b WHERE ");
    }
    select.push("1 = 1");
    search::push_filters(&mut select, &search.filters, D::uuid_literal);
    push_search_text::<D>(&mut select, search);
    if let Some((key, id)) = after {
        select.push(format_args!(" AND ({column}, b.id) {cmp} ("));
        match key {
            BookKey::Time(t) => select.push_bind(t),
            BookKey::Text(s) => select.push_bind(s),
            BookKey::Int(i) => select.push_bind(i),
            BookKey::Int32(i) => select.push_bind(i),
        };
        select.push(", ").push_bind(id).push(")");
    }
    select
        .push(format_args!(" ORDER BY {column} {dir}, b.id {dir} LIMIT "))
        .push_bind(limit_plus_one(&query.page));
    if D::IDS_BEFORE_BOOKS {
        select.push(format_args!(") ORDER BY {column} {dir}, b.id {dir}"));
    }
    select
}

/// The book lists of `$store`, whose database is `$db`.
macro_rules! impl_list {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The filters with authors and genres given by name replaced by their ids;
            /// `None` when a name matches none.
            async fn resolve_filters(
                &self,
                filters: &BookFilters,
            ) -> Result<Option<BookFilters>, StoreError> {
                let mut resolved = filters.clone();
                if let Some(NameOrId::Name(key)) = &filters.author {
                    let id: Option<Uuid> =
                        sqlx::query_scalar("SELECT id FROM authors WHERE name_key = $1")
                            .bind(key)
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?;
                    match id {
                        Some(id) => resolved.author = Some(NameOrId::Id(id.into())),
                        None => return Ok(None),
                    }
                }
                if let Some(NameOrId::Name(key)) = &filters.genre {
                    let id: Option<Uuid> =
                        sqlx::query_scalar("SELECT id FROM genres WHERE name_key = $1")
                            .bind(key)
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?;
                    match id {
                        Some(id) => resolved.genre = Some(NameOrId::Id(id.into())),
                        None => return Ok(None),
                    }
                }
                Ok(Some(resolved))
            }

            /// A page of a list in one of the column orders, filtered and searched.
            async fn sorted_page(
                &self,
                query: &BookListQuery,
                list: &str,
            ) -> Result<(Vec<ScoredBook>, Option<String>, Matched), StoreError> {
                let sort = query.sort;
                let search = &query.search;
                let after = match query.page.cursor.as_deref() {
                    Some(c) => Some(cursor::decode_book(sort, list, c)?),
                    None => None,
                };
                let mut select = sorted_statement::<Self>(query, after);
                let rows: Vec<ScoredBookRow> = select
                    .build_query_as()
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                let listed = rows
                    .into_iter()
                    .map(|row| Ok((ListedBook::try_from(row.book)?, row.score)))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                let scores = match &search.text {
                    Some(text) if text.has_text() && !listed.is_empty() => {
                        let ids: Vec<Uuid> =
                            listed.iter().map(|(l, _)| l.book.id.as_uuid()).collect();
                        self.listed_scores(text, &ids).await?
                    }
                    _ => HashMap::new(),
                };
                let page = into_page(
                    listed,
                    query.page.limit.get(),
                    |(last, _)| {
                        cursor::encode_book(list, &last.sort_key(sort), last.book.id.as_uuid())
                    },
                    |(listed, score)| {
                        // The ISBN's part, if any, comes from the SQL.
                        let score = match scores.get(&listed.book.id.as_uuid()) {
                            Some(text_score) => Some(text_score + score.unwrap_or(0.0)),
                            None => score,
                        };
                        Ok(ScoredBook {
                            book: listed.book,
                            score,
                        })
                    },
                )?;
                Ok((page.items, page.next_cursor, Matched::Query))
            }

            async fn book_page(&self, query: &BookListQuery) -> Result<BookPage, StoreError> {
                let list = cursor::book_list_name(query.sort, &query.search);
                // Authors and genres named in filters, by id: no such one, no such book.
                let Some(filters) = self.resolve_filters(&query.search.filters).await? else {
                    return Ok(BookPage {
                        items: Vec::new(),
                        next_cursor: None,
                        facets: query
                            .search
                            .facets
                            .iter()
                            .map(|facet| FacetCounts {
                                facet: *facet,
                                values: Vec::new(),
                            })
                            .collect(),
                    });
                };
                let query = BookListQuery {
                    search: BookSearch {
                        filters,
                        ..query.search.clone()
                    },
                    ..query.clone()
                };
                let query = &query;
                let (items, next_cursor, matched) = if query.sort == BookSort::Relevance {
                    self.relevance_page(query, &list).await?
                } else {
                    self.sorted_page(query, &list).await?
                };
                let facets = self
                    .facet_counts(&query.search.facets, &query.search, &matched)
                    .await?;
                Ok(BookPage {
                    items,
                    next_cursor,
                    facets,
                })
            }
        }
    };
}
pub(crate) use impl_list;
