-- Full-text search (SQLite). Keep in step with ../postgres/0002_search.sql.
--
-- As in PostgreSQL, each book carries the names of its contributors and genres as text
-- (search_authors, search_genres), kept current by triggers on the link tables and on
-- renames. An FTS5 table holds one document per book in four columns (title, authors,
-- genres, description: ranked with bm25 weights 10, 4, 2, 1, mirroring PostgreSQL's A, B,
-- C, D), tokenized by unicode61 with diacritics removed; triggers on books keep it in sync.
-- FTS5 rowids must be integers and books are keyed by UUID, so book_docs maps one to the
-- other. The fts5vocab table lists the indexed words: the typo fallback looks for near
-- spellings among them.

ALTER TABLE books ADD COLUMN search_authors TEXT NOT NULL DEFAULT '';
ALTER TABLE books ADD COLUMN search_genres TEXT NOT NULL DEFAULT '';

CREATE INDEX books_publisher_idx ON books (lower(publisher));
CREATE INDEX books_language_idx ON books (language, updated_at, id);

CREATE TABLE book_docs (
    doc_id  INTEGER PRIMARY KEY,
    book_id BLOB    NOT NULL UNIQUE
) STRICT;

CREATE VIRTUAL TABLE books_fts USING fts5 (
    title, authors, genres, description,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE VIRTUAL TABLE books_fts_vocab USING fts5vocab (books_fts, 'col');

CREATE TRIGGER books_search_inserted AFTER INSERT ON books BEGIN
    INSERT INTO book_docs (book_id) VALUES (NEW.id);
    INSERT INTO books_fts (rowid, title, authors, genres, description)
    VALUES ((SELECT doc_id FROM book_docs WHERE book_id = NEW.id),
            NEW.title || ' ' || coalesce(NEW.subtitle, ''), NEW.search_authors,
            NEW.search_genres, coalesce(NEW.description, ''));
END;

CREATE TRIGGER books_search_updated
AFTER UPDATE OF title, subtitle, description, search_authors, search_genres ON books BEGIN
    UPDATE books_fts SET title = NEW.title || ' ' || coalesce(NEW.subtitle, ''),
                         authors = NEW.search_authors,
                         genres = NEW.search_genres,
                         description = coalesce(NEW.description, '')
    WHERE rowid = (SELECT doc_id FROM book_docs WHERE book_id = NEW.id);
END;

CREATE TRIGGER books_search_deleted AFTER DELETE ON books BEGIN
    DELETE FROM books_fts WHERE rowid = (SELECT doc_id FROM book_docs WHERE book_id = OLD.id);
    DELETE FROM book_docs WHERE book_id = OLD.id;
END;

-- Contributor and genre names of a book, in position order, separated by spaces.
CREATE TRIGGER book_authors_search_inserted AFTER INSERT ON book_authors BEGIN
    UPDATE books SET search_authors = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT a.name FROM book_authors ba JOIN authors a ON a.id = ba.author_id
            WHERE ba.book_id = NEW.book_id ORDER BY ba.position)), '')
    WHERE id = NEW.book_id;
END;

CREATE TRIGGER book_authors_search_deleted AFTER DELETE ON book_authors BEGIN
    UPDATE books SET search_authors = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT a.name FROM book_authors ba JOIN authors a ON a.id = ba.author_id
            WHERE ba.book_id = OLD.book_id ORDER BY ba.position)), '')
    WHERE id = OLD.book_id;
END;

CREATE TRIGGER book_genres_search_inserted AFTER INSERT ON book_genres BEGIN
    UPDATE books SET search_genres = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT g.name FROM book_genres bg JOIN genres g ON g.id = bg.genre_id
            WHERE bg.book_id = NEW.book_id ORDER BY bg.position)), '')
    WHERE id = NEW.book_id;
END;

CREATE TRIGGER book_genres_search_deleted AFTER DELETE ON book_genres BEGIN
    UPDATE books SET search_genres = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT g.name FROM book_genres bg JOIN genres g ON g.id = bg.genre_id
            WHERE bg.book_id = OLD.book_id ORDER BY bg.position)), '')
    WHERE id = OLD.book_id;
END;

CREATE TRIGGER authors_search_renamed AFTER UPDATE OF name ON authors
WHEN OLD.name IS NOT NEW.name BEGIN
    UPDATE books SET search_authors = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT a.name FROM book_authors ba JOIN authors a ON a.id = ba.author_id
            WHERE ba.book_id = books.id ORDER BY ba.position)), '')
    WHERE id IN (SELECT book_id FROM book_authors WHERE author_id = NEW.id);
END;

CREATE TRIGGER genres_search_renamed AFTER UPDATE OF name ON genres
WHEN OLD.name IS NOT NEW.name BEGIN
    UPDATE books SET search_genres = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT g.name FROM book_genres bg JOIN genres g ON g.id = bg.genre_id
            WHERE bg.book_id = books.id ORDER BY bg.position)), '')
    WHERE id IN (SELECT book_id FROM book_genres WHERE genre_id = NEW.id);
END;

-- Books that existed before this migration.
INSERT INTO book_docs (book_id) SELECT id FROM books;
UPDATE books SET search_authors = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT a.name FROM book_authors ba JOIN authors a ON a.id = ba.author_id
            WHERE ba.book_id = books.id ORDER BY ba.position)), ''),
    search_genres = coalesce((
        SELECT group_concat(name, ' ') FROM (
            SELECT g.name FROM book_genres bg JOIN genres g ON g.id = bg.genre_id
            WHERE bg.book_id = books.id ORDER BY bg.position)), '');
INSERT INTO books_fts (rowid, title, authors, genres, description)
SELECT d.doc_id, b.title || ' ' || coalesce(b.subtitle, ''), b.search_authors, b.search_genres,
       coalesce(b.description, '')
FROM books b JOIN book_docs d ON d.book_id = b.id
WHERE NOT EXISTS (SELECT 1 FROM books_fts WHERE rowid = d.doc_id);
