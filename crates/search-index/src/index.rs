//! The index: opening it, applying changes in per-book version order with the event-log
//! position in the same commit, and answering searches.

use crate::collect::{id_of, no_floor, FacetCollector, Hit, PageCollector};
use crate::cursor::{Cursor, Recording};
use crate::facets::FacetCache;
use crate::query::{Builder, Pass};
use crate::schema::{self, Fields};
use crate::IndexError;
use bookstore_core::search::MAX_FACET_VALUES;
use bookstore_core::{
    Book, BookFilters, BookListQuery, BookPage, BookSort, FacetCount, FacetCounts, ScoredBook,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tantivy::collector::DocSetCollector;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{EnableScoring, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use uuid::Uuid;

/// Memory for the writer's buffers: small batches need little; a rebuild flushes segments
/// as this fills.
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// A change to apply.
#[derive(Debug, Clone)]
pub enum Change {
    /// The book as it is after a change (created, updated, stock adjusted, renamed names).
    Upsert { book: Box<Book>, json: Vec<u8> },
    /// Deleted at (after) this version.
    Delete { id: Uuid, version: i64 },
}

impl Change {
    pub fn id(&self) -> Uuid {
        match self {
            Change::Upsert { book, .. } => book.id.as_uuid(),
            Change::Delete { id, .. } => *id,
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            Change::Upsert { book, .. } => book.version,
            Change::Delete { version, .. } => *version,
        }
    }

    /// Whether this change is newer than what the index holds for the book (`held`: its
    /// version and whether it is live). A deletion carries the last version of the book it
    /// deletes, so it applies on top of that version; an upsert must be strictly newer.
    fn supersedes(&self, held: Option<(i64, bool)>) -> bool {
        match (self, held) {
            (_, None) => true,
            (Change::Upsert { book, .. }, Some((v, _))) => book.version > v,
            (Change::Delete { version, .. }, Some((v, live))) => {
                *version > v || (live && *version == v)
            }
        }
    }
}

/// What a commit records beside the documents.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
struct Payload {
    position: i64,
}

pub struct SearchIndex {
    /// The position of the last commit (also in the commit's payload, for a restart).
    position: AtomicI64,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    /// Facet values of the segments in memory (see [`FacetCache`]).
    facets: Arc<FacetCache>,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating an empty one (position 0) if there is none.
    /// An index another version of the service built, with other fields or another order,
    /// is [`IndexError::Outdated`]: it is rebuilt from the store, not read.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema::build();
        let directory = MmapDirectory::open(dir)?;
        let index = if Index::exists(&directory).map_err(tantivy::TantivyError::from)? {
            let index = Index::open(directory)?;
            if index.schema() != schema
                || index.settings().sort_by_field != schema::settings().sort_by_field
            {
                return Err(IndexError::Outdated);
            }
            index
        } else {
            Index::builder()
                .schema(schema)
                .settings(schema::settings())
                .open_or_create(directory)?
        };
        Self::with_index(index, fields)
    }

    /// An index in memory (tests).
    pub fn in_memory() -> Result<Self, IndexError> {
        let (schema, fields) = schema::build();
        let index = Index::builder()
            .schema(schema)
            .settings(schema::settings())
            .create_in_ram()?;
        Self::with_index(index, fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, IndexError> {
        schema::register(&index);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        let writer = index.writer_with_num_threads(threads, WRITER_MEMORY * threads)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let position = index
            .load_metas()?
            .payload
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok())
            .map_or(0, |p| p.position);
        Ok(Self {
            position: AtomicI64::new(position),
            fields,
            reader,
            writer: Mutex::new(writer),
            facets: Arc::new(FacetCache::default()),
        })
    }

    /// The event-log position the last commit reached (0 for a new index).
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Acquire)
    }

    /// Books searchable (not counting tombstones).
    pub fn books(&self) -> Result<u64, IndexError> {
        let searcher = self.reader.searcher();
        let live = TermQuery::new(
            Term::from_field_u64(self.fields.live, 1),
            IndexRecordOption::Basic,
        );
        Ok(searcher.search(&live, &tantivy::collector::Count)? as u64)
    }

    /// The version the committed index holds for `id`, and whether it is live.
    pub fn version_of(&self, id: Uuid) -> Result<Option<(i64, bool)>, IndexError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_text(self.fields.id, &id.to_string()),
            IndexRecordOption::Basic,
        );
        let found = searcher.search(&q, &DocSetCollector)?;
        let mut best: Option<(i64, bool)> = None;
        for addr in found {
            let fast = searcher.segment_reader(addr.segment_ord).fast_fields();
            let version = fast.i64("version")?.first(addr.doc_id).unwrap_or(0);
            let live = fast.u64("live")?.first(addr.doc_id).unwrap_or(0) == 1;
            if best.is_none_or(|(v, _)| version > v) {
                best = Some((version, live));
            }
        }
        Ok(best)
    }

    /// Applies `changes` (in event-log order) and commits them with `position`: one commit,
    /// so the documents and the position are durable together. A change not newer than what
    /// the index holds for its book is dropped (a replay, or a stale event). Returns how many
    /// were applied.
    pub fn apply(&self, changes: &[Change], position: i64) -> Result<usize, IndexError> {
        // The newest change per book wins; books are looked up once.
        let mut newest: HashMap<Uuid, &Change> = HashMap::new();
        for change in changes {
            match newest.get(&change.id()) {
                Some(seen)
                    if !change.supersedes(Some((
                        seen.version(),
                        matches!(seen, Change::Upsert { .. }),
                    ))) => {}
                _ => {
                    newest.insert(change.id(), change);
                }
            }
        }
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut applied = 0;
        for (id, change) in newest {
            if !change.supersedes(self.version_of(id)?) {
                continue;
            }
            writer.delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
            let doc = match change {
                Change::Upsert { book, json } => schema::document(&self.fields, book, json),
                Change::Delete { id, version } => schema::tombstone(&self.fields, *id, *version),
            };
            writer.add_document(doc)?;
            applied += 1;
        }
        let payload = serde_json::to_string(&Payload { position })?;
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&payload);
        commit.commit()?;
        self.position.store(position, Ordering::Release);
        drop(writer);
        self.reader.reload()?;
        let live: Vec<_> = self
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        self.facets.keep_only(&live);
        Ok(applied)
    }

    /// Adds books of a build from the store without committing (no version checks: a build
    /// starts from an empty index and sees each book once). [`SearchIndex::apply`] with no
    /// changes commits them with the build's position.
    pub fn add_unchecked(&self, books: &[(Book, Vec<u8>)]) -> Result<(), IndexError> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for (book, json) in books {
            writer.add_document(schema::document(&self.fields, book, json))?;
        }
        Ok(())
    }

    /// Waits for the writer's merges, then merges what is left into one segment: every
    /// search pays per segment (term lookups in four fields, a WAND, columns opened, a
    /// collector), and a build leaves several. The merge must wait for the merge policy's
    /// own merges: merging segments one of them is replacing fails.
    pub fn finish(self) -> Result<(), IndexError> {
        let writer = self.writer.into_inner().unwrap_or_else(|p| p.into_inner());
        let index = writer.index().clone();
        writer.wait_merging_threads()?;
        let segments = index.searchable_segment_ids()?;
        if segments.len() > 1 {
            let mut merger: IndexWriter<TantivyDocument> =
                index.writer_with_num_threads(1, WRITER_MEMORY)?;
            merger.set_merge_policy(Box::new(NoMergePolicy));
            merger.merge(&segments).wait()?;
            merger.wait_merging_threads()?;
        }
        Ok(())
    }

    /// How many segments the committed index has (a build leaves one).
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// A page of `query` from the index; `None` when the index does not serve it (a title
    /// sort, a `not_counted_since` filter, a store's cursor).
    pub fn search(&self, query: &BookListQuery) -> Result<Option<BookPage>, IndexError> {
        if query.sort == BookSort::Title || query.search.filters.not_counted_since.is_some() {
            return Ok(None);
        }
        let search = &query.search;
        let cursor = match query.page.cursor.as_deref() {
            None => None,
            Some(text) => match Cursor::decode(text) {
                None => return Ok(None),
                Some(Err(())) => return Err(IndexError::InvalidCursor),
                Some(Ok(c)) => {
                    if c.f != search.fingerprint() || c.s != query.sort.as_str() {
                        return Err(IndexError::InvalidCursor);
                    }
                    Some(c)
                }
            },
        };
        let text = search.text.as_ref();
        let has_words = text.is_some_and(|t| t.has_text());
        let passes: Vec<Pass> = match &cursor {
            Some(c) => vec![c.p],
            // Without a word being typed, the words as typed are the `Exact` pass itself.
            None if has_words && text.is_some_and(has_prefix) => {
                vec![Pass::Typed, Pass::Exact, Pass::Typo, Pass::Relaxed]
            }
            None if has_words => vec![Pass::Exact, Pass::Typo, Pass::Relaxed],
            None => vec![Pass::Exact],
        };
        let searcher = self.reader.searcher();
        let limit = query.page.limit.get() as usize;
        let mut builder = Builder {
            fields: &self.fields,
            searcher: &searcher,
            stem: schema::text_analyzer(),
            plain: schema::plain_analyzer(),
        };
        let last = passes.len() - 1;
        for (n, pass) in passes.into_iter().enumerate() {
            if pass == Pass::Relaxed && text.and_then(|t| t.relaxed()).is_none() {
                continue;
            }
            let stats = Recording::new(&searcher, cursor.as_ref().and_then(|c| c.st.clone()));
            // Ranked by relevance, the page is collected pruned (WAND) and the facets, which
            // need every match, in a pass of their own without scores.
            let scored = text.is_some();
            let ranked = scored && query.sort == BookSort::Relevance;
            let apart = ranked && !search.facets.is_empty();
            // Ranked and filtered, the words alone are collected pruned and the filters are
            // checked per match: Tantivy prunes a union of terms, not one intersected with
            // filters (which scores every match of both).
            let filters = if ranked {
                builder.filter_query(&search.filters)
            } else {
                None
            };
            let unfiltered = BookFilters::default();
            let page_filters = if filters.is_some() {
                &unfiltered
            } else {
                &search.filters
            };
            let Some(page_query) = builder.build(text, page_filters, pass) else {
                return Ok(None);
            };
            let filter = filters
                .as_ref()
                .map(|f| f.weight(EnableScoring::disabled_from_searcher(&searcher)))
                .transpose()?;
            let collector = PageCollector {
                sort: query.sort,
                after: cursor.as_ref().and_then(Cursor::position),
                keep: limit + 1,
                facets: if apart {
                    Vec::new()
                } else {
                    search.facets.clone()
                },
                scored,
                fields: self.fields,
                stored_newest_first: searcher.index().settings().sort_by_field.is_some(),
                facet_cache: self.facets.clone(),
                floor: no_floor(),
                filter,
            };
            let (mut hits, mut facets) =
                searcher.search_with_statistics_provider(&*page_query, &collector, &stats)?;
            // The words as typed are the search when they fill a page (and then on every
            // page: the cursor keeps the pass); otherwise the last word is read as a prefix.
            let enough = match pass {
                Pass::Typed => hits.len() > limit,
                _ => !hits.is_empty(),
            };
            if !enough && cursor.is_none() && n < last {
                continue;
            }
            if apart {
                // The facets count every match of the words and the filters together.
                let whole = match filters {
                    Some(_) => builder.build(text, &search.filters, pass),
                    None => Some(page_query),
                };
                let Some(whole) = whole else {
                    return Ok(None);
                };
                facets = searcher.search(
                    &*whole,
                    &FacetCollector {
                        facets: search.facets.clone(),
                        cache: self.facets.clone(),
                    },
                )?;
            }
            let next = (hits.len() > limit).then(|| hits[limit - 1]);
            hits.truncate(limit);
            let next_cursor = next.map(|hit: Hit| {
                Cursor {
                    f: search.fingerprint(),
                    s: query.sort.as_str().to_owned(),
                    p: pass,
                    k: hit.position.0,
                    i: hit.position.1.to_string(),
                    st: (query.sort == BookSort::Relevance).then(|| stats.into_pinned()),
                }
                .encode()
            });
            let mut items = Vec::with_capacity(hits.len());
            for hit in &hits {
                let doc: TantivyDocument = searcher.doc(hit.address())?;
                let bytes = doc
                    .get_first(self.fields.book)
                    .and_then(|v| v.as_bytes())
                    .ok_or(IndexError::Corrupt(id_of(hit.position, query.sort)))?;
                let book: Book = serde_json::from_slice(bytes)?;
                items.push(ScoredBook {
                    book,
                    score: text.map(|_| f64::from(hit.score())),
                });
            }
            let facets = facets
                .into_iter()
                .map(|(facet, counts)| {
                    let mut values: Vec<FacetCount> = counts
                        .into_iter()
                        .map(|(value, count)| FacetCount {
                            value,
                            count: count as i64,
                        })
                        .collect();
                    values
                        .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                    values.truncate(MAX_FACET_VALUES);
                    FacetCounts { facet, values }
                })
                .collect();
            return Ok(Some(BookPage {
                items,
                next_cursor,
                facets,
            }));
        }
        Ok(Some(BookPage {
            items: Vec::new(),
            next_cursor: None,
            facets: Vec::new(),
        }))
    }
}

/// Whether a word of `text` is also read as a prefix.
fn has_prefix(text: &bookstore_core::TextQuery) -> bool {
    text.groups
        .iter()
        .flatten()
        .any(|t| matches!(t, bookstore_core::Term::Word { prefix: true, .. }))
}
