-- Set-based search triggers, for writes of many books at once (an import's batch). SQLite
-- needs no change: its import inserts a new book's links before the book (see
-- crates/store/src/catalog/import/sqlite.rs).
--
-- An import writes each book with its contributor and genre text (search_authors,
-- search_genres) already in it, so that the link triggers below find nothing to change and
-- the book's row is written once, not once for the row and once per kind of link. For that
-- to be cheap, the triggers compute the text of all the books a statement touched in one
-- join (before: `bookstore_book_authors_text` called once per book, about 0.35 ms each) and
-- update only the books whose text differs. Same effect, row for row, as 0014.
CREATE OR REPLACE FUNCTION bookstore_book_authors_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_authors = t.text
    FROM (SELECT c.book_id,
                 coalesce(string_agg(a.name, ' ' ORDER BY ba.position), '') AS text
          FROM (SELECT DISTINCT book_id FROM changed_rows) c
          LEFT JOIN book_authors ba ON ba.book_id = c.book_id
          LEFT JOIN authors a ON a.id = ba.author_id
          GROUP BY c.book_id) t
    WHERE b.id = t.book_id
      AND b.search_authors IS DISTINCT FROM t.text;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bookstore_book_genres_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_genres = t.text
    FROM (SELECT c.book_id,
                 coalesce(string_agg(g.name, ' ' ORDER BY bg.position), '') AS text
          FROM (SELECT DISTINCT book_id FROM changed_rows) c
          LEFT JOIN book_genres bg ON bg.book_id = c.book_id
          LEFT JOIN genres g ON g.id = bg.genre_id
          GROUP BY c.book_id) t
    WHERE b.id = t.book_id
      AND b.search_genres IS DISTINCT FROM t.text;
    RETURN NULL;
END $$;

-- The words of a statement's books are looked up once each, not once per book that has
-- them (a batch of 1,000 books has some 35,000 words, of which a few thousand differ).
CREATE OR REPLACE FUNCTION bookstore_add_search_words(words text[]) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    new_words text[];
BEGIN
    SELECT array_agg(d.w ORDER BY d.w) INTO new_words
    FROM (SELECT DISTINCT w FROM unnest(words) AS w) d
    WHERE NOT EXISTS (SELECT 1 FROM search_words s WHERE s.word = d.w);
    IF new_words IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(7262591031);
        INSERT INTO search_words (word) SELECT unnest(new_words) ON CONFLICT DO NOTHING;
    END IF;
END $$;
