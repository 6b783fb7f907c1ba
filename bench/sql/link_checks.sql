-- NOT A MIGRATION: an experiment of bench/README.md ("Import", "Where the server's time goes
-- now"), measured and not applied. Apply with psql to a migrated PostgreSQL database to try it:
--   psql -v ON_ERROR_STOP=1 -d DB -f bench/sql/link_checks.sql
--
-- The references of the link tables (book_authors, book_genres) checked once per statement,
-- not once per row (PostgreSQL). SQLite keeps its foreign keys: a row's check costs it little.
--
-- A foreign key is checked by a row trigger: every inserted link runs a query of its own for
-- each of its two references (the book, the author or genre), some 10 to 40 us each on this
-- project's 2-core machines. An import's batch of 1,000 books writes about 3,500 links, so
-- those checks were a large part of the batch's time in the database (bench/README.md,
-- "Import"). The triggers below do the same with one query per reference and statement,
-- over the statement's distinct ids.
--
-- What each foreign key did, and does now (under READ COMMITTED, the store's isolation):
-- - a link names an existing book and author (genre): the statement's referenced rows are
--   locked FOR KEY SHARE in id order, as the foreign key locked each (so that no one deletes
--   them before the link commits); one missing, or deleted by a writer the lock waited for,
--   is a foreign key violation (SQLSTATE 23503, the constraint's old name);
-- - a deleted book takes its links with it (ON DELETE CASCADE);
-- - an author (genre) that a link names cannot be deleted (ON DELETE RESTRICT: 23503);
-- - nor have its id changed, nor be truncated away from its links.
ALTER TABLE book_authors
    DROP CONSTRAINT book_authors_book_id_fkey,
    DROP CONSTRAINT book_authors_author_id_fkey;
ALTER TABLE book_genres
    DROP CONSTRAINT book_genres_book_id_fkey,
    DROP CONSTRAINT book_genres_genre_id_fkey;

-- Locks the rows `ids` of `parent` FOR KEY SHARE in id order; a missing one is a violation of
-- `constraint_name` of `child`.
CREATE FUNCTION bookstore_lock_referenced(parent regclass, ids uuid[], child text,
                                          constraint_name text) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    found bigint;
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %s WHERE id = ANY ($1) '
                   'ORDER BY id FOR KEY SHARE) s', parent)
        INTO found USING ids;
    IF found < cardinality(ids) THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                child, constraint_name
            USING ERRCODE = 'foreign_key_violation', TABLE = child,
                  CONSTRAINT = constraint_name,
                  DETAIL = format('A key is not present in table "%s".', parent);
    END IF;
END $$;

CREATE FUNCTION bookstore_book_authors_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bookstore_lock_referenced('books',
        (SELECT array_agg(DISTINCT book_id) FROM new_links),
        'book_authors', 'book_authors_book_id_fkey');
    PERFORM bookstore_lock_referenced('authors',
        (SELECT array_agg(DISTINCT author_id) FROM new_links),
        'book_authors', 'book_authors_author_id_fkey');
    RETURN NULL;
END $$;

CREATE FUNCTION bookstore_book_genres_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bookstore_lock_referenced('books',
        (SELECT array_agg(DISTINCT book_id) FROM new_links),
        'book_genres', 'book_genres_book_id_fkey');
    PERFORM bookstore_lock_referenced('genres',
        (SELECT array_agg(DISTINCT genre_id) FROM new_links),
        'book_genres', 'book_genres_genre_id_fkey');
    RETURN NULL;
END $$;

CREATE TRIGGER book_authors_checked_insert AFTER INSERT ON book_authors
    REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_authors_check();
CREATE TRIGGER book_authors_checked_update AFTER UPDATE ON book_authors
    REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_authors_check();
CREATE TRIGGER book_genres_checked_insert AFTER INSERT ON book_genres
    REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_genres_check();
CREATE TRIGGER book_genres_checked_update AFTER UPDATE ON book_genres
    REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_book_genres_check();

-- ON DELETE CASCADE: a deleted book's links go with it. Its other references (stock levels)
-- keep their foreign keys.
CREATE FUNCTION bookstore_books_deleted_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM book_authors WHERE book_id IN (SELECT id FROM gone);
    DELETE FROM book_genres WHERE book_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;

CREATE TRIGGER books_deleted_links AFTER DELETE ON books
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_books_deleted_links();

-- ON DELETE RESTRICT of the author (genre) a link names. The link found is locked, as the
-- foreign key's check locked it: a writer deleting it meanwhile is waited for.
CREATE FUNCTION bookstore_refuse_referenced(child text, child_column text, ids uuid[],
                                            constraint_name text, parent text)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    referenced boolean;
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = ANY ($1) LIMIT 1 FOR KEY SHARE)',
                   child, child_column)
        INTO referenced USING ids;
    IF referenced THEN
        RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "%"',
                parent, constraint_name, child
            USING ERRCODE = 'foreign_key_violation', TABLE = parent,
                  CONSTRAINT = constraint_name,
                  DETAIL = format('Key is still referenced from table "%s".', child);
    END IF;
