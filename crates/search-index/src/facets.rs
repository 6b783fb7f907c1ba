//! Facet values of each segment, in memory, by document: what a facet count reads for every
//! match.
//!
//! Read from Tantivy's columns, a value costs a lookup in the column's index (which documents
//! have one, where a document's values start) and a decoding: `perf` on a common word with
//! three facets (60-100k matches each) put two thirds of the search there. Here a document's
//! ordinals are one array read. A segment's columns never change (a deletion only marks the
//! document), so a segment's arrays are built once, at its first facet count, and dropped
//! with the segment. About 4 MB for a million books and the three facets (see [`FacetValues`]).

use bookstore_core::Facet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocId, SegmentReader};

/// No value: the document has none in this column.
const NONE: u32 = u32::MAX;

/// No value, in a column of fewer than 255 values.
const NONE_SMALL: u8 = u8::MAX;

/// The ordinals (in the segment's column dictionary) of every document's values, in the
/// narrowest form the segment allows: a common word's facet count reads the arrays of a
/// tenth of the documents, which is to say every cache line of them, so their size is its
/// cost (a million books: 4 MB for genres, language and format in bytes, 18 MB in `u32`s).
pub enum FacetValues {
    /// At most one value a document and fewer than 255 values (language, format): a byte a
    /// document, `NONE_SMALL` for none.
    SmallSingle(Vec<u8>),
    /// At most two values a document and fewer than 255 values (genres, mostly): two bytes
    /// a document, `NONE_SMALL` where there is no (second) value.
    SmallPair(Vec<[u8; 2]>),
    /// At most one value a document: `NONE` for none.
    Single(Vec<u32>),
    /// Any number: document `d`'s ordinals are `ords[starts[d]..starts[d + 1]]`.
    Multi { starts: Vec<u32>, ords: Vec<u32> },
}

impl FacetValues {
    fn read(column: &StrColumn, max_doc: DocId) -> Self {
        let ords = column.ords();
        let small = column.dictionary().num_terms() < usize::from(NONE_SMALL);
        let mut starts = Vec::with_capacity(max_doc as usize + 1);
        let mut values: Vec<u32> = Vec::with_capacity(max_doc as usize);
        let mut most = 0;
        for doc in 0..max_doc {
            starts.push(values.len() as u32);
            let before = values.len();
            values.extend(ords.values_for_doc(doc).map(|o| o as u32));
            most = most.max(values.len() - before);
        }
        starts.push(values.len() as u32);
        let of = |doc: usize| &values[starts[doc] as usize..starts[doc + 1] as usize];
        let byte = |ord: Option<&u32>| ord.map_or(NONE_SMALL, |&o| o as u8);
        let docs = 0..max_doc as usize;
        match (small, most) {
            (true, 0 | 1) => FacetValues::SmallSingle(docs.map(|d| byte(of(d).first())).collect()),
            (true, 2) => FacetValues::SmallPair(
                docs.map(|d| [byte(of(d).first()), byte(of(d).get(1))])
                    .collect(),
            ),
            (false, 0 | 1) => FacetValues::Single(
                docs.map(|d| of(d).first().copied().unwrap_or(NONE))
                    .collect(),
            ),
            _ => FacetValues::Multi {
                starts,
                ords: values,
            },
        }
    }

    /// Adds one to `counts` for each value of each of `docs`. The byte layouts count into
    /// one count per byte (no value counts at `NONE_SMALL`, which no value has): no branch
    /// and no bounds check a value. A `counts` of at least [`SMALL_COUNTS`] is counted into
    /// as it is; a shorter one gets the first of such counts added.
    pub fn count(&self, docs: &[DocId], counts: &mut [u64]) {
        fn add(counts: &mut [u64], ord: u32) {
            if let Some(n) = counts.get_mut(ord as usize) {
                *n += 1;
            }
        }
        match self {
            FacetValues::SmallSingle(values) => with_small_counts(counts, |small| {
                for &doc in docs {
                    if let Some(&ord) = values.get(doc as usize) {
                        small[usize::from(ord)] += 1;
                    }
                }
            }),
            FacetValues::SmallPair(values) => with_small_counts(counts, |small| {
                for &doc in docs {
                    if let Some(&[first, second]) = values.get(doc as usize) {
                        small[usize::from(first)] += 1;
                        small[usize::from(second)] += 1;
                    }
                }
            }),
            FacetValues::Single(values) => {
                for &doc in docs {
                    add(counts, values.get(doc as usize).copied().unwrap_or(NONE));
                }
            }
            FacetValues::Multi { starts, ords } => {
                for &doc in docs {
                    let d = doc as usize;
                    if let (Some(&from), Some(&to)) = (starts.get(d), starts.get(d + 1)) {
                        for &ord in ords.get(from as usize..to as usize).unwrap_or(&[]) {
                            add(counts, ord);
                        }
                    }
                }
            }
        }
    }
}

/// The length of `counts` at which [`FacetValues::count`] counts bytes unchecked: one count
/// for every byte. Only the first `num_terms` of them are values' counts.
pub const SMALL_COUNTS: usize = 256;

