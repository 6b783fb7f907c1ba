-- The store's filtered list (src/catalog.rs resolve_filters, then sorted_page): the genre's
-- id by name, then a genre, a language, in stock, newest change first. (The store writes the
-- id into the SQL as a literal, so that PostgreSQL plans with that genre's frequency;
-- pgbench can only bind it, and a prepared statement may then get a generic plan.)
\set r random(1, :n_genres)
SELECT w1 FROM bench_search.words WHERE class = 'genres' AND n = :r \gset
SELECT id AS gid FROM genres WHERE name_key = lower(:w1) \gset
SELECT b.id, b.isbn, b.title, b.sort_title, b.subtitle, b.description, b.publisher, b.published_year, b.language, b.format, b.page_count, b.price_minor, b.price_currency, b.quantity, b.reorder_point, b.location, b.version, b.created_at, b.updated_at, (SELECT coalesce(json_agg(json_build_object('author_id', a.id, 'name', a.name, 'role', ba.role) ORDER BY ba.position), '[]'::json) FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id) AS authors, (SELECT coalesce(json_agg(json_build_object('id', g.id, 'name', g.name) ORDER BY bg.position), '[]'::json) FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id) AS genres, NULL AS score FROM books b WHERE 1 = 1 AND EXISTS (SELECT 1 FROM book_genres fg WHERE fg.book_id = b.id AND fg.genre_id = :gid::uuid) AND b.language = 'de' AND b.quantity > 0 ORDER BY b.updated_at DESC, b.id DESC LIMIT 21;