END $$;

CREATE FUNCTION bookstore_authors_deleted_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bookstore_refuse_referenced('book_authors', 'author_id',
        (SELECT array_agg(id) FROM gone), 'book_authors_author_id_fkey', 'authors');
    RETURN NULL;
END $$;

CREATE FUNCTION bookstore_genres_deleted_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bookstore_refuse_referenced('book_genres', 'genre_id',
        (SELECT array_agg(id) FROM gone), 'book_genres_genre_id_fkey', 'genres');
    RETURN NULL;
END $$;

CREATE TRIGGER authors_deleted_links AFTER DELETE ON authors
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_authors_deleted_links();
CREATE TRIGGER genres_deleted_links AFTER DELETE ON genres
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_genres_deleted_links();

-- ON UPDATE NO ACTION: a book, author or genre that a link names keeps its id (the store
-- never changes one).
CREATE FUNCTION bookstore_referenced_id_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'books' THEN
        PERFORM bookstore_refuse_referenced('book_authors', 'book_id', ARRAY[OLD.id],
            'book_authors_book_id_fkey', 'books');
        PERFORM bookstore_refuse_referenced('book_genres', 'book_id', ARRAY[OLD.id],
            'book_genres_book_id_fkey', 'books');
    ELSIF TG_TABLE_NAME = 'authors' THEN
        PERFORM bookstore_refuse_referenced('book_authors', 'author_id', ARRAY[OLD.id],
            'book_authors_author_id_fkey', 'authors');
    ELSE
        PERFORM bookstore_refuse_referenced('book_genres', 'genre_id', ARRAY[OLD.id],
            'book_genres_genre_id_fkey', 'genres');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER books_id_changed AFTER UPDATE OF id ON books
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION bookstore_referenced_id_changed();
CREATE TRIGGER authors_id_changed AFTER UPDATE OF id ON authors
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION bookstore_referenced_id_changed();
CREATE TRIGGER genres_id_changed AFTER UPDATE OF id ON genres
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION bookstore_referenced_id_changed();

-- A truncated books, authors or genres table takes the links with it in the same TRUNCATE
-- or is refused, as with the foreign keys (the AFTER trigger sees the tables truncated
-- together already empty).
CREATE FUNCTION bookstore_links_outlive_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_TABLE_NAME IN ('books', 'authors') AND EXISTS (SELECT 1 FROM book_authors))
       OR (TG_TABLE_NAME IN ('books', 'genres') AND EXISTS (SELECT 1 FROM book_genres)) THEN
        RAISE EXCEPTION 'cannot truncate table "%": the link tables name its rows', TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Truncate the link tables (book_authors, book_genres) with it.';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER books_truncated AFTER TRUNCATE ON books
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_links_outlive_truncate();
CREATE TRIGGER authors_truncated AFTER TRUNCATE ON authors
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_links_outlive_truncate();
CREATE TRIGGER genres_truncated AFTER TRUNCATE ON genres
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_links_outlive_truncate();
