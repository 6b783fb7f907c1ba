-- The store's SQL for one request of class 'common' (src/catalog.rs text_candidates and
-- relevance_page, src/postgres.rs ranked_candidates): at least 100 titles match, so the
-- title matches (100, scored) are the result; then the page's books.
\set r random(1, :n_common)
SELECT w1 FROM bench_search.words WHERE class = 'common' AND n = :r \gset
WITH c AS MATERIALIZED (SELECT b.id, ts_rank_cd('{0.1, 0.2, 0.4, 1.0}'::float4[], b.search_doc, tsq.q)::float8 AS score FROM (SELECT ((bookstore_prefix_query(:w1))) AS q OFFSET 0) tsq JOIN books b ON b.title_doc @@ tsq.q AND (b.search_doc @@ tsq.q) IS TRUE WHERE 1 = 1 LIMIT 100)
SELECT b.id, b.isbn, b.title, b.sort_title, b.subtitle, b.description, b.publisher, b.published_year, b.language, b.format, b.page_count, b.price_minor, b.price_currency, b.quantity, b.reorder_point, b.location, b.version, b.created_at, b.updated_at, (SELECT coalesce(json_agg(json_build_object('author_id', a.id, 'name', a.name, 'role', ba.role) ORDER BY ba.position), '[]'::json) FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id) AS authors, (SELECT coalesce(json_agg(json_build_object('id', g.id, 'name', g.name) ORDER BY bg.position), '[]'::json) FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id) AS genres FROM books b JOIN (SELECT id FROM c ORDER BY score DESC, id LIMIT 21) p ON p.id = b.id;
