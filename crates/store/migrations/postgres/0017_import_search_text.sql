-- Search upkeep an import does itself (PostgreSQL). SQLite needs no change: its import inserts
-- a new book's links before the book (crates/store/src/catalog/import/sqlite.rs).
--
-- An import says so with the transaction-local setting `bookstore.search_text_written` ('on',
-- `set_config(..., true)`, gone at the end of its transaction); every other writer leaves it
-- unset, and the triggers below work as before.
--
-- The link triggers (0016): an import writes each book with its contributor and genre text
-- (search_authors, search_genres) already right, then its links; the triggers joined every
-- link of the statement's books with the names and grouped them, only to find that nothing
-- differs: some 60 us a book, a sixth of the import's time in the database (bench/README.md,
-- "Import").
CREATE OR REPLACE FUNCTION bookstore_book_authors_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bookstore.search_text_written', true) = 'on' THEN
        RETURN NULL;
    END IF;
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
    IF current_setting('bookstore.search_text_written', true) = 'on' THEN
        RETURN NULL;
    END IF;
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

-- The words of the books (0005) likewise: the import adds the words of the books it wrote as
-- the last statement of its transaction (`bookstore_add_search_words`), not in the trigger
-- of its books' insert. The words' lock (the advisory lock of bookstore_add_search_words) is
-- then held from the end of the batch to its commit, not from the books' insert: two writers
-- of an import wait for each other only that long.
CREATE OR REPLACE FUNCTION bookstore_books_inserted_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bookstore.search_text_written', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM bookstore_add_search_words(
        ARRAY(SELECT unnest(tsvector_to_array(search_doc)) FROM new_books));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bookstore_book_text_changed_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bookstore.search_text_written', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM bookstore_add_search_words(tsvector_to_array(NEW.search_doc));
    RETURN NULL;
END $$;