/// Runs `count` on `counts` seen as one count per byte, or on counts of its own that are then
/// added to `counts` as far as it reaches.
fn with_small_counts(counts: &mut [u64], count: impl FnOnce(&mut [u64; SMALL_COUNTS])) {
    if let Some(small) = counts
        .get_mut(..SMALL_COUNTS)
        .and_then(|c| <&mut [u64; SMALL_COUNTS]>::try_from(c).ok())
    {
        return count(small);
    }
    let mut own = [0; SMALL_COUNTS];
    count(&mut own);
    for (n, more) in counts.iter_mut().zip(own) {
        *n += more;
    }
}

/// The arrays of the segments the index's searchers read, by segment and facet.
#[derive(Default)]
pub struct FacetCache {
    segments: Mutex<HashMap<(SegmentId, Facet), Arc<FacetValues>>>,
}

impl FacetCache {
    /// The values of `facet` in `reader`'s segment, read at the first call.
    pub fn values(
        &self,
        reader: &SegmentReader,
        facet: Facet,
        column: &StrColumn,
    ) -> Arc<FacetValues> {
        let key = (reader.segment_id(), facet);
        if let Some(found) = self.lock().get(&key) {
            return found.clone();
        }
        // Read outside the lock: another facet's search need not wait for this one.
        let values = Arc::new(FacetValues::read(column, reader.max_doc()));
        self.lock().entry(key).or_insert(values).clone()
    }

    /// Forgets the segments not in `live` (merged away or deleted by a rebuild).
    pub fn keep_only(&self, live: &[SegmentId]) {
        self.lock().retain(|(segment, _), _| live.contains(segment));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(SegmentId, Facet), Arc<FacetValues>>> {
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tantivy::schema::{Schema, FAST, STRING};
    use tantivy::{doc, Index, TantivyDocument};

    /// The values of a one-segment index whose documents hold `docs`' values, and their
    /// counts over the documents `counted`, by value.
    fn counted(docs: &[Vec<String>], counted: &[DocId]) -> (FacetValues, BTreeMap<String, u64>) {
        let mut schema = Schema::builder();
        let field = schema.add_text_field("facet", STRING | FAST);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for values in docs {
            let mut document = TantivyDocument::default();
            for value in values {
                document.add_text(field, value);
            }
            writer.add_document(document).unwrap();
        }
        writer.add_document(doc!()).unwrap();
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let reader = searcher.segment_reader(0);
        let column = reader.fast_fields().str("facet").unwrap().unwrap();
        let values = FacetValues::read(&column, reader.max_doc());
        let terms = column.dictionary().num_terms();
        let mut counts = vec![0; terms];
        values.count(counted, &mut counts);
        // The unchecked way for the byte layouts counts the same.
        let mut wide = vec![0; terms.max(SMALL_COUNTS)];
        values.count(counted, &mut wide);
        assert_eq!(counts[..], wide[..terms]);
        let mut by_value = BTreeMap::new();
        for (ord, n) in counts.into_iter().enumerate() {
            let mut value = String::new();
            if n > 0 && column.ord_to_str(ord as u64, &mut value).unwrap() {
                by_value.insert(value, n);
            }
        }
        (values, by_value)
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn expected(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(v, n)| (v.to_string(), *n)).collect()
    }

    #[test]
    fn few_values_one_a_document_are_bytes() {
        let docs = [names(&["en"]), names(&[]), names(&["de"]), names(&["en"])];
        let (layout, counts) = counted(&docs, &[0, 1, 2, 3, 4]);
        assert!(matches!(layout, FacetValues::SmallSingle(_)));
        assert_eq!(counts, expected(&[("de", 1), ("en", 2)]));
    }

    #[test]
    fn few_values_two_a_document_are_byte_pairs() {
        let docs = [
            names(&["poetry", "essays"]),
            names(&["poetry"]),
            names(&[]),
            names(&["essays", "drama"]),
        ];
        let (layout, counts) = counted(&docs, &[0, 1, 3]);
        assert!(matches!(layout, FacetValues::SmallPair(_)));
        assert_eq!(
            counts,
            expected(&[("drama", 1), ("essays", 2), ("poetry", 2)])
        );
    }

    #[test]
    fn many_values_or_more_than_two_a_document_keep_the_wide_forms() {
        let docs: Vec<Vec<String>> = (0..300).map(|n| vec![format!("v{n:03}")]).collect();
        let (layout, counts) = counted(&docs, &[0, 299, 300]);
        assert!(matches!(layout, FacetValues::Single(_)));
        assert_eq!(counts, expected(&[("v000", 1), ("v299", 1)]));

        let docs = [names(&["a", "b", "c"]), names(&["b"])];
        let (layout, counts) = counted(&docs, &[0, 1]);
        assert!(matches!(layout, FacetValues::Multi { .. }));
        assert_eq!(counts, expected(&[("a", 1), ("b", 2), ("c", 1)]));
    }

    #[test]
    fn a_document_past_the_arrays_counts_nothing() {
        let docs = [names(&["en"])];
        let (_, counts) = counted(&docs, &[0, 7]);
        assert_eq!(counts, expected(&[("en", 1)]));
    }
}
