-- POST /books with two authors and one genre by name: the statements PgStore::create_book
-- runs (crates/store/src/catalog/books.rs create_book_once, named.rs resolve_*, write_links,
-- stock.rs insert_movement, history.rs record_change; SQL text from sql.rs), in its order, one
-- round trip each (12 with BEGIN and COMMIT):
--   BEGIN;
--   INSERT INTO authors .. VALUES (..), (..) ON CONFLICT (name_key) DO NOTHING  (key order)
--   SELECT name_key, id, name FROM authors WHERE name_key IN (.., ..)
--   the same two for the genre;
--   INSERT INTO books; INSERT INTO book_authors (one two-row statement);
--   INSERT INTO book_genres; INSERT INTO stock_movements (the first receipt, reason
--   `created`, when the quantity is above 0); INSERT INTO book_history; INSERT INTO outbox;
--   COMMIT.
-- The database's own work is the same on both sides: the search triggers of migration 0002
-- (book_authors / book_genres inserts update the book's search columns) fire for both.
-- Differences, all small and all making this side a little slower:
--   the names come from bench.author_pool / bench.genre_pool by random numbers (primary-key
--   probes inside the statements) where the service binds them; pgbench cannot keep the ids
--   that the name SELECTs return (two rows), so the books INSERT's RETURNING also looks the
--   author and genre ids up in the pools (they are the ids of the loaded rows, which every
--   name matches); ids are made by bench.uuid_v7() on the server where the service binds ids
--   made in Rust; timestamps are now(). The history snapshot and the CloudEvent are JSON
--   documents the service itself wrote in the same run (-D snapshot, -D event), sent as
--   parameters and parsed into jsonb on every insert, as the service's are.
--
-- Variables from the command line: authors, genres, slot_base, k (=0), title, sort_title,
-- publisher, language, format, location, currency, request_id, snapshot, event.
-- ISBNs: 979 + 9 digits from 500000000 up: (slot_base + client_id) * 10^6 + a per-client
-- counter, so they never collide with the loaded 978 ones, wrk's 979 ones below 500000000,
-- or another pgbench run that uses a different slot_base.
\set a1 random(0, :authors - 1)
\set d random(0, :authors - 2)
\set a2 (:a1 + 1 + :d) % :authors
\set g random(0, :genres - 1)
\set k :k + 1
\set body 500000000 + (:slot_base + :client_id) * 1000000 + :k
\set s 39 + 3 * ((:body / 100000000) % 10) + (:body / 10000000) % 10 + 3 * ((:body / 1000000) % 10) + (:body / 100000) % 10 + 3 * ((:body / 10000) % 10) + (:body / 1000) % 10 + 3 * ((:body / 100) % 10) + (:body / 10) % 10 + 3 * (:body % 10)
\set isbn 9790000000000 + :body * 10 + (10 - :s % 10) % 10
\set year random(1950, 2024)
\set pages random(80, 899)
\set price random(4, 49) * 100 + 99
-- At least 1, as in wrk/create_book.lua: every create writes its first receipt.
\set quantity random(1, 199)
\set reorder random(0, 9)
BEGIN;
INSERT INTO authors (id, name, name_key, created_at, updated_at) SELECT bench.uuid_v7(), p.name, p.name_key, now(), now() FROM bench.author_pool p WHERE p.n IN (:a1, :a2) ORDER BY p.name_key ON CONFLICT (name_key) DO NOTHING;
SELECT name_key, id, name FROM authors WHERE name_key IN ((SELECT name_key FROM bench.author_pool WHERE n = :a1), (SELECT name_key FROM bench.author_pool WHERE n = :a2));
INSERT INTO genres (id, name, name_key, created_at, updated_at) SELECT bench.uuid_v7(), p.name, p.name_key, now(), now() FROM bench.genre_pool p WHERE p.n = :g ON CONFLICT (name_key) DO NOTHING;
SELECT name_key, id, name FROM genres WHERE name_key IN ((SELECT name_key FROM bench.genre_pool WHERE n = :g));
INSERT INTO books (id, isbn, title, sort_title, subtitle, description, publisher, published_year, language, format, page_count, price_minor, price_currency, quantity, reorder_point, location, version, created_at, updated_at) VALUES (bench.uuid_v7(), :isbn, :title, :sort_title, NULL, NULL, :publisher, :year, :language, :format, :pages, :price, :currency, :quantity, :reorder, :location, 1, now(), now()) RETURNING id AS book_id, (SELECT id FROM bench.author_pool WHERE n = :a1) AS a1_id, (SELECT id FROM bench.author_pool WHERE n = :a2) AS a2_id, (SELECT id FROM bench.genre_pool WHERE n = :g) AS g_id \gset
INSERT INTO book_authors (book_id, author_id, position, role) VALUES (:book_id, :a1_id, 0, 'author'), (:book_id, :a2_id, 1, 'author');
INSERT INTO book_genres (book_id, genre_id, position) VALUES (:book_id, :g_id, 0);
INSERT INTO stock_movements (id, book_id, kind, quantity, delta, quantity_after, reason, actor, request_id, at) VALUES (bench.uuid_v7(), :book_id, 'receive', :quantity, :quantity, :quantity, 'created', 'admin', :request_id, now());
INSERT INTO book_history (id, book_id, version, action, actor, request_id, at, before, after) VALUES (bench.uuid_v7(), :book_id, 1, 'created', 'admin', :request_id, now(), NULL, :snapshot);
INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at) VALUES (bench.uuid_v7(), 'book', :book_id, 'bookstore.book.created', :event, now());
COMMIT;
