-- GET /books?limit=20: the first page in the default order (-updated_at), no search text and
-- no filters, as PgStore's list_books (catalog.rs sorted_page) builds it: the book columns,
-- a NULL score, `WHERE 1 = 1` with nothing after it, ORDER BY the sort key and the id, and
-- LIMIT bound as a parameter (limit + 1 = 21, to know whether there is a next page).
\set limit 21
SELECT b.id, b.isbn, b.title, b.sort_title, b.subtitle, b.description, b.publisher, b.published_year, b.language, b.format, b.page_count, b.price_minor, b.price_currency, b.quantity, b.reorder_point, b.location, b.version, b.created_at, b.updated_at, (SELECT coalesce(json_agg(json_build_object('author_id', a.id, 'name', a.name, 'role', ba.role) ORDER BY ba.position), '[]'::json) FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id) AS authors, (SELECT coalesce(json_agg(json_build_object('id', g.id, 'name', g.name) ORDER BY bg.position), '[]'::json) FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id) AS genres, NULL AS score FROM books b WHERE 1 = 1 ORDER BY b.updated_at DESC, b.id DESC LIMIT :limit;
