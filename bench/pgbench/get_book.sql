-- GET /books/{id}: the statement PgStore::get_book runs (crates/store/src/postgres.rs
-- AUTHORS_JSON / GENRES_JSON inside sql::BookSql::by_id), one round trip per transaction.
-- Only difference: pgbench cannot draw a random UUID from a set, so the id comes from
-- bench.book_ids by a random number (one extra primary-key probe, evaluated once as an
-- InitPlan) where the service binds the id as $1.
\set n random(1, :books)
SELECT b.id, b.isbn, b.title, b.sort_title, b.subtitle, b.description, b.publisher, b.published_year, b.language, b.format, b.page_count, b.price_minor, b.price_currency, b.quantity, b.reorder_point, b.location, b.version, b.created_at, b.updated_at, (SELECT coalesce(json_agg(json_build_object('author_id', a.id, 'name', a.name, 'role', ba.role) ORDER BY ba.position), '[]'::json) FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id) AS authors, (SELECT coalesce(json_agg(json_build_object('id', g.id, 'name', g.name) ORDER BY bg.position), '[]'::json) FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id) AS genres FROM books b WHERE b.id = (SELECT id FROM bench.book_ids WHERE n = :n);
