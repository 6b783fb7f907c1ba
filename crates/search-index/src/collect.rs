//! The collector of a page: every match is counted into the facets asked for; the first
//! `limit + 1` after the cursor, in the list's order, are kept.
//!
//! Ranked by relevance without facets, a segment is collected with Tantivy's pruning
//! (`Weight::for_each_pruning`: block-max WAND over a union of terms), told the lowest score
//! that can still enter the page: a common word in 10% of a million books then scores a few
//! thousand of them instead of every one. Facets need every match: they are counted by
//! [`FacetCollector`] in a pass without scores.
//!
//! Every order is a key and the id, both read from fast fields, normalised so that smaller
//! comes first (`!key` reverses an `i64`, `u128::MAX - id` an id): one comparison of
//! `(key, id)` pairs serves every sort.

use crate::facets::{FacetCache, FacetValues, SMALL_COUNTS};
use crate::schema::Fields;
use bookstore_core::{BookSort, Facet};
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{Scorer, Weight};
use tantivy::{DocAddress, DocId, DocSet, Score, SegmentOrdinal, SegmentReader, TERMINATED};

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
    /// Whether each segment holds its documents newest first (the index's sort, see
    /// `schema::settings`): a list newest first then stops at its page.
    pub stored_newest_first: bool,
    /// The segments' facet values in memory.
    pub facet_cache: Arc<FacetCache>,
    /// The lowest score that can still enter the page, over the segments collected so far
    /// (bits of an `f32`): a later segment starts pruning from there, not from nothing.
    pub floor: AtomicU32,
    /// Filters checked per match of a pruned collection (ranked by relevance), whose
    /// query then holds the words alone: see [`PageCollector::collect_filtered`].
    pub filter: Option<Box<dyn Weight>>,
}

/// A filter that matches fewer than one document in this many of a segment is walked
/// itself, each of its documents looked up in the words' postings, instead of pruning.
const SPARSE_FILTER: usize = 32;

/// A floor that prunes nothing yet.
pub fn no_floor() -> AtomicU32 {
    AtomicU32::new(Score::MIN.to_bits())
}

pub struct PageSegment {
    segment: SegmentOrdinal,
    sort: BookSort,
    after: Option<Position>,
    keep: usize,
    key: Option<Column<i64>>,
    id_hi: Column<u64>,
    id_lo: Column<u64>,
    facets: Vec<FacetCounter>,
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
        let facets = FacetCounter::for_segment(&self.facets, reader, &self.facet_cache)?;
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
        let mut facets = Vec::with_capacity(fruits.len());
        for (segment_hits, segment_facets) in fruits {
            hits.extend(segment_hits);
            facets.push(segment_facets);
        }
        hits.sort();
        hits.truncate(self.keep);
        Ok((hits, merge_facets(&self.facets, facets)))
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFruit> {
        let mut segment = self.for_segment(segment_ord, reader)?;
        let pruned = self.scored && self.sort == BookSort::Relevance && self.facets.is_empty();
        let in_stored_order = self.stored_newest_first
            && self.sort == BookSort::UpdatedDesc
            && self.facets.is_empty();
        let alive = reader.alive_bitset();
        if in_stored_order {
            segment.collect_in_stored_order(weight, reader, self.scored)?;
        } else if pruned {
            let floor = f32::from_bits(self.floor.load(Ordering::Acquire));
            match &self.filter {
                None => weight.for_each_pruning(floor, reader, &mut |doc, score| {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        segment.collect(doc, score);
                    }
                    segment.threshold().max(floor)
                })?,
                Some(filter) => {
                    Self::collect_filtered(&mut segment, weight, filter.as_ref(), reader, floor)?
                }
            }
            let reached = segment.threshold();
            let _ = self
                .floor
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                    (reached > f32::from_bits(bits)).then(|| reached.to_bits())
                });
        } else if self.scored {
            weight.for_each(reader, &mut |doc, score| {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    segment.collect(doc, score);
                }
            })?;
        } else {
            weight.for_each_no_score(reader, &mut |docs| {
                for &doc in docs {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        segment.collect(doc, 0.0);
                    }
                }
            })?;
        }
        Ok(segment.harvest())
    }
}

