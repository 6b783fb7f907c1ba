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
/// title and id.
pub(crate) fn reorder_statement<D: Dialect>() -> String {
    format!(
        "{} WHERE b.quantity <= b.reorder_point \
         AND b.quantity < b.reorder_point + b.reorder_quantity \
         ORDER BY b.publisher IS NULL, b.publisher{}, b.sort_title, b.id",
        D::book_sql().select,
        D::COLLATE_BYTES
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

            fn reorder_stream(&self) -> bookstore_core::BookStream<'_> {
                Box::pin(async_stream::try_stream! {
                    let statement = $crate::catalog::export::reorder_statement::<Self>();
                    let mut rows =
                        sqlx::query_as::<_, BookRow>(&statement).fetch(self.reader());
                    while let Some(row) =
                        futures_util::TryStreamExt::try_next(&mut rows).await.map_err(backend)?
                    {
                        yield Book::try_from(row)?;
                    }
                })
            }
        }
    };
}
pub(crate) use impl_export;
