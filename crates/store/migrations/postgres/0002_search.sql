-- Full-text search (PostgreSQL). Keep in step with ../sqlite/0002_search.sql.
--
-- Each book carries the names of its contributors and genres as text (search_authors,
-- search_genres), kept current by triggers on the link tables and on renames. From them and
-- the book's own columns, generated columns hold the weighted search document (title A,
-- authors B, genres C, description D) and a title-only document; GIN indexes serve both.
-- Accents are folded with unaccent, wrapped in an IMMUTABLE function that names its
-- dictionary, as generated columns and indexes require. pg_trgm gives typo tolerance on
-- titles and author names when the full-text query finds nothing.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- unaccent(text) is only STABLE (it reads the default dictionary from search_path); this one
-- names the dictionary, so it is as immutable as the rules file.
CREATE FUNCTION bookstore_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN public.unaccent('public.unaccent'::regdictionary, $1);

-- The folded form similarity is computed on.
CREATE FUNCTION bookstore_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(bookstore_unaccent($1));

-- A word as a prefix query: `hobbi` finds "hobbit". The unstemmed word as a prefix of the
-- (stemmed) lexemes, or the word's own stem ("mars" is 'mar': its prefix would also find
-- "Mary", its stem finds "Mars"). A stop word gives the empty query, as plainto_tsquery does.
CREATE FUNCTION bookstore_prefix_query(word text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN CASE
        WHEN numnode(plainto_tsquery('english'::regconfig, bookstore_unaccent(word))) = 0
            THEN plainto_tsquery('english'::regconfig, bookstore_unaccent(word))
        -- The stem starts with the word (the store sends letters and digits only): the prefix
        -- query alone covers it, and the index is scanned once.
        WHEN plainto_tsquery('english'::regconfig, bookstore_unaccent(word))::text
             LIKE '''' || lower(bookstore_unaccent(word)) || '%'
            THEN (plainto_tsquery('simple'::regconfig, bookstore_unaccent(word))::text || ':*')::tsquery
        ELSE plainto_tsquery('english'::regconfig, bookstore_unaccent(word))
            || (plainto_tsquery('simple'::regconfig, bookstore_unaccent(word))::text || ':*')::tsquery
    END;

ALTER TABLE books
    ADD COLUMN search_authors text NOT NULL DEFAULT '',
    ADD COLUMN search_genres  text NOT NULL DEFAULT '';

ALTER TABLE books
    ADD COLUMN search_doc tsvector NOT NULL GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, bookstore_unaccent(title || ' ' || coalesce(subtitle, ''))), 'A')
        || setweight(to_tsvector('english'::regconfig, bookstore_unaccent(search_authors)), 'B')
        || setweight(to_tsvector('english'::regconfig, bookstore_unaccent(search_genres)), 'C')
        || setweight(to_tsvector('english'::regconfig, bookstore_unaccent(coalesce(description, ''))), 'D')
    ) STORED,
    ADD COLUMN title_doc tsvector NOT NULL GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, bookstore_unaccent(title || ' ' || coalesce(subtitle, '')))
    ) STORED;

CREATE INDEX books_search_doc_idx ON books USING gin (search_doc);
CREATE INDEX books_title_doc_idx ON books USING gin (title_doc);
CREATE INDEX books_title_trgm_idx ON books USING gin (bookstore_fold(title) gin_trgm_ops);
CREATE INDEX authors_name_trgm_idx ON authors USING gin (bookstore_fold(name) gin_trgm_ops);
-- Filters.
CREATE INDEX books_publisher_idx ON books (lower(publisher));
CREATE INDEX books_language_idx ON books (language, updated_at, id);

-- The contributor and genre names of a book, in position order.
CREATE FUNCTION bookstore_book_authors_text(book uuid) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (SELECT coalesce(string_agg(a.name, ' ' ORDER BY ba.position), '')
            FROM book_authors ba JOIN authors a ON a.id = ba.author_id
            WHERE ba.book_id = book);

CREATE FUNCTION bookstore_book_genres_text(book uuid) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (SELECT coalesce(string_agg(g.name, ' ' ORDER BY bg.position), '')
            FROM book_genres bg JOIN genres g ON g.id = bg.genre_id
            WHERE bg.book_id = book);

-- Link changes: one UPDATE per statement, for every book the statement touched.
CREATE FUNCTION bookstore_book_authors_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_authors = bookstore_book_authors_text(b.id)
    WHERE b.id IN (SELECT book_id FROM changed_rows)
      AND b.search_authors IS DISTINCT FROM bookstore_book_authors_text(b.id);
    RETURN NULL;
END $$;

CREATE FUNCTION bookstore_book_genres_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_genres = bookstore_book_genres_text(b.id)
    WHERE b.id IN (SELECT book_id FROM changed_rows)
      AND b.search_genres IS DISTINCT FROM bookstore_book_genres_text(b.id);
    RETURN NULL;
END $$;

CREATE TRIGGER book_authors_inserted AFTER INSERT ON book_authors
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_authors_changed();
CREATE TRIGGER book_authors_deleted AFTER DELETE ON book_authors
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_authors_changed();
CREATE TRIGGER book_genres_inserted AFTER INSERT ON book_genres
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_genres_changed();
CREATE TRIGGER book_genres_deleted AFTER DELETE ON book_genres
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_genres_changed();

-- Renames reach every book that names the author or genre.
CREATE FUNCTION bookstore_author_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_authors = bookstore_book_authors_text(b.id)
    WHERE b.id IN (SELECT ba.book_id FROM book_authors ba WHERE ba.author_id = NEW.id);
    RETURN NULL;
END $$;

CREATE FUNCTION bookstore_genre_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_genres = bookstore_book_genres_text(b.id)
    WHERE b.id IN (SELECT bg.book_id FROM book_genres bg WHERE bg.genre_id = NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER authors_renamed AFTER UPDATE OF name ON authors
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION bookstore_author_renamed();
CREATE TRIGGER genres_renamed AFTER UPDATE OF name ON genres
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION bookstore_genre_renamed();

-- Books that existed before this migration.
UPDATE books SET search_authors = bookstore_book_authors_text(id),
                 search_genres = bookstore_book_genres_text(id);