impl PageCollector {
    /// A pruned collection of the words' `weight` with `filter` checked per match. The
    /// threshold rises only with matches that pass the filter, so what WAND skips could not
    /// have entered the page anyway: the page is the one the words and filters together
    /// give, scored the same (the filters score nothing).
    ///
    /// The filter is read in step with the matches (seeking forward to each one WAND lets
    /// through), not gathered first: a big genre holds a tenth of the segment, which would be
    /// read whole for every search, while WAND lets through a few thousand matches.
    fn collect_filtered(
        segment: &mut PageSegment,
        weight: &dyn Weight,
        filter: &dyn Weight,
        reader: &SegmentReader,
        floor: Score,
    ) -> tantivy::Result<()> {
        let alive = reader.alive_bitset();
        let is_alive = |doc: DocId| alive.is_none_or(|a| a.is_alive(doc));
        let mut passing = filter.scorer(reader, 1.0)?;
        // The size hint counts deleted documents too: an estimate is all the choice needs
        // (both ways give the same page).
        if (passing.size_hint() as usize) * SPARSE_FILTER < reader.max_doc() as usize {
            let mut words = weight.scorer(reader, 1.0)?;
            let mut doc = passing.doc();
            while doc != TERMINATED && words.doc() != TERMINATED {
                let found = words.doc() == doc || (words.doc() < doc && words.seek(doc) == doc);
                if found && is_alive(doc) {
                    let score = words.score();
                    if score > floor {
                        segment.collect(doc, score);
                    }
                }
                doc = passing.advance();
            }
            return Ok(());
        }
        weight.for_each_pruning(floor, reader, &mut |doc, score| {
            let mut at = passing.doc();
            if at < doc {
                at = passing.seek(doc);
            }
            if at == doc && is_alive(doc) {
                segment.collect(doc, score);
            }
            segment.threshold().max(floor)
        })
    }
}

impl PageSegment {
    /// Collects a segment whose documents are stored in the list's order (newest first): from
    /// the cursor's place, found by a binary search of the sort column, until the page is
    /// full and a match is strictly older than its last book (equal keys can still enter by
    /// id, which the stored order does not follow).
    fn collect_in_stored_order(
        &mut self,
        weight: &dyn Weight,
        reader: &SegmentReader,
        scored: bool,
    ) -> tantivy::Result<()> {
        let Some(column) = self.key.clone() else {
            return Ok(());
        };
        // The list's key of a document: ascending in stored order.
        let key = |doc: DocId| !column.first(doc).unwrap_or(i64::MIN);
        let mut scorer = weight.scorer(reader, 1.0)?;
        let mut doc = scorer.doc();
        if let Some((after, _)) = self.after {
            let (mut lo, mut hi) = (0, reader.max_doc());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if key(mid) < after {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo > doc {
                doc = scorer.seek(lo);
            }
        }
        let alive = reader.alive_bitset();
        while doc != TERMINATED {
            if self.heap.len() == self.keep
                && self
                    .heap
                    .peek()
                    .is_some_and(|worst| key(doc) > worst.position.0)
            {
                break;
            }
            if alive.is_none_or(|a| a.is_alive(doc)) {
                let score = if scored { scorer.score() } else { 0.0 };
                self.collect(doc, score);
            }
            doc = scorer.advance();
        }
        Ok(())
    }

    /// The score a match must exceed to be worth collecting: below the worst kept one once
    /// the page is full. Just below it, not at it: Tantivy passes on scores strictly above
    /// the threshold, and a match with the same score can still enter by its smaller id.
    fn threshold(&self) -> Score {
        match self.heap.peek() {
            Some(worst) if self.heap.len() == self.keep => {
                let score = worst.score();
                if score > 0.0 {
                    f32::from_bits(score.to_bits() - 1)
                } else {
                    Score::MIN
                }
            }
            _ => Score::MIN,
        }
    }
}

impl SegmentCollector for PageSegment {
    type Fruit = SegmentFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        for counter in &mut self.facets {
            counter.count(doc);
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
        let facets = self.facets.into_iter().map(FacetCounter::harvest).collect();
        (self.heap.into_vec(), facets)
    }
}

/// One facet's counts in a segment, by the ordinal of the value in the segment's column (a
/// vector, not a map: a common word with facets counts tens of thousands of matches), read
/// from the segment's values in memory ([`FacetCache`]).
struct FacetCounter {
    facet: Facet,
    column: Option<StrColumn>,
    values: Option<Arc<FacetValues>>,
    /// The values in the segment's column: the first `terms` of `counts` are theirs.
    terms: usize,
    counts: Vec<u64>,
}

impl FacetCounter {
    fn for_segment(
        facets: &[Facet],
        reader: &SegmentReader,
        cache: &FacetCache,
    ) -> tantivy::Result<Vec<Self>> {
        let fast = reader.fast_fields();
        facets
            .iter()
            .map(|f| {
                let name = match f {
                    Facet::Genre => "genre_facet",
                    Facet::Language => "language_facet",
                    Facet::Format => "format_facet",
                };
                let column = fast.str(name)?;
                let terms = column.as_ref().map_or(0, |c| c.dictionary().num_terms());
                let values = column.as_ref().map(|c| cache.values(reader, *f, c));
                Ok(Self {
                    facet: *f,
                    column,
                    values,
                    terms,
                    // Room for every byte: see `FacetValues::count`.
                    counts: vec![0; terms.max(SMALL_COUNTS)],
                })
            })
            .collect()
    }

