//! The collector of a page: every match is counted into the facets asked for; the first
//! `limit + 1` after the cursor, in the list's order, are kept.
//!
//! Every order is a key and the id, both read from fast fields, normalised so that smaller
//! comes first (`!key` reverses an `i64`, `u128::MAX - id` an id): one comparison of
//! `(key, id)` pairs serves every sort.

use crate::schema::Fields;
use bookstore_core::{BookSort, Facet};
use std::collections::{BinaryHeap, HashMap};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// A position in a list: the normalised key and id (smaller comes first).
pub type Position = (i64, u128);

/// A kept match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub position: Position,
    pub score_bits: u32,
    pub doc: (u32, u32),
}

impl Hit {
    pub fn score(&self) -> f32 {
        f32::from_bits(self.score_bits)
    }

    pub fn address(&self) -> DocAddress {
        DocAddress::new(self.doc.0, self.doc.1)
    }
}

/// A score as an `i64` in the same order.
pub fn score_key(score: f32) -> i64 {
    let bits = score.to_bits() as i32;
    i64::from(if bits < 0 { bits ^ i32::MAX } else { bits })
}

/// The fast field of a sort, and whether it runs downwards (the id then too). Relevance
/// runs down by score, then up by id, as the stores order candidates.
fn order(sort: BookSort) -> (Option<&'static str>, bool, bool) {
    match sort {
        BookSort::UpdatedDesc => (Some("updated"), true, true),
        BookSort::Price => (Some("price_asc"), false, false),
        BookSort::PriceDesc => (Some("price_desc"), true, true),
        BookSort::PublishedYear => (Some("year_key"), false, false),
        // Not served by the index (titles sort by the store's collation); by id if asked.
        BookSort::Title => (None, false, false),
        BookSort::Relevance => (None, true, false),
    }
}

pub struct PageCollector {
    pub sort: BookSort,
    pub after: Option<Position>,
    /// How many to keep (`limit + 1`: the extra one tells that there is a next page).
    pub keep: usize,
    pub facets: Vec<Facet>,
    pub scored: bool,
    pub fields: Fields,
}

pub struct PageSegment {
    segment: SegmentOrdinal,
    sort: BookSort,
    after: Option<Position>,
    keep: usize,
    key: Option<Column<i64>>,
    id_hi: Column<u64>,
    id_lo: Column<u64>,
    facets: Vec<(Facet, Option<StrColumn>, HashMap<u64, u64>)>,
    heap: BinaryHeap<Hit>,
}

/// What one segment found: its kept matches and its facet counts by value.
pub type SegmentFruit = (Vec<Hit>, Vec<(Facet, HashMap<String, u64>)>);

impl Collector for PageCollector {
    type Fruit = SegmentFruit;
    type Child = PageSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<PageSegment> {
        let fast = reader.fast_fields();
        let (field, _, _) = order(self.sort);
        let key = match field {
            Some(name) => Some(fast.i64(name)?),
            None => None,
        };
        let facets = self
            .facets
            .iter()
            .map(|f| {
                let name = match f {
                    Facet::Genre => "genre_facet",
                    Facet::Language => "language_facet",
                    Facet::Format => "format_facet",
                };
                Ok((*f, fast.str(name)?, HashMap::new()))
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(PageSegment {
            segment,
            sort: self.sort,
            after: self.after,
            keep: self.keep,
            key,
            id_hi: fast.u64("id_hi")?,
            id_lo: fast.u64("id_lo")?,
            facets,
            heap: BinaryHeap::with_capacity(self.keep + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<SegmentFruit> {
        let mut hits = Vec::new();
        let mut facets: Vec<(Facet, HashMap<String, u64>)> =
            self.facets.iter().map(|f| (*f, HashMap::new())).collect();
        for (segment_hits, segment_facets) in fruits {
            hits.extend(segment_hits);
            for ((_, total), (_, counts)) in facets.iter_mut().zip(segment_facets) {
                for (value, n) in counts {
                    *total.entry(value).or_default() += n;
                }
            }
        }
        hits.sort();
        hits.truncate(self.keep);
        Ok((hits, facets))
    }
}

impl SegmentCollector for PageSegment {
    type Fruit = SegmentFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        for (_, column, counts) in &mut self.facets {
            if let Some(column) = column {
                for ord in column.term_ords(doc) {
                    *counts.entry(ord).or_default() += 1;
                }
            }
        }
        let (_, key_down, id_down) = order(self.sort);
        let raw = match (&self.key, self.sort) {
            (_, BookSort::Relevance) => score_key(score),
            (Some(column), _) => column.first(doc).unwrap_or(0),
            (None, _) => 0,
        };
        let id = (u128::from(self.id_hi.first(doc).unwrap_or(0)) << 64)
            | u128::from(self.id_lo.first(doc).unwrap_or(0));
        let position = (
            if key_down { !raw } else { raw },
            if id_down { u128::MAX - id } else { id },
        );
        if self.after.is_some_and(|after| position <= after) {
            return;
        }
        if self.heap.len() == self.keep {
            if self.heap.peek().is_some_and(|top| position >= top.position) {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Hit {
            position,
            score_bits: score.to_bits(),
            doc: (self.segment, doc),
        });
    }

    fn harvest(self) -> SegmentFruit {
        let facets = self
            .facets
            .into_iter()
            .map(|(facet, column, counts)| {
                let mut by_value = HashMap::new();
                if let Some(column) = column {
                    let mut value = String::new();
                    for (ord, n) in counts {
                        value.clear();
                        if column.ord_to_str(ord, &mut value).unwrap_or(false) {
                            *by_value.entry(value.clone()).or_default() += n;
                        }
                    }
                }
                (facet, by_value)
            })
            .collect();
        (self.heap.into_vec(), facets)
    }
}

/// The original id of a normalised position.
pub fn id_of(position: Position, sort: BookSort) -> uuid::Uuid {
    let (_, _, id_down) = order(sort);
    uuid::Uuid::from_u128(if id_down {
        u128::MAX - position.1
    } else {
        position.1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_keys_keep_the_order_of_scores() {
        let scores = [-3.5f32, -0.0, 0.0, 0.1, 1.0, 7.25, 1e6];
        for w in scores.windows(2) {
            assert!(score_key(w[0]) <= score_key(w[1]), "{w:?}");
        }
        assert!(!score_key(2.0) < !score_key(1.0), "reversed: higher first");
    }
}
