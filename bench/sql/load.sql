-- Loads a realistic catalog into a freshly migrated Bookstore database, straight with SQL.
--
--   psql -v books=100000 -v authors=20000 -f bench/sql/load.sql "$DATABASE_URL"
--
-- Books get UUIDv7 ids (from their creation time, like the service makes them), valid
-- 978-prefixed ISBN-13s with correct check digits, titles, prices, stock, two authors out of a
-- pool of :authors, one or two genres out of ~50, and a 'created' history row each.
-- Everything the benchmark itself needs (the helper functions, lookup tables of ids and names
-- used by the pgbench scripts) lives in the schema `bench`, which the service never touches.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET synchronous_commit = off;
DO $$ BEGIN PERFORM setseed(0.4242); END $$;

CREATE SCHEMA bench;

-- A UUIDv7 for the instant `ts` with a random tail: 48-bit Unix milliseconds, version 7,
-- RFC 4122 variant (gen_random_uuid's version nibble 4 becomes 7 by setting two bits).
CREATE FUNCTION bench.uuid_v7(ts timestamptz DEFAULT clock_timestamp()) RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM ts) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

-- The ISBN-13 of its first twelve digits: appends the check digit (weights 1, 3, 1, 3, ...).
CREATE FUNCTION bench.isbn13(first12 text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT first12 || ((10 - (
        SELECT sum(substr(first12, i, 1)::int * CASE WHEN i % 2 = 1 THEN 1 ELSE 3 END)
        FROM generate_series(1, 12) AS i) % 10) % 10)::text
$$;

-- The case-folded key with inner whitespace collapsed (bookstore_core::text::fold_key).
CREATE FUNCTION bench.fold_key(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT lower(regexp_replace(btrim(s), '\s+', ' ', 'g'))
$$;

CREATE FUNCTION bench.pick(words text[]) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT words[1 + floor(random() * array_length(words, 1))::int]
$$;

-- Genres -----------------------------------------------------------------------------------

CREATE TABLE bench.genre_pool (
    n        int  PRIMARY KEY,
    id       uuid NOT NULL,
    name     text NOT NULL,
    name_key text NOT NULL
);
INSERT INTO bench.genre_pool (n, id, name, name_key)
SELECT ord - 1, bench.uuid_v7(now() - interval '6 years' + ord * interval '1 hour'), name,
       bench.fold_key(name)
FROM unnest(ARRAY[
    'Fantasy', 'Science Fiction', 'Mystery', 'Thriller', 'Romance', 'Historical Fiction',
    'Horror', 'Literary Fiction', 'Crime', 'Adventure', 'Young Adult', 'Children''s',
    'Graphic Novels', 'Poetry', 'Drama', 'Short Stories', 'Biography', 'Memoir', 'History',
    'Philosophy', 'Psychology', 'Religion', 'Politics', 'Economics', 'Business', 'Self-Help',
    'Health', 'Cooking', 'Travel', 'Art', 'Photography', 'Music', 'Film', 'Architecture',
    'Design', 'Mathematics', 'Physics', 'Chemistry', 'Biology', 'Computer Science',
    'Engineering', 'Medicine', 'Law', 'Education', 'Languages', 'Sports', 'Nature', 'Gardening',
    'Crafts', 'Reference'
]) WITH ORDINALITY AS t(name, ord);

INSERT INTO genres (id, name, name_key, parent_id, created_at, updated_at)
SELECT id, name, name_key, NULL, now() - interval '6 years', now() - interval '6 years'
FROM bench.genre_pool;

-- Authors: unique "First M. Last" names; i -> j is a bijection (7919 is coprime with
-- 60 * 100 * 26 = 156000) so that neighbouring pool numbers get unrelated names. --------------

CREATE TABLE bench.author_pool (
    n        int  PRIMARY KEY,
    id       uuid NOT NULL,
    name     text NOT NULL,
    name_key text NOT NULL
);

WITH words AS (
    SELECT
        ARRAY['Emma', 'Liam', 'Olivia', 'Noah', 'Ava', 'Elijah', 'Sophia', 'Lucas', 'Mia',
              'Mateo', 'Amelia', 'Leo', 'Harper', 'Oliver', 'Evelyn', 'James', 'Aria', 'Henry',
              'Chloe', 'Theo', 'Nora', 'Jack', 'Hazel', 'Samuel', 'Ruth', 'Daniel', 'Iris',
              'Hugo', 'Clara', 'Felix', 'Alice', 'Oscar', 'Ines', 'Paul', 'Marie', 'Jonas',
              'Lena', 'Anton', 'Sofia', 'Emil', 'Julia', 'David', 'Anna', 'Karl', 'Greta',
              'Tomas', 'Eva', 'Pablo', 'Lucia', 'Marco', 'Giulia', 'Pierre', 'Camille', 'Yuki',
              'Hana', 'Kenji', 'Aiko', 'Ravi', 'Priya', 'Omar'] AS first,
        ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis',
              'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson',
              'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson',
              'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker',
              'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores',
              'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell',
              'Carter', 'Roberts', 'Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber',
              'Meyer', 'Wagner', 'Becker', 'Schulz', 'Hoffmann', 'Dubois', 'Durand', 'Lefebvre',
              'Moreau', 'Laurent', 'Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi', 'Romano',
              'Colombo', 'Ricci', 'Tanaka', 'Suzuki', 'Takahashi', 'Watanabe', 'Ito', 'Sato',
              'Kim', 'Park', 'Choi', 'Chen', 'Wang', 'Li', 'Zhang', 'Liu', 'Singh', 'Kumar',
              'Sharma', 'Patel', 'Silva', 'Santos', 'Oliveira', 'Costa', 'Novak', 'Horvat',
              'Kowalski', 'Nowak', 'Jensen'] AS last
), named AS (
    SELECT i,
           w.first[1 + (i * 7919 % 156000) % 60]
           || ' ' || chr(65 + (i * 7919 % 156000) / 6000) || '. '
           || w.last[1 + (i * 7919 % 156000) / 60 % 100]
           || CASE WHEN i >= 156000 THEN ' ' || (i / 156000 + 1)::text ELSE '' END AS name,
           now() - random() * interval '6 years' AS created_at
    FROM generate_series(0, :authors - 1) AS i, words AS w
)
INSERT INTO bench.author_pool (n, id, name, name_key)
SELECT i, bench.uuid_v7(created_at), name, bench.fold_key(name) FROM named;

INSERT INTO authors (id, name, name_key, bio, created_at, updated_at)
SELECT p.id, p.name, p.name_key,
       CASE WHEN p.n % 4 = 0 THEN p.name || ' writes from a small town by the sea.' END,
       ts.at, ts.at
FROM bench.author_pool AS p
CROSS JOIN LATERAL (
    SELECT to_timestamp(('x' || substr(replace(p.id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0) AS at
) AS ts;

-- Books --------------------------------------------------------------------------------------
-- Everything about a book is drawn first (temp table), so that the book row can be inserted
-- with its search columns (search_authors, search_genres) already filled in exactly as the
-- triggers of migration 0002 would compute them: the triggers on the link tables then find
-- nothing to change, instead of updating (and re-indexing) every book a second time.

CREATE TEMP TABLE book_src AS
SELECT n,
       date_trunc('milliseconds', now() - random() * interval '5 years') AS created_at,
       floor(random() * 4)::int AS pattern,
       bench.pick(ARRAY['Silent', 'Hidden', 'Last', 'Broken', 'Golden', 'Forgotten', 'Burning',
           'Secret', 'Distant', 'Quiet', 'Crimson', 'Endless', 'Fallen', 'Frozen', 'Lonely',
           'Midnight', 'Lost', 'Wild', 'Bright', 'Dark', 'Little', 'Second', 'Invisible',
           'Glass', 'Paper', 'Iron', 'Hollow', 'Winter', 'Summer', 'Northern']) AS adj,
       bench.pick(ARRAY['River', 'Garden', 'House', 'Mountain', 'Kingdom', 'Letter', 'Island',
           'Shadow', 'Daughter', 'Empire', 'Mirror', 'Forest', 'Storm', 'Orchard', 'Harbour',
           'Library', 'Lighthouse', 'Station', 'Clockmaker', 'Cartographer', 'Song', 'Promise',
           'Journey', 'Archive', 'Machine', 'Voyage', 'Winter', 'Crown', 'Bridge', 'Map',
           'Sea', 'City', 'Tower', 'Road', 'Fire', 'Light', 'Night', 'Stone', 'Sky', 'Star'])
           AS noun,
       bench.pick(ARRAY['Rivers', 'Gardens', 'Stars', 'Ashes', 'Echoes', 'Tides', 'Bones',
           'Wolves', 'Lanterns', 'Maps', 'Bells', 'Ghosts', 'Saints', 'Roses', 'Machines'])
           AS plural,
       bench.pick(ARRAY['Lisbon', 'Kyoto', 'Vienna', 'the North', 'the Valley', 'Paris',
           'the Desert', 'Prague', 'the Islands', 'Istanbul', 'the Old Town', 'Marrakesh',
           'the Fjords', 'Venice', 'Buenos Aires', 'the Coast', 'Berlin', 'the Steppe',
           'Edinburgh', 'the Deep']) AS place,
       bench.pick(ARRAY['Penguin Random House', 'HarperCollins', 'Simon & Schuster',
           'Macmillan', 'Hachette', 'Bloomsbury', 'Faber & Faber', 'Vintage', 'Gallimard',
           'Suhrkamp', 'Fischer', 'Feltrinelli', 'Anagrama', 'Tor', 'Orbit', 'Vintage Books',
           'Picador', 'Canongate', 'Granta', 'Verso', 'MIT Press', 'Oxford University Press',
           'Cambridge University Press', 'O''Reilly', 'No Starch Press', 'Springer']) AS publisher,
       (ARRAY['en', 'en', 'en', 'en', 'en', 'en', 'de', 'fr', 'es', 'it'])
           [1 + floor(random() * 10)::int] AS language,
       (ARRAY['paperback', 'paperback', 'paperback', 'hardcover', 'hardcover', 'ebook',
           'audiobook', 'other'])[1 + floor(random() * 8)::int] AS format,
       -- Two distinct authors (the second sometimes a translator); one genre, two for 40%.
       floor(random() * :authors)::int AS a1,
       floor(random() * (:authors - 1))::int AS a_delta,
       random() < 0.1 AS translated,
       floor(random() * 50)::int AS g1,
       floor(random() * 49)::int AS g_delta,
       random() < 0.4 AS two_genres
FROM generate_series(1, :books) AS n;

ALTER TABLE book_src
    ADD COLUMN id uuid,
    ADD COLUMN a2 int,
    ADD COLUMN g2 int,
    ADD COLUMN title text;
UPDATE book_src SET
    id = bench.uuid_v7(created_at),
    a2 = (a1 + 1 + a_delta) % :authors,
    g2 = CASE WHEN two_genres THEN (g1 + 1 + g_delta) % 50 END,
    title = CASE pattern
        WHEN 0 THEN 'The ' || adj || ' ' || noun
        WHEN 1 THEN 'The ' || noun || ' of ' || place
        WHEN 2 THEN adj || ' ' || plural
        ELSE 'A ' || noun || ' for the ' || adj || ' ' || plural
    END;

INSERT INTO books (id, isbn, title, sort_title, subtitle, description, publisher,
                   published_year, language, format, page_count, price_minor, price_currency,
                   quantity, reorder_point, location, version, created_at, updated_at,
                   search_authors, search_genres)
SELECT s.id,
       -- n -> n * 104729 mod 10^9 is a bijection: unique, scattered 978 ISBNs.
       bench.isbn13('978' || lpad(((s.n::bigint * 104729) % 1000000000)::text, 9, '0')),
       s.title,
       bench.fold_key(s.title),
       CASE WHEN s.n % 5 = 0 THEN 'A Novel' WHEN s.n % 7 = 0 THEN 'Stories' END,
       'A ' || lower(s.adj) || ' tale of ' || lower(s.noun) || 's, ' || lower(s.plural)
           || ' and what remains of them in ' || s.place || '. '
           || 'Told across three generations, it asks what we owe the places that made us.',
       s.publisher,
       1950 + floor(random() * 75)::int,
       s.language,
       s.format,
       80 + floor(random() * 820)::int,
       (499 + floor(random() * 4500)::int) / 100 * 100 + 99,
       'EUR',
       floor(random() * 200)::int,
       floor(random() * 10)::int,
       chr(65 + floor(random() * 12)::int) || '-' || lpad((1 + floor(random() * 40))::int::text, 2, '0')
           || '-' || (1 + floor(random() * 6))::int::text,
       1,
       s.created_at,
       s.created_at,
       -- As bookstore_book_authors_text / bookstore_book_genres_text: names in position order.
       pa1.name || ' ' || pa2.name,
       pg1.name || coalesce(' ' || pg2.name, '')
FROM book_src AS s
JOIN bench.author_pool AS pa1 ON pa1.n = s.a1
JOIN bench.author_pool AS pa2 ON pa2.n = s.a2
JOIN bench.genre_pool AS pg1 ON pg1.n = s.g1
LEFT JOIN bench.genre_pool AS pg2 ON pg2.n = s.g2;

-- Book number -> id, for pgbench's random picks and wrk's id file.
CREATE TABLE bench.book_ids (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench.book_ids (n, id)
SELECT row_number() OVER (ORDER BY id), id FROM books;

-- The search triggers look each book's links up (bookstore_book_authors_text, ..._genres_text);
-- the link tables' statistics still say "empty", so without this they would scan the whole
-- table for every book: quadratic time.
SET enable_seqscan = off;

INSERT INTO book_authors (book_id, author_id, position, role)
SELECT s.id, p.id, x.pos,
       CASE WHEN x.pos = 1 AND s.translated THEN 'translator' ELSE 'author' END
FROM book_src AS s
CROSS JOIN LATERAL (VALUES (0, s.a1), (1, s.a2)) AS x(pos, a)
JOIN bench.author_pool AS p ON p.n = x.a;

INSERT INTO book_genres (book_id, genre_id, position)
SELECT s.id, g.id, x.pos
FROM book_src AS s
CROSS JOIN LATERAL (VALUES (0, s.g1), (1, s.g2)) AS x(pos, g)
JOIN bench.genre_pool AS g ON g.n = x.g;

RESET enable_seqscan;
ANALYZE books, authors, genres, book_authors, book_genres;

-- The audit row each book would have from its creation, with the snapshot the service writes
-- (the serde form of bookstore_core::Book).
INSERT INTO book_history (id, book_id, version, action, actor, request_id, at, before, after)
SELECT bench.uuid_v7(b.created_at), b.id, 1, 'created', 'admin',
       replace(bench.uuid_v7(b.created_at)::text, '-', ''), b.created_at, NULL,
       jsonb_build_object(
           'id', b.id, 'isbn', b.isbn, 'title', b.title, 'subtitle', b.subtitle,
           'description', b.description,
           'authors', (SELECT jsonb_agg(jsonb_build_object('author_id', a.id, 'name', a.name,
                                                            'role', ba.role) ORDER BY ba.position)
                       FROM book_authors ba JOIN authors a ON a.id = ba.author_id
                       WHERE ba.book_id = b.id),
           'genres', (SELECT jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name)
                                       ORDER BY bg.position)
                      FROM book_genres bg JOIN genres g ON g.id = bg.genre_id
                      WHERE bg.book_id = b.id),
           'publisher', b.publisher, 'published_year', b.published_year,
           'language', b.language, 'format', b.format, 'page_count', b.page_count,
           'price', jsonb_build_object('amount_minor', b.price_minor, 'currency', b.price_currency),
           'quantity', b.quantity, 'reorder_point', b.reorder_point, 'location', b.location,
           'version', b.version, 'created_at', b.created_at, 'updated_at', b.updated_at)
FROM books AS b;

DROP TABLE book_src;
