//! Streamed reads of many books: the export of the catalog (or the part a search lets
//! through) and the books to reorder. One statement each, read row by row as the consumer
//! takes them (sqlx's `fetch`), so that memory stays constant whatever the catalog's size and
//! the rows come from one snapshot.

use super::list::push_search_text;
use super::Dialect;
use crate::search;
use bookstore_core::{BookFilters, BookSearch};
use sqlx::{Encode, QueryBuilder, Type};
use uuid::Uuid;

/// The statement of an export: the books that `filters` (resolved to ids) and the text query
/// of `search` let through, by id.
pub(crate) fn export_statement<D: Dialect>(
    search: &BookSearch,
    filters: &BookFilters,
) -> QueryBuilder<'static, D::Db>
where
    Uuid: Encode<'static, D::Db> + Type<D::Db>,
    String: Encode<'static, D::Db> + Type<D::Db>,
    i64: Encode<'static, D::Db> + Type<D::Db>,
    i32: Encode<'static, D::Db> + Type<D::Db>,
{
    let mut select = QueryBuilder::<D::Db>::new(D::book_sql().select.as_str());
    select.push(" WHERE 1 = 1");
    search::push_filters(&mut select, filters, D::uuid_literal);
    push_search_text::<D>(&mut select, search);
    select.push(" ORDER BY b.id");
    select
}

/// The statement of the books to reorder (`bookstore_core::reorder`): at or below their
/// reorder point with something to order, by publisher (bytewise, books without one last),
/// title and id. Judged by the book's total (`location_quantity` NULL), or with `at_location`
/// by the stock at location `$1` and the locations inside it (`location_quantity`).
pub(crate) fn reorder_statement<D: Dialect>(at_location: bool) -> String {
    let order = format!(
        "ORDER BY b.publisher IS NULL, b.publisher{}, b.sort_title, b.id",
        D::COLLATE_BYTES
    );
    let columns = &D::book_sql().columns;
    if !at_location {
        return format!(
            "SELECT {columns}, CAST(NULL AS BIGINT) AS location_quantity FROM books b \
             WHERE b.quantity <= b.reorder_point \
             AND b.quantity < b.reorder_point + b.reorder_quantity {order}"
        );
    }
    // The location's stock is summed once per book, in one pass over its levels, before the
    // books are read: the select list (contributors, genres) is computed for candidates only.
    // `UNION` ends the walk even on a corrupt tree.
    format!(
        "WITH RECURSIVE subtree (id) AS (\
            SELECT id FROM locations WHERE id = $1 \
            UNION SELECT l.id FROM locations l JOIN subtree t ON l.parent_id = t.id), \
         at_location (book_id, quantity) AS (\
            SELECT s.book_id, CAST(sum(s.quantity) AS BIGINT) FROM stock_levels s \
            JOIN subtree t ON t.id = s.location_id GROUP BY s.book_id) \
         SELECT {columns}, CAST(coalesce(al.quantity, 0) AS BIGINT) AS location_quantity \
         FROM books b LEFT JOIN at_location al ON al.book_id = b.id \
         WHERE coalesce(al.quantity, 0) <= b.reorder_point \
         AND coalesce(al.quantity, 0) < b.reorder_point + b.reorder_quantity {order}"
    )
}

/// The streamed reads of `$store`, whose database is `$db`.
macro_rules! impl_export {
    ($store:ty, $db:ty) => {
        impl $store {
            fn export_stream<'a>(
                &'a self,
                search: &'a BookSearch,
            ) -> bookstore_core::BookStream<'a> {
                Box::pin(async_stream::try_stream! {
                    // Authors and genres named in filters, by id: no such one, no such book.
                    if let Some(filters) = self.resolve_filters(&search.filters).await? {
                        let mut select =
                            $crate::catalog::export::export_statement::<Self>(search, &filters);
                        let mut rows = select.build_query_as::<BookRow>().fetch(self.reader());
                        while let Some(row) =
                            futures_util::TryStreamExt::try_next(&mut rows).await.map_err(backend)?
                        {
                            yield Book::try_from(row)?;
                        }
                    }
                })
            }

            fn reorder_stream(
                &self,
                location: Option<bookstore_core::LocationId>,
            ) -> bookstore_core::ReorderStream<'_> {
                Box::pin(async_stream::try_stream! {
                    let statement =
                        $crate::catalog::export::reorder_statement::<Self>(location.is_some());
                    let mut query =
                        sqlx::query_as::<_, $crate::rows::ReorderRow>(&statement);
                    if let Some(location) = location {
                        query = query.bind(location.as_uuid());
                    }
                    let mut rows = query.fetch(self.reader());
                    while let Some(row) =
                        futures_util::TryStreamExt::try_next(&mut rows).await.map_err(backend)?
                    {
                        yield bookstore_core::ReorderCandidate::try_from(row)?;
                    }
                })
            }
        }
    };
}
pub(crate) use impl_export;