    fn count(&mut self, doc: DocId) {
        self.count_block(&[doc]);
    }

    fn count_block(&mut self, docs: &[DocId]) {
        if let Some(values) = &self.values {
            values.count(docs, &mut self.counts);
        }
    }

    fn harvest(self) -> (Facet, HashMap<String, u64>) {
        let mut by_value = HashMap::new();
        if let Some(column) = &self.column {
            let mut value = String::new();
            for (ord, n) in self.counts.into_iter().take(self.terms).enumerate() {
                value.clear();
                if n > 0 && column.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                    *by_value.entry(value.clone()).or_default() += n;
                }
            }
        }
        (self.facet, by_value)
    }
}

/// Facet counts of every segment, summed by value.
fn merge_facets(
    asked: &[Facet],
    segments: Vec<Vec<(Facet, HashMap<String, u64>)>>,
) -> Vec<(Facet, HashMap<String, u64>)> {
    let mut facets: Vec<(Facet, HashMap<String, u64>)> =
        asked.iter().map(|f| (*f, HashMap::new())).collect();
    for segment in segments {
        for ((_, total), (_, counts)) in facets.iter_mut().zip(segment) {
            for (value, n) in counts {
                *total.entry(value).or_default() += n;
            }
        }
    }
    facets
}

/// Counts the facets of every match, without scores (the page is collected apart, pruned).
pub struct FacetCollector {
    pub facets: Vec<Facet>,
    pub cache: Arc<FacetCache>,
}

pub struct FacetSegment(Vec<FacetCounter>);

impl Collector for FacetCollector {
    type Fruit = Vec<(Facet, HashMap<String, u64>)>;
    type Child = FacetSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<FacetSegment> {
        Ok(FacetSegment(FacetCounter::for_segment(
            &self.facets,
            reader,
            &self.cache,
        )?))
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<Vec<(Facet, HashMap<String, u64>)>>,
    ) -> tantivy::Result<Self::Fruit> {
        Ok(merge_facets(&self.facets, fruits))
    }

    /// Counts in blocks also in a segment with deleted documents (Tantivy's default then
    /// counts one match at a time): the live ones of each block are counted together.
    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Fruit> {
        let mut segment = self.for_segment(segment_ord, reader)?;
        let alive = reader.alive_bitset();
        let mut live = Vec::new();
        weight.for_each_no_score(reader, &mut |docs| match alive {
            None => segment.collect_block(docs),
            Some(alive) => {
                live.clear();
                live.extend(docs.iter().copied().filter(|&d| alive.is_alive(d)));
                segment.collect_block(&live);
            }
        })?;
        Ok(segment.harvest())
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = Vec<(Facet, HashMap<String, u64>)>;

    fn collect(&mut self, doc: DocId, _: Score) {
        for counter in &mut self.0 {
            counter.count(doc);
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for counter in &mut self.0 {
            counter.count_block(docs);
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.0.into_iter().map(FacetCounter::harvest).collect()
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
