-- The words of the search index (PostgreSQL only), so that a search can tell whether its last
-- word, read as a prefix, would match any indexed word besides the word itself.
--
-- Why: the last word of a query is also read as a prefix ("hobbi" finds The Hobbit), and
-- when the words as typed find less than a page, the query is searched again with that
-- prefix. In the GIN index a prefix collects the posting lists of every word it begins into
-- a bitmap: four times the cost of the word alone, even when no other word begins with it
-- (bench/SEARCH.md, design item 12). With this table, when the words as typed found some
-- books, the second search runs only when it can find more.
--
-- Words are added when books are written and never removed: a word left behind by a deleted
-- or edited book only costs a prefix search that finds nothing more.

CREATE TABLE search_words (
    word text COLLATE "C" PRIMARY KEY
);

-- New words are rare once a catalogue has grown, so the words are first looked up and
-- nothing is locked when all are known. Otherwise a transaction lock comes first: two writers
-- adding new words one statement at a time (a title, then contributor names) could each wait
-- for a word the other inserted and not yet committed.
CREATE FUNCTION bookstore_add_search_words(words text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    new_words text[];
BEGIN
    SELECT array_agg(DISTINCT w ORDER BY w) INTO new_words
    FROM unnest(words) AS w
    WHERE NOT EXISTS (SELECT 1 FROM search_words s WHERE s.word = w);
    IF new_words IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(7262591031);
        INSERT INTO search_words (word) SELECT unnest(new_words) ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE FUNCTION bookstore_books_inserted_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bookstore_add_search_words(
        ARRAY(SELECT unnest(tsvector_to_array(search_doc)) FROM new_books));
    RETURN NULL;
END $$;

CREATE FUNCTION bookstore_book_text_changed_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bookstore_add_search_words(tsvector_to_array(NEW.search_doc));
    RETURN NULL;
END $$;

CREATE TRIGGER books_search_words_inserted AFTER INSERT ON books
    REFERENCING NEW TABLE AS new_books
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_books_inserted_words();
-- Per row and only for the columns the text is made of (a statement trigger with a
-- transition table cannot name columns): a stock movement does not come here.
CREATE TRIGGER books_search_words_updated
    AFTER UPDATE OF title, subtitle, description, search_authors, search_genres ON books
    FOR EACH ROW WHEN (OLD.search_doc IS DISTINCT FROM NEW.search_doc)
    EXECUTE FUNCTION bookstore_book_text_changed_words();

-- Whether `word`, read as a prefix (bookstore_prefix_query), matches an indexed word that the
-- word as typed (plainto_tsquery 'english') does not. True when unsure: a word that the
-- 'simple' configuration splits into several lexemes.
CREATE FUNCTION bookstore_prefix_adds_words(typed text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE
        WHEN cardinality(p.prefix) <> 1 THEN true
        ELSE EXISTS (
            SELECT 1 FROM search_words s
            -- A range the primary key answers; starts_with keeps it exact.
            WHERE s.word >= p.prefix[1] COLLATE "C"
              AND s.word <= (p.prefix[1] || chr(1114111)) COLLATE "C"
              AND starts_with(s.word, p.prefix[1])
              AND s.word <> ALL (p.as_typed))
    END
    FROM (SELECT tsvector_to_array(to_tsvector('simple'::regconfig, bookstore_unaccent(typed)))
                 AS prefix,
                 tsvector_to_array(to_tsvector('english'::regconfig, bookstore_unaccent(typed)))
                 AS as_typed) p;
END;

INSERT INTO search_words (word)
SELECT DISTINCT unnest(tsvector_to_array(search_doc)) FROM books
ON CONFLICT DO NOTHING;
