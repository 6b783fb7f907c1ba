//! Facet values of each segment, in memory, by document: what a facet count reads for every
//! match.
//!
//! Read from Tantivy's columns, a value costs a lookup in the column's index (which documents
//! have one, where a document's values start) and a decoding: `perf` on a common word with
//! three facets (60-100k matches each) put two thirds of the search there. Here a document's
//! ordinals are one array read. A segment's columns never change (a deletion only marks the
//! document), so a segment's arrays are built once, at its first facet count, and dropped
//! with the segment. About 18 MB for a million books and the three facets.

use bookstore_core::Facet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocId, SegmentReader};

/// No value: the document has none in this column.
const NONE: u32 = u32::MAX;

/// The ordinals (in the segment's column dictionary) of every document's values.
pub enum FacetValues {
    /// At most one value a document (language, format): `NONE` for none.
    Single(Vec<u32>),
    /// Any number (genres): document `d`'s ordinals are `ords[starts[d]..starts[d + 1]]`.
    Multi { starts: Vec<u32>, ords: Vec<u32> },
}

impl FacetValues {
    fn read(column: &StrColumn, max_doc: DocId) -> Self {
        let ords = column.ords();
        let mut single = Vec::with_capacity(max_doc as usize);
        let mut starts = Vec::with_capacity(max_doc as usize + 1);
        let mut values = Vec::with_capacity(max_doc as usize);
        let mut many = false;
        for doc in 0..max_doc {
            starts.push(values.len() as u32);
            let before = values.len();
            values.extend(ords.values_for_doc(doc).map(|o| o as u32));
            many |= values.len() - before > 1;
            single.push(values.get(before).copied().unwrap_or(NONE));
        }
        starts.push(values.len() as u32);
        if many {
            FacetValues::Multi {
                starts,
                ords: values,
            }
        } else {
            FacetValues::Single(single)
        }
    }

    /// Adds one to `counts` for each value of each of `docs`.
    pub fn count(&self, docs: &[DocId], counts: &mut [u64]) {
        let mut add = |ord: u32| {
            if let Some(n) = counts.get_mut(ord as usize) {
                *n += 1;
            }
        };
        match self {
            FacetValues::Single(values) => {
                for &doc in docs {
                    add(values.get(doc as usize).copied().unwrap_or(NONE));
                }
            }
            FacetValues::Multi { starts, ords } => {
                for &doc in docs {
                    let d = doc as usize;
                    if let (Some(&from), Some(&to)) = (starts.get(d), starts.get(d + 1)) {
                        for &ord in ords.get(from as usize..to as usize).unwrap_or(&[]) {
                            add(ord);
                        }
                    }
                }
            }
        }
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
